//! A barrier: asyncio's `Barrier` (3.11). `n` tasks wait until all `n` have arrived, then all
//! go on together, and the barrier is ready for the next round.
//!
//! It goes through asyncio's four states, with the same rules:
//!
//! ```text
//!            last of `parties` arrives              last released wait taken
//!  FILLING ─────────────────────────▶ DRAINING ─────────────────────────────▶ FILLING
//!     │ reset, with waiters                │ reset                                 ▲
//!     ▼                                    ▼                                       │
//!  RESETTING ◀────────────────────────────────── (until every wait in the round is taken)
//!  abort, from any state: BROKEN, until reset
//! ```
//!
//! - **Filling.** Arrivals stand in the round's FIFO [`WaitList`]. The one that completes it
//!   serves the whole line at once ([`WaitList::notify_all`]) and does not wait at all.
//! - **Draining.** The released waits have not all been taken yet (their tasks have not run
//!   since). Until they have, nobody new gets in: a task that arrives waits at the door (a
//!   second `WaitList`), and is let in, in the order it came, when the last released wait is
//!   taken. So the tasks of one round never mix with the next one's.
//! - **Resetting.** [`Barrier::reset`] sends the round's waiters away with [`BrokenBarrier`]
//!   (and, while draining, the released waits not yet taken: their tasks learn of the reset
//!   first), and the door stays shut until they have all taken their error. Tasks at the door
//!   are not in a round, so a reset does not break them.
//! - **Broken.** [`Barrier::abort`] breaks everyone, at the door or in the round, and every
//!   later arrival, until a reset.
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
use std::task::{Context, Poll, Waker};

use super::waiters::{Status, WaitKey, WaitList, cancel_on_drop, wake_all};

/// A barrier for tasks on one runtime thread: asyncio's `Barrier`.
///
/// Share it with an `Rc<Barrier>`. It is `!Send` and `!Sync`: all of a runtime's tasks run
/// on one thread.
///
/// # Differences from asyncio
///
/// - A task cancelled while waiting gives its index to the next arrival, so the indices of a
///   round are unique. asyncio hands the cancelled task's count to the next arrival too, which
///   can give two tasks the same index.
/// - [`n_waiting`](Self::n_waiting) counts the tasks let in at the end of a drain from the
///   moment they are let in; asyncio counts them once they have run.
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

/// asyncio's `_BarrierState`: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

/// # Invariant
/// `inside` counts the futures that hold a key in `round`, and they all arrived in the current
/// round (asyncio's `_count`). While `Filling`, all of them are waiting, so
/// `inside == round.len() < parties`, each holds an index below `next_index` that is not in
/// `free_indices`, and `door` is empty but for tasks already let in. While `Draining` or
/// `Resetting`, `inside > 0`: the round's waits are being taken, and arrivals stand at the door.
struct State {
    parties: usize,
    phase: Phase,
    /// The round: its waiters, then its released (or dismissed) waits until they are taken.
    round: WaitList,
    /// Futures holding a key in `round`.
    inside: usize,
    /// Arrivals held back while the barrier drains or resets, in the order they came.
    door: WaitList,
    /// Tasks let in through the door that have not come back for their place yet.
    let_in: usize,
    /// The index the next arrival gets when `free_indices` is empty.
    next_index: usize,
    /// Indices given up this round by waiters that were dropped; the smallest is reused first.
    free_indices: BinaryHeap<Reverse<usize>>,
}

/// Where a [`BarrierWait`] stands.
enum Place {
    /// At the door: it arrived while the barrier drained or reset.
    Door(WaitKey),
    /// In the round, with its arrival index.
    Round(WaitKey, usize),
}

impl State {
    /// Starts an empty round.
    fn clear_round(&mut self) {
        self.next_index = 0;
        self.free_indices.clear();
    }

