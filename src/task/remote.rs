//! `RemoteJoinHandle`: the far end of a task spawned through a [`Handle`](crate::Handle), and
//! the task-side half that fills it.
//!
//! A local [`JoinHandle`](crate::JoinHandle) reads its output straight out of the task's cell,
//! which is why it must stay on the task's home thread. A handle that may live on any thread
//! cannot do that, so a remotely spawned task does not hand its output through the cell at all.
//! Its future is wrapped ([`run_remote`]) so that, on the home thread, it moves its output (or
//! its panic) into a small thread-safe *completion cell*, a `Mutex` plus a `Condvar`, shared
//! with the `RemoteJoinHandle`. The cell is all that crosses threads; the future, and the
//! local task holding it, never leave home.
//!
//! Every way a remote task can end fills the cell exactly once:
//! - it returns, or panics: [`run_remote`] stores `Ok(output)` or `JoinError::is_panic`;
//! - it is aborted: `abort` raises a flag and wakes the task, which drops its future at home
//!   and stores `JoinError::is_cancelled`;
//! - it is dropped without finishing (the runtime shut down with the task alive, or dropped the
//!   spawn job before it ran, or refused it because it was already gone): the [`Completer`]'s
//!   `Drop` stores `JoinError::is_cancelled`.
//!
//! So a `RemoteJoinHandle` never waits forever on a runtime that is gone. It is built the simple
//! way, with a lock in an `Arc`: one value crosses it once.

use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{self, AssertUnwindSafe};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::JoinError;

/// What the spawner and the task share.
struct Cell<T> {
    state: Mutex<State<T>>,
    /// Signalled when the result arrives, for [`RemoteJoinHandle::join`].
    done: Condvar,
    /// Set by `abort`. Read without the lock on every poll of the task.
    abort: AtomicBool,
}

struct State<T> {
    result: Slot<T>,
    /// The waker of whoever awaits the `RemoteJoinHandle`, on any thread.
    handle_waker: Option<Waker>,
    /// The task's own waker, for `abort` to wake it. Registered at its first poll.
    task_waker: Option<Waker>,
    /// The handle was dropped: a result arriving now is dropped at once, at home.
    detached: bool,
    /// A thread is blocked in `join`. `Condvar::notify_all` is a system call even with no
    /// one waiting, so it is made only then.
    joining: bool,
}

enum Slot<T> {
    Pending,
    Ready(Result<T, JoinError>),
    Taken,
}

impl<T> Cell<T> {
    /// Every change to the state is one consistent step, and no user code runs under the lock
    /// (wakers are cloned, woken and dropped outside it): poisoning can be ignored.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The task's half: fills the cell once. Dropped unfilled, it fills it with "cancelled".
pub(crate) struct Completer<T> {
    cell: Option<Arc<Cell<T>>>,
}

/// Makes a cell and both its halves.
pub(crate) fn pair<T>() -> (Completer<T>, RemoteJoinHandle<T>) {
    let cell = Arc::new(Cell {
        state: Mutex::new(State {
            result: Slot::Pending,
            handle_waker: None,
            task_waker: None,
            detached: false,
            joining: false,
        }),
        done: Condvar::new(),
        abort: AtomicBool::new(false),
    });
    (
        Completer {
            cell: Some(cell.clone()),
        },
        RemoteJoinHandle { cell },
    )
}

impl<T> Completer<T> {
    /// Stores the result and wakes the handle: first the bookkeeping, under the lock, then the
    /// user code (the handle's waker, or the output's `Drop` if the handle is gone) after it.
    pub(crate) fn finish(mut self, result: Result<T, JoinError>) {
        if let Some(cell) = self.cell.take() {
            Self::fill(&cell, result);
        }
    }

    fn fill(cell: &Cell<T>, result: Result<T, JoinError>) {
        let mut state = cell.lock();
        let unwanted = if state.detached {
            Some(result)
        } else {
            state.result = Slot::Ready(result);
            None
        };
        let waker = state.handle_waker.take();
        let task_waker = state.task_waker.take();
        let joining = state.joining;
        drop(state);
        if joining {
            cell.done.notify_all();
        }
        drop(task_waker);
        drop(unwanted);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the task has been aborted; called before each poll, so a plain load.
    fn is_aborted(&self) -> bool {
        self.cell
            .as_ref()
            .is_none_or(|cell| cell.abort.load(Ordering::Acquire))
    }

    /// Called when the task is about to return `Pending`: the first time, stores the task's
    /// waker for `abort` to wake (a minirt task's waker never changes, so once is enough; a
    /// task that finishes in its first poll never takes the lock). Returns whether the task
    /// has been aborted meanwhile.
    ///
    /// Re-check after registering: `abort` raises the flag *before* it takes the lock to find
    /// the waker, so a flag raised while the waker was being stored is seen by the load below.
    fn register_for_abort(&self, registered: &mut bool, cx: &Context<'_>) -> bool {
        let Some(cell) = &self.cell else {
            return true;
        };
        if !*registered {
            *registered = true;
            let waker = cx.waker().clone();
            let old = cell.lock().task_waker.replace(waker);
            drop(old);
        }
        cell.abort.load(Ordering::Acquire)
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take() {
            Self::fill(&cell, Err(JoinError::cancelled()));
        }
    }
}

/// The future a remote spawn runs as a local task: polls `future` until it returns, panics or
/// is aborted, **drops it**, and only then fills the cell. So when a `RemoteJoinHandle` has its
/// result, the future is already gone, dropped on the home thread.
///
/// If the runtime drops this task unfinished, `future` is dropped first (it is the later
/// local) and then `completer`, whose `Drop` reports the cancellation.
pub(crate) async fn run_remote<F: Future>(future: F, completer: Completer<F::Output>) {
    let completer = completer;
    let result = {
        let mut future = pin!(future);
        let mut registered = false;
        poll_fn(|cx| {
            if completer.is_aborted() {
                return Poll::Ready(Err(JoinError::cancelled()));
            }
            match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                Ok(Poll::Pending) if completer.register_for_abort(&mut registered, cx) => {
                    Poll::Ready(Err(JoinError::cancelled()))
                }
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                Err(payload) => Poll::Ready(Err(JoinError::panicked(payload))),
            }
        })
        .await
    };
    completer.finish(result);
}

/// A handle on a task spawned through a [`Handle`](crate::Handle): `Send`, so it can be awaited
/// on any runtime, or waited for from a plain thread with [`join`](RemoteJoinHandle::join).
///
/// It resolves to the task's output, or to a [`JoinError`]: `is_panic` if the task panicked,
/// `is_cancelled` if it was aborted or if its runtime shut down (or was already gone) before it
/// finished. It never waits on a runtime that is gone. Dropping it detaches the task, which
/// keeps running; its output is then dropped on the runtime's thread as it finishes. This is
/// the `concurrent.futures.Future` that asyncio's `run_coroutine_threadsafe` returns.
///
/// ```
/// use minirt::sync::oneshot;
///
/// let rt = minirt::Runtime::new()?;
/// let handle = rt.handle();
/// let (done, finished) = oneshot::channel();
/// std::thread::spawn(move || {
///     let answer = handle.spawn(async { 6 * 7 }).join(); // blocks this thread only
///     done.set_result(answer).unwrap();
/// });
/// assert_eq!(rt.block_on(finished).unwrap().unwrap(), 42);
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "concurrent.futures.Future")]
#[must_use = "dropping a RemoteJoinHandle detaches the task: its output is dropped"]
pub struct RemoteJoinHandle<T> {
    cell: Arc<Cell<T>>,
}

