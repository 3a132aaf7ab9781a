//! Timers: [`sleep`], [`timeout`] and [`interval`], over a hierarchical timer wheel
//! (`src/time/wheel.rs`).
//!
//! Each runtime owns one timer wheel, keyed in nanoseconds since the runtime started. A
//! [`Sleep`] puts its task's waker in the wheel on its first poll and takes it out when
//! dropped. The loop asks the wheel for its earliest deadline to know how long it may block in
//! the poller (step 4 of the loop), and after the poller returns it advances the wheel to the
//! current time and wakes every task whose deadline has passed (step 6).
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
//! that wakes for each one never sleeps at all (`sleep_100k_random_1_100ms_cpu` in the benchmark
//! suite: CPU time equal to wall time, 0.79x tokio, whose 1 ms ticks batch them). So when the
//! earliest timer shares its wheel slot with others, the loop sleeps `GATHER` (50 µs) past its
//! deadline, and every timer due by then fires in the same wake-up: at most one wake-up per 50
//! µs, however dense the deadlines. A lone timer, like a single `sleep(1 ms)`, still wakes the
//! loop at its exact deadline. 50 µs is what Linux itself adds to a thread's `poll` and `select`
//! timeouts by default (its "timer slack"), for the same reason.
//!
//! **Never early.** A timer fires only once the clock reads its deadline or later: the wheel
//! fires an entry when advanced to an instant at or after its deadline, and the loop advances
//! it to `Instant::now()`. It fires late by however long the loop takes to come back to the
//! wheel: a task that runs a long time without yielding delays every timer behind it.
//!
//! **Far deadlines.** `Duration::MAX` and other deadlines past what `Instant` can hold are
//! treated as "about 30 years from now", which the wheel keeps on its overflow list: such a
//! timer never fires in practice and costs nothing while it waits.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub(crate) mod wheel;

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

/// A runtime's timers: the wheel of wakers, and the instant its tick 0 stands for.
pub(crate) struct Timers {
    origin: Instant,
    /// Each entry: the waker, and the deadline (to measure lateness when it fires).
    wheel: RefCell<Wheel<(Waker, u64)>>,
    expired: RefCell<Vec<(TimerKey, (Waker, u64))>>,
    /// Timers removed before they fired.
    cancelled: Cell<u64>,
}

impl Timers {
    pub(crate) fn new() -> Rc<Timers> {
        Rc::new(Timers {
            origin: Instant::now(),
            wheel: RefCell::new(Wheel::with_tick_bits(TICK_BITS)),
            expired: RefCell::new(Vec::new()),
            cancelled: Cell::new(0),
        })
    }

    /// The wheel's time for `instant`: nanoseconds since the runtime started (0 for an
    /// instant before that, and `u64::MAX`, 584 years, at most). `Instant` counts nanoseconds,
    /// so this is exact and never moves a deadline earlier.
    fn nanos(&self, instant: Instant) -> u64 {
        let nanos = instant.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    fn insert(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let deadline = self.nanos(deadline);
        self.wheel.borrow_mut().insert(deadline, (waker, deadline))
    }

    /// Stores `waker` in a timer that is still armed. Returns false if it has fired.
    fn update_waker(&self, key: TimerKey, waker: &Waker) -> bool {
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

    fn cancel(&self, key: TimerKey) -> Option<Waker> {
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

    /// Step 4: how long the loop may block before the earliest timer is due, or `None` when
    /// no timer is armed.
    ///
    /// The wait ends at the earliest deadline, or [`GATHER`] after it when other timers share
    /// its wheel slot (see "Gathering" in the module docs).
    pub(crate) fn time_to_next(&self) -> Option<Duration> {
        let (nanos, crowded) = self.wheel.borrow().next_deadline_and_company()?;
        let due = self.origin.checked_add(Duration::from_nanos(nanos))?;
        // Past the deadline by `GATHER` already? Then do not wait at all.
        let wake = if crowded { due + GATHER } else { due };
        Some(wake.saturating_duration_since(Instant::now()))
    }

    /// Step 6: advances the wheel to now and wakes every timer that is due, telling `fired`
    /// how late each one is, in milliseconds. The wheel is released before any waker runs.
    pub(crate) fn fire_due(&self, mut fired: impl FnMut(u64)) {
        if self.wheel.borrow().is_empty() {
            return;
        }
        let now = self.nanos(Instant::now());
        let mut expired = self.expired.take();
        self.wheel.borrow_mut().advance(now, &mut expired);
        for (_, (waker, deadline)) in expired.drain(..) {
            fired(now.saturating_sub(deadline) / 1_000_000);
            waker.wake();
        }
        // Keep the vector's capacity for next time, but not a burst's: half a million timers
        // firing at once would otherwise pin 20 MiB here for the runtime's life.
        expired.shrink_to(EXPIRED_KEEP);
        *self.expired.borrow_mut() = expired;
    }
}

/// A deadline `duration` from now, or [`FAR_FUTURE`] from now if `Instant` cannot hold it.
#[inline]
fn deadline_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + FAR_FUTURE)
}

/// Waits until `duration` has passed. This is asyncio's `await asyncio.sleep(seconds)`.
///
/// `Duration::ZERO` completes at once, without touching the timer wheel; use
/// [`yield_now`](crate::yield_now) to let other tasks run. `Duration::MAX` waits forever.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// minirt::run(async {
///     let start = Instant::now();
///     minirt::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
#[inline]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: deadline_after(duration),
        passed: duration.is_zero(),
        entry: None,
    }
}

