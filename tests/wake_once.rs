//! Waking a task twice before it runs schedules it once; waking a finished task does nothing.
mod common;

use common::Gate;

#[test]
fn two_wakes_before_a_poll_mean_one_poll() {
    let gate = Gate::new();
    let g = gate.clone();
    minirt::run(async move {
        let _task = minirt::spawn(async move { g.wait().await });
        minirt::yield_now().await;
        assert_eq!(gate.polls(), 1);
        let waker = gate.waker().unwrap();
        waker.wake_by_ref();
        waker.wake_by_ref();
        waker.wake();
        // Let the run queue drain twice over.
        minirt::yield_now().await;
        minirt::yield_now().await;
        assert_eq!(
            gate.polls(),
            2,
            "three wakes before the poll were folded into one"
        );
    });
}

#[test]
fn two_remote_wakes_before_a_poll_mean_one_poll() {
    let gate = Gate::new();
    let g = gate.clone();
    let rt = minirt::Runtime::new().unwrap();
    rt.block_on(async move {
        drop(minirt::spawn(async move { g.wait().await }));
        minirt::yield_now().await;
    });
    // Woken while no `block_on` runs: both wakes go to the inbox path.
    let waker = gate.waker().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| waker.wake_by_ref());
        s.spawn(|| waker.wake_by_ref());
    });
    rt.block_on(async {
        minirt::yield_now().await;
        minirt::yield_now().await;
    });
    assert_eq!(gate.polls(), 2);
}

#[test]
fn waking_a_finished_task_does_nothing() {
    let gate = Gate::new();
    gate.open();
    let g = gate.clone();
    let rt = minirt::Runtime::new().unwrap();
    rt.block_on(async move {
        minirt::spawn(async move { g.wait().await }).await.unwrap();
        let waker = gate.waker().unwrap();
        waker.wake_by_ref();
        std::thread::spawn(move || waker.wake()).join().unwrap();
        minirt::yield_now().await;
        assert_eq!(gate.polls(), 1);
    });
    assert_eq!(rt.alive_tasks(), 0);
}
