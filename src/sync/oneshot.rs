//! A one-shot channel: one value, sent once. asyncio's bare `Future` with `set_result`.
//!
//! [`channel`] makes a pair. The [`Sender`] half calls [`Sender::set_result`] once; the
//! [`Receiver`] half is a future that resolves to the value. If the sender is dropped without a
//! value, the receiver gets [`RecvError`], as awaiting a cancelled asyncio future raises.
//!
//! This is the one thread-safe primitive in `minirt::sync`: a plain `std::thread` (or the
//! blocking pool) can complete it, which is what `asyncio.wrap_future` is for.
//!
//! # Why a state word and not a lock
//!
//! A request and its reply between two tasks is a oneshot created, awaited, completed and
//! dropped: with a mutex, that is four locks. Here each step is one atomic operation on one
//! state word, as in tokio's oneshot: the pending poll is a load and a `fetch_or`, `set_result`
//! one compare-and-swap, the ready poll a load, and dropping a finished receiver touches
//! nothing but the count of owners. What the lock cost is in `benches/README.md`, finding 3.
//!
//! The shared state lives in a `SharedBlock` (`src/memory/mod.rs`): an `Arc`, whose block is
//! recycled like a task's when the `recycle` feature is on.
//!
//! The price is `unsafe`. The value and the two wakers live in `UnsafeCell`s, and the flags of
//! the state word say who may touch which cell when. That rule is stated once, on `Inner`, and
//! every `unsafe` block cites it. The unit tests check the channel against a plain model over
//! random sequences of operations from both halves, race the halves on two threads, and run
//! under Miri (`cargo +nightly miri test --lib sync::oneshot`), which reports any data race on
//! the cells.
//!
//! # The state machine
//!
//! Four flags. Each half sets its own: the receiver `RX_WAKER` and `CLOSED`, the sender
//! `TX_WAKER` and `COMPLETE`. `COMPLETE` and `CLOSED` are the halves' last words and are never
//! cleared. Both end up set only in one order, a value sent and then the receiver closed (the
//! value can still be received): the sender never sets `COMPLETE` once `CLOSED` is set.
//!
//! | flag | set by | cleared by | while it is set |
//! |---|---|---|---|
//! | `RX_WAKER` | the receiver's `poll`, after storing its waker | the receiver's `poll`, to store another | the sender may wake that waker |
//! | `TX_WAKER` | `Closed::poll`, after storing the sender's waker | `Closed::poll`, to store another; dropping `Closed` | the receiver may wake that waker |
//! | `COMPLETE` | `set_result` (value in the cell) or dropping the sender (no value), never once `CLOSED` is set | never | the value cell is the receiver's |
//! | `CLOSED` | `Receiver::close`, dropping the receiver | never | `set_result` gives the value back |
//!
//! What each operation does. Outside code (a waker's `clone`, `wake` or `drop`, a value's `drop`)
//! runs only between atomic steps, never while a `&mut` into a cell is alive.
//!
//! | operation | atomic steps | then |
//! |---|---|---|
//! | `Receiver::poll` | load | `COMPLETE`: take the value; `CLOSED`: fail; this waker is stored already: `Pending`; else store it (next row) |
//! | ... storing a waker | `fetch_and(!RX_WAKER)` if one is stored; clone the new one into the cell; `fetch_or(RX_WAKER)` | drop the old waker; `COMPLETE` seen by either step: take the value, else `Pending` |
//! | `set_result` | write the value, then CAS `COMPLETE` in, unless `CLOSED` | `RX_WAKER` was set: wake it; refused: take the value back |
//! | drop `Sender` | CAS `COMPLETE` in, unless `CLOSED` | `RX_WAKER` was set: wake it |
//! | `close`, drop `Receiver` | `fetch_or(CLOSED)` | `TX_WAKER` set, `COMPLETE` and `CLOSED` clear: wake it |
//! | `Closed::poll` | as `Receiver::poll`, with `TX_WAKER` and `CLOSED` | |
//! | drop `Closed` | `fetch_and(!TX_WAKER)` if set | `CLOSED` clear: drop the waker |
//! | drop the last half | | drop what the cells still hold: a value nobody received, wakers |
//!
//! The receiver's `poll` is "register, then re-check": the `fetch_or` that publishes the waker
//! also reads `COMPLETE`, so a value sent at the same moment is either seen by that step or finds
//! the waker and wakes it. Waking is `wake_by_ref` on a waker that stays in its cell, so that
//! the other half may still compare it with `will_wake` while it is being woken; the wakers are
//! dropped with the channel. No waker's or value's code runs while a `&mut` into a cell is alive,
//! and none runs before the state transition it belongs to is finished, so a waker that panics or
//! re-enters (drops the receiver from inside `wake`, say) finds the channel consistent.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::task::{Context, Poll, Waker};

