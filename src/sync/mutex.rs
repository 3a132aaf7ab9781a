//! A fair async mutex: asyncio's `Lock`, with the data inside it as Rust likes.
//!
//! It is a [`Semaphore`] with one permit next to a `RefCell<T>`. Holding the permit is holding
//! the lock, and the guard keeps both the permit and the `RefCell`'s borrow. So the fairness rules
//! are the semaphore's: waiters are served in order, an unlock hands the lock straight to the
//! first waiter, and a waiter cancelled after being handed the lock passes it on. The `RefCell`
//! borrow can never fail, because only the permit holder ever borrows.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::semaphore::{Acquire, Permit, Semaphore};

/// An async mutex for tasks on one runtime thread, served first come, first served.
///
/// Share it between tasks with an `Rc<Mutex<T>>`. It is `!Sync` (a `RefCell` inside): all of a
/// runtime's tasks run on one thread, so no atomics are needed. So it cannot be shared with
/// another thread, even in an `Arc`:
///
/// ```compile_fail,E0277
/// let shared = std::sync::Arc::new(minirt::sync::Mutex::new(0));
/// std::thread::spawn(move || drop(shared));
/// ```
///
/// Unlike `std::sync::Mutex`, it is not poisoned: if a task panics while holding the guard, the
/// guard is dropped as the panic unwinds and the lock is simply released, as with asyncio's
/// `Lock`. The data may then be half-updated; that is for the program to handle.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use minirt::sync::Mutex;
///
/// minirt::run(async {
///     let count = Rc::new(Mutex::new(0));
///     let mut handles = Vec::new();
///     for _ in 0..10 {
///         let count = count.clone();
///         handles.push(minirt::spawn(async move {
///             let mut n = count.lock().await;
///             let seen = *n;
///             minirt::yield_now().await; // others run, but cannot get in
///             *n = seen + 1;
///         }));
///     }
///     for handle in handles {
///         handle.await.unwrap();
///     }
///     assert_eq!(*count.lock().await, 10);
/// });
/// ```
#[doc(alias = "Lock")]
pub struct Mutex<T: ?Sized> {
    /// One permit: whoever holds it may borrow `value`.
    permit: Semaphore,
    value: RefCell<T>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = minirt::sync::Mutex::new(5);
    /// assert_eq!(m.into_inner(), 5);
    /// ```
    pub const fn new(value: T) -> Self {
        Mutex {
            permit: Semaphore::new(1),
            value: RefCell::new(value),
        }
    }

    /// Takes the value out, consuming the mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = minirt::sync::Mutex::new(vec![1]);
    /// assert_eq!(m.into_inner(), [1]);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits until the lock is free, then takes it. It is released when the guard is dropped.
    ///
    /// Tasks are served in the order they started waiting. Dropping the future gives up its
    /// place; if the lock had already been handed to it, the lock passes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let m = minirt::sync::Mutex::new(1);
    ///     *m.lock().await += 1;
    ///     assert_eq!(*m.lock().await, 2);
    /// });
    /// ```
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            acquire: self.permit.acquire(),
        }
    }

    /// Takes the lock if it is free right now. Returns `None` if it is held, or if it is being
    /// handed to a task that is waiting for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = minirt::sync::Mutex::new(1);
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_none());
    /// drop(guard);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let permit = self.permit.try_acquire()?;
        Some(self.guard(permit))
    }

    /// Whether the lock is held (or being handed to a waiter). asyncio's `Lock.locked()`.
    ///
    /// # Differences from asyncio
    ///
    /// An unlock while tasks wait hands the lock straight to the first of them, so it stays
    /// locked until that task has run and dropped its guard: `is_locked()` is true in
    /// between, and [`try_lock`](Self::try_lock) fails. asyncio's `locked()` turns false at
    /// the `release()` and a task that did not wait can take the lock first.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = minirt::sync::Mutex::new(());
    /// let _g = m.try_lock();
    /// assert!(m.is_locked());
    /// ```
    #[doc(alias = "locked")]
    pub fn is_locked(&self) -> bool {
        self.permit.available_permits() == 0
    }

    /// A mutable reference to the value, without locking: `&mut self` proves nobody else holds
    /// the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = minirt::sync::Mutex::new(1);
    /// *m.get_mut() = 2;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn guard<'a>(&'a self, permit: Permit<'a>) -> MutexGuard<'a, T> {
        // Only the holder of the single permit borrows `value`, so this borrow cannot fail.
        MutexGuard {
            mutex: self,
            value: self.value.borrow_mut(),
            _permit: permit,
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future returned by [`Mutex::lock`]: resolves to a [`MutexGuard`].
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let m = minirt::sync::Mutex::new(0);
///     let lock = m.lock(); // queues nothing until it is first polled
///     *lock.await += 1;
///     assert_eq!(m.into_inner(), 1);
/// });
/// ```
#[must_use = "futures do nothing unless awaited; this one waits for the lock"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    acquire: Acquire<'a>,
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let permit = ready!(Pin::new(&mut self.acquire).poll(cx));
        Poll::Ready(self.mutex.guard(permit))
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("acquire", &self.acquire)
            .finish()
    }
}

