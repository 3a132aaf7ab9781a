//! `JoinHandle`: the spawner's end of a task, and `JoinError`, what it returns when the task
//! did not produce a value.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::raw::{Notified, RawTask, TaskRef};

/// An owned permission to await a spawned task's output, or to abort it.
///
/// `JoinHandle<T>` is a future of `Result<T, JoinError>`. Awaiting it gives the task's output,
/// or a [`JoinError`] if the task panicked or was aborted. Dropping the handle *detaches* the
/// task: it keeps running, and its output is dropped when it finishes. This is asyncio's
/// `Task` object; [`abort`](JoinHandle::abort) is `task.cancel()`.
///
/// A handle stays on the thread of the runtime that spawned its task (it is `!Send`), because
/// it reads the output, which lives on that thread. Sending it to another thread is refused:
///
/// ```compile_fail,E0277
/// minirt::run(async {
///     let handle = minirt::spawn(async { 1 });
///     std::thread::spawn(move || drop(handle));
/// });
/// ```
///
/// ```
/// let answer = minirt::run(async {
///     let handle = minirt::spawn(async { 6 * 7 });
///     handle.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
#[doc(alias = "Task")]
pub struct JoinHandle<T> {
    raw: RawTask,
    /// `*const ()` makes the handle `!Send` and `!Sync` (the thread rule).
    _marker: PhantomData<(*const (), T)>,
}

// The handle holds only a pointer; the output is never pinned.
impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _marker: PhantomData,
        }
    }

    /// Asks the task to stop. The runtime drops the task's future the next time it takes the
    /// task off the run queue, and the handle then returns [`JoinError::is_cancelled`].
    ///
    /// If the task has already finished, or finishes before the runtime gets to it, the output
    /// is kept and the handle returns it. Aborting twice is harmless.
    ///
    /// ```
    /// minirt::run(async {
    ///     let handle = minirt::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    #[doc(alias = "cancel")]
    pub fn abort(&self) {
        if self.raw.header().state.request_cancel() {
            // SAFETY: `request_cancel` set `SCHEDULED`, which is the entry's reference.
            crate::runtime::schedule(unsafe { Notified::from_raw(self.raw) });
        }
    }

    /// Returns true once the task has finished: returned, panicked or been cancelled.
    ///
    /// ```
    /// minirt::run(async {
    ///     let handle = minirt::spawn(async {});
    ///     assert!(!handle.is_finished());
    ///     minirt::yield_now().await;
    ///     assert!(handle.is_finished());
    /// });
    /// ```
    #[doc(alias = "done")]
    pub fn is_finished(&self) -> bool {
        self.raw.header().state.load().is_complete()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let state = &self.raw.header().state;
        if !state.load().is_complete() {
            // Store the caller's waker for `complete` to wake. Cloning the new waker and
            // dropping the old one are user code, so both happen outside the slot's borrow.
            // SAFETY: home thread, as the handle is `!Send` (the `join_waker` invariant).
            let stored = unsafe { self.raw.join_waker_will_wake(cx.waker()) };
            if !stored {
                let waker = cx.waker().clone();
                // SAFETY: as above.
                let old = unsafe { self.raw.replace_join_waker(Some(waker)) };
                drop(old);
            }
            // Re-check after storing the waker. Only this thread can complete the task, but
            // the `clone` and the `drop` above may have run the runtime (a foreign executor's
            // waker may do anything), and so completed the task before the new waker was in.
            if !state.load().is_complete() {
                return Poll::Pending;
            }
        }
        let mut out = Poll::Pending;
        // SAFETY: home thread, and `T` is the task's output type, fixed when `spawn` made this
        // handle.
        unsafe { self.raw.read_output(&mut out) };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // The handle's reference goes last, even if the user code below panics: otherwise the
        // task, and through it the runtime's poller, would leak.
        // SAFETY: the handle holds one counted reference, and hands it to the guard here.
        let _reference = unsafe { TaskRef::adopt(self.raw) };
        // Give up the output first, in one atomic step: from here on, a completion (even one
        // run by the waker's `Drop` below) drops the output itself, on this thread.
        if self.raw.header().state.drop_join_interest().is_complete() {
            // SAFETY: home thread (the handle is `!Send`); the future is gone, and the output,
            // if still there, is ours to drop. Its `Drop` may panic: `_reference` still runs.
            unsafe { self.raw.drop_output() };
        } else {
            // SAFETY: home thread. The waker is dropped after the slot's borrow has ended.
            drop(unsafe { self.raw.take_join_waker() });
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task gave no output: it was aborted, or it panicked.
///
/// ```
/// minirt::run(async {
///     let err = minirt::spawn(async { panic!("boom") }).await.unwrap_err();
///     assert!(err.is_panic());
///     assert_eq!(err.to_string(), "task panicked: boom");
/// });
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panicked(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(payload),
        }
    }

    /// True if the task was aborted, or dropped by a runtime shutting down.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic's payload, to inspect or to re-raise with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the error is not a panic. Use [`try_into_panic`](JoinError::try_into_panic) to check.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("`JoinError::into_panic` called on a cancelled task's error")
    }

    /// The panic's payload, or the error back if the task was cancelled.
    ///
    /// # Errors
    /// Returns `self` when [`is_cancelled`](JoinError::is_cancelled) is true.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(payload) => Ok(payload),
            Repr::Cancelled => Err(self),
        }
    }

    /// The panic message, when the payload is a string (as for `panic!("...")`).
    fn panic_message(&self) -> Option<&str> {
        let Repr::Panic(payload) = &self.repr else {
            return None;
        };
        payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panic(_), Some(message)) => write!(f, "task panicked: {message}"),
            (Repr::Panic(_), None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("JoinError::Cancelled"),
            (Repr::Panic(_), Some(message)) => write!(f, "JoinError::Panic({message:?})"),
            (Repr::Panic(_), None) => f.write_str("JoinError::Panic(..)"),
        }
    }
}

impl std::error::Error for JoinError {}
