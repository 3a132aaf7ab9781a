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

use std::time::{Duration, Instant};

use super::{Local, Runtime, Shared, with_current};
use crate::JoinError;
use crate::task::remote::{self, RemoteJoinHandle};
use crate::time::Sleep;
use crate::time::sleep::deadline_after;

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
    /// The handle of the runtime running on this thread: the one whose
    /// [`block_on`](Runtime::block_on) (or [`minirt::run`](crate::run)) this code runs in.
    /// This is tokio's `Handle::current`.
    ///
    /// # Panics
    /// Outside a runtime. [`try_current`](Handle::try_current) returns an error instead.
    ///
    /// ```
    /// minirt::run(async {
    ///     let handle = minirt::Handle::current();
    ///     // Another thread gives this runtime work, and the task awaits the result.
    ///     let remote = std::thread::spawn(move || handle.spawn(async { 6 * 7 }))
    ///         .join()
    ///         .unwrap();
    ///     assert_eq!(remote.await.unwrap(), 42);
    /// });
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(error) => panic!("{error}"),
        }
    }

    /// The handle of the runtime running on this thread, or an error outside a runtime.
    ///
    /// # Errors
    /// [`TryCurrentError`] when no runtime runs on this thread.
    ///
    /// ```
    /// assert!(minirt::Handle::try_current().is_err());
    /// minirt::run(async { assert!(minirt::Handle::try_current().is_ok()) });
    /// ```
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        with_current(|local| Handle {
            shared: Arc::downgrade(local.shared()),
        })
        .ok_or(TryCurrentError(()))
    }

    /// A [`Sleep`] for `duration` on this handle's runtime, made on any thread and awaitable
    /// on any thread: on the runtime's own it costs what [`minirt::sleep`](crate::sleep)
    /// costs; elsewhere its timer is armed through the runtime's inbox (see `time/sleep.rs`).
    /// The deadline is read from the runtime's clock, paused or not.
    ///
    /// If the runtime is gone by the time the sleep must arm its timer, polling it panics: a
    /// timer that can never fire should not hang its waiter silently.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = minirt::Runtime::new()?;
    /// let handle = rt.handle();
    /// let (done, finished) = minirt::sync::oneshot::channel();
    /// std::thread::spawn(move || {
    ///     // A plain thread awaits a sleep that the runtime's wheel fires.
    ///     futures_lite::future::block_on(handle.sleep(Duration::from_millis(5)));
    ///     done.set_result("slept").unwrap();
    /// });
    /// assert_eq!(rt.block_on(finished).unwrap(), "slept");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn sleep(&self, duration: Duration) -> Sleep {
        let now = match self.shared.upgrade() {
            Some(shared) => shared.clock().now(),
            None => Instant::now(),
        };
        self.sleep_until(deadline_after(now, duration))
    }

    /// A [`Sleep`] until `deadline` on this handle's runtime; see [`Handle::sleep`].
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// let deadline = minirt::time::now() + std::time::Duration::from_millis(5);
    /// rt.block_on(rt.handle().sleep_until(deadline));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        let passed = deadline <= self.now();
        Sleep::idle(deadline, passed, Some(self.shared.clone()))
    }

    /// What time it is on this handle's runtime's clock (see
    /// [`time::now`](crate::time::now)); real time once the runtime is gone.
    ///
    /// ```
    /// let rt = minirt::Runtime::builder().start_paused(true).build()?;
    /// let handle = rt.handle();
    /// assert_eq!(handle.now(), handle.now(), "a paused clock stands still");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn now(&self) -> Instant {
        match self.shared.upgrade() {
            Some(shared) => shared.clock().now(),
            None => Instant::now(),
        }
    }

    /// Spawns `future` on the handle's runtime, from any thread, and returns a `Send` handle
    /// on its result. This is asyncio's `run_coroutine_threadsafe`.
    ///
    /// The future must be `Send`, since it is made on this thread and moved to the runtime's.
    /// minirt's timers are (`handle.spawn(async { minirt::sleep(d).await })` compiles), but its
    /// sockets are not (they belong to one runtime's reactor), so an `async` block that holds
    /// one across an `.await` is not either: build such a future over there, with
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

/// The error of [`Handle::try_current`]: no runtime runs on this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryCurrentError(());

impl TryCurrentError {
    /// True: the only reason today is that no runtime runs on this thread (tokio's name).
    pub fn is_missing_context(&self) -> bool {
        true
    }
}

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "minirt::Handle::current called outside a runtime; call it from code run by \
             `minirt::run` or `Runtime::block_on`, or pass a `Handle` from `Runtime::handle`",
        )
    }
}

impl std::error::Error for TryCurrentError {}
