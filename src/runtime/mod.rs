//! The runtime: one thread, one loop, one poller.
//!
//! [`Runtime::block_on`] runs this loop until the future it was given finishes:
//!
//! ```text
//!  loop:
//!    1. poll the main future if its waker fired
//!    2. run up to `event_interval` tasks from the local run queue (FIFO, or seeded)
//!    3. move tasks woken from other threads (the inbox) into the run queue, and run the spawn
//!       jobs other threads sent through a [`Handle`]
//!    4. timeout = 0 if tasks are ready, else until the timer wheel's next deadline (or forever)
//!    5. reactor: poller.wait(timeout), then wake each task whose socket is ready, and move
//!       the inbox into the run queue again (a remote wake is what often ended the wait)
//!    6. timers: advance the wheel to the runtime's clock, and wake each task whose deadline
//!       has passed
//! ```
//!
//! Two fields change what steps 2, 5 and 6 decide, for tests, without a second loop. With a
//! seed (`seed.rs`), step 2 picks any ready task instead of the oldest and draws its budget, and
//! the wakes of one turn's ready sockets and due timers are shuffled. With the clock paused
//! (`time/clock.rs`), step 5 never waits for a timer: when nothing else can happen it moves the
//! clock to the earliest deadline, and step 6 fires it there (`Local::wait_paused`). Both are
//! explained, with a picture, in `docs/testing.md`.
//!
//! What the loop counts and records (metrics, slow-poll warnings, the trace) is out of its way,
//! in `hooks.rs`: at each point worth counting the loop calls one `note_*` method, so the steps
//! read first and the instrumentation second. Off, it costs a branch or two per poll.
//!
//! The runtime is split in two. [`Local`] is everything only the runtime's thread touches: the
//! run queue, the owned-task list, the reactor, the timers. It needs no locks. [`Shared`]
//! (`shared.rs`) is what a waker or a [`Handle`] on another thread may reach: the poller (to
//! interrupt the wait), the parker, the clock, and the inbox, where other threads' wakes and
//! spawns wait for step 3. A wake on the runtime's own thread costs one compare-and-swap on the
//! task's state and a push onto a `VecDeque`; one from elsewhere also takes the inbox's lock.
//!
//! This file is the loop. Its neighbours are read on a second pass: `shared.rs` (the inbox and
//! how other threads wake the loop), `shutdown.rs`, `api.rs` (`Runtime::new`, `minirt::run`,
//! `minirt::spawn`, metrics), `hooks.rs` (instrumentation), `context.rs`, `builder.rs`,
//! `handle.rs` and `park.rs`.
//!
//! While `block_on` runs, a thread-local pointer ([`CONTEXT`]) names the current runtime, so
//! that `minirt::spawn` and wakers can find it without passing it around.
//!
//! Step 2 is bounded so that a busy run queue cannot starve I/O and timers: after
//! `event_interval` polls the loop checks the poller (without blocking) and the clock. When the
//! queue is empty the loop blocks in `poller.wait`, so an idle runtime uses no CPU.
//!
//! Step 5 hands the poller's events to the [reactor](crate::reactor), which marks the
//! directions they name ready (and those deferred after a short read or write) and wakes the
//! tasks waiting on them; sockets stay registered, edge-triggered, with nothing re-done per
//! wait. Then it drains the inbox, so that a task woken from another thread during the wait is
//! polled on the very next turn. While work is ready, step 5 does not block, and it asks the
//! poller for events only once every `event_interval` polls (and never when no socket is
//! registered): a loop with a task or two ping-ponging would otherwise pay a system call on
//! every turn. While a direction is deferred, it does not block either. With no socket and no
//! timer, the loop sleeps on its thread's parker (`park.rs`) instead of in the poller. The
//! clock is read on every turn for the timers, which costs no system call. Sockets find the
//! reactor through [`CONTEXT`], with [`current_reactor`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

mod api;
mod builder;
mod context;
mod handle;
mod hooks;
mod park;
pub(crate) mod seed;
mod shared;
mod shutdown;

