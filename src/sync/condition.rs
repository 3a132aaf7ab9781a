//! A condition variable over minirt's [`Mutex`]: asyncio's `Condition`.
//!
//! A task that holds the lock and finds that it cannot go on yet hands its guard to
//! [`Condition::wait`]: the wait takes a place in a FIFO line, unlocks the mutex, sleeps until
//! [`notify`](Condition::notify) serves its place, and then locks the mutex again and gives the
//! guard back. The line is the same [`WaitList`] the other primitives use, so the rules are
//! theirs: waiters are served in the order they started waiting, nothing wakes while a borrow
//! is held, and cancellation is dropping. A waiter that was notified and then dropped (before
//! it ran, or while it was locking the mutex again) passes its notification on to the next
//! waiter, so a `notify(1)` meant for somebody is never lost.
//!
//! Like `std::sync::Condvar`, a `Condition` is not tied to one mutex: each wait is handed the
//! guard it unlocks and locks again. asyncio's `Condition` owns its lock instead; keep the two
//! side by side (an `Rc<(Mutex<T>, Condition)>` or two fields of one struct).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::mutex::{Lock, Mutex, MutexGuard};
use super::waiters::{Status, WaitKey, WaitList, wake_all};

/// A condition variable for tasks on one runtime thread: asyncio's `Condition`, used with a
/// minirt [`Mutex`].
///
/// Share it between tasks with an `Rc` (usually next to the mutex it is used with). It is
/// `!Send` and `!Sync`: all of a runtime's tasks run on one thread.
///
/// # Differences from asyncio
///
/// - The lock is not inside: [`wait`](Self::wait) takes the [`MutexGuard`] it unlocks and
///   returns it locked again, so "waiting without holding the lock" (asyncio's
///   `RuntimeError`) cannot be written.
/// - [`notify`](Self::notify) and [`notify_all`](Self::notify_all) do not check that the
///   caller holds the lock (asyncio raises `RuntimeError`). Calling them while holding it, as
///   asyncio requires, is still the way to avoid missing a wakeup: the waiter checks its
///   predicate under the same lock.
/// - A cancelled wait cannot lock the mutex again before it ends: dropping a future runs no
///   `.await`. The guard it was given is gone with it (the type system sees to that), and the
///   mutex is left unlocked, or passed to the next task waiting for it. As in asyncio, a
///   notification it had received goes on to another waiter.
///
/// # Examples
///
/// A consumer waits until a producer has put something in:
///
/// ```
/// use std::rc::Rc;
/// use minirt::sync::{Condition, Mutex};
///
/// minirt::run(async {
///     let shared = Rc::new((Mutex::new(Vec::new()), Condition::new()));
///     let consumer = minirt::spawn({
///         let shared = shared.clone();
///         async move {
///             let (items, changed) = &*shared;
///             let mut items = changed.wait_for(items.lock().await, |v| !v.is_empty()).await;
///             items.pop()
///         }
///     });
///     minirt::yield_now().await; // the consumer waits
///     let (items, changed) = &*shared;
///     items.lock().await.push("job");
///     changed.notify(1);
///     assert_eq!(consumer.await.unwrap(), Some("job"));
/// });
/// ```
pub struct Condition {
    waiters: RefCell<WaitList>,
}

impl Condition {
    /// A condition nobody waits on yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = minirt::sync::Condition::new();
    /// assert_eq!(c.waiting(), 0);
    /// ```
    #[doc(alias = "Condition")]
    pub const fn new() -> Self {
        Condition {
            waiters: RefCell::new(WaitList::new()),
        }
    }

    /// Unlocks the mutex `guard` locks, waits until [`notify`](Self::notify) or
    /// [`notify_all`](Self::notify_all) serves this waiter, then locks the mutex again and
    /// returns the new guard.
    ///
    /// The waiter takes its place in line on its first poll, before it unlocks, so a notify
    /// made by a task that locked the mutex after it cannot miss it. Waiters are served in
    /// the order they started waiting. As with every condition variable, wait in a loop that
    /// checks what you are waiting for, or use [`wait_for`](Self::wait_for).
    ///
    /// Dropping the future gives up the wait. A notification already received passes to the
    /// next waiter; a lock being handed over passes to the next task waiting for the mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use minirt::sync::{Condition, Mutex};
    ///
    /// minirt::run(async {
    ///     let shared = Rc::new((Mutex::new(false), Condition::new()));
    ///     let waiter = minirt::spawn({
    ///         let shared = shared.clone();
    ///         async move {
    ///             let (ready, cond) = &*shared;
    ///             let mut guard = ready.lock().await;
    ///             while !*guard {
    ///                 guard = cond.wait(guard).await;
    ///             }
    ///         }
    ///     });
    ///     minirt::yield_now().await;
    ///     *shared.0.lock().await = true;
    ///     shared.1.notify_all();
    ///     waiter.await.unwrap();
    /// });
    /// ```
    pub fn wait<'a, T: ?Sized>(&'a self, guard: MutexGuard<'a, T>) -> ConditionWait<'a, T> {
        ConditionWait {
            condition: self,
            state: State::Start(guard),
        }
    }

