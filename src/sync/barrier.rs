//! A barrier: asyncio's `Barrier` (3.11). `n` tasks wait until all `n` have arrived, then all
//! go on together, and the barrier is ready for the next round.
//!
//! The waiting tasks stand in the same FIFO [`WaitList`] as every other primitive's. The task
//! that arrives last serves the whole line at once ([`WaitList::notify_all`]) and does not wait
//! at all. [`Barrier::abort`] and [`Barrier::reset`] send the line away unserved
//! ([`WaitList::dismiss_all`]), which the waiters read as [`BrokenBarrier`].
//!
//! Each arrival gets an index, `0` for the first and `parties - 1` for the one that releases
//! the others. A waiter dropped before the round is complete leaves it: it no longer counts
//! towards `parties`, and its index goes to the next task to arrive, so the indices handed out
//! in one round are always `0..parties`, each once.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::waiters::{Status, WaitKey, WaitList, wake_all};

/// A barrier for tasks on one runtime thread: asyncio's `Barrier`.
///
/// Share it with an `Rc<Barrier>`. It is `!Send` and `!Sync`: all of a runtime's tasks run
/// on one thread.
///
/// # Differences from asyncio
///
/// - A new round starts as soon as the last task of the previous one arrives: the released
///   tasks need not all have run before newcomers may queue for the next round. asyncio makes
///   newcomers wait until every released task has left (its "draining" state); no index or
///   count a task can see differs, only when a newcomer gets in line.
/// - A task cancelled while waiting gives its index to the next arrival, so the indices of a
///   round are unique. asyncio hands the cancelled task's count to the next arrival too, which
///   can give two tasks the same index.
/// - [`wait`](Self::wait) returns `Result<usize, BrokenBarrier>` where asyncio raises
///   `BrokenBarrierError`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use minirt::sync::Barrier;
///
/// minirt::run(async {
///     let barrier = Rc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             minirt::spawn(async move { barrier.wait().await.unwrap() })
///         })
///         .collect();
///     let mut indices = Vec::new();
///     for task in tasks {
///         indices.push(task.await.unwrap());
///     }
///     assert_eq!(indices, [0, 1, 2]);
/// });
/// ```
pub struct Barrier {
    state: RefCell<State>,
}

/// # Invariant
/// Every waiter still in `waiters` arrived in the current round and holds an index below
/// `next_index` that is not in `free_indices`; `waiters.len() == next_index - free_indices.len()`,
/// which is below `parties`.
struct State {
    parties: usize,
    /// The index the next arrival gets when `free_indices` is empty.
    next_index: usize,
    /// Indices given up this round by waiters that were dropped; the smallest is reused first.
    free_indices: BinaryHeap<Reverse<usize>>,
    broken: bool,
    waiters: WaitList,
}

