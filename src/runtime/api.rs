//! The runtime's public face: making a [`Runtime`], `minirt::run`, `minirt::spawn`, metrics.
//!
//! The loop itself, `Runtime::block_on`, is in `mod.rs`; everything here is a thin layer over
//! it and over `Local`, read on a second pass.

use std::cell::Cell;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::context::CONTEXT;
use super::seed::Rng;
use super::shared::{Drained, Inbox};
use super::{Builder, IO_BUDGET, Local, Runtime, Shared, park};
use crate::blocking::BlockingPool;
use crate::metrics::{Counters, RuntimeMetrics, WakeSource};
use crate::reactor::Reactor;
use crate::task::JoinHandle;
use crate::task::owned::OwnedTasks;
use crate::time::{Clock, Timers};
use crate::trace::Observer;

impl Runtime {
    pub(super) fn from_builder(options: Builder) -> io::Result<Runtime> {
        let clock = Arc::new(Clock::new(options.start_paused));
        let recorder = options.trace_recorder(&clock)?;
        let pool_trace = recorder.as_ref().map(|r| r.pool.clone());
        let shared = Arc::new(Shared {
            poller: crate::poller::Poller::new()?,
            parker: park::ThreadParker::new(),
            inbox: Mutex::new(Inbox::default()),
            pending: AtomicBool::new(false),
            tracing: recorder.is_some(),
            clock: clock.clone(),
        });
        Ok(Runtime {
            local: Box::new(Local {
                reactor: Rc::new(Reactor::new(shared.clone())),
                shared,
                run_queue: RefCell::new(VecDeque::new()),
                owned: RefCell::new(OwnedTasks::default()),
                events: RefCell::new(crate::poller::Events::new()),
                event_interval: options.event_interval,
                budget: Cell::new(IO_BUDGET),
                polls_since_io: Cell::new(0),
                drained: Cell::new(Drained::default()),
                timers: Timers::new(clock.origin()),
                clock,
                rng: options.seed_or_env().map(Rng::new),
                blocking: BlockingPool::new(
                    options.max_blocking_threads,
                    options.blocking_keep_alive,
                    pool_trace,
                ),
                counters: Counters::default(),
                wake_source: Cell::new(WakeSource::SameThread),
                observer: Observer::new(options.slow_poll_threshold_or_env(), recorder),
            }),
            _not_send: PhantomData,
        })
    }

    /// A runtime with the default settings.
    ///
    /// # Errors
    /// When the OS refuses to create the poller (for example, out of file descriptors).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to set the runtime's options.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Spawns a task on this runtime from outside it (on the same thread). It runs at the next
    /// `block_on`.
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// let handle = rt.spawn(async { "hi" });
    /// assert_eq!(rt.block_on(handle).unwrap(), "hi");
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.local.spawn(future, Location::caller(), None)
    }

    /// What the runtime has done so far: tasks, polls, wakes by source, time parked and busy,
    /// timers and the blocking pool. Cheap: it copies counters the loop keeps anyway.
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// rt.block_on(async {
    ///     for _ in 0..3 {
    ///         minirt::spawn(async { minirt::yield_now().await }).await.unwrap();
    ///     }
    /// });
    /// let m = rt.metrics();
    /// assert_eq!((m.tasks_spawned, m.tasks_completed, m.tasks_alive), (3, 3, 0));
    /// assert_eq!(m.polls, 6);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        let local = &*self.local;
        let counters = &local.counters;
        let total = counters.total_in_block_on();
        let parked = counters.parked.get();
        RuntimeMetrics {
            tasks_spawned: counters.spawned.get(),
            tasks_alive: local.owned.borrow().len() as u64,
            tasks_completed: counters.completed.get(),
            polls: counters.polls.get(),
            wakes_same_thread: counters.wakes[WakeSource::SameThread as usize].get(),
            wakes_other_thread: counters.wakes[WakeSource::OtherThread as usize].get(),
            wakes_io: counters.wakes[WakeSource::Io as usize].get(),
            wakes_timer: counters.wakes[WakeSource::Timer as usize].get(),
            ticks: counters.ticks.get(),
            time_parked: parked,
            time_busy: total.saturating_sub(parked),
            reactor_events: counters.reactor_events.get(),
            timers_armed: local.timers.armed() as u64,
            timers_fired: counters.timers_fired.get(),
            timers_cancelled: local.timers.cancelled(),
            timer_lateness: std::array::from_fn(|i| counters.timer_lateness[i].get()),
            blocking_threads: local.blocking.threads() as u64,
            blocking_queued: local.blocking.queued() as u64,
        }
    }

    /// How many spawned tasks are still alive (not yet completed or cancelled).
    pub fn alive_tasks(&self) -> usize {
        self.local.owned.borrow().len()
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("alive_tasks", &self.alive_tasks())
            .finish_non_exhaustive()
    }
}

