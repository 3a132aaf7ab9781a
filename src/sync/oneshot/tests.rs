use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{RawWaker, RawWakerVTable};
use std::thread;

use futures_task::ArcWake;

use super::*;
use crate::sync::testing::{CountingWaker, poll_once};

mod model;

/// Rounds of each race between two threads. Miri runs each round slowly, but explores other
/// schedules in each, and reports a data race on the cells as an error.
const ROUNDS: usize = if cfg!(miri) { 12 } else { 200 };

#[test]
fn value_sent_before_the_first_poll() {
    let (tx, rx) = channel();
    tx.set_result(5).unwrap();
    assert_eq!(poll_once(pin!(rx)), Poll::Ready(Ok(5)));
}

#[test]
fn value_sent_while_waiting_wakes_the_receiver_once() {
    let (tx, rx) = channel();
    let w = CountingWaker::new();
    let mut rx = pin!(rx);
    assert!(w.poll(rx.as_mut()).is_pending());
    assert!(w.poll(rx.as_mut()).is_pending());
    assert_eq!(w.count(), 0);
    tx.set_result("v").unwrap();
    assert_eq!(
        w.count(),
        1,
        "sending wakes, and the drop of the sender does not wake again"
    );
    assert_eq!(w.poll(rx.as_mut()), Poll::Ready(Ok("v")));
}

#[test]
fn dropped_sender_fails_the_receiver() {
    let (tx, rx) = channel::<u8>();
    let w = CountingWaker::new();
    let mut rx = pin!(rx);
    assert!(w.poll(rx.as_mut()).is_pending());
    drop(tx);
    assert_eq!(w.count(), 1);
    assert_eq!(w.poll(rx.as_mut()), Poll::Ready(Err(RecvError(()))));
}

#[test]
fn dropped_receiver_gives_the_value_back() {
    let (tx, rx) = channel();
    assert!(!tx.is_closed());
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.set_result(vec![1]), Err(vec![1]));
}

#[test]
fn close_keeps_a_value_already_sent() {
    let (tx, mut rx) = channel();
    tx.set_result(3).unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn awaiting_a_closed_receiver_fails_at_once() {
    let (_tx, mut rx) = channel::<u8>();
    rx.close();
    assert_eq!(poll_once(pin!(rx)), Poll::Ready(Err(RecvError(()))));
}

#[test]
fn try_recv_tells_empty_from_closed() {
    let (tx, mut rx) = channel::<u8>();
    assert!(rx.try_recv().unwrap_err().is_empty());
    drop(tx);
    let err = rx.try_recv().unwrap_err();
    assert!(err.is_closed() && !err.is_empty());
    assert_eq!(err.to_string(), "the oneshot channel is closed");
}

#[test]
fn closed_resolves_when_the_receiver_is_dropped_mid_wait() {
    let (mut tx, rx) = channel::<u8>();
    let w = CountingWaker::new();
    {
        let mut closed = pin!(tx.closed());
        assert!(w.poll(closed.as_mut()).is_pending());
        drop(rx);
        assert_eq!(w.count(), 1);
        assert!(w.poll(closed.as_mut()).is_ready());
    }
    assert_eq!(tx.set_result(1), Err(1));
}

#[test]
fn dropped_closed_future_leaves_no_waker_behind() {
    let (mut tx, mut rx) = channel::<u8>();
    let w = CountingWaker::new();
    let mut closed = Box::pin(tx.closed());
    assert!(w.poll(closed.as_mut()).is_pending());
    drop(closed);
    rx.close();
    assert_eq!(w.count(), 0);
    assert!(tx.is_closed());
}

#[test]
fn dropped_receiver_drops_an_unreceived_value() {
    let value = std::rc::Rc::new(());
    let (tx, rx) = channel();
    tx.set_result(value.clone()).unwrap();
    drop(rx);
    assert_eq!(std::rc::Rc::strong_count(&value), 1);
}

#[test]
fn halves_are_send_and_sync_when_t_is_send() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sender<Vec<u8>>>();
    assert_send_sync::<Receiver<Vec<u8>>>();
}

#[test]
fn completed_from_a_std_thread() {
    let (tx, rx) = channel();
    let w = CountingWaker::new();
    let mut rx = pin!(rx);
    assert!(w.poll(rx.as_mut()).is_pending());
    thread::spawn(move || tx.set_result(String::from("from a thread")).unwrap())
        .join()
        .unwrap();
    assert_eq!(w.count(), 1);
    assert_eq!(
        w.poll(rx.as_mut()),
        Poll::Ready(Ok(String::from("from a thread")))
    );
}

