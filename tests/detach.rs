//! Dropping a `JoinHandle` detaches the task: it keeps running, and its output is dropped.
// Handing a JoinHandle out of `block_on` is what these tests are about.
#![allow(clippy::async_yields_async)]
use std::cell::Cell;
use std::rc::Rc;

struct CountDrops(Rc<Cell<u32>>);
impl Drop for CountDrops {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn a_detached_task_runs_to_completion() {
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    minirt::run(async move {
        drop(minirt::spawn(async move {
            for _ in 0..3 {
                minirt::yield_now().await;
            }
            d.set(true);
        }));
        for _ in 0..5 {
            minirt::yield_now().await;
        }
    });
    assert!(done.get());
}

#[test]
fn a_detached_tasks_output_is_dropped_once() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let rt = minirt::Runtime::new().unwrap();
    rt.block_on(async move {
        drop(minirt::spawn(async move { CountDrops(d) }));
        minirt::yield_now().await;
    });
    assert_eq!(drops.get(), 1);
    assert_eq!(rt.alive_tasks(), 0);
}

#[test]
fn an_output_dropped_with_its_unread_handle() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let rt = minirt::Runtime::new().unwrap();
    let handle = rt.block_on(async move {
        let h = minirt::spawn(async move { CountDrops(d) });
        minirt::yield_now().await;
        h
    });
    assert!(handle.is_finished());
    assert_eq!(drops.get(), 0, "the handle still holds the output");
    drop(handle);
    assert_eq!(drops.get(), 1);
}
