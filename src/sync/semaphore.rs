//! A fair counting semaphore: asyncio's `Semaphore`, and with [`Semaphore::bounded`] its
//! `BoundedSemaphore`.
//!
//! All the logic is in [`Permits`](super::permits::Permits), shared with the queues; this file
//! wraps it in a `RefCell`, hands out RAII [`Permit`]s, and wakes after each borrow ends. The
//! [`Mutex`](super::Mutex) is this semaphore with one permit.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::permits::{Closed, Permits};
use super::waiters::{WaitKey, cancel_on_drop, wake_all};

/// A counting semaphore for tasks on one runtime thread: at most `n` permits are out at once,
/// and tasks waiting for one are served first come, first served.
///
/// Share it between tasks with an `Rc<Semaphore>`. It is `!Send` and `!Sync`: it uses a
/// `RefCell`, not atomics, because all of a runtime's tasks run on one thread.
///
/// # Examples
///
/// At most two of five tasks are inside the limited section at a time:
///
/// ```
/// use std::rc::Rc;
/// use minirt::sync::Semaphore;
///
/// minirt::run(async {
///     let limit = Rc::new(Semaphore::new(2));
///     let mut handles = Vec::new();
///     for i in 0..5 {
///         let limit = limit.clone();
///         handles.push(minirt::spawn(async move {
///             let _permit = limit.acquire().await;
///             assert!(limit.available_permits() < 2);
///             minirt::yield_now().await; // other tasks run, but only one more gets a permit
///             i
///         }));
///     }
///     for handle in handles {
///         handle.await.unwrap();
///     }
///     assert_eq!(limit.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    permits: RefCell<Permits>,
    /// `Some(n)` for a bounded semaphore: [`Semaphore::try_add_permits`] refuses to make
    /// `total` greater than `n`.
    bound: Option<usize>,
    /// How many permits exist: on the counter, held, or on their way to a waiter. It changes
    /// only by [`Semaphore::try_add_permits`] and [`Permit::forget`].
    total: Cell<usize>,
}

impl Semaphore {
    /// A semaphore with `permits` permits available.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = minirt::sync::Semaphore::new(3);
    /// assert_eq!(s.available_permits(), 3);
    /// ```
    pub const fn new(permits: usize) -> Self {
        Semaphore {
            permits: RefCell::new(Permits::new(permits)),
            bound: None,
            total: Cell::new(permits),
        }
    }

    /// A semaphore with `permits` permits that refuses to grow past them: asyncio's
    /// `BoundedSemaphore`. [`add_permits`](Self::add_permits) panics and
    /// [`try_add_permits`](Self::try_add_permits) fails when there would be more than
    /// `permits` permits in all: free, held, or on their way to a waiting task.
    ///
    /// # Differences from asyncio
    ///
    /// asyncio's `release()` is both "give my permit back" and "add one"; the bound catches a
    /// task that releases twice, by checking the free count. Here a [`Permit`] gives itself
    /// back exactly once when it is dropped, so that mistake cannot happen, and the bound
    /// checks `add_permits`, the one way to make new permits, against every permit that
    /// exists. So adding one while all are held fails here, where asyncio's `release()` would
    /// accept it and then fail when the holder releases. A permit given up with
    /// [`Permit::forget`] no longer exists and may be added back.
    ///
    /// # Examples
    ///
    /// ```
    /// use minirt::sync::Semaphore;
    ///
    /// let s = Semaphore::bounded(2);
    /// let permit = s.try_acquire().unwrap();
    /// assert!(s.try_add_permits(1).is_err(), "with the held one, it would make three");
    /// permit.forget();
    /// assert!(s.try_add_permits(1).is_ok(), "the forgotten one comes back");
    /// assert_eq!(s.available_permits(), 2);
    /// ```
    #[doc(alias = "BoundedSemaphore")]
    pub const fn bounded(permits: usize) -> Self {
        Semaphore {
            permits: RefCell::new(Permits::new(permits)),
            bound: Some(permits),
            total: Cell::new(permits),
        }
    }

