//! The loop's instrumentation, out of its way: counters, slow-poll warnings, the trace.
//!
//! The loop in `mod.rs` calls one `note_*` method at each point worth counting, so that a
//! reader sees the six steps first and the bookkeeping second. Each method is small and
//! `#[inline]`: the counters are plain `Cell`s (no atomics, the loop is one thread), and the
//! observer's parts (slow-poll timing, the lost-wakeup hint, the trace) cost one branch each
//! when they are off. `benches/opcount.sh` counts the instructions per spawn and per poll, and
//! they are the same as with the calls written inline.

use std::panic::Location;
use std::time::{Duration, Instant};

use super::Local;
use crate::metrics::{Counters, WakeSource, lateness_bucket};
use crate::task::state::Snapshot;
use crate::task::{Notified, raw::RawTask};

impl Local {
    /// A task was spawned (and queued).
    #[inline]
    pub(super) fn note_spawn(
        &self,
        task: usize,
        location: &'static Location<'static>,
        name: Option<&str>,
    ) {
        Counters::add(&self.counters.spawned, 1);
        if let Some(name) = name {
            self.observer.name(task, name);
        }
        self.observer.on_spawn(task, location);
    }

    /// One turn of the loop begins.
    #[inline]
    pub(super) fn note_turn(&self) {
        Counters::add(&self.counters.ticks, 1);
    }

    /// A task is about to be polled. Returns when, if polls are being timed.
    #[inline]
    pub(super) fn note_poll_start(&self) -> Option<Instant> {
        Counters::add(&self.counters.polls, 1);
        self.observer
            .times_polls()
            .then(|| self.observer.watch_poll())
    }

    /// A poll returned: time it (if timed), and in debug builds look for a task that returned
    /// `Pending` with no way left to be woken (the lost-wakeup hint).
    #[inline]
    pub(super) fn note_poll_end(&self, raw: RawTask, began: Option<Instant>, finished: bool) {
        let location = raw.header().location;
        if let Some(began) = began {
            self.observer.on_poll(raw.addr(), location, began);
        }
        if cfg!(debug_assertions) && !finished {
            self.observer
                .on_pending(raw.addr(), location, keeps_waker(raw.header().state.load()));
        }
    }

    /// A task's future is gone.
    #[inline]
    pub(super) fn note_complete(&self, raw: RawTask) {
        Counters::add(&self.counters.completed, 1);
        self.observer.on_complete(raw.addr());
    }

    /// Tasks woken from other threads reached the run queue (`origins` names their threads
    /// when a trace records them).
    #[inline]
    pub(super) fn note_remote_wakes(&self, woken: &[Notified], origins: &[Box<str>]) {
        self.counters
            .wake(WakeSource::OtherThread, woken.len() as u64);
        for (task, origin) in woken.iter().zip(origins) {
            self.observer
                .on_wake(task.raw().addr(), WakeSource::OtherThread, Some(origin));
        }
    }

    /// The loop is about to wait (step 5): when, in real time and on the trace's clock.
    #[inline]
    pub(super) fn note_wait_start(&self) -> (Instant, Option<Instant>) {
        (Instant::now(), self.observer.trace_stamp())
    }

    /// The loop waited (step 5) since `began` (from `note_wait_start`), for at most
    /// `timeout`, and got `events`.
    #[inline]
    pub(super) fn note_wait(
        &self,
        began: (Instant, Option<Instant>),
        timeout: Option<Duration>,
        events: usize,
    ) {
        self.counters.add_parked(began.0.elapsed());
        Counters::add(&self.counters.reactor_events, events as u64);
        if let (Some(trace), Some(stamp)) = (&self.observer.trace, began.1) {
            trace.borrow_mut().park(stamp, timeout, events);
        }
    }

    /// A timer fired `late_ms` after its deadline (step 6).
    #[inline]
    pub(super) fn note_timer_fired(&self, late_ms: u64) {
        Counters::add(&self.counters.timers_fired, 1);
        Counters::add(&self.counters.timer_lateness[lateness_bucket(late_ms)], 1);
        if let Some(trace) = &self.observer.trace {
            trace.borrow_mut().timer_fired(late_ms);
        }
    }
}

/// After a `Pending` poll: can anything still wake this task? Yes if it was woken during the
/// poll, or if some waker clone is alive: references beyond the owned list's and the
/// `JoinHandle`'s are wakers.
fn keeps_waker(state: Snapshot) -> bool {
    state.is_scheduled() || state.ref_count() > 1 + usize::from(state.has_join_interest())
}

/// Adds the time spent in one `block_on` call to the counters, however the call ends.
pub(super) struct BlockOnTiming<'a> {
    counters: &'a Counters,
    since: Instant,
}

impl<'a> BlockOnTiming<'a> {
    pub(super) fn start(counters: &'a Counters) -> BlockOnTiming<'a> {
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