pub use api::{RUN_FLUSHES_STDIO_FOR, run, spawn, spawn_named};

pub use builder::Builder;
use context::{Enter, MainWaker};
pub(crate) use context::{
    current_reactor, is_current_reactor, poll_budget, schedule, with_blocking_pool, with_clock,
    with_current,
};
pub use handle::{Handle, TryCurrentError};
use hooks::BlockOnTiming;
use shared::Drained;
pub(crate) use shared::Shared;

use crate::blocking::BlockingPool;
use crate::metrics::{Counters, WakeSource};
use crate::reactor::Reactor;
use crate::task::owned::OwnedTasks;
use crate::task::raw;
use crate::task::{JoinHandle, Notified, TaskRef};
use crate::time::{Clock, Timers};
use crate::trace::Observer;
use seed::Rng;

/// How many tasks the loop polls before it checks I/O and timers, by default.
///
/// Smaller means fairer to I/O and timers; larger means fewer `epoll_wait` calls when many
/// tasks are ready. tokio uses 61; any value in the tens behaves about the same.
pub const DEFAULT_EVENT_INTERVAL: usize = 61;

/// How many ready I/O operations a task may complete in one poll before it must yield.
///
/// A socket that is always ready (a fire hose) would otherwise let its reader loop forever
/// inside one poll and starve every other task and timer. With the budget spent, an I/O call
/// wakes its own task and returns `Pending`, so the task goes to the back of the run queue.
pub(super) const IO_BUDGET: u32 = 128;

/// Run-queue capacity kept when the queue empties (32 KiB). A burst of a million ready tasks
/// grows the queue to 8 MiB; without this, it would keep that memory for the runtime's life.
/// Bursts of a few thousand tasks are common (`ping_pong_1k` readies 2,000 at once), and for
/// them giving the buffer back would mean a reallocation and a copy on every burst; the
/// measurement that chose 4,096 is in `benches/README.md` ("Round three").
pub(super) const RUN_QUEUE_KEEP: usize = 4096;

/// How long a loop with its clock paused waits, in real time, before it looks again whether
/// the blocking pool has finished (see `Local::wait_paused`).
const PAUSED_NAP: Duration = Duration::from_millis(1);

/// What only the runtime's thread touches.
pub(crate) struct Local {
    shared: Arc<Shared>,
    run_queue: RefCell<VecDeque<Notified>>,
    owned: RefCell<OwnedTasks>,
    events: RefCell<crate::poller::Events>,
    /// Registered sockets and the tasks waiting on them. Every socket holds an `Rc` too.
    reactor: Rc<Reactor>,
    event_interval: usize,
    /// What is left of the current poll's [`IO_BUDGET`].
    budget: Cell<u32>,
    /// Polls (the main future's included) since the poller was last asked for I/O events.
    polls_since_io: Cell<usize>,
    /// The timer wheel. A `Sleep` reaches it through [`CONTEXT`] on this thread, and with a
    /// job through the inbox from any other (`time/sleep.rs`).
    timers: Timers,
    /// The runtime's clock; the same as `shared.clock`, one pointer closer.
    clock: Arc<Clock>,
    /// With a seed, the loop's choices are drawn from it (`seed.rs`); without, FIFO.
    rng: Option<Rng>,
    /// Threads for `spawn_blocking`.
    blocking: BlockingPool,
    /// What the runtime has done so far (see `metrics.rs`).
    counters: Counters,
    /// Who is waking tasks right now: the reactor, the timers, or other tasks.
    wake_source: Cell<WakeSource>,
    /// The inbox's vectors between drains, empty (see [`Drained`]).
    drained: Cell<Drained>,
    /// Slow-poll warnings, the lost-wakeup hint and the trace (see `trace.rs`).
    observer: Observer,
}

