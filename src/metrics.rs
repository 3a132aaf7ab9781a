//! Metrics: what the runtime has done so far, as a plain snapshot you can print.
//!
//! Counting is always on. Every counter lives in the runtime's thread-local half and is a
//! plain `Cell<u64>`: an increment is one add to memory the loop touches anyway, with no
//! atomic operation and no lock. Time is split into *parked* (blocked in the poller, measured
//! around the system call, which costs far more than the two clock reads) and *busy*
//! (everything else inside `block_on`), so the hot paths read no clock at all.
//!
//! [`Runtime::metrics`](crate::Runtime::metrics) returns a [`RuntimeMetrics`].

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, Instant};

/// Where a wake came from. The loop sets the source around the code that wakes tasks, so a
/// wake made from inside the reactor counts as I/O, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakeSource {
    /// Another task (or the main future) on the runtime's own thread.
    SameThread = 0,
    /// A thread other than the runtime's, through the inbox.
    OtherThread = 1,
    /// The reactor: a socket became ready.
    Io = 2,
    /// The timer wheel: a deadline passed.
    Timer = 3,
}

impl WakeSource {
    pub(crate) fn name(self) -> &'static str {
        match self {
            WakeSource::SameThread => "same thread",
            WakeSource::OtherThread => "other thread",
            WakeSource::Io => "io",
            WakeSource::Timer => "timer",
        }
    }
}

/// Upper bounds, in milliseconds, of the timer lateness histogram's buckets; the last bucket
/// holds everything later.
pub const LATENESS_BUCKETS_MS: [u64; 7] = [0, 1, 2, 5, 10, 50, 100];

/// The runtime's counters. Only the runtime's thread touches them.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) spawned: Cell<u64>,
    pub(crate) completed: Cell<u64>,
    pub(crate) polls: Cell<u64>,
    pub(crate) wakes: [Cell<u64>; 4],
    pub(crate) ticks: Cell<u64>,
    pub(crate) reactor_events: Cell<u64>,
    pub(crate) timers_fired: Cell<u64>,
    pub(crate) timer_lateness: [Cell<u64>; LATENESS_BUCKETS_MS.len() + 1],
    pub(crate) parked: Cell<Duration>,
    /// Time inside `block_on`, from earlier calls.
    pub(crate) in_block_on: Cell<Duration>,
    /// When the current `block_on` started, if one is running.
    pub(crate) block_on_since: Cell<Option<Instant>>,
}

impl Counters {
    pub(crate) fn add(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get() + n);
    }

    pub(crate) fn wake(&self, source: WakeSource, n: u64) {
        Self::add(&self.wakes[source as usize], n);
    }

    pub(crate) fn add_parked(&self, time: Duration) {
        self.parked.set(self.parked.get() + time);
    }

    /// Time spent inside `block_on` so far, including a call in progress.
    pub(crate) fn total_in_block_on(&self) -> Duration {
        let running = self
            .block_on_since
            .get()
            .map_or(Duration::ZERO, |t| t.elapsed());
        self.in_block_on.get() + running
    }
}

/// A snapshot of what a runtime has done, from [`Runtime::metrics`](crate::Runtime::metrics).
///
/// Its `Display` prints a short summary:
///
/// ```
/// let rt = minirt::Runtime::new()?;
/// rt.block_on(async {
///     minirt::spawn(async {}).await.unwrap();
/// });
/// let metrics = rt.metrics();
/// assert_eq!(metrics.tasks_spawned, 1);
/// println!("{metrics}");
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Tasks spawned, `spawn_blocking`'s waiting tasks included.
    pub tasks_spawned: u64,
    /// Tasks alive now: spawned and not yet finished or cancelled.
    pub tasks_alive: u64,
    /// Tasks finished: returned, panicked or cancelled.
    pub tasks_completed: u64,
    /// Times a task's future was polled.
    pub polls: u64,
    /// Wakes that put a task on the run queue, from another task on this thread.
    pub wakes_same_thread: u64,
    /// Wakes that put a task on the run queue, from another thread (through the inbox).
    pub wakes_other_thread: u64,
    /// Wakes that put a task on the run queue, from the reactor (a socket became ready).
    pub wakes_io: u64,
    /// Wakes that put a task on the run queue, from the timer wheel.
    pub wakes_timer: u64,
    /// Turns of the loop.
    pub ticks: u64,
    /// Time blocked in the poller, waiting for I/O, a timer or a wake.
    pub time_parked: Duration,
    /// Time inside `block_on` not parked: running tasks and the loop itself.
    pub time_busy: Duration,
    /// Readiness events the poller returned.
    pub reactor_events: u64,
    /// Timers in the wheel now.
    pub timers_armed: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Timers removed before they fired (a `Sleep` dropped early).
    pub timers_cancelled: u64,
    /// How late timers fired, in milliseconds: `timer_lateness[i]` counts timers at most
    /// [`LATENESS_BUCKETS_MS`]`[i]` ms late (and more than the bucket before); the last entry
    /// counts the rest.
    pub timer_lateness: [u64; LATENESS_BUCKETS_MS.len() + 1],
    /// Threads in the blocking pool now.
    pub blocking_threads: u64,
    /// Blocking jobs waiting for a thread now.
    pub blocking_queued: u64,
}

impl fmt::Display for RuntimeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tasks: {} spawned, {} alive, {} completed; {} polls in {} loop turns",
            self.tasks_spawned, self.tasks_alive, self.tasks_completed, self.polls, self.ticks
        )?;
        writeln!(
            f,
            "wakes: {} same thread, {} other thread, {} I/O, {} timer",
            self.wakes_same_thread, self.wakes_other_thread, self.wakes_io, self.wakes_timer
        )?;
        writeln!(
            f,
            "time: {:.3?} busy, {:.3?} parked; {} reactor events",
            self.time_busy, self.time_parked, self.reactor_events
        )?;
        let late: Vec<String> = LATENESS_BUCKETS_MS
            .iter()
            .map(|ms| format!("<={ms}ms"))
            .chain([format!(
                ">{}ms",
                LATENESS_BUCKETS_MS[LATENESS_BUCKETS_MS.len() - 1]
            )])
            .zip(self.timer_lateness)
            .filter(|(_, n)| *n > 0)
            .map(|(bucket, n)| format!("{bucket}: {n}"))
            .collect();
        writeln!(
            f,
            "timers: {} armed, {} fired, {} cancelled; lateness {}",
            self.timers_armed,
            self.timers_fired,
            self.timers_cancelled,
            if late.is_empty() {
                "-".to_string()
            } else {
                late.join(", ")
            }
        )?;
        write!(
            f,
            "blocking pool: {} threads, {} jobs queued",
            self.blocking_threads, self.blocking_queued
        )
    }
}

/// The histogram bucket for a timer that fired `late_ms` milliseconds after its deadline.
pub(crate) fn lateness_bucket(late_ms: u64) -> usize {
    LATENESS_BUCKETS_MS
        .iter()
        .position(|&bound| late_ms <= bound)
        .unwrap_or(LATENESS_BUCKETS_MS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_buckets_cover_every_value() {
        assert_eq!(lateness_bucket(0), 0);
        assert_eq!(lateness_bucket(1), 1);
        assert_eq!(lateness_bucket(3), 3);
        assert_eq!(lateness_bucket(100), 6);
        assert_eq!(lateness_bucket(101), 7);
        assert_eq!(lateness_bucket(u64::MAX), 7);
    }
}
