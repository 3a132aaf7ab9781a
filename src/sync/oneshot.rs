//! A one-shot channel: one value, sent once. asyncio's bare `Future` with `set_result`.
//!
//! [`channel`] makes a pair. The [`Sender`] half calls [`Sender::set_result`] once; the
//! [`Receiver`] half is a future that resolves to the value. If the sender is dropped without a
//! value, the receiver gets [`RecvError`], as awaiting a cancelled asyncio future raises.
//!
//! This is the one thread-safe primitive in `minirt::sync`: a plain `std::thread` (or the
//! blocking pool) can complete it, which is what `asyncio.wrap_future` is for. It is built the
//! simple way, as an `Arc<Mutex<..>>` around the shared state, because one value crosses it
//! once: there is nothing to gain from a lock-free design here that would repay the unsafe code.
//! The waker is always taken out of the state and woken after the lock is released.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Makes a one-shot channel: a [`Sender`] to complete it and a [`Receiver`] to await it.
///
/// # Examples
///
/// ```
/// use minirt::sync::oneshot;
///
/// minirt::run(async {
///     let (tx, rx) = oneshot::channel();
///     let setter = minirt::spawn(async move {
///         tx.set_result("666").unwrap();
///     });
///     assert_eq!(rx.await.unwrap(), "666");
///     setter.await.unwrap();
/// });
/// ```
#[doc(alias = "create_future")]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State {
        value: Value::Empty,
        receiver_closed: false,
        receiver_waker: None,
        sender_waker: None,
    }));
    (
        Sender {
            shared: Some(shared.clone()),
        },
        Receiver {
            shared,
            finished: false,
        },
    )
}

type Shared<T> = Arc<Mutex<State<T>>>;

/// What both halves share, behind the mutex.
struct State<T> {
    value: Value<T>,
    /// The receiver was closed or dropped: sending is pointless.
    receiver_closed: bool,
    /// Woken when the value arrives or the sender goes.
    receiver_waker: Option<Waker>,
    /// Woken when the receiver closes ([`Sender::closed`]).
    sender_waker: Option<Waker>,
}

enum Value<T> {
    /// Nothing yet, and the sender is still there.
    Empty,
    /// Sent, not yet received.
    Sent(T),
    /// The receiver took it.
    Taken,
    /// The sender was dropped without sending.
    SenderGone,
}

/// Locks the state. Every change to the state is one consistent step, so even if a panic struck
/// while the lock was held (a waker's `clone` is the only outside code that runs under it), the
/// state is fine: poisoning is ignored.
fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, State<T>> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The sending half. Completes the channel with [`set_result`](Sender::set_result), once.
///
/// It is `Send` when `T` is, so it can be moved to another thread. Dropping it without sending
/// wakes the receiver with [`RecvError`].
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = minirt::sync::oneshot::channel();
/// std::thread::spawn(move || tx.set_result(42).unwrap()).join().unwrap();
/// assert_eq!(rx.try_recv().unwrap(), 42);
/// ```
#[doc(alias = "set_result")]
pub struct Sender<T> {
    /// `Some` until `set_result` takes it, so that `Drop` knows the value was sent.
    shared: Option<Shared<T>>,
}

impl<T> Sender<T> {
    /// Completes the channel with `value` and wakes the receiver.
    ///
    /// # Errors
    ///
    /// Gives `value` back as `Err(value)` if the receiver was closed or dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = minirt::sync::oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.set_result(7), Err(7));
    /// ```
    pub fn set_result(mut self, value: T) -> Result<(), T> {
        let shared = self
            .shared
            .take()
            .expect("the sender holds the state until it sends");
        let mut state = lock(&shared);
        if state.receiver_closed {
            return Err(value);
        }
        state.value = Value::Sent(value);
        let waker = state.receiver_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the receiver was closed or dropped, so that a value would be refused.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = minirt::sync::oneshot::channel::<u8>();
    /// assert!(!tx.is_closed());
    /// rx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        lock(self.shared()).receiver_closed
    }