    /// Waits for a permit. The permit goes back when the returned [`Permit`] is dropped.
    ///
    /// Waiters are served in the order they first polled. Dropping the future gives up its
    /// place; if a permit had already been handed to it, the permit passes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use minirt::sync::Semaphore;
    ///
    /// minirt::run(async {
    ///     let s = Semaphore::new(1);
    ///     let permit = s.acquire().await;
    ///     assert_eq!(s.available_permits(), 0);
    ///     drop(permit);
    ///     assert_eq!(s.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            semaphore: self,
            key: None,
        }
    }

    /// Takes a permit if one is free right now, without waiting. Returns `None` if none is free,
    /// including when permits are on their way to tasks already waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = minirt::sync::Semaphore::new(1);
    /// let permit = s.try_acquire().unwrap();
    /// assert!(s.try_acquire().is_none());
    /// drop(permit);
    /// assert!(s.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let acquired = self.permits.borrow_mut().try_acquire();
        // Not `then_some`: that would build a `Permit` even on failure, and its drop would
        // release a permit we never took.
        acquired.then(|| Permit { semaphore: self })
    }

    /// Adds `n` permits. Waiting tasks get them first, in order; the rest become available.
    ///
    /// # Panics
    ///
    /// If the number of available permits would overflow `usize`, or if the semaphore is
    /// [`bounded`](Self::bounded) and this would take it past its bound (asyncio's
    /// `BoundedSemaphore` raises `ValueError` there). [`try_add_permits`](Self::try_add_permits)
    /// returns an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = minirt::sync::Semaphore::new(0);
    /// s.add_permits(2);
    /// assert_eq!(s.available_permits(), 2);
    /// ```
    #[doc(alias = "release")]
    pub fn add_permits(&self, n: usize) {
        if let Err(e) = self.try_add_permits(n) {
            panic!("Semaphore::add_permits({n}): {e}");
        }
    }

    /// Adds `n` permits like [`add_permits`](Self::add_permits), unless the semaphore is
    /// [`bounded`](Self::bounded) and would then have more permits in all (free, held, or
    /// handed to a waiting task that has not run yet) than its bound.
    ///
    /// # Errors
    ///
    /// [`TooManyPermits`] if the bound would be passed; nothing is added then.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = minirt::sync::Semaphore::bounded(1);
    /// assert!(s.try_add_permits(1).is_err());
    /// let unbounded = minirt::sync::Semaphore::new(1);
    /// assert!(unbounded.try_add_permits(1).is_ok());
    /// ```
    pub fn try_add_permits(&self, n: usize) -> Result<(), TooManyPermits> {
        let total = self.total.get().saturating_add(n);
        if let Some(bound) = self.bound
            && total > bound
        {
            return Err(TooManyPermits { bound });
        }
        self.total.set(total);
        let wakers = self.permits.borrow_mut().add(n);
        wake_all(wakers);
        Ok(())
    }

    /// How many permits can be taken right now without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = minirt::sync::Semaphore::new(2);
    /// let _p = s.try_acquire();
    /// assert_eq!(s.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.permits.borrow().available()
    }

    /// Gives one permit back: used by [`Permit`]'s `Drop`.
    fn release(&self) {
        let waker = self.permits.borrow_mut().release();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("bound", &self.bound)
            .finish()
    }
}

/// [`Semaphore::try_add_permits`] would have taken a [bounded](Semaphore::bounded) semaphore
/// past its bound: asyncio's `ValueError("BoundedSemaphore released too many times")`.
///
/// # Examples
///
/// ```
/// let s = minirt::sync::Semaphore::bounded(3);
/// let err = s.try_add_permits(1).unwrap_err();
/// assert!(err.is_too_many());
/// assert_eq!(err.bound(), 3);
/// assert_eq!(err.to_string(), "a bounded semaphore would have more than 3 permits");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyPermits {
    bound: usize,
}

impl TooManyPermits {
    /// Always true: there is one reason for this error. Here so that every minirt error reads
    /// the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = minirt::sync::Semaphore::bounded(0);
    /// assert!(s.try_add_permits(1).unwrap_err().is_too_many());
    /// ```
    pub fn is_too_many(&self) -> bool {
        true
    }

    /// The semaphore's bound.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = minirt::sync::Semaphore::bounded(2);
    /// assert_eq!(s.try_add_permits(1).unwrap_err().bound(), 2);
    /// ```
    pub fn bound(&self) -> usize {
        self.bound
    }
}