    /// Waits until `ready` returns true of the value `guard` locks, and returns the guard
    /// locked. Checks first, and again after each notification: asyncio's `wait_for`. The
    /// predicate runs with the mutex locked.
    ///
    /// Cancellation is dropping, as for [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use minirt::sync::{Condition, Mutex};
    ///
    /// minirt::run(async {
    ///     let shared = Rc::new((Mutex::new(0), Condition::new()));
    ///     let waiter = minirt::spawn({
    ///         let shared = shared.clone();
    ///         async move {
    ///             let (count, cond) = &*shared;
    ///             *cond.wait_for(count.lock().await, |n| *n >= 3).await
    ///         }
    ///     });
    ///     for _ in 0..3 {
    ///         minirt::yield_now().await;
    ///         *shared.0.lock().await += 1;
    ///         shared.1.notify_all();
    ///     }
    ///     assert_eq!(waiter.await.unwrap(), 3);
    /// });
    /// ```
    pub async fn wait_for<'a, T: ?Sized>(
        &'a self,
        mut guard: MutexGuard<'a, T>,
        mut ready: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while !ready(&mut guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes up to `n` waiters, the ones that have waited longest. Each then locks the mutex
    /// again before its wait returns. A notification when nobody waits is not kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use minirt::sync::{Condition, Mutex};
    ///
    /// minirt::run(async {
    ///     let shared = Rc::new((Mutex::new(()), Condition::new()));
    ///     let waiters: Vec<_> = (0..3)
    ///         .map(|_| {
    ///             let shared = shared.clone();
    ///             minirt::spawn(async move {
    ///                 let guard = shared.0.lock().await;
    ///                 drop(shared.1.wait(guard).await);
    ///             })
    ///         })
    ///         .collect();
    ///     minirt::yield_now().await;
    ///     assert_eq!(shared.1.waiting(), 3);
    ///     shared.1.notify(2);
    ///     assert_eq!(shared.1.waiting(), 1);
    ///     shared.1.notify(1);
    ///     for w in waiters {
    ///         w.await.unwrap();
    ///     }
    /// });
    /// ```
    pub fn notify(&self, n: usize) {
        let mut waiters = self.waiters.borrow_mut();
        let wakers: Vec<_> = std::iter::from_fn(|| waiters.notify_first())
            .take(n)
            .collect();
        drop(waiters);
        wake_all(wakers);
    }

    /// Wakes every task waiting now.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = minirt::sync::Condition::new();
    /// c.notify_all(); // nobody waits: nothing happens, nothing is kept
    /// assert_eq!(c.waiting(), 0);
    /// ```
    pub fn notify_all(&self) {
        let wakers = self.waiters.borrow_mut().notify_all();
        wake_all(wakers);
    }

    /// How many tasks wait and have not been notified yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(minirt::sync::Condition::new().waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiting", &self.waiting())
            .finish()
    }
}

/// The future returned by [`Condition::wait`]: resolves to the guard, locked again after a
/// notification.
///
/// # Examples
///
/// ```
/// use minirt::sync::{Condition, Mutex};
///
/// minirt::run(async {
///     let (m, c) = (Mutex::new(1), Condition::new());
///     let wait = c.wait(m.lock().await); // holds the guard until first polled
///     assert!(m.is_locked());
///     drop(wait); // never polled: the guard is dropped, the mutex unlocked
///     assert!(!m.is_locked());
/// });
/// ```
#[must_use = "futures do nothing unless awaited; the mutex stays locked until this is polled"]
pub struct ConditionWait<'a, T: ?Sized> {
    condition: &'a Condition,
    state: State<'a, T>,
}

