//! The runtime's clock: real time, or time held still for tests.
//!
//! Everything in minirt that asks "what time is it" (a new [`Sleep`](super::Sleep)'s
//! deadline, the wheel in step 6 of the loop, [`Interval`](super::Interval)'s missed ticks,
//! the trace's timestamps) asks its runtime's clock, and a program can too, with [`now`]. The
//! clock reads [`Instant::now`] until it is paused.
//!
//! # Paused time
//!
//! [`pause`] (or `Builder::start_paused(true)`) stops the clock. From then on time moves in
//! two ways only:
//!
//! - **Auto-advance.** When the loop has nothing to do (no task ready, nothing from other
//!   threads in the inbox, no socket ready when it looks without waiting, and no blocking job
//!   running), it moves the clock straight to the earliest timer's deadline, and step 6 fires
//!   that timer at exactly its deadline. A program that sleeps an hour runs in microseconds,
//!   and every timer fires at its exact instant, in deadline order.
//! - **[`advance`].** A task moves the clock forward by a duration. It is a sleep on the
//!   paused clock: the loop goes from timer to timer as above, running whatever each one wakes
//!   before it moves on, until the clock reads the target.
//!
//! What holds time still: a ready task, and a running blocking job (the loop then naps a
//! millisecond of real time and looks again; a job's result is a wake it cannot foresee).
//! What does not: a registered socket with nothing to read. The loop asks the poller once
//! without waiting, and if nothing is ready, time jumps to the next timer. So a `timeout`
//! around a read from a real peer can expire at once in paused time: keep time paused for code
//! whose peers are tasks of the same runtime, or resume it. minirt cannot see a plain thread
//! holding a waker, so a wake from one does not hold time either. With no timer armed, the
//! paused loop waits for I/O or another thread as an unpaused one would.
//!
//! [`resume`] lets the clock run again from where it stood (or from the real time, if that is
//! later: it never runs backward).
//!
//! # How it is kept
//!
//! One `AtomicU64`, so that other threads (a [`Handle`](crate::Handle) making a sleep) read
//! a consistent clock without a lock, and only the runtime's thread writes it. Zero, the
//! common case, means "real time": a read is a load, a branch and `Instant::now()`. The top
//! bit means "paused", and the rest is the paused instant in nanoseconds since the runtime
//! started. Anything else is how far the clock runs ahead of real time, after a pause that
//! advanced it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use super::Sleep;

/// The state's top bit: the clock is paused.
const PAUSED: u64 = 1 << 63;

/// A runtime's clock. `Send + Sync`: other threads read it; only the runtime's thread writes.
#[derive(Debug)]
pub(crate) struct Clock {
    /// The real instant the runtime started at: the wheel's tick 0, and the zero of a paused
    /// instant.
    origin: Instant,
    /// 0: real time. `PAUSED | n`: stopped at `origin + n` ns. Otherwise: real time plus this
    /// many ns.
    state: AtomicU64,
}

impl Clock {
    pub(crate) fn new(paused: bool) -> Clock {
        Clock {
            origin: Instant::now(),
            state: AtomicU64::new(if paused { PAUSED } else { 0 }),
        }
    }

    /// The instant the wheel counts from.
    pub(crate) fn origin(&self) -> Instant {
        self.origin
    }

    /// What time it is for this runtime.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        // Relaxed: only the runtime's thread writes, and other threads need a recent value,
        // not an ordering with anything else.
        match self.state.load(Ordering::Relaxed) {
            0 => Instant::now(),
            state if state & PAUSED != 0 => self.origin + Duration::from_nanos(state & !PAUSED),
            ahead => Instant::now() + Duration::from_nanos(ahead),
        }
    }

    #[inline]
    pub(crate) fn is_paused(&self) -> bool {
        self.state.load(Ordering::Relaxed) & PAUSED != 0
    }

    /// Nanoseconds from the origin to `instant` (0 before it), saturating below the flag bit.
    fn since_origin(&self, instant: Instant) -> u64 {
        let nanos = instant.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX).min(!PAUSED)
    }

    /// Stops the clock at the current instant. Runtime's thread only.
    pub(crate) fn pause(&self) {
        if !self.is_paused() {
            let now = self.now();
            self.state
                .store(PAUSED | self.since_origin(now), Ordering::Relaxed);
        }
    }

    /// Lets a paused clock run again from where it stood, or from real time if that is later.
    /// Runtime's thread only.
    pub(crate) fn resume(&self) {
        let state = self.state.load(Ordering::Relaxed);
        if state & PAUSED == 0 {
            return;
        }
        let stood = state & !PAUSED;
        let real = self.since_origin(Instant::now());
        self.state
            .store(stood.saturating_sub(real), Ordering::Relaxed);
    }

    /// Moves a paused clock forward to `to`; never backward. Runtime's thread only.
    pub(crate) fn advance_to(&self, to: Instant) {
        let state = self.state.load(Ordering::Relaxed);
        debug_assert!(state & PAUSED != 0, "advance_to on a running clock");
        let to = self.since_origin(to);
        if to > state & !PAUSED {
            self.state.store(PAUSED | to, Ordering::Relaxed);
        }
    }
}

/// What time it is: the current runtime's clock, which is [`Instant::now`] unless the clock is
/// paused (see [`pause`]). Outside a runtime, `Instant::now()`.
///
/// Use it wherever a program that may run in paused time compares instants: a deadline made
/// from `Instant::now()` is in real time, which paused time does not follow.
///
/// ```
/// use std::time::Duration;
///
/// let rt = minirt::Runtime::builder().start_paused(true).build()?;
/// rt.block_on(async {
///     let start = minirt::time::now();
///     minirt::sleep(Duration::from_secs(3600)).await; // runs in microseconds
///     assert_eq!(minirt::time::now() - start, Duration::from_secs(3600));
/// });
/// # std::io::Result::Ok(())
/// ```
pub fn now() -> Instant {
    crate::runtime::with_clock(Clock::now).unwrap_or_else(Instant::now)
}

