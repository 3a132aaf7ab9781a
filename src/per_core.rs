//! [`ThreadPerCore`]: one single-threaded runtime on each of N threads, optionally pinned to a
//! CPU each.
//!
//! This is the "thread-per-core" model of Seastar, glommio and monoio (glommio starts its
//! pool with `LocalExecutorPoolBuilder` and runs a closure `on_all_shards`; we keep its word
//! *shard* for one thread and its runtime). Each thread is an ordinary minirt [`Runtime`], as
//! alone as ever: its tasks, sockets and timers never leave it. What the threads share is only
//! each other's [`Handle`], so that one can hand work to another explicitly, and a stop flag.
//!
//! # How it differs from a work-stealing runtime
//!
//! tokio's multi-thread runtime moves tasks: an idle worker steals ready tasks from a busy one's
//! queue, so every task (and everything it holds) must be `Send`, and every wake pays for the
//! synchronisation that makes stealing safe. Here **no task ever moves between threads**. A
//! task may hold `Rc`s and `RefCell`s, a wake on its own thread costs no atomic beyond the
//! task's state word, and a thread's caches stay warm with its own connections. The price: the
//! load is balanced only where work enters. With `SO_REUSEPORT` listeners
//! ([`TcpListener::bind_reuse_port`](crate::net::TcpListener::bind_reuse_port)) the kernel
//! spreads connections over the threads; after that, a thread that drew the slow connections
//! stays busy while another idles. Long CPU-bound tasks and uneven load are where work
//! stealing wins. See `docs/many-cores.md`.
//!
//! # Stopping
//!
//! Each thread's entry future runs until it returns. Its runtime then keeps running, for the
//! tasks other threads hand it, until every thread's entry has returned; only then do the
//! runtimes shut down (cancelling the tasks still alive in them) and the threads end. If one
//! panics, the panic is caught and
//! reported in that thread's place in the result, and every other thread is told to stop: its
//! entry future is dropped at its loop's next turn (cancellation is dropping) and its place
//! says [`JoinError::is_cancelled`]. [`Shard::stop_all`] does the same on purpose. A thread
//! stuck in blocking code cannot be stopped this way, and neither can any runtime.

use std::future::{Future, poll_fn};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;

use crate::JoinError;
use crate::{Builder, Handle, Runtime};

/// Starts N threads, each with its own [`Runtime`], runs the same async entry point on each,
/// and returns their outputs: asyncio's "one event loop per process", in threads.
///
/// ```
/// use minirt::ThreadPerCore;
///
/// let outputs = ThreadPerCore::new(2).run(|shard| async move {
///     // Hand a task to the next thread, built there (it may hold `Rc`s and sockets).
///     let next = &shard.handles()[(shard.index() + 1) % shard.handles().len()];
///     let from = shard.index();
///     next.spawn_fn(move || async move { from * 10 }).await.unwrap()
/// })?;
/// let outputs: Vec<usize> = outputs.into_iter().map(Result::unwrap).collect();
/// assert_eq!(outputs, [0, 10]);
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a ThreadPerCore does nothing until `run` is called"]
pub struct ThreadPerCore {
    threads: usize,
    pin: bool,
    runtime: Builder,
}

impl ThreadPerCore {
    /// `threads` threads (at least 1), unpinned, each with a runtime of the default options.
    pub fn new(threads: usize) -> ThreadPerCore {
        ThreadPerCore {
            threads: threads.max(1),
            pin: false,
            runtime: Builder::new(),
        }
    }

    /// One thread for each CPU this process may run on.
    ///
    /// ```
    /// let pool = minirt::ThreadPerCore::per_cpu().pin_to_cpus(true);
    /// ```
    pub fn per_cpu() -> ThreadPerCore {
        ThreadPerCore::new(thread::available_parallelism().map_or(1, usize::from))
    }

