//! User code that runs in the middle of the runtime's bookkeeping: a waker whose `wake` or
//! `Drop` panics, a waker whose `Drop` drives the runtime, an output whose `Drop` panics.
//!
//! Each test here guards one of the four ways such code used to break the thread rule (stated
//! in `src/task/mod.rs`). They run natively and under Miri (`.ci/miri`), which is what sees
//! the undefined behaviour itself; natively each one checks a symptom that follows from it: a
//! future never dropped, a task never freed, a waker never woken.
// Handing a JoinHandle out of `block_on` is part of these tests.
#![allow(clippy::async_yields_async)]
mod common;

use std::cell::RefCell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::ThreadId;

use common::{DropRecorder, Gate};

/// The tests here run one at a time: two of them count this process's open file descriptors,
/// which another test's runtime, made or dropped meanwhile, would change.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A waker whose `wake` panics.
struct PanicOnWake;

impl Wake for PanicOnWake {
    fn wake(self: Arc<Self>) {
        panic!("PanicOnWake woken");
    }
}

thread_local! {
    /// What a [`HookWaker`] runs when it is dropped: a waker's `Drop` is user code too.
    static ON_DROP: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
}

/// A waker that counts its wakes and, when its last clone goes, runs this thread's `ON_DROP`.
#[derive(Default)]
struct HookWaker {
    woken: AtomicUsize,
}

impl Wake for HookWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for HookWaker {
    fn drop(&mut self) {
        if let Some(hook) = ON_DROP.with(|h| h.borrow_mut().take()) {
            hook();
        }
    }
}

/// Runs the runtime for a few turns: enough to move a task woken from outside `block_on`
/// (through the inbox) into the run queue and poll it.
fn run_a_few_turns(rt: &minirt::Runtime) {
    rt.block_on(async {
        for _ in 0..3 {
            minirt::yield_now().await;
        }
    });
}

/// Polls `fut` once with `waker`.
fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// An output (or future) that records how often, and on which thread, it was dropped.
struct Counted {
    drops: Arc<Mutex<Vec<ThreadId>>>,
    panic_on_drop: bool,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.lock().unwrap().push(std::thread::current().id());
        if self.panic_on_drop {
            panic!("Counted dropped");
        }
    }
}

/// Bug 1: `complete` woke the join waker unguarded. A panic there during the runtime's
/// shutdown left the tasks not yet cancelled with their futures inside, and a waker on another
/// thread later freed one of them, `!Send` future and all, on that thread.
#[test]
fn shutdown_cancels_every_task_even_when_a_join_waker_panics() {
    let _serial = serial();
    let rt = minirt::Runtime::new().unwrap();
    let gate = Gate::new();
    let (recorder, dropped_on) = DropRecorder::new();
    let g = gate.clone();
    let b = rt.block_on(async move {
        // B first: the shutdown cancels in spawn order, so B's panicking waker fires before A.
        let mut b = minirt::spawn(std::future::pending::<()>());
        // A parks and leaves its waker with the gate, where another thread can take it. Its
        // future holds an `Rc`, which must never be touched off this thread.
        let not_send = Rc::new(recorder);
        minirt::spawn(async move {
            let _keep = not_send;
            g.wait().await;
        });
        minirt::yield_now().await;
        let waker = Waker::from(Arc::new(PanicOnWake));
        assert!(poll_with(&mut b, &waker).is_pending());
        b
    });
    let stray = gate.waker().expect("A parked");

    let dropped = panic::catch_unwind(AssertUnwindSafe(|| drop(rt)));
    let payload = dropped.expect_err("the join waker's panic comes out of the runtime's drop");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"PanicOnWake woken"));
    assert_eq!(
        *dropped_on.lock().unwrap(),
        Some(std::thread::current().id()),
        "A's future was dropped by the shutdown, on the runtime's thread"
    );
    // The inbox is closed: a wake from another thread now only gives up its reference.
    std::thread::spawn(move || {
        stray.wake_by_ref();
        drop(stray);
    })
    .join()
    .unwrap();
    drop(gate);
    assert!(minirt::run(b).unwrap_err().is_cancelled());
}