/// The receiver waits on this thread while another thread sends: whatever the interleaving, the
/// receiver is woken or finds the value on its next poll. No sleeping: we wait on the waker.
#[test]
fn send_racing_with_a_waiting_receiver_never_loses_the_wakeup() {
    for _ in 0..ROUNDS {
        let (tx, rx) = channel();
        let w = CountingWaker::new();
        let mut rx = pin!(rx);
        let sender = thread::spawn(move || tx.set_result(1u32).unwrap());
        let first = w.poll(rx.as_mut());
        sender.join().unwrap();
        if first.is_pending() {
            assert_eq!(w.count(), 1, "a pending receiver must be woken");
            assert_eq!(w.poll(rx.as_mut()), Poll::Ready(Ok(1)));
        } else {
            assert_eq!(first, Poll::Ready(Ok(1)));
        }
    }
}

/// set_result races with the receiver being dropped on another thread: the value is either
/// accepted (and then dropped with the receiver) or handed back, never lost or leaked.
#[test]
fn set_result_racing_with_a_dropped_receiver() {
    let value = std::sync::Arc::new(());
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..ROUNDS {
        let (tx, rx) = channel();
        let dropper = thread::spawn(move || drop(rx));
        match tx.set_result(value.clone()) {
            Ok(()) => accepted += 1,
            Err(back) => {
                refused += 1;
                drop(back);
            }
        }
        dropper.join().unwrap();
        assert_eq!(
            std::sync::Arc::strong_count(&value),
            1,
            "no copy of the value is left behind"
        );
    }
    assert_eq!(accepted + refused, ROUNDS);
}

#[test]
fn polling_again_with_the_same_waker_keeps_one_clone() {
    let (_tx, rx) = channel::<u8>();
    let w = CountingWaker::new();
    let mut rx = pin!(rx);
    for _ in 0..3 {
        assert!(w.poll(rx.as_mut()).is_pending());
    }
    assert_eq!(w.clones(), 1);
}

#[test]
fn a_new_waker_replaces_the_old_one() {
    let (tx, rx) = channel();
    let (old, new) = (CountingWaker::new(), CountingWaker::new());
    let mut rx = pin!(rx);
    assert!(old.poll(rx.as_mut()).is_pending());
    assert!(new.poll(rx.as_mut()).is_pending());
    assert_eq!(old.clones(), 0, "the old waker is dropped when replaced");
    tx.set_result(1).unwrap();
    assert_eq!(
        (old.count(), new.count()),
        (0, 1),
        "only the last waker is woken"
    );
    assert_eq!(new.poll(rx.as_mut()), Poll::Ready(Ok(1)));
}

#[test]
fn a_new_waker_replaces_the_old_one_in_closed() {
    let (mut tx, mut rx) = channel::<u8>();
    let (old, new) = (CountingWaker::new(), CountingWaker::new());
    let mut closed = Box::pin(tx.closed());
    assert!(old.poll(closed.as_mut()).is_pending());
    assert!(new.poll(closed.as_mut()).is_pending());
    assert_eq!(old.clones(), 0, "the old waker is dropped when replaced");
    rx.close();
    assert_eq!(
        (old.count(), new.count()),
        (0, 1),
        "only the last waker is woken"
    );
    assert!(new.poll(closed.as_mut()).is_ready());
}

#[test]
#[should_panic(expected = "polled after its value was taken")]
fn polling_after_the_value_was_taken_panics() {
    let (tx, rx) = channel();
    tx.set_result(1).unwrap();
    let mut rx = pin!(rx);
    assert_eq!(poll_once(rx.as_mut()), Poll::Ready(Ok(1)));
    let _ = poll_once(rx.as_mut());
}

#[test]
fn both_halves_gone_drop_the_wakers() {
    let (mut tx, rx) = channel::<u8>();
    let (r, s) = (CountingWaker::new(), CountingWaker::new());
    let mut rx = Box::pin(rx);
    assert!(r.poll(rx.as_mut()).is_pending());
    let mut closed = Box::pin(tx.closed());
    assert!(s.poll(closed.as_mut()).is_pending());
    drop(rx); // lends the sender's waker to the receiver, which wakes it; it stays in its cell
    assert!(s.poll(closed.as_mut()).is_ready());
    drop(closed);
    assert_eq!(
        (r.clones(), s.clones()),
        (1, 1),
        "kept until the channel goes"
    );
    drop(tx);
    assert_eq!((r.clones(), s.clones()), (0, 0));
}

/// Counts how many `Tracked` values are alive, across threads.
#[derive(Clone, Debug, Default)]
struct Alive(std::sync::Arc<AtomicUsize>);

/// A value to send, numbered, that counts itself in its `Alive` while it lives.
#[derive(Debug)]
struct Tracked {
    n: u8,
    alive: Alive,
}