impl Local {
    /// The runtime's shared half: what a `Sleep` keeps to find its wheel again.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The timer wheel, for a `Sleep` polled or dropped on this thread.
    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Allocates the task, lists it as owned and queues it: step 2 polls it. Marked
    /// `#[inline]`, as are `spawn` and `spawn_inner` in `api.rs`: once the loop and the
    /// public functions lived in different files the compiler stopped inlining the chain into
    /// the caller, and every spawn paid for the calls (`docs/why-fast.md`, "What the counts
    /// say").
    #[inline]
    fn spawn<F>(
        &self,
        future: F,
        location: &'static Location<'static>,
        name: Option<&str>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (owned, notified, handle) = raw::allocate(future, self.shared.clone(), location);
        let task = owned.raw().addr();
        self.owned.borrow_mut().insert(owned);
        self.run_queue.borrow_mut().push_back(notified);
        self.note_spawn(task, location, name);
        handle
    }

    /// Step 2: polls up to `event_interval` ready tasks, oldest first. The queue is borrowed
    /// only to pop, so a task may spawn or wake others while it runs.
    fn run_ready_tasks(&self) {
        if let Some(rng) = &self.rng {
            return self.run_ready_tasks_seeded(rng);
        }
        for _ in 0..self.event_interval {
            let Some(task) = self.run_queue.borrow_mut().pop_front() else {
                self.release_run_queue_memory();
                return;
            };
            self.run_task(task);
        }
    }

    /// Step 2 with a seed (`seed.rs`): the budget is drawn between 1 and twice
    /// `event_interval`, and each task is picked at random among the ready ones.
    #[cold]
    fn run_ready_tasks_seeded(&self, rng: &Rng) {
        for _ in 0..1 + rng.below(2 * self.event_interval) {
            let mut queue = self.run_queue.borrow_mut();
            if queue.is_empty() {
                drop(queue);
                self.release_run_queue_memory();
                return;
            }
            let pick = rng.below(queue.len());
            let task = queue.swap_remove_back(pick).expect("a ready task");
            drop(queue);
            self.run_task(task);
        }
    }

    /// Gives back the memory of a burst once the queue is empty, like the owned-task list and
    /// the timer wheel do.
    fn release_run_queue_memory(&self) {
        let mut queue = self.run_queue.borrow_mut();
        if queue.capacity() > RUN_QUEUE_KEEP {
            queue.shrink_to(RUN_QUEUE_KEEP);
        }
    }

    /// Polls one task. Inlined into both loops of step 2: it is the heart of the hot path, and
    /// a call per poll costs what `docs/why-fast.md` ("Seeded scheduling costs nothing
    /// unused") counts.
    #[inline(always)]
    fn run_task(&self, task: Notified) {
        let raw = task.raw();
        let prev = task.into_unscheduled();
        if prev.is_complete() {
            // A leftover entry (woken during its last poll, or aborted as it finished).
            // `into_unscheduled` freed it if that was its last reference.
            return;
        }
        // Not complete, so the owned list still holds a reference and `raw` stays valid.
        self.budget.set(IO_BUDGET);
        self.polls_since_io.set(self.polls_since_io.get() + 1);
        let finished = if prev.is_cancelled() {
            // SAFETY: home thread, and the future is still in the stage.
            unsafe { raw.cancel() };
            true
        } else {
            let watch = self.note_poll_start();
            // SAFETY: as above.
            let finished = unsafe { raw.poll() };
            self.note_poll_end(raw, watch, finished);
            finished
        };
        if finished {
            let owned = self.owned.borrow_mut().remove(raw);
            self.complete(owned);
        }
    }

    /// The future is gone: hand the output to the `JoinHandle`, or drop it if nobody wants it,
    /// then give up the owned reference.
    ///
    /// The bookkeeping (the `COMPLETE` flag, the output in the stage, the owned list) is done
    /// before the one call into user code that can escape, the join waker's `wake`. If that
    /// panics, the panic leaves through a consistent task: `owned` still drops on the way out.
    fn complete(&self, owned: TaskRef) {
        let raw = owned.raw();
        self.note_complete(raw);
        let prev = raw.header().state.complete();
        if prev.has_join_interest() {
            // SAFETY: home thread. The waker is moved out, so the slot is free again before
            // `wake` (user code, which may even run the runtime) is called.
            if let Some(waker) = unsafe { raw.take_join_waker() } {
                waker.wake();
            }
        } else {
            // Nobody will read the output: drop it here, on its home thread. A panic in its
            // `Drop` has already been reported by the panic hook and must not stop the loop.
            // SAFETY: home thread; the future is gone.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| unsafe { raw.drop_output() }));
        }
        drop(owned);
    }