/// Bug 2: a panic in the output's `Drop` inside `JoinHandle::drop` skipped giving back the
/// handle's reference, and the task, the runtime's shared half and its poller leaked.
#[test]
fn an_output_whose_drop_panics_does_not_leak_its_task() {
    let _serial = serial();
    let drops = Arc::new(Mutex::new(Vec::new()));
    let rt = minirt::Runtime::new().unwrap();
    let d = drops.clone();
    let handle = rt.block_on(async move {
        let h = minirt::spawn(async move {
            Counted {
                drops: d,
                panic_on_drop: true,
            }
        });
        minirt::yield_now().await;
        assert!(h.is_finished());
        h
    });
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| drop(handle)));
    assert!(
        unwound.is_err(),
        "the output's panic reaches the handle's owner"
    );
    assert_eq!(
        drops.lock().unwrap().len(),
        1,
        "the output was dropped once"
    );
    assert_freed_with(rt);
}

/// Bug 2, second form: the join waker's `Drop` panics inside `JoinHandle::drop`.
#[test]
fn a_join_waker_whose_drop_panics_does_not_leak_its_task() {
    let _serial = serial();
    let rt = minirt::Runtime::new().unwrap();
    let mut handle = rt.spawn(std::future::pending::<()>());
    let waker = Waker::from(Arc::new(HookWaker::default()));
    assert!(poll_with(&mut handle, &waker).is_pending());
    drop(waker); // the handle now holds the only clone
    ON_DROP.with(|h| *h.borrow_mut() = Some(Box::new(|| panic!("join waker dropped"))));
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| drop(handle)));
    assert!(
        unwound.is_err(),
        "the waker's panic reaches the handle's owner"
    );
    assert_freed_with(rt);
}

/// Drops `rt` and checks that every task it had is freed: the last task reference gives back
/// the runtime's shared half, whose poller then closes. Under Miri, its leak check does this.
fn assert_freed_with(rt: minirt::Runtime) {
    #[cfg(not(miri))]
    {
        // One runtime's worth of file descriptors (the poller's epoll fd, eventfd, timerfd).
        let before = common::open_fds();
        drop(rt);
        let after = common::open_fds();
        assert!(
            after < before,
            "the runtime's fds stayed open ({before} -> {after}): a task still holds it"
        );
    }
    #[cfg(miri)]
    drop(rt);
}

/// Bug 3: `JoinHandle::poll` replaced the stored waker while it held a `&mut` into the
/// header's slot. When the old waker's `Drop` ran the runtime, the task completed inside that
/// borrow: `complete` took a second `&mut` to the slot and woke the waker being dropped, and
/// the new waker, stored after, was never woken.
#[test]
fn a_join_waker_whose_drop_runs_the_runtime_is_replaced_without_aliasing() {
    let _serial = serial();
    let rt = Rc::new(minirt::Runtime::new().unwrap());
    let gate = Gate::new();
    let g = gate.clone();
    let mut handle = rt.spawn(async move { g.wait().await });
    run_a_few_turns(&rt); // the task parks on the gate

    let first = Waker::from(Arc::new(HookWaker::default()));
    assert!(poll_with(&mut handle, &first).is_pending());
    drop(first); // the handle holds the only clone: replacing it will drop it

    // When the handle drops the first waker, drive the runtime until the task is done.
    let (driver, gate_opener) = (rt.clone(), gate.clone());
    ON_DROP.with(|h| {
        *h.borrow_mut() = Some(Box::new(move || {
            gate_opener.open();
            run_a_few_turns(&driver);
        }))
    });
    let second_counts = Arc::new(HookWaker::default());
    let second = Waker::from(second_counts.clone());
    match poll_with(&mut handle, &second) {
        Poll::Ready(result) => result.unwrap(),
        Poll::Pending => {
            assert_eq!(
                second_counts.woken.load(Ordering::SeqCst),
                1,
                "the task completed while the handle stored its new waker: that one is woken"
            );
            assert!(poll_with(&mut handle, &second).is_ready());
        }
    }
    assert!(
        ON_DROP.with(|h| h.borrow().is_none()),
        "the first waker was dropped"
    );
}