    /// One arrival, at the first poll or once let in through the door: gets in line, releases
    /// the round if it is the last, or waits at the door. Returns the result if it has one,
    /// and the wakers to wake once the borrow has ended.
    fn arrive(
        &mut self,
        place: &mut Option<Place>,
        waker: &Waker,
    ) -> (Poll<Result<usize, BrokenBarrier>>, Vec<Waker>) {
        match self.phase {
            Phase::Broken => (Poll::Ready(Err(BrokenBarrier(()))), Vec::new()),
            Phase::Draining | Phase::Resetting => {
                *place = Some(Place::Door(self.door.push_back(waker.clone())));
                (Poll::Pending, Vec::new())
            }
            Phase::Filling => {
                let index = match self.free_indices.pop() {
                    Some(Reverse(index)) => index,
                    None => {
                        self.next_index += 1;
                        self.next_index - 1
                    }
                };
                if self.inside + 1 < self.parties {
                    *place = Some(Place::Round(self.round.push_back(waker.clone()), index));
                    self.inside += 1;
                    return (Poll::Pending, Vec::new());
                }
                // The last one: release the round, which drains until every waiter has
                // taken its index.
                let wakers = self.round.notify_all();
                self.clear_round();
                if self.inside > 0 {
                    self.phase = Phase::Draining;
                }
                (Poll::Ready(Ok(index)), wakers)
            }
        }
    }