    /// Pins thread `i` to the `i`-th CPU this process may run on (wrapping around when there
    /// are more threads than CPUs), with `sched_setaffinity`. Off by default: pinning pays
    /// when the machine is yours, and hurts when other processes need the same CPUs.
    ///
    /// ```
    /// let pool = minirt::ThreadPerCore::new(2).pin_to_cpus(true);
    /// ```
    pub fn pin_to_cpus(mut self, pin: bool) -> ThreadPerCore {
        self.pin = pin;
        self
    }

    /// The options for every thread's runtime.
    ///
    /// ```
    /// let pool = minirt::ThreadPerCore::new(2)
    ///     .runtime(minirt::Runtime::builder().event_interval(32));
    /// ```
    pub fn runtime(mut self, builder: Builder) -> ThreadPerCore {
        self.runtime = builder;
        self
    }

    /// Starts the threads, runs `entry(shard)` on each one's runtime, waits for all of them,
    /// and returns each thread's outcome, in thread order: its output, or a [`JoinError`] if
    /// its entry panicked (`is_panic`) or was stopped because another thread panicked or called
    /// [`Shard::stop_all`] (`is_cancelled`). Each future is built on its own thread, so it need
    /// not be `Send`; only the outputs cross back.
    ///
    /// # Errors
    /// When a thread cannot be started, its CPU cannot be pinned, or its runtime cannot be
    /// built. No entry runs then: every thread that did start ends at once.
    pub fn run<E, F>(self, entry: E) -> io::Result<Vec<Result<F::Output, JoinError>>>
    where
        E: Fn(Shard) -> F + Sync,
        F: Future,
        F::Output: Send,
    {
        let n = self.threads;
        let cpus = if self.pin {
            Some(allowed_cpus()?)
        } else {
            None
        };
        let startup = Startup::new(n);
        let stop = Arc::new(Stop::new(n));
        let ends: Vec<ShardEnd<F::Output>> = thread::scope(|scope| {
            let mut threads = Vec::with_capacity(n);
            for index in 0..n {
                let cpu = cpus.as_ref().map(|cpus| cpus[index % cpus.len()]);
                let shard = ShardSetup {
                    index,
                    cpu,
                    runtime: self.runtime.clone(),
                    startup: &startup,
                    stop: stop.clone(),
                };
                let spawned = thread::Builder::new()
                    .name(format!("minirt-shard-{index}"))
                    .spawn_scoped(scope, || shard.run(&entry));
                match spawned {
                    Ok(thread) => threads.push(thread),
                    Err(error) => {
                        startup.fail();
                        threads.clear(); // scoped: they are joined anyway
                        return vec![ShardEnd::SetupFailed(error)];
                    }
                }
            }
            threads
                .into_iter()
                .map(|thread| match thread.join() {
                    Ok(end) => end,
                    // `ShardSetup::run` catches panics; this is one from outside it.
                    Err(payload) => ShardEnd::Ran(Err(JoinError::panicked(payload))),
                })
                .collect()
        });
        let mut outputs = Vec::with_capacity(n);
        for end in ends {
            match end {
                ShardEnd::SetupFailed(error) => return Err(error),
                ShardEnd::Ran(result) => outputs.push(result),
                ShardEnd::NotStarted => outputs.push(Err(JoinError::cancelled())),
            }
        }
        Ok(outputs)
    }
}

/// What one thread's entry point gets: its index, every thread's [`Handle`], and the stop.
///
/// ```
/// let outputs = minirt::ThreadPerCore::new(3).run(|shard| async move {
///     (shard.index(), shard.handles().len())
/// })?;
/// assert_eq!(outputs[2].as_ref().unwrap(), &(2, 3));
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct Shard {
    index: usize,
    handles: Arc<[Handle]>,
    stop: Arc<Stop>,
}

impl Shard {
    /// This thread's index, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Every thread's handle, in index order (this thread's too), to spawn work on any of
    /// them.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Stops every thread: each one's entry future is dropped at its loop's next turn, and
    /// its outcome is [`JoinError::is_cancelled`]. This thread's too, unless its entry returns
    /// first.
    ///
    /// ```
    /// let outputs = minirt::ThreadPerCore::new(2).run(|shard| async move {
    ///     if shard.index() == 0 {
    ///         shard.stop_all();
    ///         return "stopped the others";
    ///     }
    ///     std::future::pending().await
    /// })?;
    /// assert_eq!(outputs[0].as_ref().unwrap(), &"stopped the others");
    /// assert!(outputs[1].as_ref().unwrap_err().is_cancelled());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn stop_all(&self) {
        self.stop.stop_all();
    }
}

