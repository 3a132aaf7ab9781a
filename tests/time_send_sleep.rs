//! `Sleep` is `Send + Sync` and awaitable anywhere; `Handle::current` (issue 25, items 1-3).
//! At home a sleep arms the wheel directly; away from home it goes through the inbox, and it
//! never hangs on a runtime that is gone.
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use futures_core::future::FusedFuture;
use minirt::sync::oneshot;
use minirt::{Handle, Runtime, Sleep, sleep};

const HANG: Duration = Duration::from_secs(60);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn sleep_and_the_futures_built_on_it_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    send_sync(&sleep(ms(1)));
    send_sync(&minirt::time::interval(ms(1)));
    send(&minirt::timeout(ms(1), async {}));
    send(&async { sleep(ms(1)).await });
}

#[test]
fn a_send_future_that_sleeps_can_be_spawned_through_a_handle() {
    let _watchdog = common::watchdog(HANG);
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let remote = thread::spawn(move || {
        handle.spawn(async {
            let start = minirt::time::now();
            sleep(ms(5)).await;
            minirt::time::now() - start
        })
    })
    .join()
    .unwrap();
    let slept = rt.block_on(remote).unwrap();
    assert!(slept >= ms(5));
}

/// Drives `future` to completion on this plain thread, parking between polls.
fn block_on_plain_thread<F: Future>(future: F) -> F::Output {
    let waker = std::task::Waker::from(std::sync::Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

struct ThreadWaker(thread::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

#[test]
fn a_handle_sleep_is_awaited_on_a_plain_thread() {
    let _watchdog = common::watchdog(HANG);
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let (done, finished) = oneshot::channel();
    thread::spawn(move || {
        let sleep = handle.sleep(ms(10));
        let deadline = sleep.deadline();
        block_on_plain_thread(sleep);
        done.set_result(Instant::now() >= deadline).unwrap();
    });
    assert!(
        rt.block_on(finished).unwrap(),
        "woken by the wheel, never early"
    );
    assert_eq!(rt.metrics().timers_armed, 0);
}

#[test]
fn a_sleep_armed_at_home_then_moved_to_another_thread_still_fires() {
    let _watchdog = common::watchdog(HANG);
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let mut sleep = Box::pin(handle.sleep(ms(20)));
    rt.block_on(async {
        // First poll at home: armed in the wheel directly.
        std::future::poll_fn(|cx| {
            assert!(sleep.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
    });
    assert_eq!(rt.metrics().timers_armed, 1);
    let (done, finished) = oneshot::channel();
    thread::spawn(move || {
        block_on_plain_thread(sleep);
        done.set_result(()).unwrap();
    });
    rt.block_on(finished).unwrap();
    assert_eq!(
        rt.metrics().timers_armed,
        0,
        "the home entry was given up for the relay's, which fired"
    );
}

#[test]
fn dropping_a_sleep_armed_from_another_thread_removes_its_timer() {
    let _watchdog = common::watchdog(HANG);
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let (armed_tx, armed_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let waiter = thread::spawn(move || {
        let mut sleep = Box::pin(handle.sleep(Duration::from_secs(3600)));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        armed_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        drop(sleep);
    });
    armed_rx.recv().unwrap();
    // The arming job runs at the loop's next turn.
    rt.block_on(minirt::yield_now());
    assert_eq!(rt.metrics().timers_armed, 1);
    go_tx.send(()).unwrap();
    waiter.join().unwrap();
    rt.block_on(minirt::yield_now());
    assert_eq!(rt.metrics().timers_armed, 0, "the cancel job removed it");
    assert_eq!(rt.metrics().timers_cancelled, 1);
}

#[test]
fn a_sleep_whose_runtime_is_dropped_panics_instead_of_hanging() {
    let _watchdog = common::watchdog(HANG);
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let (armed_tx, armed_rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let sleep = handle.sleep(Duration::from_secs(3600));
        let mut polled_once = false;
        block_on_plain_thread(std::future::poll_fn({
            let mut sleep = Box::pin(sleep);
            move |cx| {
                let poll = sleep.as_mut().poll(cx);
                if !polled_once {
                    polled_once = true;
                    armed_tx.send(()).unwrap();
                }
                poll
            }
        }));
    });
    armed_rx.recv().unwrap();
    rt.block_on(minirt::yield_now()); // arm it in the wheel
    drop(rt);
    let err = waiter.join().unwrap_err();
    let message = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("outlived its runtime"), "{message:?}");
}

#[test]
fn a_sleep_made_through_a_dead_handle_panics_when_polled() {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    drop(rt);
    let sleep = handle.sleep(ms(1));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        block_on_plain_thread(sleep)
    }))
    .unwrap_err();
    let message = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("outlived its runtime"), "{message:?}");
}

#[test]
fn a_plain_sleep_polled_outside_any_runtime_says_how_to_fix_it() {
    let err = std::panic::catch_unwind(|| block_on_plain_thread(sleep(ms(1)))).unwrap_err();
    let message = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("Handle::sleep"), "{message:?}");
}

#[test]
fn sleep_is_a_fused_future() {
    minirt::run(async {
        let mut sleep: Pin<Box<Sleep>> = Box::pin(sleep(ms(1)));
        assert!(!sleep.is_terminated());
        sleep.as_mut().await;
        assert!(sleep.is_terminated(), "done after Ready");
        sleep.as_mut().reset(minirt::time::now() + ms(1));
        assert!(!sleep.is_terminated(), "a reset sleep runs again");
        sleep.as_mut().await;
        assert!(sleep.is_terminated());
        let zero = minirt::sleep(Duration::ZERO);
        assert!(
            !zero.is_terminated(),
            "not terminated before its first poll"
        );
    });
}

#[test]
fn handle_current_is_the_running_runtime() {
    assert!(Handle::try_current().is_err());
    let err = Handle::try_current().unwrap_err();
    assert!(err.is_missing_context());
    assert!(err.to_string().contains("outside a runtime"));
    let rt = Runtime::new().unwrap();
    let (tx, rx) = mpsc::channel();
    rt.block_on(async {
        let handle = Handle::current();
        assert!(!handle.is_closed());
        tx.send(handle).unwrap();
    });
    let handle = rx.recv().unwrap();
    let remote = thread::spawn(move || handle.spawn(async { 41 + 1 }))
        .join()
        .unwrap();
    assert_eq!(
        rt.block_on(remote).unwrap(),
        42,
        "the handle reaches that runtime"
    );
    let handle = rt.handle();
    drop(rt);
    assert!(handle.is_closed());
}

#[test]
fn handle_current_outside_a_runtime_panics_with_a_message() {
    let err = std::panic::catch_unwind(Handle::current).unwrap_err();
    let message = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("outside a runtime"), "{message:?}");
}