enum State<'a, T: ?Sized> {
    /// Not polled yet: still holds the lock.
    Start(MutexGuard<'a, T>),
    /// In the condition's line, with the mutex unlocked.
    Waiting { key: WaitKey, mutex: &'a Mutex<T> },
    /// Notified, locking the mutex again.
    Relocking(Lock<'a, T>),
    /// The guard was returned.
    Done,
}

// The inner `Lock` is `Unpin` (it holds references and a key); nothing here is pinned.
impl<T: ?Sized> Unpin for ConditionWait<'_, T> {}

impl<'a, T: ?Sized> Future for ConditionWait<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Start(guard) => {
                    let mutex = MutexGuard::mutex(&guard);
                    // Take a place in line first, then unlock: whoever locks the mutex next
                    // and notifies will find us in line.
                    let key = this
                        .condition
                        .waiters
                        .borrow_mut()
                        .push_back(cx.waker().clone());
                    this.state = State::Waiting { key, mutex };
                    // Unlocking may wake a task waiting for the mutex; no borrow is held.
                    drop(guard);
                    return Poll::Pending;
                }
                State::Waiting { key, mutex } => {
                    let mut waiters = this.condition.waiters.borrow_mut();
                    match waiters.status(&key) {
                        Status::Waiting => {
                            waiters.set_waker(&key, cx.waker());
                            drop(waiters);
                            this.state = State::Waiting { key, mutex };
                            return Poll::Pending;
                        }
                        Status::Notified | Status::Dismissed => {
                            waiters.remove(key);
                            drop(waiters);
                            this.state = State::Relocking(mutex.lock());
                        }
                    }
                }
                State::Relocking(mut lock) => {
                    return match Pin::new(&mut lock).poll(cx) {
                        Poll::Ready(guard) => Poll::Ready(guard),
                        Poll::Pending => {
                            this.state = State::Relocking(lock);
                            Poll::Pending
                        }
                    };
                }
                State::Done => panic!("Condition::wait polled after it completed"),
            }
        }
    }
}