    /// Waits until the receiver is closed or dropped: a producer can stop working on a value
    /// that nobody wants any more (asyncio's "the future was cancelled").
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let (mut tx, rx) = minirt::sync::oneshot::channel::<u8>();
    ///     drop(rx);
    ///     tx.closed().await;
    ///     assert!(tx.is_closed());
    /// });
    /// ```
    pub fn closed(&mut self) -> Closed<'_, T> {
        Closed { sender: self }
    }

    fn shared(&self) -> &Shared<T> {
        self.shared
            .as_ref()
            .expect("the sender holds the state until it sends")
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // `None` after `set_result`: the value was sent and the receiver already woken.
        let Some(shared) = self.shared.take() else {
            return;
        };
        let mut state = lock(&shared);
        state.value = Value::SenderGone;
        state.sender_waker = None;
        let waker = state.receiver_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The future returned by [`Sender::closed`]: resolves once the receiver is closed or dropped.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let (mut tx, mut rx) = minirt::sync::oneshot::channel::<u8>();
///     rx.close();
///     tx.closed().await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited; this one waits for the receiver to go away"]
pub struct Closed<'a, T> {
    sender: &'a mut Sender<T>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Check and store the waker under one lock: the receiver cannot close in between, and
        // when it closes it will find this waker. That is "register, then re-check".
        let mut state = lock(self.sender.shared());
        if state.receiver_closed {
            return Poll::Ready(());
        }
        store_waker(&mut state.sender_waker, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Closed<'_, T> {
    fn drop(&mut self) {
        lock(self.sender.shared()).sender_waker = None;
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed").finish_non_exhaustive()
    }
}

/// The receiving half: a future of `Result<T, RecvError>`.
///
/// It resolves to `Ok(value)` once the sender calls [`Sender::set_result`], or to
/// `Err(RecvError)` if the sender is dropped first (or if the receiver was
/// [closed](Receiver::close) before a value came). Dropping it closes the channel.
///
/// # Examples
///
/// A plain OS thread completes a future that a task awaits, as with `asyncio.wrap_future`:
///
/// ```
/// use minirt::sync::oneshot;
///
/// minirt::run(async {
///     let (tx, rx) = oneshot::channel();
///     std::thread::spawn(move || tx.set_result(6 * 7));
///     assert_eq!(rx.await, Ok(42));
/// });
/// ```
#[doc(alias = "wrap_future", alias = "Future")]
#[must_use = "futures do nothing unless awaited; dropping the receiver closes the channel"]
pub struct Receiver<T> {
    shared: Shared<T>,
    /// Set once a poll returned `Ready`: the sender is gone by then (it sent, or was dropped),
    /// so nobody else will look at the state and `drop` can skip the lock.
    finished: bool,
}

impl<T> Receiver<T> {
    /// Closes the channel: later `set_result` calls fail and give their value back, and
    /// [`Sender::closed`] resolves. A value sent before this can still be received.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = minirt::sync::oneshot::channel();
    /// rx.close();
    /// assert_eq!(tx.set_result(1), Err(1));
    /// assert!(rx.try_recv().unwrap_err().is_closed());
    /// ```
    #[doc(alias = "cancel")]
    pub fn close(&mut self) {
        let mut state = lock(&self.shared);
        state.receiver_closed = true;
        let waker = state.sender_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Takes the value if it has arrived, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no value has been sent yet and the channel is open;
    /// [`TryRecvError::Closed`] if none ever will be (the sender was dropped, the channel was
    /// closed, or the value was already taken).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = minirt::sync::oneshot::channel();
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// tx.set_result("done").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("done"));
    /// assert!(rx.try_recv().unwrap_err().is_closed());
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = lock(&self.shared);
        match std::mem::replace(&mut state.value, Value::Taken) {
            Value::Sent(value) => Ok(value),
            Value::Empty if !state.receiver_closed => {
                state.value = Value::Empty;
                Err(TryRecvError::Empty)
            }
            other => {
                state.value = other;
                Err(TryRecvError::Closed)
            }
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        // Check and store the waker under one lock, so a sender on another thread cannot send in
        // between and miss the waker: "register, then re-check", made atomic by the lock.
        let mut state = lock(&self.shared);
        match std::mem::replace(&mut state.value, Value::Taken) {
            Value::Sent(value) => {
                drop(state);
                self.finished = true;
                Poll::Ready(Ok(value))
            }
            Value::SenderGone => {
                drop(state);
                self.finished = true;
                Poll::Ready(Err(RecvError(())))
            }
            Value::Empty if state.receiver_closed => {
                state.value = Value::Empty;
                Poll::Ready(Err(RecvError(())))
            }
            Value::Empty => {
                state.value = Value::Empty;
                store_waker(&mut state.receiver_waker, cx.waker());
                Poll::Pending
            }
            Value::Taken => panic!("oneshot::Receiver polled after its value was taken"),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.finished {
            return; // the value is taken and the sender gone: nothing to tell anyone
        }
        let mut state = lock(&self.shared);
        state.receiver_closed = true;
        state.receiver_waker = None;
        let waker = state.sender_waker.take();
        // An unreceived value is dropped after the lock is released: its `Drop` is user code.
        let value = std::mem::replace(&mut state.value, Value::Taken);
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        drop(value);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// Stores `waker` in `slot`, unless the stored one already wakes the same task.
fn store_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// The error from awaiting a [`Receiver`] when no value will come: its [`Sender`] was dropped
/// without sending one, or the receiver was [closed](Receiver::close) first.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = minirt::sync::oneshot::channel::<u8>();
/// drop(tx);
/// assert!(rx.try_recv().unwrap_err().is_closed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot channel closed without a value")
    }
}

impl std::error::Error for RecvError {}

/// The error from [`Receiver::try_recv`].
///
/// # Examples
///
/// ```
/// let (_tx, mut rx) = minirt::sync::oneshot::channel::<u8>();
/// let err = rx.try_recv().unwrap_err();
/// assert!(err.is_empty() && !err.is_closed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; one may still come.
    Empty,
    /// No value will ever come: the sender was dropped, the channel was closed, or the value was
    /// already taken.
    Closed,
}

impl TryRecvError {
    /// Whether no value has arrived yet but one still may.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::sync::oneshot::TryRecvError::Empty.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// Whether no value will ever arrive.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(minirt::sync::oneshot::TryRecvError::Closed.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, TryRecvError::Closed)
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "no value has been sent on the oneshot channel yet",
            TryRecvError::Closed => "the oneshot channel is closed",
        })
    }
}

impl std::error::Error for TryRecvError {}

#[cfg(test)]
mod tests;