/// Bug 4: `JoinHandle::drop` saw "not complete", then dropped the join waker. When that drop
/// completed the task, the task still counted the handle as interested, so the output stayed in
/// the stage, to be freed later by whoever held the last reference, on any thread.
#[test]
fn a_join_handle_dropped_while_its_waker_completes_the_task_drops_the_output_at_home() {
    let _serial = serial();
    let drops = Arc::new(Mutex::new(Vec::new()));
    let rt = Rc::new(minirt::Runtime::new().unwrap());
    let gate = Gate::new();
    let (g, d) = (gate.clone(), drops.clone());
    let mut handle = rt.spawn(async move {
        g.wait().await;
        Counted {
            drops: d,
            panic_on_drop: false,
        }
    });
    run_a_few_turns(&rt); // the task parks on the gate
    // Another waker keeps the task's memory alive after the handle goes, as a waker held by
    // another thread would.
    let stray = gate.waker().expect("the task parked");

    let waker = Waker::from(Arc::new(HookWaker::default()));
    assert!(poll_with(&mut handle, &waker).is_pending());
    drop(waker);
    let (driver, gate_opener) = (rt.clone(), gate.clone());
    ON_DROP.with(|h| {
        *h.borrow_mut() = Some(Box::new(move || {
            gate_opener.open();
            run_a_few_turns(&driver);
        }))
    });
    drop(handle);
    assert_eq!(
        *drops.lock().unwrap(),
        vec![std::thread::current().id()],
        "the output was dropped once, on the runtime's thread, as the handle went"
    );
    std::thread::spawn(move || drop(stray)).join().unwrap();
    assert_eq!(drops.lock().unwrap().len(), 1);
}

/// The future given to `block_on` may panic as it is dropped; the runtime stays usable.
#[test]
fn a_block_on_future_whose_drop_panics_leaves_the_runtime_usable() {
    let _serial = serial();
    let drops = Arc::new(Mutex::new(Vec::new()));
    let rt = minirt::Runtime::new().unwrap();
    let d = drops.clone();
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async move {
            let _counted = Counted {
                drops: d,
                panic_on_drop: true,
            };
            minirt::spawn(async {}).await.unwrap();
            7
        })
    }));
    assert!(unwound.is_err(), "the drop's panic comes out of block_on");
    assert_eq!(drops.lock().unwrap().len(), 1);
    let later = rt.block_on(async { minirt::spawn(async { 35 }).await.unwrap() + 7 });
    assert_eq!(later, 42);
    assert_eq!(rt.alive_tasks(), 0);
}

/// A future that is ready at once with a [`Counted`] whose `Drop` panics, and whose own `Drop`
/// panics too.
struct ReadyThenPanicsInDrop {
    drops: Arc<Mutex<Vec<ThreadId>>>,
}

impl Future for ReadyThenPanicsInDrop {
    type Output = Counted;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Counted> {
        Poll::Ready(Counted {
            drops: self.drops.clone(),
            panic_on_drop: true,
        })
    }
}

impl Drop for ReadyThenPanicsInDrop {
    fn drop(&mut self) {
        panic!("the finished future's Drop");
    }
}

/// Issue 24, bug 9: a task's future panics as it is dropped, so its output is not wanted, and
/// the output panics as it is dropped too. That second drop ran outside the guard: the panic
/// left the runtime's loop before the task was completed, so `block_on` unwound, the
/// `JoinHandle` stayed pending for ever, and a later wake polled a finished task.
#[test]
fn a_future_and_its_output_that_both_panic_in_drop_still_complete_the_task() {
    let _serial = serial();
    let drops = Arc::new(Mutex::new(Vec::new()));
    let rt = minirt::Runtime::new().unwrap();
    let d = drops.clone();
    let result = rt.block_on(async move {
        let handle = minirt::spawn(ReadyThenPanicsInDrop { drops: d });
        handle.await
    });
    let err = result
        .err()
        .expect("the future's panic is the task's result");
    assert!(err.is_panic());
    assert_eq!(
        drops.lock().unwrap().len(),
        1,
        "the unwanted output was dropped, once"
    );
    assert_eq!(rt.alive_tasks(), 0);
    let later = rt.block_on(async { minirt::spawn(async { 40 }).await.unwrap() + 2 });
    assert_eq!(later, 42, "the runtime goes on");
    assert_freed_with(rt);
}