    /// Step 3: moves tasks woken from other threads into the run queue, and runs the spawn
    /// jobs sent through a [`Handle`], which spawn their tasks at the back of the queue.
    ///
    /// A job runs user code (the `spawn_fn` closure, under `catch_unwind` in the job itself,
    /// and a `RemoteJoinHandle`'s waker if that closure panicked). Should any of it still
    /// panic, the remaining jobs run first, and the panic is raised after, out of `block_on`.
    fn drain_inbox(&self) {
        // Most turns find nothing from other threads: no lock then (see `Shared::pending`).
        if !self.shared.pending.load(Ordering::SeqCst) {
            return;
        }
        // Taken out of its `Cell` while the jobs run: a job that reaches this function again
        // finds an empty set there, and no borrow is held.
        let mut drained = self.drained.take();
        self.shared.swap_inbox(&mut drained);
        if !drained.tasks.is_empty() {
            self.note_remote_wakes(&drained.tasks, &drained.origins);
            self.run_queue.borrow_mut().extend(drained.tasks.drain(..));
        }
        drained.origins.clear();
        // The wakes are queued first, so that a panic below loses none of them.
        let mut first_panic = None;
        for job in drained.jobs.drain(..) {
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| job(self))) {
                first_panic.get_or_insert(payload);
            }
        }
        drained.shrink();
        self.drained.set(drained);
        if let Some(payload) = first_panic {
            panic::resume_unwind(payload);
        }
    }

    /// Steps 4 to 6, the end of a turn: wait for I/O or the next timer, without blocking when
    /// work is ready, then wake the tasks whose timers are due.
    fn end_turn(&self, main: &MainWaker) {
        if !self.has_work(main) {
            // A socket deferred after a short read waits for this turn of the poller, not for
            // an edge that may never come (see the reactor's "Readiness"): do not block.
            let timeout = match self.reactor.has_deferred() {
                true => Some(Duration::ZERO),
                false => self.timers.time_to_next(self.clock.now()),
            };
            if self.clock.is_paused() && timeout != Some(Duration::ZERO) {
                self.wait_paused(main);
            } else {
                self.wait_for_io(timeout);
            }
        } else if self.has_io_sources() && self.polls_since_io.get() >= self.event_interval {
            // Work is ready, so do not block; but look at I/O once every `event_interval` polls
            // so that sockets are not starved. Looking on every turn would cost a system call
            // per turn when only a task or two is ready (a request/reply ping-pong).
            self.wait_for_io(Some(Duration::ZERO));
        }
        self.wake_source.set(WakeSource::Timer);
        self.timers
            .fire_due(&self.clock, self.rng.as_ref(), |late_ms| {
                self.note_timer_fired(late_ms)
            });
        self.wake_source.set(WakeSource::SameThread);
    }

    /// Whether a task or the main future is ready to be polled.
    fn has_work(&self, main: &MainWaker) -> bool {
        !self.run_queue.borrow().is_empty() || main.woken.load(Ordering::Acquire)
    }

    /// Step 5 with the clock paused and nothing to do: time moves only when nothing else can
    /// happen (see "Paused time" in `time/clock.rs`). Work comes before time: a socket that is
    /// ready, or a blocking job still running, keeps the clock where it is.
    fn wait_paused(&self, main: &MainWaker) {
        if self.has_io_sources() {
            self.wait_for_io(Some(Duration::ZERO));
            if self.has_work(main) {
                return;
            }
        }
        if self.blocking.busy() {
            // Its result will be a wake from another thread, which no timer can foresee: nap
            // a little in real time (a wake ends the nap early), and look again.
            self.wait_for_io(Some(PAUSED_NAP));
            return;
        }
        match self.timers.next_deadline() {
            // Step 6 fires it, at exactly its deadline.
            Some(deadline) => self.clock.advance_to(deadline),
            // No timer will ever fire: only I/O or another thread can end this wait.
            None => self.wait_for_io(None),
        }
    }

    /// Step 5: blocks in the poller for at most `timeout` (`None`: until woken).
    fn wait_for_io(&self, timeout: Option<Duration>) {
        self.polls_since_io.set(0);
        let mut events = self.events.borrow_mut();
        events.clear();
        let began = self.note_wait_start();
        if timeout.is_none() && !self.has_io_sources() {
            // No socket and no timer: only another thread can wake us (see `park.rs`).
            self.shared.parker.park();
        } else if let Err(error) = self.shared.poller.wait(&mut events, timeout) {
            // `Poller::wait` already retries on EINTR; anything else means the epoll fd itself
            // is broken, and the loop cannot go on without it.
            panic!("minirt: waiting on the poller failed: {error}");
        }
        self.note_wait(began, timeout, events.len());
        self.wake_source.set(WakeSource::Io);
        self.reactor.dispatch(&events, self.rng.as_ref());
        self.wake_source.set(WakeSource::SameThread);
        drop(events);
        // A wake from another thread is what most often ends a blocking wait: queue that task
        // now, so that the very next turn polls it (not the one after, via step 3).
        self.drain_inbox();
    }

    fn has_io_sources(&self) -> bool {
        self.reactor.has_sources()
    }
}

