//! Timers: [`sleep`], [`timeout`] and [`interval`], over a hierarchical timer wheel
//! (`src/time/wheel.rs`), read against the runtime's clock (`src/time/clock.rs`).
//!
//! Each runtime owns one timer wheel, keyed in nanoseconds since the runtime started. A
//! [`Sleep`] (`src/time/sleep.rs`) puts its task's waker in the wheel on its first poll and
//! takes it out when dropped. The loop asks the wheel for its earliest deadline to know how
//! long it may block in the poller (step 4 of the loop), and after the poller returns it
//! advances the wheel to the clock's time and wakes every task whose deadline has passed
//! (step 6). The clock is real time unless paused, and then the loop moves it straight to the
//! earliest deadline whenever it has nothing else to do ("Paused time" in `clock.rs`).
//!
//! **Resolution: the deadline itself.** The wheel's slots are 2^20 ns (about 1.05 ms) wide,
//! which keeps insert, cancel and expiry O(1) with six levels covering two years, but every
//! entry keeps its exact deadline, to the nanosecond, and the wheel knows its exact earliest
//! one. The loop blocks in the poller until that instant, not until the end of its slot: the
//! poller sleeps with nanosecond precision (`polling` arms a `timerfd`), so what is left of the
//! lateness is the kernel's wake-up and the loop's way back to the wheel. A first version
//! rounded deadlines up to a 1 ms tick and waited for the tick, and so woke most of a
//! millisecond late, where smol, which sleeps until the exact `Instant`, woke a few hundredths
//! of one late (issue 14; the measured figures, with their runs, are in `benches/README.md`).
//! The slot width does not matter for precision, only for how often an entry moves down a
//! level; about a millisecond suits the timeouts of network code.
//!
//! **Gathering.** Exact deadlines have a price when timers are many: 100,000 tasks sleeping
//! random lengths between 1 and 100 ms have a distinct deadline every microsecond, and a loop
//! that wakes for each one never sleeps at all (the suite's `sleep_100k_random_1_100ms_cpu` row
//! showed it; `benches/README.md` has the figures), where tokio's 1 ms ticks batch them. So when the
//! earliest timer shares its wheel slot with others, the loop sleeps `GATHER` (50 µs) past its
//! deadline, and every timer due by then fires in the same wake-up: at most one wake-up per 50
//! µs, however dense the deadlines. A lone timer, like a single `sleep(1 ms)`, still wakes the
//! loop at its exact deadline. 50 µs is what Linux itself adds to a thread's `poll` and `select`
//! timeouts by default (its "timer slack"), for the same reason.
//!
//! **Never early.** A timer fires only once the clock reads its deadline or later: the wheel
//! fires an entry when advanced to an instant at or after its deadline, and the loop advances
//! it to the clock's `now()`. It fires late by however long the loop takes to come back to the
//! wheel: a task that runs a long time without yielding delays every timer behind it.
//!
//! **Far deadlines.** `Duration::MAX` and other deadlines past what `Instant` can hold are
//! treated as "about 30 years from now", which the wheel keeps on its overflow list: such a
//! timer never fires in practice and costs nothing while it waits.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{Pin, pin};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

mod clock;
mod interval;
pub(crate) mod sleep;
pub(crate) mod wheel;

pub(crate) use clock::Clock;
pub use clock::{Advance, advance, is_paused, now, pause, resume};
pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};

use crate::runtime::seed::Rng;
use wheel::{TimerKey, Wheel};

/// Roughly 30 years: what a deadline too far for `Instant` becomes.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// The wheel's slots are `2^TICK_BITS` ns wide (see "Resolution" above).
const TICK_BITS: u32 = 20;

/// How long past the earliest deadline the loop may sleep when other timers share its slot,
/// so that timers due within this window of each other fire in one wake-up (see
/// "Gathering" in the module docs). Linux's default timer slack for a thread.
pub(crate) const GATHER: Duration = Duration::from_micros(50);

/// Capacity of the list of fired timers kept between two calls of `Timers::fire_due`.
const EXPIRED_KEEP: usize = 1024;

/// A runtime's timers: the wheel of wakers, and the instant its tick 0 stands for. Only the
/// runtime's thread touches it; the loop passes in the time, read from the runtime's
/// [`Clock`].
pub(crate) struct Timers {
    origin: Instant,
    /// Each entry: the waker, and the deadline (to measure lateness when it fires).
    wheel: RefCell<Wheel<(Waker, u64)>>,
    expired: RefCell<Vec<(TimerKey, (Waker, u64))>>,
    /// Timers removed before they fired.
    cancelled: Cell<u64>,
}

