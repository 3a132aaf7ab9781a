//! Dropping the runtime drops every task it owns, even tasks spawned while it shuts down.
use std::cell::Cell;
use std::rc::Rc;

struct SpawnOnDrop(Rc<Cell<u32>>);
impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let counter = self.0.clone();
        // A task spawned by a destructor during shutdown is dropped too, unpolled.
        drop(minirt::spawn(
            async move { counter.set(counter.get() + 100) },
        ));
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn pending_tasks_are_cancelled_at_shutdown() {
    let rt = minirt::Runtime::new().unwrap();
    let handles: Vec<_> = (0..10)
        .map(|_| rt.spawn(std::future::pending::<u8>()))
        .collect();
    rt.block_on(minirt::yield_now());
    assert_eq!(rt.alive_tasks(), 10);
    drop(rt);
    for h in handles {
        assert!(h.is_finished());
        assert!(minirt::run(h).unwrap_err().is_cancelled());
    }
}

#[test]
fn tasks_spawned_during_shutdown_are_dropped_too() {
    let counter = Rc::new(Cell::new(0));
    let rt = minirt::Runtime::new().unwrap();
    for _ in 0..3 {
        let guard = SpawnOnDrop(counter.clone());
        drop(rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }));
    }
    rt.block_on(minirt::yield_now());
    drop(rt);
    assert_eq!(
        counter.get(),
        3,
        "each guard dropped once, and no spawned task ever ran"
    );
}

#[test]
fn unpolled_tasks_are_dropped_at_shutdown() {
    let counter = Rc::new(Cell::new(0));
    let rt = minirt::Runtime::new().unwrap();
    let c = counter.clone();
    let handle = rt.spawn(async move { c.set(1) });
    drop(rt);
    assert_eq!(counter.get(), 0);
    assert!(handle.is_finished());
}