/// A single-threaded async runtime: an executor, a reactor and timers driven by one loop.
///
/// A `Runtime` stays on the thread that made it. It is not `Send`:
///
/// ```compile_fail
/// let rt = minirt::Runtime::new().unwrap();
/// std::thread::spawn(move || drop(rt));
/// ```
///
/// Dropping the runtime drops every task it still owns, on its own thread; their
/// `JoinHandle`s then return [`JoinError::is_cancelled`](crate::JoinError::is_cancelled).
///
/// ```
/// let rt = minirt::Runtime::new()?;
/// let n = rt.block_on(async {
///     let a = minirt::spawn(async { 20 });
///     let b = minirt::spawn(async { 22 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(n, 42);
/// # std::io::Result::Ok(())
/// ```
pub struct Runtime {
    local: Box<Local>,
    /// Tasks hold futures that may be `!Send`, and the thread rule says they stay on this
    /// thread: `*const ()` makes the runtime `!Send` and `!Sync`.
    _not_send: PhantomData<*const ()>,
}

impl Runtime {
    /// Runs `future` to completion on this thread, running spawned tasks, I/O and timers
    /// meanwhile, and returns its output. Tasks that are still alive when it returns stay in
    /// the runtime and run again at the next `block_on`.
    ///
    /// This is asyncio's `loop.run_until_complete`.
    ///
    /// # Panics
    /// A panic in `future` itself propagates out of `block_on` (a panic in a spawned task does
    /// not: it goes to that task's `JoinHandle`). Calling `block_on` while a runtime is already
    /// running on this thread panics with a message that says so.
    ///
    /// ```
    /// let rt = minirt::Runtime::new()?;
    /// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "run_until_complete")]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let local = &*self.local;
        let _enter = Enter::block_on(local);
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            shared: local.shared.clone(),
        });
        let waker = futures_task::waker(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let _timing = BlockOnTiming::start(&local.counters);
        loop {
            local.note_turn();
            if main.woken.load(Ordering::Relaxed) && main.woken.swap(false, Ordering::AcqRel) {
                local.budget.set(IO_BUDGET);
                local.polls_since_io.set(local.polls_since_io.get() + 1);
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            local.run_ready_tasks();
            local.drain_inbox();
            local.end_turn(&main);
        }
    }
}