use crate::memory::SharedBlock;

pub use error::{RecvError, TryRecvError};

mod error;

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
    let inner = SharedBlock::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
        tx_waker: UnsafeCell::new(None),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver {
            inner,
            finished: false,
        },
    )
}

/// The receiver stored a waker in `rx_waker`. Set and cleared by the receiver only.
const RX_WAKER: usize = 1 << 0;
/// The sender stored a waker in `tx_waker` (through [`Closed`]). Set and cleared by the sender
/// only.
const TX_WAKER: usize = 1 << 1;
/// The sender is done: it put a value in the cell, or it was dropped without one. Set by the
/// sender, once, only while `CLOSED` is clear. Never cleared.
const COMPLETE: usize = 1 << 2;
/// The receiver was closed or dropped. Set by the receiver. Never cleared.
const CLOSED: usize = 1 << 3;

/// What both halves share.
///
/// # Invariant
///
/// Who may touch each cell, given the flags in `state`:
///
/// - **`value`** is the sender's until it sets `COMPLETE`, and the receiver's from then on. The
///   sender writes the value before it sets `COMPLETE` (`Release`), and the receiver touches the
///   cell only after it has seen `COMPLETE` (`Acquire`). A sender that finds `CLOSED` does not set
///   `COMPLETE`, so the cell is still its own and it takes its value back.
/// - **`rx_waker`** is the receiver's, and only the receiver writes it, only while `RX_WAKER` is
///   clear and the cell is not *lent*. The cell is lent to the sender when the sender sets
///   `COMPLETE` while `RX_WAKER` is set: from then on the sender may wake the waker by reference,
///   and nobody writes the cell any more. While `RX_WAKER` is set, both halves may read the cell.
///   The receiver learns whether its cell is lent from its own atomic steps: `COMPLETE` is never
///   cleared, so if its step that cleared `RX_WAKER` (or its last load, when the flag was already
///   clear) showed `COMPLETE` clear, the cell is not lent, and cannot become lent while the flag
///   stays clear.
/// - **`tx_waker`** is the same with the halves swapped: the sender's, written only by the sender
///   while `TX_WAKER` is clear and the cell is not lent; lent to the receiver when the receiver
///   sets `CLOSED` while `TX_WAKER` is set and `COMPLETE` is clear.
/// - What the cells hold when both halves are gone (a value nobody received, the wakers) is
///   dropped with `Inner`, by whichever half drops the last reference: by then nobody else can
///   reach it.
struct Inner<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    /// Woken when the value comes or the sender goes.
    rx_waker: UnsafeCell<Option<Waker>>,
    /// Woken when the receiver closes ([`Sender::closed`]).
    tx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the halves move the value from one thread to the other, so `T: Send` is needed, but they