/// One thread's ending.
enum ShardEnd<T> {
    Ran(Result<T, JoinError>),
    /// Its CPU or runtime failed: the whole pool fails.
    SetupFailed(io::Error),
    /// Another thread's setup failed, so this one never ran its entry.
    NotStarted,
}

/// What a thread needs to start.
struct ShardSetup<'a> {
    index: usize,
    cpu: Option<usize>,
    runtime: Builder,
    startup: &'a Startup,
    stop: Arc<Stop>,
}

impl ShardSetup<'_> {
    fn run<E, F>(self, entry: &E) -> ShardEnd<F::Output>
    where
        E: Fn(Shard) -> F,
        F: Future,
    {
        let built = match self.cpu {
            Some(cpu) => pin_current_thread(cpu).and_then(|()| self.runtime.build()),
            None => self.runtime.build(),
        };
        let (rt, error) = match built {
            Ok(rt) => (Some(rt), None),
            Err(error) => (None, Some(error)),
        };
        let Some(handles) = self
            .startup
            .arrive(self.index, rt.as_ref().map(Runtime::handle))
        else {
            return error.map_or(ShardEnd::NotStarted, ShardEnd::SetupFailed);
        };
        let rt = rt.expect("every thread arrived with a runtime");
        let (index, stop) = (self.index, self.stop);
        let shard = Shard {
            index,
            handles,
            stop: stop.clone(),
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            // Declared after `rt`, so dropped before it: the others are told to stop as soon
            // as the panic leaves `block_on`, not after this runtime's shutdown.
            let _stop_on_panic = StopOnPanic(&stop);
            rt.block_on(until_stopped(&stop, index, entry(shard)))
        }));
        drop(rt);
        match result {
            Ok(Some(output)) => ShardEnd::Ran(Ok(output)),
            Ok(None) => ShardEnd::Ran(Err(JoinError::cancelled())),
            Err(payload) => {
                stop.stop_all();
                ShardEnd::Ran(Err(JoinError::panicked(payload)))
            }
        }
    }
}

/// Runs `entry` until it returns (`Some`) or the stop is raised (`None`, `entry` dropped).
/// Then keeps the loop running, for the tasks other threads hand this one, until every
/// thread's entry has returned or the stop is raised.
async fn until_stopped<F: Future>(stop: &Stop, index: usize, entry: F) -> Option<F::Output> {
    let output = {
        let mut entry = pin!(entry);
        poll_fn(|cx| {
            if let Poll::Ready(output) = entry.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            if stop.poll_until(index, cx, Stop::is_stopped) {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        })
        .await
    };
    stop.entry_returned();
    poll_fn(|cx| {
        if stop.poll_until(index, cx, Stop::is_over) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    output
}

/// Raises the stop if dropped during a panic.
struct StopOnPanic<'a>(&'a Stop);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.stop_all();
        }
    }
}

/// The stop flag, how many entries are still running, and each thread's main waker to wake
/// when either changes.
#[derive(Debug)]
struct Stop {
    stopped: AtomicBool,
    running: AtomicUsize,
    wakers: Mutex<Vec<Option<Waker>>>,
}

impl Stop {
    fn new(n: usize) -> Stop {
        Stop {
            stopped: AtomicBool::new(false),
            running: AtomicUsize::new(n),
            wakers: Mutex::new(vec![None; n]),
        }
    }

    fn stop_all(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake_all();
    }

