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
//! run queue, the owned-task list, the reactor. It needs no locks. [`Shared`] is what a waker on
//! another thread may reach: the poller (to interrupt the wait) and the inbox (a mutex-protected
//! pair of vectors: woken tasks, and spawn jobs from [`Handle`]s, `handle.rs`).
//! A wake on the runtime's own thread costs one compare-and-swap on the task's state and a push
//! onto a `VecDeque`; a wake from elsewhere also takes the inbox lock, raises the inbox's
//! `pending` flag (so that the loop, which drains the inbox every turn, takes the lock only
//! when something is there), and wakes the loop only
//! when the inbox goes from empty to non-empty: with `Poller::notify`, or, when the loop sleeps
//! with no socket registered and no timer armed, by unparking its thread (`park.rs`), which
//! costs one system call on each side instead of six.
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

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::panic::Location;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

mod builder;
mod context;
mod handle;
mod hooks;
mod park;
pub(crate) mod seed;

pub use builder::Builder;
use context::{CONTEXT, Enter, MainWaker};
pub(crate) use context::{
    current_reactor, is_current_reactor, poll_budget, schedule, with_blocking_pool, with_clock,
    with_current,
};
use handle::Job;
pub use handle::{Handle, TryCurrentError};

use crate::blocking::BlockingPool;
use crate::metrics::{Counters, RuntimeMetrics, WakeSource};
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
const IO_BUDGET: u32 = 128;

/// Run-queue capacity kept when the queue empties (32 KiB). A burst of a million ready tasks
/// grows the queue to 8 MiB; without this, it would keep that memory for the runtime's life.
/// Bursts of a few thousand tasks are common (`ping_pong_1k` readies 2,000 at once), and for
/// them giving the buffer back would mean a reallocation and a copy on every burst; the
/// measurement that chose 4,096 is in `benches/README.md` ("Round three").
const RUN_QUEUE_KEEP: usize = 4096;

/// How long a loop with its clock paused waits, in real time, before it looks again whether
/// the blocking pool has finished (see `Local::wait_paused`).
const PAUSED_NAP: Duration = Duration::from_millis(1);

/// What other threads may touch: the poller and the inbox.
pub(crate) struct Shared {
    /// The poller. To wake the loop from another thread, call [`Shared::wake_loop`], never
    /// `poller.notify()` alone: the loop may be asleep on `parker` instead.
    poller: crate::poller::Poller,
    /// Where the loop sleeps when only another thread can wake it (see `park.rs`).
    parker: park::ThreadParker,
    inbox: Mutex<Inbox>,
    /// Whether the inbox holds anything, for the loop to read without the lock.
    ///
    /// # Invariant
    /// Written only under the inbox's lock, so that whenever the lock is free it equals
    /// `!inbox.is_empty()`. A loop that reads `false` while another thread is pushing misses
    /// nothing: that thread found the inbox empty, so it wakes the loop after unlocking
    /// (`enqueue`), and the loop's next turn reads the flag again.
    ///
    /// Every access is `SeqCst`, as are the parker's. The wake the loop consumes may be a
    /// later one than the pusher's (another thread's, or the main future's), and only the
    /// single order of `SeqCst` operations guarantees that the loop's next read, which
    /// comes after that wake, also comes after the pusher's store. On x86-64 the read is a
    /// plain load and the store, made under the lock anyway, an `xchg`.
    pending: AtomicBool,
    /// Whether a trace is recording: then remote wakes note which thread they came from.
    tracing: bool,
    /// The runtime's clock (real, or paused), which other threads read too.
    clock: Arc<Clock>,
}

/// Tasks woken from other threads, waiting to be moved into the run queue, and spawn jobs sent
/// through a [`Handle`], waiting to be run.
#[derive(Default)]
struct Inbox {
    tasks: Vec<Notified>,
    /// Remote spawns (see `handle.rs`). Each holds a `Send` closure and the completer of a
    /// `RemoteJoinHandle`, which reports "cancelled" if the job is dropped unrun.
    jobs: Vec<Job>,
    /// With tracing on, the name of the thread behind each entry of `tasks`.
    origins: Vec<Box<str>>,
    /// Set when the runtime is gone: later wakes drop their entry instead of queueing it, and
    /// later spawns drop their job (on the spawning thread).
    closed: bool,
}

impl Inbox {
    fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.jobs.is_empty()
    }
}

