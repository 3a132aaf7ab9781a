use std::pin::pin;
use std::thread;

use super::*;
use crate::sync::testing::{CountingWaker, poll_once};

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
    for _ in 0..200 {
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
    for _ in 0..200 {
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
    assert_eq!(accepted + refused, 200);
}