impl<T: ?Sized> Drop for ConditionWait<'_, T> {
    fn drop(&mut self) {
        let notified = match std::mem::replace(&mut self.state, State::Done) {
            State::Waiting { key, .. } => {
                let status = self.condition.waiters.borrow_mut().remove(key);
                status == Status::Notified
            }
            // Served, but dropped before it got the lock back (the `Lock` passes the lock
            // on as it drops): the notification was not used either.
            State::Relocking(lock) => {
                drop(lock);
                true
            }
            State::Start(_) | State::Done => false,
        };
        if notified {
            // Pass the notification on, so a `notify(1)` still wakes somebody.
            let waker = self.condition.waiters.borrow_mut().notify_first();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<T: ?Sized> fmt::Debug for ConditionWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start(_) => "start",
            State::Waiting { .. } => "waiting",
            State::Relocking(_) => "relocking",
            State::Done => "done",
        };
        f.debug_struct("ConditionWait")
            .field("state", &state)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::sync::testing::{CountingWaker, poll_once};

    /// Polls a fresh wait once: it is in line, and the mutex is unlocked.
    fn parked<'a>(
        c: &'a Condition,
        m: &'a Mutex<u32>,
        w: &CountingWaker,
    ) -> Pin<Box<ConditionWait<'a, u32>>> {
        let Some(guard) = m.try_lock() else {
            panic!("the mutex is free")
        };
        let mut wait = Box::pin(c.wait(guard));
        assert!(w.poll(wait.as_mut()).is_pending());
        wait
    }

    #[test]
    fn wait_unlocks_and_notify_relocks() {
        let (c, m) = (Condition::new(), Mutex::new(0));
        let w = CountingWaker::new();
        let mut wait = parked(&c, &m, &w);
        assert!(!m.is_locked(), "waiting unlocks");
        assert_eq!(c.waiting(), 1);
        c.notify(1);
        assert_eq!(w.count(), 1);
        let Poll::Ready(mut guard) = w.poll(wait.as_mut()) else {
            panic!("notified, and the mutex is free")
        };
        *guard += 1;
        assert!(m.is_locked());
        drop(guard);
        drop(wait);
        assert_eq!(m.into_inner(), 1);
    }

    #[test]
    fn notified_waiter_waits_for_the_mutex() {
        let (c, m) = (Condition::new(), Mutex::new(0));
        let w = CountingWaker::new();
        let mut wait = parked(&c, &m, &w);
        let held = m.try_lock().unwrap();
        c.notify_all();
        assert!(w.poll(wait.as_mut()).is_pending(), "the mutex is held");
        drop(held);
        assert_eq!(w.count(), 2, "woken by notify, then by the unlock");
        assert!(w.poll(wait.as_mut()).is_ready());
    }

    #[test]
    fn notify_n_serves_the_longest_waiting_first() {
        let (c, m) = (Condition::new(), Mutex::new(0));
        let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
        let _waits: Vec<_> = wakers.iter().map(|w| parked(&c, &m, w)).collect();
        c.notify(2);
        let counts: Vec<_> = wakers.iter().map(CountingWaker::count).collect();
        assert_eq!(counts, [1, 1, 0]);
        c.notify(5);
        assert_eq!(wakers[2].count(), 1);
        assert_eq!(c.waiting(), 0);
    }

    #[test]
    fn a_notify_with_nobody_waiting_is_not_kept() {
        let (c, m) = (Condition::new(), Mutex::new(0));
        c.notify(1);
        let w = CountingWaker::new();
        let mut wait = parked(&c, &m, &w);
        assert!(w.poll(wait.as_mut()).is_pending());
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn cancelled_while_waiting_leaves_no_trace() {
        let (c, m) = (Condition::new(), Mutex::new(0));
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let first = parked(&c, &m, &w1);
        let _second = parked(&c, &m, &w2);
        drop(first);
        c.notify(1);
        assert_eq!(
            w2.count(),
            1,
            "the notification went to the one still waiting"
        );
        assert!(!m.is_locked());
    }

    #[test]
    fn cancelled_after_notify_passes_the_notification_on() {
        let (c, m) = (Condition::new(), Mutex::new(0));
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let first = parked(&c, &m, &w1);
        let mut second = parked(&c, &m, &w2);
        c.notify(1);
        assert_eq!((w1.count(), w2.count()), (1, 0));
        drop(first); // notified, never ran
        assert_eq!(w2.count(), 1, "the notification moved on");
        assert!(w2.poll(second.as_mut()).is_ready());
    }

    #[test]
    fn cancelled_while_relocking_passes_the_notification_and_the_lock_on() {
        let (c, m) = (Condition::new(), Mutex::new(0));
        let (w1, w2, w3) = (
            CountingWaker::new(),
            CountingWaker::new(),
            CountingWaker::new(),
        );
        let mut first = parked(&c, &m, &w1);
        let mut second = parked(&c, &m, &w2);
        let held = m.try_lock().unwrap();
        c.notify(1);
        assert!(w1.poll(first.as_mut()).is_pending(), "relocking");
        let mut locker = Box::pin(m.lock());
        assert!(w3.poll(locker.as_mut()).is_pending());
        drop(held); // the lock goes to `first`, which is then dropped before it runs
        drop(first);
        assert_eq!(w2.count(), 1, "the notification moved on");
        assert_eq!(w3.count(), 1, "the lock moved on to the next in line");
        let Poll::Ready(guard) = w3.poll(locker.as_mut()) else {
            panic!("the lock was handed on")
        };
        drop(guard);
        assert!(w2.poll(second.as_mut()).is_ready());
    }

    #[test]
    fn dropped_before_polled_just_unlocks() {
        let (c, m) = (Condition::new(), Mutex::new(0));
        let wait = c.wait(m.try_lock().unwrap());
        drop(wait);
        assert!(!m.is_locked());
        assert_eq!(c.waiting(), 0);
    }

    #[test]
    fn wait_for_checks_first_and_after_each_notify() {
        let (c, m) = (Condition::new(), Mutex::new(5));
        let Poll::Ready(g) = poll_once(pin!(c.wait_for(m.try_lock().unwrap(), |n| *n == 5))) else {
            panic!("already true: no wait")
        };
        drop(g);
        let w = CountingWaker::new();
        let mut calls = 0;
        let mut wait = Box::pin(c.wait_for(m.try_lock().unwrap(), |n| {
            calls += 1;
            *n == 7
        }));
        assert!(w.poll(wait.as_mut()).is_pending());
        *m.try_lock().unwrap() = 6;
        c.notify_all();
        assert!(
            w.poll(wait.as_mut()).is_pending(),
            "6 is not 7: waits again"
        );
        *m.try_lock().unwrap() = 7;
        c.notify_all();
        let Poll::Ready(g) = w.poll(wait.as_mut()) else {
            panic!("7")
        };
        assert_eq!(*g, 7);
        drop(g);
        drop(wait);
        assert_eq!(calls, 3);
    }
}
