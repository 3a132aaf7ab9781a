//! [`Handle`]: the door into a runtime from other threads.
//!
//! A [`Runtime`] is `!Send`, and so are its tasks' futures: only its own thread may touch them.
//! A `Handle` is what another thread holds instead. It can give the runtime work, and nothing
//! else: it never sees a task, only a [`RemoteJoinHandle`] for the result.
//!
//! # How a remote spawn reaches the loop
//!
//! [`Handle::spawn_fn`] boxes a `Send` *job*: a closure that, run on the runtime's thread,
//! builds the future and spawns it as an ordinary local task. The job goes through the same
//! inbox as wakes from other threads (drained in step 3 of the loop, and right after each wait
//! in step 5), and the first entry into an empty inbox wakes the loop (`Shared::wake_loop`: an
//! unpark if the loop sleeps on its thread's parker, else `Poller::notify`), so a sleeping
//! loop wakes at once. [`Handle::spawn`] is
//! `spawn_fn` with a closure that hands over a ready-made `Send` future.
//!
//! The job's local task runs the future wrapped by `task::remote::run_remote`, which drops the
//! future at home and then moves the output into the completion cell that the
//! `RemoteJoinHandle` reads. Nothing of the future crosses threads after the job has.
//!
//! # When the runtime is gone
//!
//! The handle holds the runtime's shared half weakly. Once the runtime is dropped, or has
//! closed its inbox while shutting down, a spawn is refused: the job is dropped on the calling
//! thread, which drops its closure (and a [`spawn`](Handle::spawn)'s future, never polled)
//! there. That is sound because both are `Send`, and it is what the thread rule allows: a
//! future that never became a task never had a home. Jobs still queued when the runtime shuts
//! down are dropped by the shutdown, on the runtime's thread. Either way the job's completer
//! reports [`JoinError::is_cancelled`](crate::JoinError::is_cancelled).

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::{Arc, Weak};

use super::{Local, Runtime, Shared};
use crate::JoinError;
use crate::task::remote::{self, RemoteJoinHandle};

/// Work sent from another thread, run by the loop on the runtime's thread (step 3).
pub(crate) type Job = Box<dyn FnOnce(&Local) + Send>;

/// A `Send + Sync` handle on a [`Runtime`], for other threads to spawn tasks on it.
///
/// Get one with [`Runtime::handle`]. Cloning it is one atomic increment. It does not keep the
/// runtime alive: spawning on a runtime that is gone gives a handle that returns
/// [`JoinError::is_cancelled`](crate::JoinError::is_cancelled).
///
/// Tasks spawned this way run like any other, on the runtime's thread, when the runtime runs
/// (inside [`Runtime::block_on`]). A runtime parked in `block_on` wakes for them at once.
///
/// ```
/// use minirt::sync::oneshot;
///
/// let rt = minirt::Runtime::new()?;
/// let handle = rt.handle();
/// let (done, finished) = oneshot::channel();
/// std::thread::spawn(move || {
///     let tasks: Vec<_> = (0..10).map(|i| handle.spawn(async move { i * i })).collect();
///     let sum: i32 = tasks.into_iter().map(|t| t.join().unwrap()).sum();
///     done.set_result(sum).unwrap();
/// });
/// // The runtime runs the tasks while the thread waits for them.
/// assert_eq!(rt.block_on(finished).unwrap(), 285);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Weak<Shared>,
}

impl Runtime {
    /// A [`Handle`] for other threads to spawn tasks on this runtime.
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// let handle = rt.handle();
    /// std::thread::spawn(move || drop(handle.spawn(async { println!("hello from the loop") })))
    ///     .join()
    ///     .unwrap();
    /// rt.block_on(minirt::yield_now());
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "get_event_loop")]
    pub fn handle(&self) -> Handle {
        Handle {
            shared: Arc::downgrade(&self.local.shared),
        }
    }
}

impl Handle {
    /// Spawns `future` on the handle's runtime, from any thread, and returns a `Send` handle
    /// on its result. This is asyncio's `run_coroutine_threadsafe`.
    ///
    /// The future must be `Send`, since it is made on this thread and moved to the runtime's.
    /// minirt's own timers and sockets are not (they belong to one runtime), so an `async`
    /// block that awaits one is not either: build such a future over there, with
    /// [`spawn_fn`](Handle::spawn_fn).
    ///
    /// # Errors
    /// None here: if the runtime is gone, the returned handle gives
    /// [`JoinError::is_cancelled`](crate::JoinError::is_cancelled).
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// let handle = rt.handle();
    /// let remote = std::thread::spawn(move || handle.spawn(async { 1 + 1 })).join().unwrap();
    /// assert_eq!(rt.block_on(remote).unwrap(), 2);
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "run_coroutine_threadsafe")]
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> RemoteJoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_fn(move || future)
    }

    /// Runs `make` on the runtime's thread and spawns the future it returns there, which need
    /// not be `Send`: it may hold `Rc`s, sockets, or anything else bound to that thread. This
    /// is asyncio's `call_soon_threadsafe`, with a task instead of a callback (tokio-util's
    /// `spawn_pinned` does the same).
    ///
    /// A panic in `make` comes back as [`JoinError::is_panic`](crate::JoinError::is_panic), as a
    /// panic in the future does.
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let rt = minirt::Runtime::new()?;
    /// let handle = rt.handle();
    /// let remote = std::thread::spawn(move || {
    ///     handle.spawn_fn(|| {
    ///         let shared = Rc::new(5); // !Send, made on the runtime's thread
    ///         async move {
    ///             minirt::yield_now().await;
    ///             *shared * 2
    ///         }
    ///     })
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(rt.block_on(remote).unwrap(), 10);
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "call_soon_threadsafe")]
    #[doc(alias = "spawn_pinned")]
    #[track_caller]
    pub fn spawn_fn<M, F>(&self, make: M) -> RemoteJoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        let (completer, handle) = remote::pair();
        let job: Job = Box::new(move |local: &Local| {
            match panic::catch_unwind(AssertUnwindSafe(make)) {
                Ok(future) => {
                    // The local handle is dropped: the completer reports the result instead.
                    drop(local.spawn(remote::run_remote(future, completer), location, None));
                }
                Err(payload) => completer.finish(Err(JoinError::panicked(payload))),
            }
        });
        match self.shared.upgrade() {
            Some(shared) => shared.send_job(job),
            // The runtime is gone: dropping the job cancels the handle.
            None => drop(job),
        }
        handle
    }

    /// True once the runtime has shut down: spawns from then on are cancelled at once.
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// let handle = rt.handle();
    /// assert!(!handle.is_closed());
    /// drop(rt);
    /// assert!(handle.is_closed());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared
            .upgrade()
            .is_none_or(|shared| shared.is_closed())
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("closed", &self.is_closed())
            .finish()
    }
}
