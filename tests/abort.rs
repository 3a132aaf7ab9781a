//! `JoinHandle::abort` before the first poll, while waiting, after completion, and by the task
//! itself.
mod common;

use common::{DropRecorder, Gate};
use std::cell::RefCell;
use std::rc::Rc;

#[test]
fn abort_before_first_poll_never_runs_the_task() {
    let ran = Rc::new(RefCell::new(false));
    let r = ran.clone();
    let err = minirt::run(async move {
        let handle = minirt::spawn(async move { *r.borrow_mut() = true });
        handle.abort();
        handle.await.unwrap_err()
    });
    assert!(err.is_cancelled() && !err.is_panic());
    assert_eq!(err.to_string(), "task was cancelled");
    assert!(!*ran.borrow());
}

#[test]
fn abort_while_waiting_drops_the_future_on_this_thread() {
    let gate = Gate::new();
    let (recorder, dropped_on) = DropRecorder::new();
    let (g, observer) = (gate.clone(), gate.clone());
    let err = minirt::run(async move {
        let handle = minirt::spawn(async move {
            let _recorder = recorder;
            g.wait().await;
        });
        minirt::yield_now().await;
        assert_eq!(observer.polls(), 1, "the task is parked on the gate");
        handle.abort();
        handle.await.unwrap_err()
    });
    assert!(err.is_cancelled());
    assert_eq!(
        *dropped_on.lock().unwrap(),
        Some(std::thread::current().id())
    );
    // The gate's stored waker now points at a cancelled task: waking it does nothing.
    gate.open();
}

#[test]
fn abort_after_completion_keeps_the_output() {
    let out = minirt::run(async {
        let handle = minirt::spawn(async { 3 });
        minirt::yield_now().await;
        assert!(handle.is_finished());
        handle.abort();
        handle.abort();
        handle.await
    });
    assert_eq!(out.unwrap(), 3);
}

#[test]
fn a_task_can_abort_itself() {
    let err = minirt::run(async {
        let slot: Rc<RefCell<Option<minirt::JoinHandle<()>>>> = Rc::default();
        let s = slot.clone();
        let handle = minirt::spawn(async move {
            minirt::yield_now().await;
            if let Some(me) = s.borrow().as_ref() {
                me.abort();
            }
            std::future::pending::<()>().await;
        });
        *slot.borrow_mut() = Some(handle);
        minirt::yield_now().await;
        minirt::yield_now().await;
        let handle = slot.borrow_mut().take().unwrap();
        handle.await.unwrap_err()
    });
    assert!(err.is_cancelled());
}

#[test]
fn aborting_a_detached_waiter_frees_it() {
    let rt = minirt::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = minirt::spawn(std::future::pending::<()>());
        minirt::yield_now().await;
        handle.abort();
        drop(handle);
        minirt::yield_now().await;
    });
    assert_eq!(rt.alive_tasks(), 0);
}