/// Access to a locked [`Mutex`]'s value. Dropping it unlocks the mutex, handing the lock to the
/// next waiter if there is one.
///
/// # Examples
///
/// ```
/// let m = minirt::sync::Mutex::new(String::new());
/// let mut guard = m.try_lock().unwrap();
/// guard.push_str("hi");
/// drop(guard); // unlocked here
/// assert_eq!(m.into_inner(), "hi");
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    /// The mutex this guard locks: a [`Condition`](super::Condition) wait locks it again.
    mutex: &'a Mutex<T>,
    // Fields drop in order: the borrow ends before the permit goes to the next holder.
    value: RefMut<'a, T>,
    _permit: Permit<'a>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard locks. An associated function, so that it does not shadow a
    /// method of `T`.
    pub(crate) fn mutex(guard: &Self) -> &'a Mutex<T> {
        guard.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::pin::pin;

    use super::*;
    use crate::sync::testing::{CountingWaker, poll_once};

    #[test]
    fn lock_and_unlock() {
        let m = Mutex::new(1);
        {
            let Poll::Ready(mut g) = poll_once(pin!(m.lock())) else {
                panic!("lock is free")
            };
            *g += 1;
            assert!(m.is_locked());
            assert!(poll_once(pin!(m.lock())).is_pending());
        }
        assert!(!m.is_locked());
        assert_eq!(*m.try_lock().unwrap(), 2);
    }

    #[test]
    fn unlock_hands_the_lock_to_waiters_in_order() {
        let m = Mutex::new(Vec::new());
        let held = m.try_lock().unwrap();
        let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
        let mut futs: Vec<_> = (0..3).map(|_| Box::pin(m.lock())).collect();
        for (f, w) in futs.iter_mut().zip(&wakers) {
            assert!(w.poll(f.as_mut()).is_pending());
        }
        drop(held);
        for i in 0..3 {
            assert!(
                m.try_lock().is_none(),
                "a newcomer cannot take a lock being handed over"
            );
            assert_eq!(wakers[i].count(), 1, "waiter {i} was woken");
            let Poll::Ready(mut g) = wakers[i].poll(futs[i].as_mut()) else {
                panic!("{i}")
            };
            g.push(i);
        }
        drop(futs);
        assert_eq!(m.into_inner(), [0, 1, 2]);
    }

    #[test]
    fn cancelled_waiter_passes_the_lock_on() {
        let m = Mutex::new(0);
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let held = m.try_lock().unwrap();
        let mut first = Box::pin(m.lock());
        let mut second = Box::pin(m.lock());
        assert!(w1.poll(first.as_mut()).is_pending());
        assert!(w2.poll(second.as_mut()).is_pending());
        drop(held);
        drop(first); // handed the lock, cancelled before it could run
        assert_eq!(w2.count(), 1);
        assert!(w2.poll(second.as_mut()).is_ready());
        assert!(!m.is_locked(), "the guard from that poll was dropped");

        // Cancelled while still waiting: no trace left.
        let held = m.try_lock().unwrap();
        let mut third = Box::pin(m.lock());
        assert!(w1.poll(third.as_mut()).is_pending());
        drop(third);
        drop(held);
        assert!(!m.is_locked());
    }

    #[test]
    fn panic_while_locked_releases_the_lock() {
        let m = Mutex::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut g = m.try_lock().unwrap();
            *g = 7;
            panic!("boom");
        }));
        assert!(result.is_err());
        assert!(!m.is_locked());
        assert_eq!(*m.try_lock().unwrap(), 7, "not poisoned; the write stays");
    }

    #[test]
    fn debug_shows_the_value_or_locked() {
        let m = Mutex::new(3);
        assert_eq!(format!("{m:?}"), "Mutex { value: 3 }");
        let _g = m.try_lock();
        assert_eq!(format!("{m:?}"), "Mutex { value: <locked> }");
    }
}