impl<T> RemoteJoinHandle<T> {
    /// Blocks this thread until the task finishes, and returns its result. For plain threads:
    /// calling it on a runtime's thread would stop that runtime, and deadlock if the task runs
    /// there.
    ///
    /// # Errors
    /// A [`JoinError`] if the task panicked, was aborted, or its runtime is gone.
    ///
    /// # Panics
    /// If the result was already taken by awaiting the handle.
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// let remote = rt.handle().spawn(async { "hi" });
    /// drop(rt); // shut down with the task still queued
    /// assert!(remote.join().unwrap_err().is_cancelled());
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "result")]
    pub fn join(self) -> Result<T, JoinError> {
        let mut state = self.cell.lock();
        while matches!(state.result, Slot::Pending) {
            state.joining = true;
            state = self
                .cell
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        take(&mut state.result)
    }

    /// Asks the task to stop. Its future is dropped on the runtime's thread, at the runtime's
    /// next turn, and the handle then returns [`JoinError::is_cancelled`]. A task that has
    /// already finished keeps its result. Safe from any thread; aborting twice is harmless.
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// let remote = rt.handle().spawn(std::future::pending::<()>());
    /// remote.abort();
    /// assert!(rt.block_on(remote).unwrap_err().is_cancelled());
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "cancel")]
    pub fn abort(&self) {
        // The flag first, then the waker: see `Completer::aborted`.
        self.cell.abort.store(true, Ordering::Release);
        let waker = self.cell.lock().task_waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// True once the task has finished: returned, panicked, or been cancelled.
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// let remote = rt.handle().spawn(async {});
    /// assert!(!remote.is_finished());
    /// rt.block_on(async {
    ///     minirt::yield_now().await; // the loop runs the spawn job
    ///     minirt::yield_now().await; // and then the task
    /// });
    /// assert!(remote.is_finished());
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "done")]
    pub fn is_finished(&self) -> bool {
        !matches!(self.cell.lock().result, Slot::Pending)
    }
}

fn take<T>(slot: &mut Slot<T>) -> Result<T, JoinError> {
    match std::mem::replace(slot, Slot::Taken) {
        Slot::Ready(result) => result,
        Slot::Pending | Slot::Taken => {
            panic!("RemoteJoinHandle: the result was already taken (polled after completion)")
        }
    }
}

/// `futures::select!` takes the handle without `.fuse()`: it is terminated once a poll has
/// returned the result.
impl<T> futures_core::future::FusedFuture for RemoteJoinHandle<T> {
    fn is_terminated(&self) -> bool {
        matches!(self.cell.lock().result, Slot::Taken)
    }
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.cell.lock();
        if !matches!(state.result, Slot::Pending) {
            return Poll::Ready(take(&mut state.result));
        }
        if state
            .handle_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        drop(state);
        // Cloning the new waker and dropping the old are user code: outside the lock.
        let waker = cx.waker().clone();
        let mut state = self.cell.lock();
        // Re-check after registering: the result may have come while the lock was free.
        if !matches!(state.result, Slot::Pending) {
            drop(state);
            drop(waker);
            return Poll::Ready(take(&mut self.cell.lock().result));
        }
        let old = state.handle_waker.replace(waker);
        drop(state);
        drop(old);
        Poll::Pending
    }
}

// The handle never pins the output.
impl<T> Unpin for RemoteJoinHandle<T> {}

impl<T> Drop for RemoteJoinHandle<T> {
    fn drop(&mut self) {
        let mut state = self.cell.lock();
        state.detached = true;
        let result = std::mem::replace(&mut state.result, Slot::Taken);
        let waker = state.handle_waker.take();
        drop(state);
        // An output that arrived before the handle went is dropped here, on this thread: it is
        // `Send`, so any thread is fine.
        drop(result);
        drop(waker);
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