impl State {
    /// Starts an empty round.
    fn clear_round(&mut self) {
        self.next_index = 0;
        self.free_indices.clear();
    }
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    ///
    /// If `parties` is 0 (asyncio raises `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(minirt::sync::Barrier::new(4).parties(), 4);
    /// ```
    #[doc(alias = "Barrier")]
    pub fn new(parties: usize) -> Self {
        assert!(parties > 0, "a Barrier needs at least one party");
        Barrier {
            state: RefCell::new(State {
                parties,
                next_index: 0,
                free_indices: BinaryHeap::new(),
                broken: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Waits until `parties` tasks are waiting, then returns this task's arrival index: `0`
    /// for the first to arrive, `parties - 1` for the last, which releases the others without
    /// waiting itself.
    ///
    /// Dropping the future while it waits takes this task out of the round (see the module
    /// docs); dropping it after the round was complete changes nothing for the others.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrier`] if the barrier is broken ([`abort`](Self::abort)) when this task
    /// arrives or while it waits, or if it is [`reset`](Self::reset) while this task waits.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let alone = minirt::sync::Barrier::new(1);
    ///     assert_eq!(alone.wait().await, Ok(0)); // one party: never waits
    ///     assert_eq!(alone.wait().await, Ok(0)); // and it is reusable
    /// });
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
            index: 0,
        }
    }

    /// Breaks the barrier: every task waiting, and every task that waits later, gets
    /// [`BrokenBarrier`], until [`reset`](Self::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let b = minirt::sync::Barrier::new(2);
    ///     b.abort();
    ///     assert!(b.is_broken());
    ///     assert!(b.wait().await.unwrap_err().is_broken());
    /// });
    /// ```
    pub fn abort(&self) {
        let mut state = self.state.borrow_mut();
        state.broken = true;
        state.clear_round();
        let wakers = state.waiters.dismiss_all();
        drop(state);
        wake_all(wakers);
    }

    /// Returns the barrier to its first, empty state: tasks waiting now get [`BrokenBarrier`],
    /// and a broken barrier works again.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let b = minirt::sync::Barrier::new(1);
    ///     b.abort();
    ///     b.reset();
    ///     assert!(!b.is_broken());
    ///     assert_eq!(b.wait().await, Ok(0));
    /// });
    /// ```
    pub fn reset(&self) {
        let mut state = self.state.borrow_mut();
        state.broken = false;
        state.clear_round();
        let wakers = state.waiters.dismiss_all();
        drop(state);
        wake_all(wakers);
    }

    /// How many tasks it takes to pass.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(minirt::sync::Barrier::new(2).parties(), 2);
    /// ```
    pub fn parties(&self) -> usize {
        self.state.borrow().parties
    }

    /// How many tasks are waiting in the current round. asyncio's `n_waiting`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(minirt::sync::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.state.borrow().waiters.len()
    }

    /// Whether the barrier was [`abort`](Self::abort)ed and not [`reset`](Self::reset) since.
    /// asyncio's `broken`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!minirt::sync::Barrier::new(2).is_broken());
    /// ```
    #[doc(alias = "broken")]
    pub fn is_broken(&self) -> bool {
        self.state.borrow().broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Barrier")
            .field("parties", &state.parties)
            .field("n_waiting", &state.waiters.len())
            .field("broken", &state.broken)
            .finish()
    }
}

/// The future returned by [`Barrier::wait`]: resolves to this task's arrival index.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let b = minirt::sync::Barrier::new(1);
///     let wait = b.wait(); // arrives when first polled
///     assert_eq!(b.n_waiting(), 0);
///     assert_eq!(wait.await, Ok(0));
/// });
/// ```
#[must_use = "futures do nothing unless awaited; the task arrives at the barrier when polled"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    /// Our place in line while waiting for the round to fill.
    key: Option<WaitKey>,
    /// Our arrival index, once we have arrived.
    index: usize,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrier>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let barrier = self.barrier;
        let mut state = barrier.state.borrow_mut();
        let Some(key) = &self.key else {
            // Arriving. Everything below happens under one borrow: no other arrival, abort or
            // reset can fall in between the count and the registration.
            if state.broken {
                return Poll::Ready(Err(BrokenBarrier(())));
            }
            let index = match state.free_indices.pop() {
                Some(Reverse(index)) => index,
                None => {
                    state.next_index += 1;
                    state.next_index - 1
                }
            };
            if state.waiters.len() + 1 == state.parties {
                // The last one: release the round, and a new one begins.
                state.clear_round();
                let wakers = state.waiters.notify_all();
                drop(state);
                wake_all(wakers);
                return Poll::Ready(Ok(index));
            }
            let key = state.waiters.push_back(cx.waker().clone());
            drop(state);
            self.key = Some(key);
            self.index = index;
            return Poll::Pending;
        };
        match state.waiters.status(key) {
            Status::Waiting => {
                state.waiters.set_waker(key, cx.waker());
                Poll::Pending
            }
            status => {
                state
                    .waiters
                    .remove(self.key.take().expect("checked above"));
                if status == Status::Notified {
                    Poll::Ready(Ok(self.index))
                } else {
                    Poll::Ready(Err(BrokenBarrier(())))
                }
            }
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.barrier.state.borrow_mut();
            if state.waiters.remove(key) == Status::Waiting {
                // Still filling: leave the round and give the index to the next arrival.
                state.free_indices.push(Reverse(self.index));
            }
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The barrier was broken by [`Barrier::abort`], or reset while this task waited: asyncio's
/// `BrokenBarrierError`.
///
/// # Examples
///
/// ```
/// minirt::run(async {
///     let b = minirt::sync::Barrier::new(3);
///     b.abort();
///     let err = b.wait().await.unwrap_err();
///     assert!(err.is_broken());
///     assert_eq!(err.to_string(), "the barrier is broken or was reset");
/// });
/// ```
#[doc(alias = "BrokenBarrierError")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrier(());

impl BrokenBarrier {
    /// Always true: there is one reason for this error. Here so that every minirt error reads
    /// the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let b = minirt::sync::Barrier::new(2);
    ///     b.abort();
    ///     assert!(b.wait().await.unwrap_err().is_broken());
    /// });
    /// ```
    pub fn is_broken(&self) -> bool {
        true
    }
}

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken or was reset")
    }
}

