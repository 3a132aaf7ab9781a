//! `Interval`: a ticker that completes at `start`, `start + period`, `start + 2 * period`, ...

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{Sleep, sleep_until};

/// What an [`Interval`] does when ticks were missed because the task (or the whole loop) was
/// busy past one or more tick times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire every missed tick at once, back to back, then go on with the original schedule.
    /// Right when each tick stands for work that must happen a fixed number of times.
    Burst,
    /// Fire once now, then restart the schedule from now: every later tick moves.
    Delay,
    /// Fire once now, then go on at the next tick of the original schedule, skipping the
    /// missed ones. The default: a periodic job (flush a buffer, print stats) stays aligned to
    /// its schedule and never runs back-to-back to catch up after a stall.
    #[default]
    Skip,
}

/// Ticks every `period`, the first tick completing at once. See [`Interval::tick`].
///
/// # Panics
/// If `period` is zero: an interval that is always due would never let other tasks run.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// minirt::run(async {
///     let start = Instant::now();
///     let mut ticker = minirt::time::interval(Duration::from_millis(5));
///     for _ in 0..3 {
///         ticker.tick().await;
///     }
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(super::now(), period)
}

/// Ticks every `period`, the first tick completing at `start`.
///
/// # Panics
/// If `period` is zero.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// minirt::run(async {
///     let start = Instant::now() + Duration::from_millis(5);
///     let mut ticker = minirt::time::interval_at(start, Duration::from_millis(5));
///     assert_eq!(ticker.tick().await, start);
/// });
/// ```
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        period > Duration::ZERO,
        "minirt: `interval` period must be above zero"
    );
    Interval {
        next: start,
        period,
        missed: MissedTickBehavior::default(),
        sleep: sleep_until(start),
    }
}

/// A periodic timer, made by [`interval`] or [`interval_at`]. It is also a
/// `futures_core::Stream` of tick instants.
#[derive(Debug)]
#[must_use = "an Interval does nothing unless you call `tick().await`"]
pub struct Interval {
    /// When the next tick is scheduled.
    next: Instant,
    period: Duration,
    missed: MissedTickBehavior,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for (which is earlier
    /// than now when the tick was late).
    ///
    /// Cancel-safe: dropping the future before it completes loses no tick.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; the building block of [`tick`](Interval::tick) and of the
    /// `Stream` implementation.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.next;
        let now = self.sleep.now();
        self.next = match self.missed {
            MissedTickBehavior::Burst => scheduled + self.period,
            MissedTickBehavior::Delay if now > scheduled + self.period => now + self.period,
            MissedTickBehavior::Skip if now > scheduled + self.period => {
                let behind = now.duration_since(scheduled).as_nanos();
                let periods = behind / self.period.as_nanos() + 1;
                let periods = u32::try_from(periods).unwrap_or(u32::MAX);
                scheduled + self.period * periods
            }
            _ => scheduled + self.period,
        };
        self.sleep.reset(self.next);
        Poll::Ready(scheduled)
    }

    /// Sets what happens to missed ticks.
    ///
    /// ```
    /// use minirt::time::{MissedTickBehavior, interval};
    /// use std::time::Duration;
    ///
    /// let mut ticker = interval(Duration::from_secs(1));
    /// ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    /// assert_eq!(ticker.missed_tick_behavior(), MissedTickBehavior::Burst);
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// What happens to missed ticks; [`MissedTickBehavior::Skip`] unless set.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// The time between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.next = self.sleep.now() + self.period;
        self.sleep.reset(self.next);
    }
}

/// An interval never ends, so `futures::select!` and `select_next_some` take it as it is.
impl futures_core::stream::FusedStream for Interval {
    fn is_terminated(&self) -> bool {
        false
    }
}

impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