/// The inbox's three vectors as the loop drains them.
///
/// The loop keeps a set of empty ones ([`Local::drained`]) and swaps it with the inbox's full
/// set under the lock; it works through the full set after, and keeps it, emptied, for the
/// next drain. So the buffers go back and forth and keep their capacity: taking the vectors
/// out (`mem::take`) left the inbox with none, and the first wake or spawn from another
/// thread after every drain allocated a new buffer (`bash benches/opcount.sh spawn_handle`
/// counted it).
#[derive(Default)]
struct Drained {
    tasks: Vec<Notified>,
    origins: Vec<Box<str>>,
    jobs: Vec<Job>,
}

impl Drained {
    /// After a burst, keeps the buffers' capacity down to what the run queue keeps
    /// ([`RUN_QUEUE_KEEP`]): a steady flow of that many wakes per turn reuses them, and a
    /// burst of a million does not hold its memory for good.
    fn shrink(&mut self) {
        debug_assert!(self.tasks.is_empty() && self.origins.is_empty() && self.jobs.is_empty());
        self.tasks.shrink_to(RUN_QUEUE_KEEP);
        self.origins.shrink_to(RUN_QUEUE_KEEP);
        self.jobs.shrink_to(RUN_QUEUE_KEEP);
    }
}

impl Shared {
    /// A wake from another thread (or from this thread outside `block_on`).
    fn schedule_remote(&self, task: Notified) {
        self.enqueue(task, |inbox, task| {
            inbox.tasks.push(task);
            if self.tracing {
                let thread = std::thread::current();
                let name = thread
                    .name()
                    .map_or_else(|| format!("{:?}", thread.id()), String::from);
                inbox.origins.push(name.into());
            }
        });
    }

    /// A remote spawn (or a timer armed or cancelled from another thread, `time/sleep.rs`):
    /// queues `job` for the loop exactly as a remote wake is queued. A closed inbox drops the
    /// job here, on the caller's thread (it is `Send`), which cancels its `RemoteJoinHandle`.
    pub(crate) fn send_job(&self, job: Job) {
        self.enqueue(job, |inbox, job| inbox.jobs.push(job));
    }

    /// Puts `item` in the inbox with `push`, then wakes the loop if the inbox was empty (a
    /// loop that has not drained it yet will see the new item anyway). If the inbox is closed,
    /// drops `item` instead, after releasing the lock: its `Drop` is user code.
    fn enqueue<T>(&self, item: T, push: impl FnOnce(&mut Inbox, T)) {
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        if inbox.closed {
            drop(inbox);
            drop(item);
            return;
        }
        let was_empty = inbox.is_empty();
        push(&mut inbox, item);
        self.pending.store(true, Ordering::SeqCst);
        drop(inbox);
        if was_empty {
            self.wake_loop();
        }
    }

    /// Ends the loop's sleep, on the thread parker or in the poller, from another thread.
    fn wake_loop(&self) {
        if !self.parker.unpark() {
            // An error here means the poller's eventfd is broken; the loop would then fail in
            // `wait` too, and report it there.
            let _ = self.poller.notify();
        }
    }

    fn is_closed(&self) -> bool {
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed
    }

    /// The runtime's clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The runtime's one poller, which the reactor registers sockets with.
    pub(crate) fn poller(&self) -> &crate::poller::Poller {
        &self.poller
    }