impl Error for BrokenBarrier {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::testing::CountingWaker;

    type Arrival<'a> = (CountingWaker, Pin<Box<BarrierWait<'a>>>);

    /// A task that arrived and waits.
    fn arrive(b: &Barrier) -> Arrival<'_> {
        let w = CountingWaker::new();
        let mut wait = Box::pin(b.wait());
        assert!(w.poll(wait.as_mut()).is_pending());
        (w, wait)
    }

    #[test]
    fn the_last_arrival_releases_everyone_with_arrival_indices() {
        let b = Barrier::new(3);
        let (mut w0, mut w1) = (arrive(&b), arrive(&b));
        assert_eq!(b.n_waiting(), 2);
        let w = CountingWaker::new();
        assert_eq!(w.poll(Box::pin(b.wait()).as_mut()), Poll::Ready(Ok(2)));
        assert_eq!((w0.0.count(), w1.0.count()), (1, 1));
        assert_eq!(b.n_waiting(), 0);
        // Released waiters return their index even if a new round started meanwhile.
        let _next = arrive(&b);
        assert_eq!(w1.0.poll(w1.1.as_mut()), Poll::Ready(Ok(1)));
        assert_eq!(w0.0.poll(w0.1.as_mut()), Poll::Ready(Ok(0)));
        assert_eq!(b.n_waiting(), 1);
    }

    #[test]
    fn a_cancelled_waiter_leaves_the_round_and_its_index_is_reused() {
        let b = Barrier::new(3);
        let (first, mut second) = (arrive(&b), arrive(&b));
        drop(first);
        assert_eq!(b.n_waiting(), 1);
        let (mut third, w) = (arrive(&b), CountingWaker::new());
        assert_eq!(b.n_waiting(), 2, "the round is not complete yet");
        assert_eq!(w.poll(Box::pin(b.wait()).as_mut()), Poll::Ready(Ok(2)));
        assert_eq!(second.0.poll(second.1.as_mut()), Poll::Ready(Ok(1)));
        assert_eq!(third.0.poll(third.1.as_mut()), Poll::Ready(Ok(0)), "reused");
    }

    #[test]
    fn a_waiter_dropped_after_release_changes_nothing() {
        let b = Barrier::new(2);
        let first = arrive(&b);
        let w = CountingWaker::new();
        assert_eq!(w.poll(Box::pin(b.wait()).as_mut()), Poll::Ready(Ok(1)));
        drop(first);
        assert_eq!(b.n_waiting(), 0);
        let mut next = arrive(&b);
        assert_eq!(w.poll(Box::pin(b.wait()).as_mut()), Poll::Ready(Ok(1)));
        assert_eq!(next.0.poll(next.1.as_mut()), Poll::Ready(Ok(0)));
    }

    #[test]
    fn abort_breaks_waiters_and_later_arrivals_until_reset() {
        let b = Barrier::new(3);
        let mut waiting = arrive(&b);
        b.abort();
        assert_eq!(waiting.0.count(), 1);
        assert_eq!(
            waiting.0.poll(waiting.1.as_mut()),
            Poll::Ready(Err(BrokenBarrier(())))
        );
        let w = CountingWaker::new();
        assert!(matches!(
            w.poll(Box::pin(b.wait()).as_mut()),
            Poll::Ready(Err(_))
        ));
        b.reset();
        let mut again = arrive(&b);
        assert_eq!(b.n_waiting(), 1);
        b.reset();
        assert_eq!(
            again.0.poll(again.1.as_mut()),
            Poll::Ready(Err(BrokenBarrier(())))
        );
        assert!(!b.is_broken());
        let (_a, _b) = (arrive(&b), arrive(&b));
        assert_eq!(w.poll(Box::pin(b.wait()).as_mut()), Poll::Ready(Ok(2)));
    }

    #[test]
    #[should_panic(expected = "at least one party")]
    fn zero_parties_panics() {
        let _ = Barrier::new(0);
    }
}
