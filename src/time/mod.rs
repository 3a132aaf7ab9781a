//! Timers: [`sleep`], [`timeout`] and [`interval`], over a hierarchical timer wheel
//! (`src/time/wheel.rs`).
//!
//! Each runtime owns one timer wheel, keyed in milliseconds since the runtime started. A
//! [`Sleep`] puts its task's waker in the wheel on its first poll and takes it out when
//! dropped. The loop asks the wheel for its earliest deadline to know how long it may block in
//! the poller (step 4 of the loop), and after the poller returns it advances the wheel to the
//! current time and wakes every task whose deadline has passed (step 6).
//!
//! **Never early.** A deadline is rounded *up* to the next whole millisecond, and the wheel
//! fires a tick only once the clock has passed it, so a timer never fires before its deadline.
//! It fires after it by the millisecond rounding plus however long the loop takes to come back
//! to the wheel: the poller wakes precisely (`polling` uses a `timerfd`), but a task that runs a
//! long time without yielding delays every timer behind it.
//!
//! Lateness of a 10 ms `sleep` on an idle 2-core machine, median of 31 interleaved runs:
//! 0.82 ms on minirt and 1.18 ms on tokio's current_thread runtime (2026-11-21, measured
//! with `cargo bench --bench compare -- --filter sleep_10ms`: wall time minus 10 ms).
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

const NANOS_PER_TICK: u128 = 1_000_000;

/// Capacity of the list of fired timers kept between two calls of `Timers::fire_due`.
const EXPIRED_KEEP: usize = 1024;

/// A runtime's timers: the wheel of wakers, and the instant its tick 0 stands for.
pub(crate) struct Timers {
    origin: Instant,
    /// Each entry: the waker, and the deadline's tick (to measure lateness when it fires).
    wheel: RefCell<Wheel<(Waker, u64)>>,
    expired: RefCell<Vec<(TimerKey, (Waker, u64))>>,
    /// Timers removed before they fired.
    cancelled: Cell<u64>,
}

impl Timers {
    pub(crate) fn new() -> Rc<Timers> {
        Rc::new(Timers {
            origin: Instant::now(),
            wheel: RefCell::new(Wheel::new()),
            expired: RefCell::new(Vec::new()),
            cancelled: Cell::new(0),
        })
    }

    /// The first tick at or after `deadline`: rounding up is what makes timers never early.
    fn tick_at_or_after(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos.div_ceil(NANOS_PER_TICK)).unwrap_or(u64::MAX)
    }

    /// The last tick at or before `now`.
    fn tick_at_or_before(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos / NANOS_PER_TICK).unwrap_or(u64::MAX)
    }

    fn insert(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let tick = self.tick_at_or_after(deadline);
        self.wheel.borrow_mut().insert(tick, (waker, tick))
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
    pub(crate) fn time_to_next(&self) -> Option<Duration> {
        let tick = self.wheel.borrow().next_deadline()?;
        let millis = Duration::from_millis(tick);
        let due = self.origin.checked_add(millis)?;
        Some(due.saturating_duration_since(Instant::now()))
    }

    /// Step 6: advances the wheel to now and wakes every timer that is due, telling `fired`
    /// how late each one is, in milliseconds. The wheel is released before any waker runs.
    pub(crate) fn fire_due(&self, mut fired: impl FnMut(u64)) {
        if self.wheel.borrow().is_empty() {
            return;
        }
        let now = self.tick_at_or_before(Instant::now());
        let mut expired = self.expired.take();
        self.wheel.borrow_mut().advance(now, &mut expired);
        for (_, (waker, deadline)) in expired.drain(..) {
            fired(now.saturating_sub(deadline));
            waker.wake();
        }
        // Keep the vector's capacity for next time, but not a burst's: half a million timers
        // firing at once would otherwise pin 20 MiB here for the runtime's life.
        expired.shrink_to(EXPIRED_KEEP);
        *self.expired.borrow_mut() = expired;
    }
}

/// A deadline `duration` from now, or [`FAR_FUTURE`] from now if `Instant` cannot hold it.
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
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// Waits until `deadline`. A deadline in the past completes at once.
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
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
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
                Some(waker) => *key = timers.insert(deadline, waker),
                // Already fired: the next poll checks the new deadline and re-arms.
                None => self.entry = None,
            }
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
            // The wheel fired and removed the entry: the deadline has passed.
            this.entry = None;
            return Poll::Ready(());
        }
        if this.deadline <= Instant::now() {
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
    timeout_at(deadline_after(duration), future).await
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
    let mut future = pin!(future);
    let mut sleep = sleep_until(deadline);
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
    fn ticks_round_deadlines_up_and_now_down() {
        let timers = Timers::new();
        let origin = timers.origin;
        assert_eq!(timers.tick_at_or_after(origin), 0);
        assert_eq!(timers.tick_at_or_after(origin + Duration::from_nanos(1)), 1);
        assert_eq!(
            timers.tick_at_or_after(origin + Duration::from_millis(3)),
            3
        );
        assert_eq!(
            timers.tick_at_or_before(origin + Duration::from_micros(2999)),
            2
        );
        assert_eq!(timers.tick_at_or_after(origin - Duration::from_secs(1)), 0);
        assert_eq!(
            timers.tick_at_or_after(origin + FAR_FUTURE),
            FAR_FUTURE.as_millis() as u64
        );
    }
}