impl Timers {
    /// Timers whose tick 0 is `origin` (the clock's origin).
    pub(crate) fn new(origin: Instant) -> Timers {
        Timers {
            origin,
            wheel: RefCell::new(Wheel::with_tick_bits(TICK_BITS)),
            expired: RefCell::new(Vec::new()),
            cancelled: Cell::new(0),
        }
    }

    /// The wheel's time for `instant`: nanoseconds since the runtime started (0 for an
    /// instant before that, and `u64::MAX`, 584 years, at most). `Instant` counts nanoseconds,
    /// so this is exact and never moves a deadline earlier.
    fn nanos(&self, instant: Instant) -> u64 {
        let nanos = instant.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    /// The instant for the wheel's time `nanos`, if `Instant` can hold it.
    fn instant(&self, nanos: u64) -> Option<Instant> {
        self.origin.checked_add(Duration::from_nanos(nanos))
    }

    pub(crate) fn insert(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let deadline = self.nanos(deadline);
        self.wheel.borrow_mut().insert(deadline, (waker, deadline))
    }

    /// Stores `waker` in a timer that is still armed. Returns false if it has fired.
    pub(crate) fn update_waker(&self, key: TimerKey, waker: &Waker) -> bool {
        match self.wheel.borrow_mut().get_mut(key) {
            Some((stored, _)) => {
                if !stored.will_wake(waker) {
                    stored.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Removes a timer that has not fired, and returns its waker (for the caller to drop, or
    /// to re-arm, outside the wheel's borrow). `None` if it has fired or was cancelled.
    pub(crate) fn cancel(&self, key: TimerKey) -> Option<Waker> {
        let (waker, _) = self.wheel.borrow_mut().cancel(key)?;
        self.cancelled.set(self.cancelled.get() + 1);
        Some(waker)
    }

    /// How many timers were removed before they fired.
    pub(crate) fn cancelled(&self) -> u64 {
        self.cancelled.get()
    }

    /// How many timers are armed.
    pub(crate) fn armed(&self) -> usize {
        self.wheel.borrow().len()
    }

    /// Step 4: how long the loop may block, from `now`, before the earliest timer is due, or
    /// `None` when no timer is armed.
    ///
    /// The wait ends at the earliest deadline, or [`GATHER`] after it when other timers share
    /// its wheel slot (see "Gathering" in the module docs).
    pub(crate) fn time_to_next(&self, now: Instant) -> Option<Duration> {
        let (nanos, crowded) = self.wheel.borrow().next_deadline_and_company()?;
        let due = self.instant(nanos)?;
        // Past the deadline by `GATHER` already? Then do not wait at all.
        let wake = if crowded { due + GATHER } else { due };
        Some(wake.saturating_duration_since(now))
    }

    /// The earliest deadline, exactly: where a paused clock jumps to when the loop is idle.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let nanos = self.wheel.borrow().next_deadline()?;
        self.instant(nanos)
    }

    /// Step 6: advances the wheel to the clock's time and wakes every timer that is due, telling `fired`
    /// how late each one is, in milliseconds. They are woken in deadline order, or in an order
    /// drawn from `rng` when the runtime is seeded. The wheel is released before any waker
    /// runs.
    ///
    /// The clock is read only when a timer is armed: a clock read costs more than the rest of
    /// a turn that has no timers.
    #[inline]
    pub(crate) fn fire_due(&self, clock: &Clock, rng: Option<&Rng>, fired: impl FnMut(u64)) {
        if !self.wheel.borrow().is_empty() {
            self.fire_due_at(clock.now(), rng, fired);
        }
    }

    fn fire_due_at(&self, now: Instant, rng: Option<&Rng>, mut fired: impl FnMut(u64)) {
        let now = self.nanos(now);
        let mut expired = self.expired.take();
        self.wheel.borrow_mut().advance(now, &mut expired);
        if let Some(rng) = rng {
            rng.shuffle(&mut expired);
        }
        for (_, (waker, deadline)) in expired.drain(..) {
            fired(now.saturating_sub(deadline) / 1_000_000);
            waker.wake();
        }
        // Keep the vector's capacity for next time, but not a burst's: half a million timers
        // firing at once would otherwise pin 20 MiB here for the runtime's life.
        expired.shrink_to(EXPIRED_KEEP);
        *self.expired.borrow_mut() = expired;
    }

    /// Empties the wheel at shutdown, dropping each waker outside the wheel's borrow. A waker's
    /// drop may be user code (a sleep armed from another thread is told its runtime is gone,
    /// see `sleep.rs`), so a panic is caught and handed back, to be raised once the runtime is
    /// shut down.
    pub(crate) fn clear(&self) -> Option<Box<dyn std::any::Any + Send>> {
        let wheel = self.wheel.replace(Wheel::with_tick_bits(TICK_BITS));
        panic::catch_unwind(AssertUnwindSafe(|| drop(wheel))).err()
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("armed", &self.armed())
            .finish()
    }
}

/// The error of [`timeout`]: the deadline passed before the future finished.
///
/// It converts into an `io::Error` of kind `TimedOut`, so `?` works in functions that return
/// `io::Result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(elapsed: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, elapsed)
    }
}

/// Runs `future` for at most `duration`. This is asyncio's `wait_for` (and `asyncio.timeout`).
///
/// The future is polled first, so one that is already ready wins even with a zero duration,
/// and the timer is armed only if the future has to wait. When the time is up the future is
/// dropped, which cancels it.
///
/// A [`JoinHandle`](crate::JoinHandle) is the exception: dropping it *detaches* its task, so
/// `timeout(d, minirt::spawn(f))` stops waiting but leaves `f` running. To stop the task too,
/// keep the handle and abort it:
///
/// ```
/// use std::time::Duration;
///
/// minirt::run(async {
///     let mut handle = minirt::spawn(minirt::sleep(Duration::from_secs(60)));
///     if minirt::timeout(Duration::from_millis(5), &mut handle).await.is_err() {
///         handle.abort();
///     }
///     assert!(handle.await.unwrap_err().is_cancelled());
/// });
/// ```
///
/// # Errors
/// [`Elapsed`] when the deadline passes first.
///
/// ```
/// use std::time::Duration;
///
/// minirt::run(async {
///     let fast = minirt::timeout(Duration::from_secs(1), async { 5 }).await;
///     assert_eq!(fast, Ok(5));
///     let slow = minirt::timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
///     assert!(slow.is_err());
/// });
/// ```
#[doc(alias = "wait_for")]
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    // `sleep`, not `sleep_until`: one clock read, not two.
    race_with(sleep(duration), future).await
}

/// Runs `future` until `deadline` at most. See [`timeout`].
///
/// # Errors
/// [`Elapsed`] when the deadline passes first.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// minirt::run(async {
///     let deadline = Instant::now() + Duration::from_millis(5);
///     let out = minirt::time::timeout_at(deadline, std::future::pending::<()>()).await;
///     assert!(out.is_err());
/// });
/// ```
pub async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    race_with(sleep_until(deadline), future).await
}

/// `future`'s output, or [`Elapsed`] if `sleep` ends first.
async fn race_with<F: Future>(mut sleep: Sleep, future: F) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(&mut sleep).poll(cx).map(|()| Err(Elapsed(())))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armed() -> usize {
        crate::runtime::with_current(|local| local.timers().armed()).unwrap()
    }