/// Waits until `deadline`. A deadline that has passed when `sleep_until` is called completes
/// at once; one that passes after the call but before the first poll completes on the loop's
/// next turn (the first poll does not read the clock again), never early.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// minirt::run(async {
///     let deadline = Instant::now() + Duration::from_millis(10);
///     minirt::time::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
#[inline]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        passed: deadline <= Instant::now(),
        entry: None,
    }
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It takes a place in the runtime's timer wheel on its first poll (not when it is created,
/// so an unpolled `Sleep` costs nothing) and gives it up when dropped, so cancelling a sleep
/// is dropping it. A `Sleep` belongs to the runtime that first polled it, and holds a
/// reference to that runtime's timers, which are not thread-safe, so it is `!Send`:
///
/// ```compile_fail,E0277
/// let sleep = minirt::sleep(std::time::Duration::from_secs(1));
/// std::thread::spawn(move || drop(sleep));
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Sleep {
    deadline: Instant,
    /// Whether the deadline is known to have passed: it had when the sleep was made or last
    /// reset, or the wheel has fired this sleep since. The first poll
    /// trusts this instead of reading the clock again: a clock read is a third of what
    /// arming a timer costs. A deadline that passes between then and the first poll goes to
    /// the wheel like any other, which fires it on the loop's next turn: late by a turn,
    /// never early.
    passed: bool,
    /// The wheel entry while armed.
    entry: Option<(Rc<Timers>, TimerKey)>,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.deadline <= Instant::now()
    }

    /// Moves the deadline, earlier or later, keeping the sleep armed if it was.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// minirt::run(async {
    ///     let mut sleep = minirt::sleep(Duration::from_secs(3600));
    ///     sleep.reset(Instant::now() + Duration::from_millis(5));
    ///     sleep.await;
    /// });
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some((timers, key)) = &mut self.entry {
            match timers.cancel(*key) {
                // Still armed: re-armed at the new deadline, which fires at the loop's next
                // turn if it has passed.
                Some(waker) => *key = timers.insert(deadline, waker),
                // Already fired: the next poll completes, or arms the timer again.
                None => self.entry = None,
            }
        }
        if self.entry.is_none() {
            self.passed = deadline <= Instant::now();
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if let Some((timers, key)) = &this.entry {
            if timers.update_waker(*key, cx.waker()) {
                return Poll::Pending;
            }
            // The wheel fired and removed the entry: the deadline has passed. Remember it, so
            // that polling again (without a `reset`) is ready at once instead of re-arming.
            this.entry = None;
            this.passed = true;
            return Poll::Ready(());
        }
        if this.passed {
            return Poll::Ready(());
        }
        let timers = crate::runtime::current_timers()
            .expect("minirt: a `Sleep` was polled outside a minirt runtime");
        let key = timers.insert(this.deadline, cx.waker().clone());
        this.entry = Some((timers, key));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((timers, key)) = self.entry.take() {
            timers.cancel(key);
        }
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

mod interval;
pub use interval::{Interval, MissedTickBehavior, interval, interval_at};

#[cfg(test)]
mod tests {
    use super::*;

    fn armed() -> usize {
        crate::runtime::current_timers().unwrap().armed()
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
        let timers = Timers::new();
        let origin = timers.origin;
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
        crate::run(async {
            let timers = crate::runtime::current_timers().unwrap();
            // A fraction of a slot past a whole number of them, whatever the phase of the clock:
            // not on a slot boundary. Far enough ahead that the first poll comes before it even
            // under valgrind, which runs this code tens of times slower.
            let deadline = Instant::now() + Duration::from_millis(200) + Duration::from_micros(300);
            let mut sleep = sleep_until(deadline);
            assert!(poll_once(&mut sleep).await.is_pending());
            let before = Instant::now();
            let wait = timers.time_to_next().unwrap();
            let after = Instant::now();
            // The wait ends at the deadline: between `deadline - after` and `deadline - before`.
            assert!(wait <= deadline - before, "{wait:?}: past the deadline");
            assert!(
                wait >= deadline.saturating_duration_since(after),
                "{wait:?}: early"
            );
            sleep.await;
            assert!(Instant::now() >= deadline);
        });
    }
}
