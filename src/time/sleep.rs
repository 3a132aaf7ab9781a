//! [`Sleep`]: a timer in its runtime's wheel, `Send + Sync`, awaitable anywhere.
//!
//! # At home: no lock, no job
//!
//! A `Sleep` takes a place in a runtime's wheel on its first poll, not when it is made, so an
//! unpolled one costs nothing. Polled on its runtime's thread (the common case: a task awaits
//! it) it inserts its task's waker in the wheel directly, through the thread-local context, and
//! remembers its runtime (an `Arc` of the runtime's shared half, one atomic increment) and its
//! wheel key. Polling it again updates the waker in place; dropping it removes the entry. The
//! wheel is `!Sync` and never leaves its thread: the sleep holds only the key and the door to
//! its runtime, which is why it can be `Send + Sync` (as tokio's is), so
//! `handle.spawn(async { minirt::sleep(d).await })` compiles.
//!
//! # Away: through the inbox
//!
//! Polled on any other thread (a plain thread awaiting a sleep made with
//! [`Handle::sleep`](crate::Handle::sleep), another runtime, a `Send` future moved after its
//! first poll), the sleep cannot touch the wheel. It sends its runtime a job, through the same
//! inbox that remote spawns use, that arms the timer on the loop's thread with a waker of its
//! own: a *relay*. When the wheel fires the relay, the relay wakes whoever polled the sleep
//! last. Dropping the sleep sends a job that removes the entry. If the runtime is gone before
//! the timer fires (its wheel dropped, or the job refused), the relay hears it (its wheel-side
//! half is dropped) and the sleep's next poll panics with a message that says so, rather than
//! wait for ever.
//!
//! A sleep made with [`sleep`] belongs to the runtime that first polls it; one made with
//! [`Handle::sleep`](crate::Handle::sleep) belongs to that handle's runtime, wherever it is
//! polled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_core::future::FusedFuture;

use super::FAR_FUTURE;
use super::wheel::TimerKey;
use crate::runtime::{Local, Shared, with_current};

/// A deadline `duration` after `now`, or [`FAR_FUTURE`] after it if `Instant` cannot hold it.
#[inline]
pub(crate) fn deadline_after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .unwrap_or_else(|| now + FAR_FUTURE)
}

/// Waits until `duration` has passed. This is asyncio's `await asyncio.sleep(seconds)`.
///
/// The deadline is `duration` after [`time::now()`](crate::time::now): the current runtime's
/// clock, which is real time unless paused. `Duration::ZERO` completes at once, without
/// touching the timer wheel; use [`yield_now`](crate::yield_now) to let other tasks run.
/// `Duration::MAX` waits forever.
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
    Sleep::idle(
        deadline_after(super::now(), duration),
        duration.is_zero(),
        None,
    )
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
    Sleep::idle(deadline, deadline <= super::now(), None)
}

/// The future returned by [`sleep`], [`sleep_until`] and [`Handle::sleep`](crate::Handle::sleep).
///
/// It takes a place in its runtime's timer wheel on its first poll and gives it up when
/// dropped, so cancelling a sleep is dropping it. It is `Send + Sync`: it may be made on one
/// thread and awaited on another (see the module docs of `src/time/sleep.rs` for what that
/// costs). It is a [`FusedFuture`]: once it has returned `Ready`, `is_terminated` is true
/// until a [`reset`](Sleep::reset), so `futures::select!` takes it without `.fuse()`.
///
/// ```
/// fn is_send_sync<T: Send + Sync>(_: &T) {}
/// is_send_sync(&minirt::sleep(std::time::Duration::from_secs(1)));
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Sleep {
    deadline: Instant,
    /// Whether the deadline is known to have passed: it had when the sleep was made or last
    /// reset, or the wheel has fired this sleep since. The first poll trusts this instead of
    /// reading the clock again: a clock read is a third of what arming a timer costs. A
    /// deadline that passes between then and the first poll goes to the wheel like any other,
    /// which fires it on the loop's next turn: late by a turn, never early.
    passed: bool,
    /// Whether a poll has returned `Ready` since the sleep was made or last reset.
    done: bool,
    timer: Timer,
}

/// Where a sleep's timer is.
enum Timer {
    /// In no wheel. `Some`: the runtime it belongs to (made through a `Handle`); `None`: the
    /// runtime of its first poll.
    Idle(Option<Weak<Shared>>),
    /// In the wheel of `home`, armed on `home`'s thread.
    Home { home: Arc<Shared>, key: TimerKey },
    /// In the wheel of its runtime, armed from another thread through a relay.
    Away(Arc<Relay>),
}