    /// One entry has returned (or was stopped); the last one ends every thread's loop.
    fn entry_returned(&self) {
        if self.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.wake_all();
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Stopped, or every entry has returned: the threads may end.
    fn is_over(&self) -> bool {
        self.is_stopped() || self.running.load(Ordering::Acquire) == 0
    }

    fn wake_all(&self) {
        let wakers: Vec<Waker> = {
            let mut slots = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
            slots.iter_mut().filter_map(Option::take).collect()
        };
        // Woken after the lock is released.
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether `done` holds; if not, stores `cx`'s waker for `wake_all` to wake.
    fn poll_until(&self, index: usize, cx: &Context<'_>, done: fn(&Stop) -> bool) -> bool {
        if done(self) {
            return true;
        }
        let mut slots = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if !slots[index]
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            // The main future's waker is minirt's own: cloning it runs no user code.
            let old = slots[index].replace(cx.waker().clone());
            drop(slots);
            drop(old);
        } else {
            drop(slots);
        }
        // Re-check after registering: a change made meanwhile found no waker to wake.
        done(self)
    }
}

/// Where the threads meet before any entry runs, so that each one gets every handle.
struct Startup {
    state: Mutex<StartState>,
    all_here: Condvar,
}

struct StartState {
    handles: Vec<Option<Handle>>,
    arrived: usize,
    /// A thread could not start, or could not build its runtime.
    failed: bool,
}

impl Startup {
    fn new(n: usize) -> Startup {
        Startup {
            state: Mutex::new(StartState {
                handles: vec![None; n],
                arrived: 0,
                failed: false,
            }),
            all_here: Condvar::new(),
        }
    }

    /// Records this thread's handle (`None`: its setup failed) and waits for the others.
    /// Returns every handle, or `None` if any thread failed.
    fn arrive(&self, index: usize, handle: Option<Handle>) -> Option<Arc<[Handle]>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.failed |= handle.is_none();
        state.handles[index] = handle;
        state.arrived += 1;
        self.all_here.notify_all();
        while state.arrived < state.handles.len() && !state.failed {
            state = self
                .all_here
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.failed {
            return None;
        }
        state.handles.iter().cloned().collect()
    }

    /// A thread could not even be started: release the ones waiting.
    fn fail(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failed = true;
        self.all_here.notify_all();
    }
}

/// Bits in one word of a CPU mask.
const MASK_BITS: usize = libc::c_ulong::BITS as usize;
/// glibc's `cpu_set_t`: room for 1024 CPUs, as an array of machine words.
type CpuMask = [libc::c_ulong; 1024 / MASK_BITS];

/// The CPUs this process may run on, in order.
fn allowed_cpus() -> io::Result<Vec<usize>> {
    let mut mask: CpuMask = [0; 1024 / MASK_BITS];
    // SAFETY: the kernel writes at most `size_of_val(&mask)` bytes to the pointer, which points
    // to `mask`, a live array of that size; the layout is `cpu_set_t`'s (an array of words).
    let rc = unsafe { libc::sched_getaffinity(0, size_of_val(&mask), (&raw mut mask).cast()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let cpus: Vec<usize> = (0..mask.len() * MASK_BITS)
        .filter(|&cpu| mask[cpu / MASK_BITS] & (1 << (cpu % MASK_BITS)) != 0)
        .collect();
    if cpus.is_empty() {
        return Err(io::Error::other("sched_getaffinity: no CPU allowed"));
    }
    Ok(cpus)
}

/// Pins the calling thread to `cpu`.
fn pin_current_thread(cpu: usize) -> io::Result<()> {
    let mut mask: CpuMask = [0; 1024 / MASK_BITS];
    let word = mask
        .get_mut(cpu / MASK_BITS)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "CPU number too large"))?;
    *word |= 1 << (cpu % MASK_BITS);
    // SAFETY: the kernel reads `size_of_val(&mask)` bytes from the pointer, which points to
    // `mask`, a live array of that size; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, size_of_val(&mask), (&raw const mask).cast()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_cpus_lists_at_least_the_ones_we_can_pin_to() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        thread::spawn(move || {
            pin_current_thread(cpus[0]).unwrap();
            assert_eq!(allowed_cpus().unwrap(), [cpus[0]], "the thread is pinned");
        })
        .join()
        .unwrap();
        assert!(pin_current_thread(1 << 20).is_err());
    }
}