    /// Swaps the inbox's vectors with `empty` ones, under the lock.
    fn swap_inbox(&self, empty: &mut Drained) {
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut inbox.tasks, &mut empty.tasks);
        std::mem::swap(&mut inbox.origins, &mut empty.origins);
        std::mem::swap(&mut inbox.jobs, &mut empty.jobs);
        self.pending.store(false, Ordering::SeqCst);
    }

    fn take_inbox(&self) -> (Vec<Notified>, Vec<Box<str>>, Vec<Job>) {
        let mut inbox = self.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        self.pending.store(false, Ordering::SeqCst);
        (
            std::mem::take(&mut inbox.tasks),
            std::mem::take(&mut inbox.origins),
            std::mem::take(&mut inbox.jobs),
        )
    }
}

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
    /// a call per poll showed as 7 more instructions per `yield_now` in `benches/opcount.sh`.
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

    /// Closes the inbox, then drops every task the runtime still owns, on this thread.
    ///
    /// The inbox is closed first, so that from then on a spawn from another thread is refused
    /// (its job dropped on that thread) and a wake from there only gives up its reference:
    /// nothing new can arrive from outside, and the loop below ends. What was already in the
    /// inbox is taken and dropped here. Dropping a future or a job may spawn or wake other
    /// tasks on this thread, so this repeats until a pass finds nothing. (Closing last, as a
    /// first version did, let a job arrive after the final pass; a task its `Drop` spawned was
    /// never cancelled, and a thread spawning without pause could keep the passes going.)
    ///
    /// User code runs here (futures' and outputs' `Drop`, join wakers' `wake`), and any of it
    /// may panic. A panic must not stop the shutdown halfway: a task left with its future
    /// would later be freed by a stray waker on another thread, future and all. So each task is
    /// cancelled under `catch_unwind`, and the first panic is handed back to the caller, to be
    /// raised once the runtime is fully shut down.
    fn shutdown(&self) -> Option<Box<dyn Any + Send>> {
        self.shared
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        let mut first_panic = None;
        loop {
            let tasks = self.owned.borrow_mut().drain();
            let queued: Vec<Notified> = self.run_queue.borrow_mut().drain(..).collect();
            let (remote, _, jobs) = self.shared.take_inbox();
            if tasks.is_empty() && queued.is_empty() && remote.is_empty() && jobs.is_empty() {
                break;
            }
            // Remote spawns not yet run: dropping each drops its closure (and the future it
            // carries) here, and cancels its `RemoteJoinHandle`. Both are user code.
            drop_jobs(jobs, &mut first_panic);
            for owned in tasks {
                let cancelled = panic::catch_unwind(AssertUnwindSafe(|| {
                    // SAFETY: home thread; the task was in the owned list, so its future is
                    // alive.
                    unsafe { owned.raw().cancel() };
                    self.complete(owned);
                }));
                if let Err(payload) = cancelled {
                    first_panic.get_or_insert(payload);
                }
            }
            // Queue entries only clear `SCHEDULED`: the futures behind them were in `tasks`.
            drop(queued);
            drop(remote);
        }
        // Timers of sleeps that outlive the runtime: a sleep armed from another thread hears
        // that its runtime is gone (`time/sleep.rs`).
        if let Some(payload) = self.timers.clear() {
            first_panic.get_or_insert(payload);
        }
        first_panic
    }
}

/// Drops spawn jobs that will never run, each under `catch_unwind`, keeping the first panic.
fn drop_jobs(jobs: Vec<Job>, first_panic: &mut Option<Box<dyn Any + Send>>) {
    for job in jobs {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(job))) {
            first_panic.get_or_insert(payload);
        }
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
    fn from_builder(options: Builder) -> io::Result<Runtime> {
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

impl Runtime {
    /// Drops the runtime like `drop`, but waits at most `timeout` for running
    /// [`spawn_blocking`](crate::spawn_blocking) jobs to finish. Jobs still running then are
    /// left to finish on their own threads, detached; their results go nowhere. Returns true
    /// if every pool thread exited in time.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = minirt::Runtime::new()?;
    /// rt.block_on(async {
    ///     drop(minirt::spawn_blocking(|| std::thread::sleep(Duration::from_secs(2))));
    ///     minirt::sleep(Duration::from_millis(10)).await; // let the job start
    /// });
    /// assert!(!rt.shutdown_timeout(Duration::from_millis(10)), "the job was still running");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.close(Some(timeout))
    }

    /// Cancels every task, then shuts the blocking pool down and finishes the trace. Safe to
    /// call twice. A panic from a task's cleanup (see [`Local::shutdown`]) is raised last, once
    /// all of this is done, unless the thread is already unwinding.
    fn close(&mut self, timeout: Option<Duration>) -> bool {
        let panicked = {
            let _enter = Enter::shutdown(&self.local);
            self.local.shutdown()
        };
        // Cancelling the tasks first dropped the receivers of queued blocking jobs, so those
        // are skipped; only jobs already running are waited for.
        let joined = self.local.blocking.shutdown(timeout);
        if let Some(trace) = &self.local.observer.trace {
            trace.borrow_mut().finish();
        }
        if let Some(payload) = panicked
            && !std::thread::panicking()
        {
            panic::resume_unwind(payload);
        }
        joined
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.close(None);
    }
}

/// Adds the time spent in one `block_on` call to the counters, however the call ends.
struct BlockOnTiming<'a> {
    counters: &'a Counters,
    since: Instant,
}

impl<'a> BlockOnTiming<'a> {
    fn start(counters: &'a Counters) -> BlockOnTiming<'a> {
        let since = Instant::now();
        counters.block_on_since.set(Some(since));
        BlockOnTiming { counters, since }
    }
}

impl Drop for BlockOnTiming<'_> {
    fn drop(&mut self) {
        let counters = self.counters;
        counters
            .in_block_on
            .set(counters.in_block_on.get() + self.since.elapsed());
        counters.block_on_since.set(None);
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