    /// A future with a key in the round gave it back. The last one out of a draining or
    /// resetting round opens the door: returns the wakers of everyone let in.
    fn leave(&mut self) -> Vec<Waker> {
        self.inside -= 1;
        if self.inside > 0 {
            return Vec::new();
        }
        self.clear_round();
        if !matches!(self.phase, Phase::Draining | Phase::Resetting) {
            return Vec::new();
        }
        self.phase = Phase::Filling;
        self.let_in += self.door.len();
        self.door.notify_all()
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
                phase: Phase::Filling,
                round: WaitList::new(),
                inside: 0,
                door: WaitList::new(),
                let_in: 0,
                next_index: 0,
                free_indices: BinaryHeap::new(),
            }),
        }
    }

    /// Waits until `parties` tasks are waiting, then returns this task's arrival index: `0`
    /// for the first to arrive, `parties - 1` for the last, which releases the others without
    /// waiting itself. A task that arrives while the previous round drains waits for it to
    /// finish first (see the module docs).
    ///
    /// Dropping the future while it waits takes this task out of the round (see the module
    /// docs); dropping it after the round was complete counts as taking its index.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrier`] if the barrier is broken ([`abort`](Self::abort)) when this task
    /// arrives or while it waits, or if it is [`reset`](Self::reset) while this task waits in
    /// a round, or after its round was released but before this task ran again.
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
            place: None,
        }
    }

    /// Breaks the barrier: every task waiting (in a round, at the door, or released but not
    /// yet run), and every task that waits later, gets [`BrokenBarrier`], until
    /// [`reset`](Self::reset).
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
        state.phase = Phase::Broken;
        state.round.withdraw_notified();
        let mut wakers = state.round.dismiss_all();
        wakers.append(&mut state.door.dismiss_all());
        drop(state);
        wake_all(wakers);
    }

    /// Returns the barrier to filling a new round: tasks waiting in the round now, and tasks
    /// released from it that have not run since, get [`BrokenBarrier`]; once they all have,
    /// the barrier fills again, and a broken barrier works again. Tasks waiting at the door
    /// for a draining round are not broken: they get into the next round.
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
        let wakers = match state.phase {
            Phase::Resetting => Vec::new(),
            _ if state.inside == 0 => {
                state.phase = Phase::Filling;
                state.clear_round();
                Vec::new()
            }
            Phase::Filling | Phase::Broken => {
                state.phase = Phase::Resetting;
                state.round.dismiss_all()
            }
            Phase::Draining => {
                // Released, but not taken yet: their tasks see the reset first. Their wakers
                // were woken by the release.
                state.phase = Phase::Resetting;
                state.round.withdraw_notified();
                Vec::new()
            }
        };
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

    /// How many tasks are waiting for the round being filled: those in it, and those let in
    /// at the end of a drain that have not run yet. 0 while a round drains or resets, or the
    /// barrier is broken. asyncio's `n_waiting`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(minirt::sync::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        let state = self.state.borrow();
        match state.phase {
            Phase::Filling => state.inside + state.let_in,
            _ => 0,
        }
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
        self.state.borrow().phase == Phase::Broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Barrier")
            .field("parties", &state.parties)
            .field("phase", &state.phase)
            .field("inside", &state.inside)
            .field("at_the_door", &state.door.len())
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
    /// Where we stand once we have arrived, until we have our result.
    place: Option<Place>,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrier>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let barrier = self.barrier;
        let mut state = barrier.state.borrow_mut();
        // Everything below happens under one borrow: no other arrival, abort or reset can fall
        // in between a check and the registration that follows it.
        let (result, wakers) = match self.place.take() {
            None => state.arrive(&mut self.place, cx.waker()),
            Some(Place::Door(key)) => match state.door.status(&key) {
                Status::Waiting => {
                    state.door.set_waker(&key, cx.waker());
                    self.place = Some(Place::Door(key));
                    (Poll::Pending, Vec::new())
                }
                // Let in: arrive again, as asyncio's waiter re-checks the state.
                Status::Notified => {
                    state.door.remove(key);
                    state.let_in -= 1;
                    state.arrive(&mut self.place, cx.waker())
                }
                Status::Dismissed => {
                    state.door.remove(key);
                    (Poll::Ready(Err(BrokenBarrier(()))), Vec::new())
                }
            },
            Some(Place::Round(key, index)) => match state.round.status(&key) {
                Status::Waiting => {
                    state.round.set_waker(&key, cx.waker());
                    self.place = Some(Place::Round(key, index));
                    (Poll::Pending, Vec::new())
                }
                status => {
                    state.round.remove(key);
                    let wakers = state.leave();
                    let result = match status {
                        Status::Notified => Ok(index),
                        _ => Err(BrokenBarrier(())),
                    };
                    (Poll::Ready(result), wakers)
                }
            },
        };
        drop(state);
        wake_all(wakers);
        result
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        cancel_on_drop(&mut self.place, |place| {
            let mut state = self.barrier.state.borrow_mut();
            match place {
                Place::Door(key) => {
                    if state.door.remove(key) == Status::Notified {
                        state.let_in -= 1;
                    }
                    Vec::new()
                }
                Place::Round(key, index) => {
                    if state.round.remove(key) == Status::Waiting {
                        // Still filling: leave the round and give the index to the next
                        // arrival.
                        state.free_indices.push(Reverse(index));
                    }
                    state.leave()
                }
            }
        });
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("waiting", &self.place.is_some())
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
    fn arrivals_during_a_drain_wait_at_the_door_until_the_last_released_wait_is_taken() {
        let b = Barrier::new(2);
        let mut first = arrive(&b);
        let w = CountingWaker::new();
        assert_eq!(w.poll(Box::pin(b.wait()).as_mut()), Poll::Ready(Ok(1)));
        // `first` is released but has not run: the round drains.
        let (mut c, mut d, e) = (arrive(&b), arrive(&b), arrive(&b));
        assert_eq!(b.n_waiting(), 0, "nobody gets into the next round yet");
        assert_eq!((c.0.count(), d.0.count(), e.0.count()), (0, 0, 0));
        assert_eq!(first.0.poll(first.1.as_mut()), Poll::Ready(Ok(0)));
        assert_eq!(
            (c.0.count(), d.0.count(), e.0.count()),
            (1, 1, 1),
            "the drain is over: the door opens"
        );
        assert_eq!(b.n_waiting(), 3, "let in, not run yet");
        drop(e);
        assert_eq!(b.n_waiting(), 2, "a task let in and dropped does not count");
        assert!(c.0.poll(c.1.as_mut()).is_pending(), "in the round, index 0");
        assert_eq!(
            d.0.poll(d.1.as_mut()),
            Poll::Ready(Ok(1)),
            "and the round is full"
        );
        assert_eq!(c.0.poll(c.1.as_mut()), Poll::Ready(Ok(0)));
        assert_eq!(b.n_waiting(), 0);
    }

    #[test]
    fn a_reset_while_draining_breaks_the_waits_not_yet_taken_and_keeps_the_door_shut() {
        let b = Barrier::new(3);
        let (mut taken, mut untaken) = (arrive(&b), arrive(&b));
        let w = CountingWaker::new();
        assert_eq!(w.poll(Box::pin(b.wait()).as_mut()), Poll::Ready(Ok(2)));
        assert_eq!(taken.0.poll(taken.1.as_mut()), Poll::Ready(Ok(0)));
        let mut newcomer = arrive(&b);
        b.reset();
        assert!(
            newcomer.0.poll(newcomer.1.as_mut()).is_pending(),
            "still at the door"
        );
        assert_eq!(
            untaken.0.poll(untaken.1.as_mut()),
            Poll::Ready(Err(BrokenBarrier(()))),
            "released, but its task ran only after the reset"
        );
        assert_eq!(newcomer.0.count(), 1, "the last wait taken opens the door");
        assert!(newcomer.0.poll(newcomer.1.as_mut()).is_pending());
        assert_eq!(b.n_waiting(), 1, "in the new round");
    }

    #[test]
    #[should_panic(expected = "at least one party")]
    fn zero_parties_panics() {
        let _ = Barrier::new(0);
    }
}
