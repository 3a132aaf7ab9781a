//! An event: a flag that tasks can wait for, like asyncio's `Event`.
//!
//! The flag is latched: once [`Event::set`] has run, [`Event::wait`] returns at once until
//! somebody calls [`Event::clear`]. `set` serves every task waiting at that moment, so a waiter
//! that was woken finishes even if the flag is cleared again before it gets to run. The queues use
//! the same logic, [`Flag`], for `join`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::waiters::{Status, WaitKey, WaitList, cancel_on_drop, wake_all};

/// A latched flag and the line of tasks waiting for it to be set. A plain data structure: the
/// methods that free waiters return their wakers for the caller to wake after its borrow ends.
///
/// # Invariant
/// While `is_set`, nobody is waiting: `set` serves everybody, and nobody queues while set.
#[derive(Debug)]
pub(crate) struct Flag {
    is_set: bool,
    waiters: WaitList,
}

impl Flag {
    pub(crate) const fn new(is_set: bool) -> Self {
        Flag {
            is_set,
            waiters: WaitList::new(),
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        self.is_set
    }

    /// Sets the flag and serves every waiter. Returns their wakers.
    pub(crate) fn set(&mut self) -> Vec<Waker> {
        self.is_set = true;
        self.waiters.notify_all()
    }

    pub(crate) fn clear(&mut self) {
        self.is_set = false;
    }

    /// The body of a waiting future's `poll`; `key` is its place in line.
    pub(crate) fn poll_wait(
        &mut self,
        key: &mut Option<WaitKey>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let Some(waiting) = key else {
            // First poll: check and register under one `&mut self`, so a `set` cannot fall in
            // between (the single-threaded form of "register, then re-check").
            if self.is_set {
                return Poll::Ready(());
            }
            *key = Some(self.waiters.push_back(cx.waker().clone()));
            return Poll::Pending;
        };
        match self.waiters.status(waiting) {
            Status::Waiting => {
                self.waiters.set_waker(waiting, cx.waker());
                Poll::Pending
            }
            Status::Notified | Status::Dismissed => {
                self.waiters.remove(key.take().expect("checked above"));
                Poll::Ready(())
            }
        }
    }

    /// Gives up a place in line (the waiting future was dropped). Nothing to pass on: `set`
    /// serves everybody anyway.
    pub(crate) fn cancel(&mut self, key: WaitKey) {
        self.waiters.remove(key);
    }
}

/// A flag that tasks can wait for: asyncio's `Event`.
///
/// Share it between tasks with an `Rc<Event>`. It is `!Send` and `!Sync` (a `RefCell` inside):
/// all of a runtime's tasks run on one thread, so no atomics are needed.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use minirt::sync::Event;
///
/// minirt::run(async {
///     let ready = Rc::new(Event::new());
///     let waiter = minirt::spawn({
///         let ready = ready.clone();
///         async move {
///             ready.wait().await;
///             "saw it"
///         }
///     });
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "saw it");
/// });
/// ```
pub struct Event {
    flag: RefCell<Flag>,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!minirt::sync::Event::new().is_set());
    /// ```
    pub const fn new() -> Self {
        Event {
            flag: RefCell::new(Flag::new(false)),
        }
    }

    /// Sets the flag and wakes every task waiting for it. Later waits return at once, until
    /// [`clear`](Event::clear).
    ///
    /// # Examples
    ///
    /// ```
    /// let e = minirt::sync::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn set(&self) {
        let wakers = self.flag.borrow_mut().set();
        wake_all(wakers);
    }

    /// Clears the flag: later waits wait again. Tasks already woken by [`set`](Event::set) still
    /// finish their wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = minirt::sync::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.flag.borrow_mut().clear();
    }

    /// Whether the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!minirt::sync::Event::new().is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.flag.borrow().is_set()
    }

    /// Waits until the flag is set. Returns at once if it already is.
    ///
    /// Dropping the future before it finishes just removes it from the line of waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let e = minirt::sync::Event::new();
    ///     e.set();
    ///     e.wait().await; // already set: returns at once
    /// });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

/// The future returned by [`Event::wait`]: resolves once the event is set.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let e = minirt::sync::Event::new();
///     let wait = e.wait();
///     e.set();
///     wait.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited; this one waits for the event to be set"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<WaitKey>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let event = self.event;
        event.flag.borrow_mut().poll_wait(&mut self.key, cx)
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        cancel_on_drop(&mut self.key, |key| {
            self.event.flag.borrow_mut().cancel(key);
            None
        });
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::sync::testing::{CountingWaker, poll_once};

    #[test]
    fn wait_returns_at_once_when_set() {
        let e = Event::new();
        e.set();
        assert!(poll_once(pin!(e.wait())).is_ready());
        e.clear();
        assert!(poll_once(pin!(e.wait())).is_pending());
    }

    #[test]
    fn set_wakes_every_waiter_once() {
        let e = Event::new();
        let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
        let mut futs: Vec<_> = (0..3).map(|_| Box::pin(e.wait())).collect();
        for (f, w) in futs.iter_mut().zip(&wakers) {
            assert!(w.poll(f.as_mut()).is_pending());
            assert!(
                w.poll(f.as_mut()).is_pending(),
                "a second poll keeps the place"
            );
        }
        e.set();
        e.set(); // nobody left to wake
        assert!(wakers.iter().all(|w| w.count() == 1));
        for (f, w) in futs.iter_mut().zip(&wakers) {
            assert!(w.poll(f.as_mut()).is_ready());
        }
    }

    #[test]
    fn woken_waiter_finishes_even_if_cleared_before_it_runs() {
        let e = Event::new();
        let mut f = Box::pin(e.wait());
        assert!(poll_once(f.as_mut()).is_pending());
        e.set();
        e.clear();
        assert!(poll_once(f.as_mut()).is_ready());
        assert!(e.flag.borrow().waiters.is_empty());
    }

    #[test]
    fn dropped_waiter_leaves_the_line() {
        let e = Event::new();
        let (gone, kept) = (CountingWaker::new(), CountingWaker::new());
        let mut a = Box::pin(e.wait());
        let mut b = Box::pin(e.wait());
        assert!(gone.poll(a.as_mut()).is_pending());
        assert!(kept.poll(b.as_mut()).is_pending());
        drop(a);
        assert_eq!(e.flag.borrow().waiters.len(), 1);
        e.set();
        assert_eq!((gone.count(), kept.count()), (0, 1));
        assert!(kept.poll(b.as_mut()).is_ready());

        // Dropping a waiter that was already woken is fine too.
        e.clear();
        let mut c = Box::pin(e.wait());
        assert!(poll_once(c.as_mut()).is_pending());
        e.set();
        drop(c);
        assert!(e.flag.borrow().waiters.is_empty());
    }
}