// never share a `&T` between threads: by the `Inner` invariant one half at a time touches the
// value cell. The wakers are `Send + Sync`, and the waker cells are only ever read by both halves
// at once, never written while the other may read.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    /// The sender's last step: sets `COMPLETE` unless the receiver closed first, and then wakes
    /// the receiver. Returns whether `COMPLETE` was set.
    ///
    /// A compare-and-swap, not a `fetch_or`: setting `COMPLETE` on a closed channel would hand the
    /// value cell to a receiver's `try_recv` while the sender takes its value back out of it.
    fn complete(&self) -> bool {
        let mut state = self.state.load(Acquire);
        loop {
            if state & CLOSED != 0 {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(state, state | COMPLETE, AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        if state & RX_WAKER != 0 {
            // SAFETY: this step set `COMPLETE` while `RX_WAKER` was set, so by the `Inner`
            // invariant `rx_waker` is lent to us, and nobody writes it any more.
            unsafe { wake_lent(&self.rx_waker) };
        }
        true
    }

    /// The receiver's closing step (`close` and drop): sets `CLOSED`, then wakes the sender's
    /// [`Closed`] future if one waits.
    fn close(&self) {
        let prev = self.state.fetch_or(CLOSED, AcqRel);
        if prev & (TX_WAKER | COMPLETE | CLOSED) == TX_WAKER {
            // SAFETY: this step set `CLOSED` while `TX_WAKER` was set and `COMPLETE` clear, so by
            // the `Inner` invariant `tx_waker` is lent to us, and nobody writes it any more.
            unsafe { wake_lent(&self.tx_waker) };
        }
    }

    /// Registers `waker` in `slot` under `flag`, for one half's `poll`: the receiver's (`rx_waker`,
    /// `RX_WAKER`, waiting for `COMPLETE`) or the sender's (`tx_waker`, `TX_WAKER`, waiting for
    /// `CLOSED`). `state` is the caller's last load, which showed `done` clear. Returns `Ready` if
    /// `done` was set meanwhile: the caller then takes its result instead of waiting.
    ///
    /// # Safety
    ///
    /// The caller is the half that owns `slot` and `flag`, and `done` is the other half's last
    /// word, as in the `Inner` invariant.
    unsafe fn register(
        &self,
        state: usize,
        slot: &UnsafeCell<Option<Waker>>,
        flag: usize,
        done: usize,
        waker: &Waker,
    ) -> Poll<()> {
        if state & flag != 0 {
            // SAFETY: with `flag` set nobody writes the slot (the `Inner` invariant), so reading
            // it is fine even if the other half is waking it right now.
            if unsafe { &*slot.get() }
                .as_ref()
                .is_some_and(|stored| stored.will_wake(waker))
            {
                return Poll::Pending;
            }
            // Take the slot back before writing it. If `done` came first, the slot is lent to
            // the other half, which may be waking it: leave it alone.
            if self.state.fetch_and(!flag, AcqRel) & done != 0 {
                return Poll::Ready(());
            }
        }
        // The waker's `clone` is outside code: run it before touching the slot.
        let new = waker.clone();
        // SAFETY: `flag` is clear and `done` was clear when it was last seen (the caller's load,
        // or the `fetch_and` above), so by the `Inner` invariant the slot is ours and not lent.
        let old = unsafe { &mut *slot.get() }.replace(new);
        // "Register, then re-check": this step publishes the waker and reads `done` at once.
        let prev = self.state.fetch_or(flag, AcqRel);
        drop(old);
        if prev & done != 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Takes the receiver's result out of the value cell: the value, or `None` if the sender was
    /// dropped without one (or it was taken already).
    ///
    /// # Safety
    ///
    /// Only the receiver calls this, after it has seen `COMPLETE` (with `Acquire`).
    unsafe fn take_value(&self) -> Option<T> {
        // SAFETY: `COMPLETE` is set, so by the `Inner` invariant the value cell is the
        // receiver's, and the caller is the receiver.
        unsafe { &mut *self.value.get() }.take()
    }
}

/// Wakes the waker in `slot`, if there is one, by reference.
///
/// # Safety
///
/// `slot` is lent to the caller (the `Inner` invariant): nobody writes it while this runs.
unsafe fn wake_lent(slot: &UnsafeCell<Option<Waker>>) {
    // SAFETY: forwarded from the caller: the slot is only read while it is lent.
    if let Some(waker) = unsafe { &*slot.get() } {
        waker.wake_by_ref();
    }
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
///
/// A value that cannot go to another thread makes a channel that cannot either:
///
/// ```compile_fail
/// let (tx, _rx) = minirt::sync::oneshot::channel::<std::rc::Rc<u8>>();
/// std::thread::spawn(move || drop(tx));
/// ```
#[doc(alias = "set_result")]
pub struct Sender<T> {
    /// `Some` until `set_result` takes it, so that `Drop` knows the value was sent.
    inner: Option<SharedBlock<Inner<T>>>,
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
        let inner = self
            .inner
            .take()
            .expect("the sender holds the state until it sends");
        // SAFETY: `COMPLETE` is clear (only this sender sets it, and it is still here), so by the
        // `Inner` invariant the value cell is ours. It holds `None`: nothing is dropped.
        unsafe { *inner.value.get() = Some(value) };
        if inner.complete() {
            return Ok(());
        }
        // SAFETY: `complete` refused, so `COMPLETE` is still clear and the cell still ours.
        let value = unsafe { &mut *inner.value.get() }.take();
        Err(value.expect("the value was put in the cell above"))
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
        self.inner().state.load(Acquire) & CLOSED != 0
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

    fn inner(&self) -> &Inner<T> {
        self.inner
            .as_ref()
            .expect("the sender holds the state until it sends")
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // `None` after `set_result`: the value was sent and the receiver already woken.
        if let Some(inner) = self.inner.take() {
            inner.complete();
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
        let inner = self.sender.inner();
        let state = inner.state.load(Acquire);
        if state & CLOSED != 0 {
            return Poll::Ready(());
        }
        // SAFETY: `Closed` borrows the sender, so we are the sender: `tx_waker` and `TX_WAKER`
        // are ours, `CLOSED` is the receiver's last word, and `state` showed it clear.
        unsafe { inner.register(state, &inner.tx_waker, TX_WAKER, CLOSED, cx.waker()) }
    }
}

impl<T> Drop for Closed<'_, T> {
    fn drop(&mut self) {
        // Only the sender sets `TX_WAKER`, so this load sees whether it is set.
        let inner = self.sender.inner();
        if inner.state.load(Acquire) & TX_WAKER == 0 {
            return;
        }
        // Clear the flag so that a later close wakes nobody. If `CLOSED` came first, the slot is
        // lent to the receiver, which may be waking it: leave it for the channel's drop.
        if inner.state.fetch_and(!TX_WAKER, AcqRel) & CLOSED != 0 {
            return;
        }
        // SAFETY: we are the sender, `TX_WAKER` is clear and the step that cleared it showed
        // `CLOSED` clear: by the `Inner` invariant the slot is ours and not lent.
        let waker = unsafe { &mut *inner.tx_waker.get() }.take();
        drop(waker);
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
    inner: SharedBlock<Inner<T>>,
    /// Set once a poll returned `Ready` after `COMPLETE`, or `try_recv` took the value: the
    /// sender is gone, nothing is left to receive, and `drop` has nobody to tell.
    finished: bool,
}

impl<T> Receiver<T> {
    /// Closes the channel: later `set_result` calls fail and give their value back, and
    /// [`Sender::closed`] resolves. A value sent before this can still be received. Once closed,
    /// polling the receiver returns at once, so it is not woken any more.
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
        self.inner.close();
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
        if self.finished {
            return Err(TryRecvError::Closed);
        }
        let state = self.inner.state.load(Acquire);
        if state & COMPLETE != 0 {
            // SAFETY: we are the receiver and saw `COMPLETE`.
            let value = unsafe { self.inner.take_value() };
            self.finished = value.is_some();
            value.ok_or(TryRecvError::Closed)
        } else if state & CLOSED != 0 {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        assert!(
            !self.finished,
            "oneshot::Receiver polled after its value was taken"
        );
        let inner = &*self.inner;
        let state = inner.state.load(Acquire);
        if state & COMPLETE == 0 {
            if state & CLOSED != 0 {
                return Poll::Ready(Err(RecvError(())));
            }
            // SAFETY: we are the receiver: `rx_waker` and `RX_WAKER` are ours, `COMPLETE` is the
            // sender's last word, and `state` showed it clear.
            let seen =
                unsafe { inner.register(state, &inner.rx_waker, RX_WAKER, COMPLETE, cx.waker()) };
            if seen.is_pending() {
                return Poll::Pending;
            }
        }
        // SAFETY: we are the receiver and saw `COMPLETE`: in `state`, or in `register`.
        let value = unsafe { inner.take_value() };
        self.finished = true;
        Poll::Ready(value.ok_or(RecvError(())))
    }
}

/// `futures::select!` takes a receiver without `.fuse()`: it is terminated once a poll has
/// returned the value, or the error of a dropped sender, or `try_recv` has taken the value.
impl<T> futures_core::future::FusedFuture for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // A finished receiver has nobody to tell: the sender is gone. Otherwise close, and leave
        // an unreceived value to the last owner of `inner`: the sender may still be waking us.
        if !self.finished {
            self.inner.close();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
