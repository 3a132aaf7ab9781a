//! The thread rule: futures are dropped on the runtime's thread, and wakers may outlive the
//! runtime on any other thread.
// Handing a JoinHandle out of `block_on` is what these tests are about.
#![allow(clippy::async_yields_async)]
mod common;

use common::{DropRecorder, Gate};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[test]
fn a_waker_outlives_its_runtime_on_another_thread() {
    let (recorder, dropped_on) = DropRecorder::new();
    let gate = Gate::new();
    let rt = minirt::Runtime::new().unwrap();
    let g = gate.clone();
    let handle = rt.block_on(async move {
        let h = minirt::spawn(async move {
            let _recorder = recorder;
            g.wait().await;
        });
        minirt::yield_now().await;
        h
    });
    let waker = gate.waker().expect("the task parked and left its waker");
    let second = waker.clone();
    drop(rt);
    let home = std::thread::current().id();
    assert_eq!(
        *dropped_on.lock().unwrap(),
        Some(home),
        "future dropped on the runtime thread"
    );
    assert!(handle.is_finished());

    std::thread::spawn(move || {
        waker.wake_by_ref();
        waker.wake();
        drop(second);
    })
    .join()
    .unwrap();
    gate.open(); // the gate's own copy of the waker, woken on this thread
    assert!(handle.await_cancelled());
}

trait AwaitCancelled {
    fn await_cancelled(self) -> bool;
}

impl AwaitCancelled for minirt::JoinHandle<()> {
    fn await_cancelled(self) -> bool {
        // The handle is polled by a fresh runtime; the task it names is gone already.
        minirt::run(self).unwrap_err().is_cancelled()
    }
}

#[test]
fn the_runtime_drops_every_task_on_its_own_thread() {
    let rt = minirt::Runtime::new().unwrap();
    let mut slots = Vec::new();
    let mut handles = Vec::new();
    rt.block_on(async {
        for _ in 0..100 {
            let (recorder, slot) = DropRecorder::new();
            slots.push(slot);
            handles.push(minirt::spawn(async move {
                let _recorder = recorder;
                std::future::pending::<()>().await;
            }));
        }
        minirt::yield_now().await;
    });
    drop(rt);
    let home = std::thread::current().id();
    for slot in slots {
        assert_eq!(*slot.lock().unwrap(), Some(home));
    }
    for h in handles {
        assert!(h.is_finished());
    }
}

#[test]
fn wakes_racing_with_the_runtimes_drop_are_harmless() {
    // Under Miri each round is slow, and `.ci/miri` runs this with several seeds instead.
    let rounds = if cfg!(miri) { 3 } else { 20 };
    for _ in 0..rounds {
        let gate = Gate::new();
        let rt = minirt::Runtime::new().unwrap();
        let g = gate.clone();
        rt.block_on(async move {
            drop(minirt::spawn(async move { g.wait().await }));
            minirt::yield_now().await;
        });
        let waker = gate.waker().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let hammer = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                waker.wake_by_ref();
            }
        });
        drop(rt);
        stop.store(true, Ordering::Relaxed);
        hammer.join().unwrap();
    }
}