/// Stops the current runtime's clock: from now on time moves only by [`advance`] or, when
/// the loop has nothing to do, by jumping to the next timer (see "Paused time" in the
/// [module docs](crate::time)). Pausing a paused clock does nothing. This is tokio's
/// `time::pause`.
///
/// # Panics
/// Outside a runtime.
///
/// ```
/// use std::time::Duration;
///
/// minirt::run(async {
///     minirt::time::pause();
///     let before = minirt::time::now();
///     std::thread::sleep(Duration::from_millis(5)); // real time passes...
///     assert_eq!(minirt::time::now(), before); // ...the runtime's does not
/// });
/// ```
pub fn pause() {
    with_clock_or_panic("pause", Clock::pause);
}

/// Lets the current runtime's clock run again, from the instant it stood at (or from the real
/// time, if that is later: the clock never runs backward). Resuming a running clock does
/// nothing.
///
/// # Panics
/// Outside a runtime.
///
/// ```
/// minirt::run(async {
///     minirt::time::pause();
///     minirt::time::resume();
///     assert!(!minirt::time::is_paused());
/// });
/// ```
pub fn resume() {
    with_clock_or_panic("resume", Clock::resume);
}

/// Whether the current runtime's clock is paused (false outside a runtime).
///
/// ```
/// let rt = minirt::Runtime::builder().start_paused(true).build()?;
/// assert!(rt.block_on(async { minirt::time::is_paused() }));
/// # std::io::Result::Ok(())
/// ```
pub fn is_paused() -> bool {
    crate::runtime::with_clock(Clock::is_paused).unwrap_or(false)
}

/// Moves the paused clock forward by `duration`, firing every timer due on the way at its own
/// deadline, in deadline order, and letting the tasks each one wakes run before the next. It
/// completes when the clock reads `now() + duration` and the tasks woken at that instant have
/// had their turn. It is a sleep for `duration` on the paused clock, which auto-advance moves
/// from timer to timer, then one [`yield_now`](crate::yield_now): the tasks it wakes see
/// [`now`] equal to their own deadlines. This is tokio's `time::advance`, but stepping: tokio
/// moves the clock in one jump and leaves the timers it passed to fire together.
///
/// # Panics
/// Outside a runtime, or if the clock is not paused (real time cannot be moved).
///
/// ```
/// use std::time::Duration;
///
/// let rt = minirt::Runtime::builder().start_paused(true).build()?;
/// rt.block_on(async {
///     let start = minirt::time::now();
///     let late = minirt::spawn(async move {
///         minirt::sleep(Duration::from_secs(10)).await;
///         minirt::time::now() - start
///     });
///     minirt::time::advance(Duration::from_secs(60)).await;
///     assert_eq!(late.await.unwrap(), Duration::from_secs(10), "fired at its own deadline");
///     assert_eq!(minirt::time::now() - start, Duration::from_secs(60));
/// });
/// # std::io::Result::Ok(())
/// ```
pub fn advance(duration: Duration) -> Advance {
    let paused = with_clock_or_panic("advance", Clock::is_paused);
    assert!(
        paused,
        "minirt::time::advance: the clock is not paused; call `minirt::time::pause()` first, \
         or build the runtime with `start_paused(true)`"
    );
    Advance {
        sleep: super::sleep(duration),
        yielded: false,
    }
}

/// The future returned by [`advance`]: a sleep on the paused clock, then one yield.
#[derive(Debug)]
#[must_use = "the clock moves only while `advance(..)` is awaited"]
pub struct Advance {
    sleep: Sleep,
    yielded: bool,
}

impl Future for Advance {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        ready!(Pin::new(&mut self.sleep).poll(cx));
        // Timers due at the target woke their tasks in the same turn as this one: let them
        // run before the caller goes on.
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn with_clock_or_panic<R>(what: &str, f: impl FnOnce(&Clock) -> R) -> R {
    crate::runtime::with_clock(f).unwrap_or_else(|| {
        panic!(
            "minirt::time::{what} called outside a runtime; call it from code run by \
             `minirt::run` or `Runtime::block_on`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_clock_reads_real_time() {
        let clock = Clock::new(false);
        let before = Instant::now();
        let now = clock.now();
        assert!(now >= before && now <= Instant::now());
    }

    #[test]
    fn a_paused_clock_stands_still_and_moves_only_forward() {
        let clock = Clock::new(true);
        let at = clock.now();
        assert_eq!(at, clock.origin());
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), at);
        clock.advance_to(at + Duration::from_secs(5));
        assert_eq!(clock.now(), at + Duration::from_secs(5));
        clock.advance_to(at + Duration::from_secs(1));
        assert_eq!(clock.now(), at + Duration::from_secs(5), "never backward");
    }

    #[test]
    fn resume_goes_on_from_the_paused_instant_when_it_is_ahead() {
        let clock = Clock::new(true);
        let hour = Duration::from_secs(3600);
        clock.advance_to(clock.origin() + hour);
        clock.resume();
        assert!(!clock.is_paused());
        let now = clock.now();
        assert!(now >= clock.origin() + hour, "no step back");
        assert!(
            now < Instant::now() + hour,
            "still about an hour ahead, not more"
        );
    }

    #[test]
    fn resume_after_standing_still_catches_up_with_real_time() {
        let clock = Clock::new(false);
        clock.pause();
        std::thread::sleep(Duration::from_millis(2));
        clock.resume();
        let before = Instant::now();
        assert!(
            clock.now() >= before,
            "the clock never lags real time after a resume"
        );
    }
}