impl Alive {
    fn value(&self, n: u8) -> Tracked {
        self.0.fetch_add(1, Ordering::SeqCst);
        Tracked {
            n,
            alive: self.clone(),
        }
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.alive.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A waker that drops the receiver it wakes, from inside `wake`: user code re-entering the
/// channel while `set_result` is still waking. The value must outlive `set_result`'s own step and
/// then be dropped once, by the sender, now the last half.
#[test]
fn a_waker_that_drops_the_receiver_while_woken() {
    struct DropOnWake(Mutex<Option<Pin<Box<Receiver<Tracked>>>>>);
    impl ArcWake for DropOnWake {
        fn wake_by_ref(arc_self: &std::sync::Arc<Self>) {
            drop(arc_self.0.lock().unwrap().take());
        }
    }
    let alive = Alive::default();
    let (tx, rx) = channel();
    let hook = std::sync::Arc::new(DropOnWake(Mutex::new(None)));
    let waker = futures_task::waker(hook.clone());
    let mut rx = Box::pin(rx);
    assert!(
        rx.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    *hook.0.lock().unwrap() = Some(rx);
    tx.set_result(alive.value(0)).unwrap();
    assert!(hook.0.lock().unwrap().is_none(), "the waker ran");
    assert_eq!(alive.count(), 0, "dropped once, with the channel");
}

/// A waker that runs `on_clone` the first time it is cloned: outside code that runs in the middle
/// of a poll, after the poll's first look at the state and before its waker is registered.
struct CloneHook<'a> {
    on_clone: std::cell::Cell<Option<Box<dyn FnOnce() + 'a>>>,
}

static HOOK_VTABLE: RawWakerVTable =
    RawWakerVTable::new(hook_clone, hook_nothing, hook_nothing, hook_nothing);

fn hook_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` comes from `CloneHook::waker`, and each test keeps its hook alive until the
    // channel, which holds the clones, is gone. (`wake` and `drop` do not read the hook at all.)
    let hook = unsafe { &*data.cast::<CloneHook<'_>>() };
    if let Some(f) = hook.on_clone.take() {
        f();
    }
    RawWaker::new(data, &HOOK_VTABLE)
}

fn hook_nothing(_: *const ()) {}

impl<'a> CloneHook<'a> {
    fn new(on_clone: impl FnOnce() + 'a) -> Self {
        CloneHook {
            on_clone: std::cell::Cell::new(Some(Box::new(on_clone))),
        }
    }

    fn waker(&self) -> Waker {
        let data = std::ptr::from_ref(self).cast::<()>();
        // SAFETY: the vtable's functions only read the hook, which outlives the wakers (see
        // `hook_clone`), and hold no resources, so `wake` and `drop` have nothing to release.
        unsafe { Waker::from_raw(RawWaker::new(data, &HOOK_VTABLE)) }
    }
}

/// The sender completes while the receiver's poll is between its load and its registration:
/// "register, then re-check" must see the value, since the sender found no waker to wake.
#[test]
fn a_value_sent_while_the_poll_registers_is_seen() {
    let (tx, rx) = channel();
    let hook = CloneHook::new(move || tx.set_result(1).unwrap());
    let mut rx = pin!(rx);
    let got = rx.as_mut().poll(&mut Context::from_waker(&hook.waker()));
    assert_eq!(got, Poll::Ready(Ok(1)));
}

/// The same, while the poll replaces an older waker, which nobody wakes.
#[test]
fn a_value_sent_while_the_poll_replaces_its_waker_is_seen() {
    let (tx, rx) = channel();
    let hook = CloneHook::new(move || tx.set_result(1).unwrap());
    let old = CountingWaker::new();
    let mut rx = pin!(rx);
    assert!(old.poll(rx.as_mut()).is_pending());
    let got = rx.as_mut().poll(&mut Context::from_waker(&hook.waker()));
    assert_eq!(got, Poll::Ready(Ok(1)));
    assert_eq!((old.count(), old.clones()), (0, 0));
}

/// The receiver closes while `Closed::poll` registers: it must resolve now.
#[test]
fn a_close_while_closed_registers_is_seen() {
    let (mut tx, rx) = channel::<u8>();
    let hook = CloneHook::new(move || drop(rx));
    let got = pin!(tx.closed()).poll(&mut Context::from_waker(&hook.waker()));
    assert!(got.is_ready());
    assert!(tx.is_closed());
    drop(tx);
}

/// A waker whose `clone` panics: the poll panics, but the channel is left as it was.
#[test]
fn a_waker_whose_clone_panics_leaves_the_channel_usable() {
    let hook = CloneHook::new(|| panic!("clone fails"));
    let (tx, rx) = channel();
    let mut rx = Box::pin(rx);
    let polled = catch_unwind(AssertUnwindSafe(|| {
        let _ = rx.as_mut().poll(&mut Context::from_waker(&hook.waker()));
    }));
    assert!(polled.is_err());
    let w = CountingWaker::new();
    assert!(w.poll(rx.as_mut()).is_pending());
    tx.set_result(5).unwrap();
    assert_eq!(w.count(), 1);
    assert_eq!(w.poll(rx.as_mut()), Poll::Ready(Ok(5)));
}

/// A waker whose `wake` panics: `set_result` panics after the value is in, so it is received.
#[test]
fn a_waker_whose_wake_panics_still_delivers_the_value() {
    struct Panics;
    impl ArcWake for Panics {
        fn wake_by_ref(_: &std::sync::Arc<Self>) {
            panic!("wake fails");
        }
    }
    let alive = Alive::default();
    let (tx, rx) = channel();
    let waker = futures_task::waker(std::sync::Arc::new(Panics));
    let mut rx = Box::pin(rx);
    assert!(
        rx.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    let sent = catch_unwind(AssertUnwindSafe(|| tx.set_result(alive.value(0))));
    assert!(sent.is_err());
    assert!(matches!(poll_once(rx.as_mut()), Poll::Ready(Ok(_))));
    assert_eq!(alive.count(), 0);
    drop(rx);
}

/// The receiver keeps switching between two wakers while another thread sends: whichever waker
/// the last `Pending` poll left in place is the one woken, exactly once.
#[test]
fn switching_wakers_while_a_thread_sends_is_woken_once() {
    for _ in 0..ROUNDS {
        let (tx, rx) = channel();
        let wakers = [CountingWaker::new(), CountingWaker::new()];
        let mut rx = pin!(rx);
        let sender = thread::spawn(move || tx.set_result(3u8).unwrap());
        let mut last = None;
        for i in 0..6 {
            match wakers[i % 2].poll(rx.as_mut()) {
                Poll::Pending => last = Some(i % 2),
                Poll::Ready(got) => {
                    assert_eq!(got, Ok(3));
                    last = None;
                    break;
                }
            }
        }
        sender.join().unwrap();
        if let Some(k) = last {
            assert_eq!(wakers[k].count(), 1, "the waker in place is woken");
            assert_eq!(wakers[1 - k].count(), 0, "a replaced waker is not");
            assert_eq!(wakers[k].poll(rx.as_mut()), Poll::Ready(Ok(3)));
        }
    }
}

#[test]
fn sender_dropped_on_a_thread_while_waiting() {
    for _ in 0..ROUNDS {
        let (tx, rx) = channel::<u8>();
        let w = CountingWaker::new();
        let mut rx = pin!(rx);
        let dropper = thread::spawn(move || drop(tx));
        let first = w.poll(rx.as_mut());
        dropper.join().unwrap();
        if first.is_pending() {
            assert_eq!(w.count(), 1);
            assert_eq!(w.poll(rx.as_mut()), Poll::Ready(Err(RecvError(()))));
        } else {
            assert_eq!(first, Poll::Ready(Err(RecvError(()))));
        }
    }
}

/// `Sender::closed`, switching wakers, while the receiver is dropped on another thread.
#[test]
fn closed_racing_with_the_receiver_dropped_on_a_thread() {
    for _ in 0..ROUNDS {
        let (mut tx, rx) = channel::<u8>();
        let wakers = [CountingWaker::new(), CountingWaker::new()];
        let dropper = thread::spawn(move || drop(rx));
        let mut last = None;
        {
            let mut closed = pin!(tx.closed());
            for i in 0..4 {
                if wakers[i % 2].poll(closed.as_mut()).is_ready() {
                    last = None;
                    break;
                }
                last = Some(i % 2);
            }
            dropper.join().unwrap();
            if let Some(k) = last {
                assert_eq!(wakers[k].count(), 1, "the waker in place is woken");
                assert!(wakers[k].poll(closed.as_mut()).is_ready());
            }
        }
        assert!(tx.is_closed());
        // A waker replaced after the close may have been woken too, but only one ever is.
        assert!(wakers[0].count() + wakers[1].count() <= 1);
    }
}

/// A value sent while the receiver waits and is then dropped, on two threads: it is dropped
/// exactly once, by whichever half goes last.
#[test]
fn unreceived_value_is_dropped_once_whichever_half_goes_last() {
    let alive = Alive::default();
    for _ in 0..ROUNDS {
        let (tx, rx) = channel();
        let mut rx = Box::pin(rx);
        let w = CountingWaker::new();
        assert!(w.poll(rx.as_mut()).is_pending());
        let value = alive.value(0);
        let sender = thread::spawn(move || tx.set_result(value).map_err(drop));
        drop(rx);
        let _ = sender.join().unwrap();
        assert_eq!(alive.count(), 0);
        assert_eq!(w.clones(), 0);
    }
}