impl fmt::Display for TooManyPermits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a bounded semaphore would have more than {} permits",
            self.bound
        )
    }
}

impl Error for TooManyPermits {}

/// The future returned by [`Semaphore::acquire`]: resolves to a [`Permit`].
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let s = minirt::sync::Semaphore::new(1);
///     let acquire = s.acquire(); // takes nothing until it is first polled
///     assert_eq!(s.available_permits(), 1);
///     let _permit = acquire.await;
///     assert_eq!(s.available_permits(), 0);
/// });
/// ```
#[must_use = "futures do nothing unless awaited; this one waits for a permit"]
pub struct Acquire<'a> {
    semaphore: &'a Semaphore,
    /// Our place in line while waiting.
    key: Option<WaitKey>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Permit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit<'a>> {
        let semaphore = self.semaphore;
        let mut permits = semaphore.permits.borrow_mut();
        match permits.poll_acquire(&mut self.key, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Permit { semaphore }),
            Poll::Ready(Err(Closed)) => unreachable!("a Semaphore is never closed"),
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        // A permit handed to us passes to the next waiter (`Permits::cancel`).
        cancel_on_drop(&mut self.key, |key| {
            self.semaphore.permits.borrow_mut().cancel(key)
        });
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

/// One permit from a [`Semaphore`]. Dropping it gives the permit back.
///
/// A task that panics while holding a permit gives it back too: the permit is dropped as the
/// panic unwinds, and the semaphore is not poisoned.
///
/// # Examples
///
/// ```
/// let s = minirt::sync::Semaphore::new(1);
/// {
///     let _permit = s.try_acquire().unwrap();
///     assert_eq!(s.available_permits(), 0);
/// } // dropped here
/// assert_eq!(s.available_permits(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Permit<'_> {
    /// Gives up the permit *without* returning it to the semaphore: the semaphore has one
    /// permit fewer from now on. Use it to hand a reserved slot to code that returns it later
    /// with [`Semaphore::add_permits`], past the lifetime of this borrow.
    ///
    /// ```
    /// use minirt::sync::Semaphore;
    ///
    /// let slots = Semaphore::new(2);
    /// slots.try_acquire().unwrap().forget();
    /// assert_eq!(slots.available_permits(), 1);
    /// slots.add_permits(1); // the slot's new owner gives it back
    /// assert_eq!(slots.available_permits(), 2);
    /// ```
    pub fn forget(self) {
        let total = &self.semaphore.total;
        total.set(total.get() - 1);
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::sync::testing::{CountingWaker, poll_once};

    #[test]
    fn permits_are_counted() {
        let s = Semaphore::new(2);
        let a = s.try_acquire().unwrap();
        let mut b = pin!(s.acquire());
        let Poll::Ready(b) = poll_once(b.as_mut()) else {
            panic!("the second permit is free")
        };
        assert_eq!(s.available_permits(), 0);
        assert!(s.try_acquire().is_none());
        drop((a, b));
        assert_eq!(s.available_permits(), 2);
    }

    #[test]
    fn waiters_are_served_in_order_and_latecomers_queue_behind() {
        let s = Semaphore::new(1);
        let held = s.try_acquire().unwrap();
        let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
        let mut futs: Vec<_> = (0..3).map(|_| Box::pin(s.acquire())).collect();
        for (f, w) in futs.iter_mut().zip(&wakers) {
            assert!(w.poll(f.as_mut()).is_pending());
        }
        drop(held);
        // The permit went to the first waiter, not to the counter.
        assert_eq!(s.available_permits(), 0);
        assert!(s.try_acquire().is_none(), "a newcomer cannot jump the line");
        assert_eq!(
            wakers.iter().map(CountingWaker::count).collect::<Vec<_>>(),
            [1, 0, 0]
        );
        // The second waiter is still waiting even if polled first.
        assert!(wakers[1].poll(futs[1].as_mut()).is_pending());
        let first = wakers[0].poll(futs[0].as_mut());
        let Poll::Ready(first) = first else {
            panic!("first waiter was served")
        };
        drop(first);
        assert_eq!(
            wakers.iter().map(CountingWaker::count).collect::<Vec<_>>(),
            [1, 1, 0]
        );
    }

    #[test]
    fn cancelled_waiter_gives_up_its_place() {
        let s = Semaphore::new(0);
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut first = Box::pin(s.acquire());
        let mut second = Box::pin(s.acquire());
        assert!(w1.poll(first.as_mut()).is_pending());
        assert!(w2.poll(second.as_mut()).is_pending());
        drop(first);
        s.add_permits(1);
        assert_eq!((w1.count(), w2.count()), (0, 1));
        assert!(w2.poll(second.as_mut()).is_ready());
        assert_eq!(s.available_permits(), 1);
    }

    #[test]
    fn cancelled_waiter_that_was_handed_a_permit_passes_it_on() {
        let s = Semaphore::new(0);
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut first = Box::pin(s.acquire());
        let mut second = Box::pin(s.acquire());
        assert!(w1.poll(first.as_mut()).is_pending());
        assert!(w2.poll(second.as_mut()).is_pending());
        s.add_permits(1);
        assert_eq!(w1.count(), 1);
        drop(first); // served but never came back for it
        assert_eq!(w2.count(), 1, "the permit moved on to the next waiter");
        assert!(w2.poll(second.as_mut()).is_ready());
        assert_eq!(s.available_permits(), 1);

        // With nobody behind it, the permit goes back to the counter.
        let mut lone = Box::pin(s.acquire());
        let _held = s.try_acquire().unwrap();
        assert!(w1.poll(lone.as_mut()).is_pending());
        drop(_held);
        drop(lone);
        assert_eq!(s.available_permits(), 1);
    }

    #[test]
    fn add_permits_serves_waiters_then_counts_the_rest() {
        let s = Semaphore::new(0);
        let w = CountingWaker::new();
        let mut futs: Vec<_> = (0..2).map(|_| Box::pin(s.acquire())).collect();
        for f in &mut futs {
            assert!(w.poll(f.as_mut()).is_pending());
        }
        s.add_permits(5);
        assert_eq!(w.count(), 2);
        assert_eq!(s.available_permits(), 3);
        drop(futs); // both were served and never came back: both permits return
        assert_eq!(s.available_permits(), 5);
    }

    #[test]
    fn bounded_refuses_to_grow_past_its_bound() {
        let s = Semaphore::bounded(2);
        assert_eq!(s.try_add_permits(1), Err(TooManyPermits { bound: 2 }));
        let a = s.try_acquire().unwrap();
        assert!(
            s.try_add_permits(1).is_err(),
            "would make three with the held one"
        );
        assert_eq!(s.available_permits(), 1, "nothing added on error");
        a.forget();
        s.add_permits(1);
        assert_eq!(s.available_permits(), 2);
        // A held permit given back keeps it at its bound, never past.
        let (a, b) = (s.try_acquire().unwrap(), s.try_acquire().unwrap());
        drop((a, b));
        assert_eq!(s.available_permits(), 2);
        assert!(s.try_add_permits(1).is_err());
    }

    #[test]
    fn bounded_counts_a_permit_handed_to_a_waiter_that_has_not_run() {
        let s = Semaphore::bounded(1);
        let held = s.try_acquire().unwrap();
        assert!(s.try_add_permits(1).is_err(), "the held permit counts");
        let w = CountingWaker::new();
        let mut waiter = Box::pin(s.acquire());
        assert!(w.poll(waiter.as_mut()).is_pending());
        drop(held); // handed to the waiter, which has not run
        assert_eq!(s.available_permits(), 0);
        assert!(
            s.try_add_permits(1).is_err(),
            "the permit in flight counts too"
        );
        let Poll::Ready(permit) = w.poll(waiter.as_mut()) else {
            panic!("served")
        };
        permit.forget();
        assert!(s.try_add_permits(1).is_ok());
    }

    #[test]
    #[should_panic(expected = "more than 1 permits")]
    fn bounded_add_permits_past_the_bound_panics() {
        Semaphore::bounded(1).add_permits(1);
    }

    #[test]
    fn repolling_with_a_new_waker_wakes_the_new_one() {
        let s = Semaphore::new(0);
        let (old, new) = (CountingWaker::new(), CountingWaker::new());
        let mut f = Box::pin(s.acquire());
        assert!(old.poll(f.as_mut()).is_pending());
        assert!(new.poll(f.as_mut()).is_pending());
        s.add_permits(1);
        assert_eq!((old.count(), new.count()), (0, 1));
    }
}
