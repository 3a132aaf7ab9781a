//! The blocking pool: threads that run blocking code off the loop, asyncio's
//! `run_in_executor(None, f)`.
//!
//! A blocking call (a database driver, a file read, a CPU-heavy hash) on the loop's thread
//! stops every task until it returns. [`spawn_blocking`] ships the closure to a pool thread
//! instead and hands back a [`JoinHandle`] whose task waits for the result:
//!
//! ```text
//!  task ──spawn_blocking(f)──▶ job queue (crossbeam channel, FIFO) ──▶ pool thread runs f()
//!    ▲                                                                      │
//!    └──── oneshot channel: set_result wakes the task from the pool thread ◀┘
//! ```
//!
//! The result comes back through a [`oneshot`](crate::sync::oneshot) channel, the one
//! thread-safe primitive: the pool thread completes it, which wakes the waiting task through
//! the runtime's inbox. The task part is an ordinary spawned task, so the handle behaves like
//! any other: a panic in `f` is caught on the pool thread and comes back as
//! [`JoinError::is_panic`](crate::JoinError::is_panic).
//!
//! **Threads.** They start on demand: a job that finds no idle thread starts one, up to
//! `Builder::max_blocking_threads` ([`DEFAULT_MAX_BLOCKING_THREADS`]). Past that, jobs wait in
//! the queue and start in FIFO order as threads free up. A thread idle for
//! `Builder::blocking_keep_alive` ([`DEFAULT_BLOCKING_KEEP_ALIVE`]) exits. Threads are named
//! `minirt-blocking-N`. Each runtime owns its own pool; there is no global one.
//!
//! **Abort.** Aborting the handle of a job that has not started removes it: the job sees that
//! nobody waits for its result and is skipped. A job that has started runs to the end (a
//! thread cannot be stopped safely from outside); abort then only detaches its result.
//!
//! **Shutdown.** Dropping the runtime cancels every task, so jobs still queued are skipped.
//! The runtime then waits for running jobs to finish and for every pool thread to exit.
//! [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout) bounds that wait; threads
//! still busy when it runs out are left to finish on their own (detached), and their results
//! go nowhere.

use std::io;
use std::panic;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::JoinHandle;
use crate::sync::oneshot;
use crate::trace::PoolTrace;

/// Default limit on pool threads.
///
/// asyncio's default executor uses `min(32, cpus + 4)` threads, sized for a Python process
/// where the GIL serialises CPU work anyway. tokio allows 512, sized for servers that park
/// hundreds of threads on slow file systems. minirt sits between: blocking jobs here are
/// mostly waits on a database or a disk, which want more threads than cores, but each thread
/// reserves a stack, and a single-threaded runtime rarely has hundreds of such calls in
/// flight. 64 leaves room for a connection pool's worth of database calls per core.
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 64;

/// Default time an idle pool thread waits for a new job before it exits.
pub const DEFAULT_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A runtime's blocking pool.
pub(crate) struct BlockingPool {
    shared: Arc<PoolShared>,
    /// `None` once the pool is shut down: no job is accepted after that.
    sender: Option<Sender<Job>>,
}

struct PoolShared {
    receiver: Receiver<Job>,
    state: Mutex<PoolState>,
    /// Signalled when a thread exits, for shutdown to wait on.
    thread_exited: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    /// Where pool threads record their jobs when a trace is on.
    trace: Option<Arc<PoolTrace>>,
}

#[derive(Default)]
struct PoolState {
    /// Threads alive, busy or idle.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Jobs sent that no thread has taken yet.
    queued: usize,
    /// Numbers threads for their names.
    spawned_ever: usize,
    /// Handles of threads that may still be joined.
    handles: Vec<thread::JoinHandle<()>>,
}

impl BlockingPool {
    pub(crate) fn new(
        max_threads: usize,
        keep_alive: Duration,
        trace: Option<Arc<PoolTrace>>,
    ) -> BlockingPool {
        let (sender, receiver) = crossbeam_channel::unbounded();
        BlockingPool {
            shared: Arc::new(PoolShared {
                receiver,
                state: Mutex::new(PoolState::default()),
                thread_exited: Condvar::new(),
                max_threads: max_threads.max(1),
                keep_alive,
                trace,
            }),
            sender: Some(sender),
        }
    }

