//! [`Permits`]: a count of free permits plus a FIFO line of waiters, with direct hand-off. The
//! semaphore, and through it the mutex, is this in a `RefCell`; a queue is two of them.
//!
//! The rule that makes it fair: when a permit comes back and somebody is waiting, the permit is
//! not put back on the counter. It goes straight to the first waiter in the line, which is marked
//! as served and woken. A task that arrives later finds the counter at zero and has to queue
//! behind, so nobody can jump the line. Because of that, "permits on the counter" and "somebody
//! is waiting" never happen at the same time.

use std::task::{Context, Poll, Waker};

use super::waiters::{Status, WaitKey, WaitList};

/// The permits were closed and none is left on the counter: waiting would be forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// A count of free permits and a FIFO line of waiters, with direct hand-off.
///
/// A plain data structure: no `RefCell`, no waking. Methods that free a waiter return its waker,
/// and the caller wakes it after letting go of its own borrow.
///
/// # Invariant
/// `available > 0` implies nobody is waiting: a permit that comes back while somebody waits is
/// handed to the first waiter instead of being counted.
#[derive(Debug)]
pub(crate) struct Permits {
    available: usize,
    waiters: WaitList,
    /// Set by [`Permits::close`]: permits still on the counter can be taken, but nobody waits.
    closed: bool,
}

impl Permits {
    pub(crate) const fn new(available: usize) -> Self {
        Permits {
            available,
            waiters: WaitList::new(),
            closed: false,
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.available
    }

    /// Takes a permit from the counter if there is one. This cannot jump the line: by the
    /// invariant, a permit on the counter means nobody is waiting for it.
    pub(crate) fn try_acquire(&mut self) -> bool {
        debug_assert!(self.available == 0 || self.waiters.is_empty(), "{self:?}");
        if self.available > 0 {
            self.available -= 1;
            true
        } else {
            false
        }
    }

    /// The body of every acquiring future's `poll`. `key` is the future's place in line: `None`
    /// before the first poll and after it is done.
    pub(crate) fn poll_acquire(
        &mut self,
        key: &mut Option<WaitKey>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        let Some(waiting) = key else {
            // First poll. The check and the registration below happen under one `&mut self`,
            // so no release can slip in between them: this is "register, then re-check" in its
            // single-threaded form, and it is why no wakeup can be lost.
            if self.try_acquire() {
                return Poll::Ready(Ok(()));
            }
            if self.closed {
                return Poll::Ready(Err(Closed));
            }
            *key = Some(self.waiters.push_back(cx.waker().clone()));
            return Poll::Pending;
        };
        match self.waiters.status(waiting) {
            Status::Waiting => {
                self.waiters.set_waker(waiting, cx.waker());
                Poll::Pending
            }
            // `release` handed us its permit and took us out of the line.
            Status::Notified => {
                self.waiters.remove(key.take().expect("checked above"));
                Poll::Ready(Ok(()))
            }
            Status::Dismissed => {
                self.waiters.remove(key.take().expect("checked above"));
                Poll::Ready(Err(Closed))
            }
        }
    }

    /// Gives the place in line back when an acquiring future is dropped. If the permit had
    /// already been handed to it, the permit moves on to the next waiter (whose waker is
    /// returned) or back to the counter: a cancelled waiter never leaks a permit.
    pub(crate) fn cancel(&mut self, key: WaitKey) -> Option<Waker> {
        match self.waiters.remove(key) {
            Status::Notified => self.release(),
            Status::Waiting | Status::Dismissed => None,
        }
    }

    /// Returns one permit: to the first waiter if there is one (returning its waker), else to the
    /// counter.
    pub(crate) fn release(&mut self) -> Option<Waker> {
        let waker = self.waiters.notify_first();
        if waker.is_none() {
            self.available = self
                .available
                .checked_add(1)
                .expect("permit count overflowed usize");
        }
        waker
    }

    /// Returns `n` permits, serving waiters first. Returns the wakers of those served.
    pub(crate) fn add(&mut self, n: usize) -> Vec<Waker> {
        let mut wakers = Vec::new();
        for _ in 0..n {
            match self.waiters.notify_first() {
                Some(waker) => wakers.push(waker),
                None => {
                    let rest = n - wakers.len();
                    self.available = self
                        .available
                        .checked_add(rest)
                        .expect("permit count overflowed usize");
                    break;
                }
            }
        }
        wakers
    }

    /// No more waiting: sends every waiter away with [`Closed`], and makes later acquirers fail
    /// instead of waiting. Permits left on the counter can still be taken.
    pub(crate) fn close(&mut self) -> Vec<Waker> {
        self.closed = true;
        self.waiters.dismiss_all()
    }

    /// Closes and takes every permit back: those on the counter, and those handed to waiters
    /// that have not come back for them yet (they will get [`Closed`], and their `cancel`
    /// passes nothing on). Returns the wakers of the waiters still in line.
    pub(crate) fn close_now(&mut self) -> Vec<Waker> {
        self.available = 0;
        self.waiters.withdraw_notified();
        self.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::testing::CountingWaker;

    #[test]
    fn permits_core_close_dismisses_waiters_but_keeps_counted_permits() {
        let mut p = Permits::new(0);
        let w = CountingWaker::new();
        let waker = w.waker();
        let mut cx = Context::from_waker(&waker);
        let mut key = None;
        assert!(p.poll_acquire(&mut key, &mut cx).is_pending());
        assert_eq!(p.close().len(), 1);
        assert_eq!(p.poll_acquire(&mut key, &mut cx), Poll::Ready(Err(Closed)));
        assert!(key.is_none());
        assert!(p.release().is_none());
        assert_eq!(
            p.poll_acquire(&mut key, &mut cx),
            Poll::Ready(Ok(())),
            "counted permits stay"
        );
        assert_eq!(
            p.poll_acquire(&mut key, &mut cx),
            Poll::Ready(Err(Closed)),
            "then it fails, not waits"
        );
    }

    #[test]
    fn permits_core_close_now_takes_back_handed_out_permits() {
        let mut p = Permits::new(0);
        let w = CountingWaker::new();
        let waker = w.waker();
        let mut cx = Context::from_waker(&waker);
        let (mut served, mut cancelled) = (None, None);
        assert!(p.poll_acquire(&mut served, &mut cx).is_pending());
        assert!(p.poll_acquire(&mut cancelled, &mut cx).is_pending());
        assert_eq!(p.add(3).len(), 2, "both served, one left on the counter");
        assert!(p.close_now().is_empty(), "nobody was still in line");
        assert_eq!(p.available(), 0);
        assert_eq!(
            p.poll_acquire(&mut served, &mut cx),
            Poll::Ready(Err(Closed))
        );
        assert!(p.cancel(cancelled.take().unwrap()).is_none());
        assert_eq!(p.available(), 0, "a withdrawn permit is not passed on");
    }
}