impl Sleep {
    pub(crate) fn idle(deadline: Instant, passed: bool, home: Option<Weak<Shared>>) -> Sleep {
        Sleep {
            deadline,
            passed,
            done: false,
            timer: Timer::Idle(home),
        }
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed, on the clock of the runtime the sleep belongs to
    /// (or the current one).
    pub fn is_elapsed(&self) -> bool {
        self.deadline <= self.now()
    }

    /// What time it is for this sleep: its runtime's clock if it knows its runtime, else the
    /// current one's.
    pub(crate) fn now(&self) -> Instant {
        let home = match &self.timer {
            Timer::Home { home, .. } => return home.clock().now(),
            Timer::Away(relay) => relay.home.upgrade(),
            Timer::Idle(home) => home.as_ref().and_then(Weak::upgrade),
        };
        match home {
            Some(home) => home.clock().now(),
            None => super::now(),
        }
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
        self.done = false;
        if let Timer::Home { home, key } = &mut self.timer
            && let Some(rearmed) = with_home(home, |local| {
                // Still armed: re-armed at the new deadline, which fires at the loop's next
                // turn if it has passed. Already fired: the next poll completes, or arms the
                // timer again.
                let waker = local.timers().cancel(*key)?;
                Some(local.timers().insert(deadline, waker))
            })
        {
            match rearmed {
                Some(new_key) => {
                    *key = new_key;
                    return;
                }
                None => {
                    self.timer = Timer::Idle(None);
                }
            }
        }
        // Anywhere else: give up the timer, and let the next poll arm a new one.
        self.disarm();
        self.passed = deadline <= self.now();
    }

    /// Takes the sleep out of its wheel, if it is in one, leaving it idle (but still
    /// belonging to the runtime it belonged to).
    fn disarm(&mut self) {
        let home = match &self.timer {
            Timer::Idle(_) => return,
            Timer::Home { home, .. } => Arc::downgrade(home),
            Timer::Away(relay) => relay.home.clone(),
        };
        match std::mem::replace(&mut self.timer, Timer::Idle(Some(home))) {
            Timer::Home { home, key } => cancel(&home, key),
            Timer::Away(relay) => relay.cancel(),
            Timer::Idle(_) => {}
        }
    }

    /// Returns `Ready`, remembering it for `is_terminated`.
    fn finish(&mut self) -> Poll<()> {
        self.passed = true;
        self.done = true;
        Poll::Ready(())
    }

    /// Arms the timer: in the current runtime's wheel when this is its thread (and the sleep
    /// belongs to it, or to no runtime yet), else through a relay to the runtime it belongs
    /// to.
    fn arm(&mut self, waker: &Waker) {
        let Timer::Idle(home) = &self.timer else {
            unreachable!("arm is called on an idle sleep")
        };
        let deadline = self.deadline;
        let armed_here = with_current(|local| match home {
            Some(home) if !std::ptr::eq(home.as_ptr(), Arc::as_ptr(local.shared())) => None,
            _ => Some(Timer::Home {
                home: local.shared().clone(),
                key: local.timers().insert(deadline, waker.clone()),
            }),
        })
        .flatten();
        self.timer = match armed_here {
            Some(timer) => timer,
            None => {
                let Some(home) = home.as_ref() else {
                    panic!(
                        "minirt: a `Sleep` was polled outside a minirt runtime; await it in \
                         code run by `minirt::run` or `Runtime::block_on`, or make it with \
                         `Handle::sleep` to await it anywhere"
                    )
                };
                Timer::Away(Relay::arm(home.clone(), deadline, waker))
            }
        };
    }
}

/// Runs `f` with `home`'s `Local` if `home` is the runtime running on this thread.
fn with_home<R>(home: &Arc<Shared>, f: impl FnOnce(&Local) -> R) -> Option<R> {
    with_current(|local| Arc::ptr_eq(local.shared(), home).then(|| f(local))).flatten()
}

/// Removes the timer `key` from `home`'s wheel: directly on `home`'s thread, else with a job
/// (dropped unrun, harmlessly, if the runtime is gone).
fn cancel(home: &Arc<Shared>, key: TimerKey) {
    // The waker goes back outside the wheel's borrow (`Timers::cancel` returns it).
    if with_home(home, |local| drop(local.timers().cancel(key))).is_none() {
        home.send_job(Box::new(move |local: &Local| {
            drop(local.timers().cancel(key))
        }));
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match &this.timer {
            Timer::Home { home, key } => {
                match with_home(home, |local| local.timers().update_waker(*key, cx.waker())) {
                    Some(true) => return Poll::Pending,
                    // The wheel fired and removed the entry: the deadline has passed. Remember
                    // it, so that polling again (without a `reset`) is ready at once instead of
                    // re-arming.
                    Some(false) => {
                        this.timer = Timer::Idle(None);
                        return this.finish();
                    }
                    // Polled away from home after its first poll: move to a relay below.
                    None => this.disarm(),
                }
            }
            Timer::Away(relay) => {
                return match relay.poll(cx.waker()) {
                    Poll::Ready(()) => {
                        this.timer = Timer::Idle(Some(relay.home.clone()));
                        this.finish()
                    }
                    Poll::Pending => Poll::Pending,
                };
            }
            Timer::Idle(_) => {}
        }
        if this.passed {
            return this.finish();
        }
        this.arm(cx.waker());
        Poll::Pending
    }
}

impl FusedFuture for Sleep {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        match &self.timer {
            Timer::Idle(_) => {}
            Timer::Home { home, key } => cancel(home, *key),
            Timer::Away(relay) => relay.cancel(),
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let timer = match self.timer {
            Timer::Idle(_) => "idle",
            Timer::Home { .. } => "armed",
            Timer::Away(_) => "armed from another thread",
        };
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("timer", &timer)
            .finish()
    }
}

/// A timer armed away from its runtime's thread: the sleep's half.
///
/// The wheel holds the other half, a [`RelayWaker`], as the timer's waker. The two meet in
/// `state`, under a lock: this is the rare path, and a lock keeps it plain.
struct Relay {
    home: Weak<Shared>,
    state: Mutex<RelayState>,
}

#[derive(Default)]
struct RelayState {
    /// The waker of the last poll, until the timer fires.
    waker: Option<Waker>,
    /// The wheel's key, once the loop has armed the timer.
    key: Option<TimerKey>,
    fired: bool,
    /// The wheel-side half was dropped unfired: the runtime is gone.
    gone: bool,
    /// The sleep gave the timer up (dropped or reset).
    cancelled: bool,
}

/// The wheel's half of a relay: its `wake` (the timer firing) and its `Drop` (the wheel or
/// the job dropping it unfired, when the runtime shuts down) tell the sleep's half.
struct RelayWaker(Arc<Relay>);

impl Relay {
    /// Sends `home` a job that arms a timer at `deadline` whose firing wakes `waker`.
    fn arm(home: Weak<Shared>, deadline: Instant, waker: &Waker) -> Arc<Relay> {
        let relay = Arc::new(Relay {
            home,
            state: Mutex::new(RelayState {
                waker: Some(waker.clone()),
                ..RelayState::default()
            }),
        });
        let wheel_half = Arc::new(RelayWaker(relay.clone()));
        match relay.home.upgrade() {
            Some(home) => home.send_job(Box::new(move |local: &Local| {
                let relay = wheel_half.0.clone();
                let mut state = relay.lock();
                if !state.cancelled {
                    state.key = Some(local.timers().insert(deadline, Waker::from(wheel_half)));
                }
                // Else `wheel_half` drops here, after the lock, telling a cancelled relay
                // nothing it needs.
            })),
            None => drop(wheel_half), // the runtime is gone: the relay hears it at once
        }
        relay
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RelayState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn poll(&self, waker: &Waker) -> Poll<()> {
        let mut state = self.lock();
        if state.fired {
            return Poll::Ready(());
        }
        if state.gone {
            drop(state);
            panic!(
                "minirt: a `Sleep` awaited on another thread outlived its runtime, whose timer \
                 wheel is gone: it can never fire"
            );
        }
        match &mut state.waker {
            Some(stored) if stored.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        Poll::Pending
    }

    /// The sleep gives the timer up: its entry is removed by a job on the loop's thread (or
    /// never armed, if the arming job has not run yet).
    fn cancel(&self) {
        let mut state = self.lock();
        state.cancelled = true;
        let waker = state.waker.take();
        let key = state.key.take();
        drop(state);
        drop(waker);
        if let (Some(key), Some(home)) = (key, self.home.upgrade()) {
            home.send_job(Box::new(move |local: &Local| {
                drop(local.timers().cancel(key))
            }));
        }
    }

    /// Marks the relay `fired` (or `gone`) and wakes the sleep, outside the lock.
    fn settle(&self, fired: bool) {
        let mut state = self.lock();
        if state.fired || state.cancelled {
            return;
        }
        if fired {
            state.fired = true;
        } else {
            state.gone = true;
        }
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Wake for RelayWaker {
    fn wake(self: Arc<Self>) {
        self.0.settle(true);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.settle(true);
    }
}

impl Drop for RelayWaker {
    fn drop(&mut self) {
        // After a fire this does nothing; before one, the runtime is dropping the timer.
        self.0.settle(false);
    }
}