    /// Queues `job`, starting a thread if every thread is busy and the limit allows one.
    ///
    /// # Errors
    /// When the pool is shut down, or the OS refuses a new thread and none is alive to take
    /// the job.
    pub(crate) fn execute(&self, job: Job) -> io::Result<()> {
        let Some(sender) = &self.sender else {
            return Err(io::Error::other("the blocking pool is shut down"));
        };
        let mut state = self.shared.lock();
        state.queued += 1;
        // Sent under the lock, so a thread timing out sees `queued` and this job together.
        sender
            .send(job)
            .expect("the pool holds the receiver, so the channel is open");
        if state.queued > state.idle && state.threads < self.shared.max_threads {
            state.spawned_ever += 1;
            let number = state.spawned_ever as u64;
            let name = format!("minirt-blocking-{number}");
            let shared = self.shared.clone();
            match thread::Builder::new()
                .name(name)
                .spawn(move || shared.work(number))
            {
                Ok(handle) => {
                    state.threads += 1;
                    state.idle += 1; // it starts by waiting for a job
                    state.handles.retain(|h| !h.is_finished());
                    state.handles.push(handle);
                }
                // Another thread will take the job when it frees up.
                Err(_) if state.threads > 0 => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Threads alive now (busy or idle).
    #[allow(dead_code)] // for the metrics
    pub(crate) fn threads(&self) -> usize {
        self.shared.lock().threads
    }

    /// Whether a job is queued or running: its result may still wake a task, so a paused
    /// clock must not jump ahead of it.
    pub(crate) fn busy(&self) -> bool {
        let state = self.shared.lock();
        state.queued > 0 || state.threads > state.idle
    }

    /// Jobs waiting for a thread.
    #[allow(dead_code)] // for the metrics
    pub(crate) fn queued(&self) -> usize {
        self.shared.lock().queued
    }

    /// Stops accepting jobs, then waits until every thread has exited, or until `timeout`
    /// passes. Returns true if every thread exited in time.
    /// Only the first call waits; later calls return at once.
    pub(crate) fn shutdown(&mut self, timeout: Option<Duration>) -> bool {
        // Closing the channel wakes idle threads, which exit; busy threads exit after their
        // job (and after skipping any queued jobs whose task is gone).
        if self.sender.take().is_none() {
            return self.shared.lock().threads == 0;
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = self.shared.lock();
        while state.threads > 0 {
            state = match deadline {
                None => self
                    .shared
                    .thread_exited
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    self.shared
                        .thread_exited
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        let all_exited = state.threads == 0;
        let handles = std::mem::take(&mut state.handles);
        drop(state);
        for handle in handles {
            // A thread counts itself out (`exit`) just before it returns, so "every thread
            // exited" means every thread has only to return: join them all, or some would
            // still be running, detached, after the runtime is gone. After a timeout, only
            // those already finished are joined; a straggler is left detached.
            if all_exited || handle.is_finished() {
                let _ = handle.join();
            }
        }
        all_exited
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl PoolShared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pool thread's life: take jobs until idle for `keep_alive`, or until the pool closes.
    fn work(&self, number: u64) {
        loop {
            match self.receiver.recv_timeout(self.keep_alive) {
                Ok(job) => {
                    {
                        let mut state = self.lock();
                        state.queued -= 1;
                        state.idle -= 1;
                    }
                    // Jobs catch their own panics (see `spawn_blocking`); this is a backstop
                    // so that a thread never dies with the counts wrong.
                    let began = Instant::now();
                    let _ = panic::catch_unwind(panic::AssertUnwindSafe(job));
                    if let Some(trace) = &self.trace {
                        trace.job(number, began, began.elapsed());
                    }
                    self.lock().idle += 1;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let state = self.lock();
                    if state.queued > 0 {
                        continue; // a job arrived as the wait ran out: take it
                    }
                    return self.exit(state);
                }
                Err(RecvTimeoutError::Disconnected) => return self.exit(self.lock()),
            }
        }
    }

    fn exit(&self, mut state: MutexGuard<'_, PoolState>) {
        state.idle -= 1;
        state.threads -= 1;
        drop(state);
        self.thread_exited.notify_all();
    }
}

/// Runs `f` on the runtime's blocking pool and returns a handle to its result. This is
/// asyncio's `loop.run_in_executor(None, f)`.
///
/// Use it for code that blocks: a synchronous database driver, file I/O, a CPU-heavy
/// computation. The returned [`JoinHandle`] is the same as [`spawn`](crate::spawn)'s: a panic
/// in `f` comes back as [`JoinError::is_panic`](crate::JoinError::is_panic) with the original
/// payload, and the pool thread survives it.
///
/// The panic is also reported where it happens, by the process's panic hook (as every Rust
/// panic is), before it travels back to the handle. A program that expects panics from its
/// jobs and handles them can install its own hook with `std::panic::set_hook`.
///
/// [`abort`](JoinHandle::abort) removes a job that has not started yet. A job that has
/// started cannot be stopped; abort then only detaches it, and its result is dropped.
///
/// # Panics
/// When called outside a runtime. If the pool cannot run the job (the OS refuses every new
/// thread, or the runtime is shutting down), the *task* panics with a message saying so, and
/// the handle returns that as a [`JoinError`](crate::JoinError).
///
/// ```
/// let digest = minirt::run(async {
///     minirt::spawn_blocking(|| {
///         // Pretend this is slow: it runs on a pool thread, not on the loop.
///         (1..=20u64).product::<u64>()
///     })
///     .await
///     .unwrap()
/// });
/// assert_eq!(digest, 2_432_902_008_176_640_000);
/// ```
#[doc(alias = "run_in_executor")]
#[doc(alias = "to_thread")]
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = oneshot::channel::<thread::Result<T>>();
    let job: Job = Box::new(move || {
        // Nobody waits any more (aborted, or the runtime shut down): skip the work.
        if sender.is_closed() {
            return;
        }
        let result = panic::catch_unwind(panic::AssertUnwindSafe(f));
        // If the receiver went away meanwhile, the result is simply dropped here.
        let _ = sender.set_result(result);
    });
    let queued =
        crate::runtime::with_blocking_pool(|pool| pool.execute(job)).unwrap_or_else(|| {
            panic!(
                "minirt::spawn_blocking called outside a runtime; call it from code run by \
             `minirt::run` or `Runtime::block_on`"
            )
        });
    crate::spawn(async move {
        if let Err(error) = queued {
            resume_with(format!(
                "minirt::spawn_blocking could not run the job: {error}"
            ));
        }
        match receiver.await {
            Ok(Ok(value)) => value,
            // Re-raise the job's own panic inside this task, so the handle reports it.
            Ok(Err(payload)) => panic::resume_unwind(payload),
            Err(_) => resume_with("minirt::spawn_blocking: the pool dropped the job".into()),
        }
    })
}

/// Unwinds with `message` as the payload, without printing it again through the panic hook.
fn resume_with(message: String) -> ! {
    panic::resume_unwind(Box::new(message))
}