/// Runs `future` on a new runtime and returns its output; the runtime, and every task still
/// alive in it, is dropped before this returns, and what tasks wrote to minirt's async stdout
/// and stderr is flushed (for at most [`RUN_FLUSHES_STDIO_FOR`]). This is asyncio's
/// `asyncio.run(main())`. With a [`Runtime`] of your own, call
/// [`io::flush_stdio`](crate::io::flush_stdio) after it stops.
///
/// # Panics
/// If the runtime cannot be created (the OS refuses a poller), or if `future` panics.
///
/// ```
/// minirt::run(async {
///     println!("hello from minirt");
/// });
/// ```
#[doc(alias = "asyncio.run")]
pub fn run<F: Future>(future: F) -> F::Output {
    let runtime = Runtime::new().unwrap_or_else(|e| panic!("minirt::run: cannot start: {e}"));
    let output = runtime.block_on(future);
    drop(runtime);
    // What tasks wrote to `minirt::io::stdout` just before the end is still on its way out;
    // give it a moment, as a program that printed its last line would expect.
    crate::io::flush_stdio(RUN_FLUSHES_STDIO_FOR);
    output
}

/// How long [`run`] waits, after the runtime has stopped, for bytes written to
/// [`minirt::io::stdout`](crate::io::stdout) and `stderr` to reach the OS. A reader that has
/// stopped reading costs the program at most this long at exit.
pub const RUN_FLUSHES_STDIO_FOR: Duration = Duration::from_secs(1);

/// Spawns a task on the current runtime and returns its [`JoinHandle`]. The task joins the back
/// of the run queue, behind the tasks already ready: spawned from a task, it usually runs in
/// the same step 2 of the loop (which polls until the queue is empty or its budget is spent);
/// spawned from the main future, in the step 2 that follows. The future need not be `Send`: it
/// never leaves this thread. This is asyncio's `create_task`.
///
/// # Panics
/// When called outside a runtime (outside `minirt::run` or `Runtime::block_on`).
///
/// ```
/// minirt::run(async {
///     let handle = minirt::spawn(async { "done" });
///     assert_eq!(handle.await.unwrap(), "done");
/// });
/// ```
#[doc(alias = "create_task")]
#[doc(alias = "ensure_future")]
#[track_caller]
#[inline]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_inner(future, Location::caller(), None)
}

/// Spawns a task like [`spawn`], with a name that slow-poll warnings and the trace show
/// instead of the spawn location alone. This is asyncio's `create_task(coro, name=...)`.
///
/// # Panics
/// When called outside a runtime.
///
/// ```
/// minirt::run(async {
///     let handle = minirt::spawn_named("worker-1", async { 1 });
///     assert_eq!(handle.await.unwrap(), 1);
/// });
/// ```
#[track_caller]
pub fn spawn_named<F>(name: &str, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_inner(future, Location::caller(), Some(name))
}

#[inline]
fn spawn_inner<F>(
    future: F,
    location: &'static Location<'static>,
    name: Option<&str>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let current = CONTEXT.with(Cell::get);
    // SAFETY: the `CONTEXT` invariant.
    match unsafe { current.as_ref() } {
        Some(local) => local.spawn(future, location, name),
        None => panic!(
            "minirt::spawn called outside a runtime; call it from code run by `minirt::run` \
             or `Runtime::block_on`"
        ),
    }
}