    /// Polls `future` once from inside the runtime.
    async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
    }

    #[test]
    fn a_sleep_arms_on_first_poll_and_disarms_on_drop() {
        crate::run(async {
            let mut sleep = sleep(Duration::from_secs(60));
            assert_eq!(armed(), 0, "creating a sleep costs nothing");
            assert!(poll_once(&mut sleep).await.is_pending());
            assert!(poll_once(&mut sleep).await.is_pending());
            assert_eq!(armed(), 1, "polling again does not arm twice");
            sleep.reset(Instant::now() + Duration::from_secs(30));
            assert_eq!(armed(), 1, "reset moves the entry");
            drop(sleep);
            assert_eq!(armed(), 0);
        });
    }

    #[test]
    fn a_fired_sleep_leaves_the_wheel() {
        crate::run(async {
            sleep(Duration::from_millis(1)).await;
            assert_eq!(armed(), 0);
        });
    }

    #[test]
    fn a_fired_sleep_polled_again_is_ready_at_once() {
        crate::run(async {
            let mut sleep = sleep(Duration::from_millis(1));
            (&mut sleep).await;
            assert!(
                poll_once(&mut sleep).await.is_ready(),
                "a sleep that has fired stays fired until it is reset"
            );
            assert_eq!(armed(), 0, "and it does not arm the wheel again");
        });
    }

    #[test]
    fn timeout_arms_only_when_the_future_waits() {
        crate::run(async {
            let _ = timeout(Duration::from_secs(1), async {
                assert_eq!(armed(), 0);
            })
            .await;
            let _ = timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
            assert_eq!(armed(), 0, "the elapsed timeout's timer is gone");
        });
    }

    #[test]
    fn a_sleep_dropped_after_its_runtime_is_harmless() {
        let rt = crate::Runtime::new().unwrap();
        let mut sleep = sleep(Duration::from_secs(60));
        rt.block_on(async { assert!(poll_once(&mut sleep).await.is_pending()) });
        drop(rt);
        drop(sleep);
    }

    #[test]
    fn instants_map_to_exact_nanoseconds() {
        let origin = Instant::now();
        let timers = Timers::new(origin);
        assert_eq!(timers.nanos(origin), 0);
        assert_eq!(timers.nanos(origin + Duration::from_nanos(1)), 1);
        assert_eq!(
            timers.nanos(origin + Duration::from_micros(2999)),
            2_999_000
        );
        assert_eq!(timers.nanos(origin - Duration::from_secs(1)), 0);
        assert_eq!(
            timers.nanos(origin + FAR_FUTURE),
            FAR_FUTURE.as_nanos() as u64
        );
    }

    /// Issue 14: the loop waits for the earliest deadline itself, not for the end of the
    /// wheel's slot. A first version rounded it up to the next whole millisecond.
    #[test]
    fn the_loop_waits_for_the_exact_earliest_deadline() {
        let origin = Instant::now();
        let timers = Timers::new(origin);
        // A fraction of a slot past a whole number of them: not on a slot boundary.
        let deadline = origin + Duration::from_millis(200) + Duration::from_micros(300);
        timers.insert(deadline, Waker::noop().clone());
        let now = origin + Duration::from_millis(3);
        assert_eq!(timers.time_to_next(now), Some(deadline - now));
        assert_eq!(timers.next_deadline(), Some(deadline));
        // A second timer in the same slot: the wait stretches by `GATHER` to take both.
        timers.insert(deadline + Duration::from_micros(10), Waker::noop().clone());
        assert_eq!(timers.time_to_next(now), Some(deadline + GATHER - now));
        assert_eq!(
            timers.next_deadline(),
            Some(deadline),
            "but the deadline is exact"
        );
    }

    /// Issue 14's gathering, as the loop does it on the real clock: wait `time_to_next`, then
    /// `fire_due` at the instant the wait ends. 400 deadlines 10 µs apart (4 ms in all, within
    /// five wheel slots) need at most one wake-up per `GATHER` of deadlines plus one per slot:
    /// 4 ms / 50 µs + 5 = 85. A loop that woke for each distinct deadline would wake 400
    /// times. Simulated with exact instants (the loop's latency only gathers more), so no load
    /// can fail it; an earlier version ran the real loop against a 200-turn limit and failed
    /// on a busy machine.
    #[test]
    fn dense_timers_are_gathered_into_few_wake_ups() {
        let clock = Clock::new(true);
        let origin = clock.origin();
        let timers = Timers::new(origin);
        let first = origin + Duration::from_millis(50);
        let deadlines: Vec<Instant> = (0..400)
            .map(|i| first + Duration::from_micros(10 * i))
            .collect();
        for &deadline in &deadlines {
            timers.insert(deadline, Waker::noop().clone());
        }
        let mut now = origin;
        let (mut wake_ups, mut fired) = (0, 0);
        while let Some(wait) = timers.time_to_next(now) {
            now += wait;
            wake_ups += 1;
            clock.advance_to(now);
            timers.fire_due(&clock, None, |late_ms| {
                fired += 1;
                assert_eq!(late_ms, 0, "gathering delays a timer by at most 50 µs");
            });
        }
        assert_eq!(fired, 400);
        assert!(
            wake_ups <= 85,
            "{wake_ups} wake-ups for 400 timers 10 µs apart"
        );
        assert!(
            wake_ups >= 4000 / 60,
            "{wake_ups}: gathered more than 50 µs at once"
        );
        assert!(
            now <= *deadlines.last().unwrap() + GATHER,
            "the last fired in time"
        );
    }
}
