//! The wait list every primitive except oneshot shares: a FIFO line of parked futures.
//!
//! A future that has to wait (for a permit, an item, an event) takes a place at the back of a
//! [`WaitList`] and gets a [`WaitKey`] back. Whoever makes progress possible notifies waiters from
//! the front. A notified waiter is taken out of the line at once, but its slot stays until its
//! future comes back for it: the future reads its [`Status`] on its next poll, or in its `Drop`,
//! and only then gives the key back with [`WaitList::remove`]. That is what lets a cancelled
//! waiter notice that it was already served and pass its turn on.
//!
//! The line is a doubly linked list threaded through a slab (a `Vec` of slots plus a free list),
//! so every operation is O(1) and there is no `unsafe`: the links are indices, not pointers.

use std::fmt;
use std::task::Waker;

/// A waiter's ticket: the index of its slot in one [`WaitList`].
///
/// It is neither `Copy` nor `Clone`, so exactly one future owns it, and [`WaitList::remove`]
/// takes it by value. A slot is only ever freed by the owner of its key, so a key never points at
/// somebody else's slot and needs no generation counter.
#[derive(Debug)]
pub(crate) struct WaitKey(usize);

/// Where a waiter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// In the line, with a waker, not yet served.
    Waiting,
    /// Served: taken out of the line by [`WaitList::notify_first`] or [`WaitList::notify_all`].
    /// What being served means (a permit, an event) is up to the primitive.
    Notified,
    /// Sent away unserved by [`WaitList::dismiss_all`], because nothing will ever come (a queue
    /// was shut down).
    Dismissed,
}

/// A FIFO line of waiters with O(1) push to the back, removal by key, and notify from the front.
///
/// # Invariant
/// The slots linked from `head` through `next` (and back from `tail` through `prev`) are exactly
/// the occupied slots whose status is [`Status::Waiting`], in arrival order, and there are
/// `waiting` of them. Each of them holds a waker. Vacant slots form a singly linked free list
/// from `free`. `occupied` counts the occupied slots: the keys not yet given back.
pub(crate) struct WaitList {
    slots: Vec<Slot>,
    free: Option<usize>,
    head: Option<usize>,
    tail: Option<usize>,
    waiting: usize,
    occupied: usize,
}

/// Slot capacity a line may keep once every key is back; a larger slab is freed then. A
/// burst of waiters grows the slab, and a primitive that lives as long as the program (a
/// server's semaphore, an event) would otherwise keep the burst's memory, ~56 bytes per
/// waiter, for good.
const KEEP_SLOTS: usize = 32;

enum Slot {
    Vacant { next_free: Option<usize> },
    Occupied(Waiter),
}

struct Waiter {
    /// `Some` while the waiter is [`Status::Waiting`]; taken out when it is notified or dismissed.
    waker: Option<Waker>,
    status: Status,
    prev: Option<usize>,
    next: Option<usize>,
}

impl WaitList {
    /// An empty line. Allocates nothing until the first waiter arrives.
    pub(crate) const fn new() -> Self {
        WaitList {
            slots: Vec::new(),
            free: None,
            head: None,
            tail: None,
            waiting: 0,
            occupied: 0,
        }
    }

    /// True when nobody is waiting. Notified waiters that have not come back yet do not count.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// How many waiters are in the line.
    pub(crate) fn len(&self) -> usize {
        self.waiting
    }

    /// Puts a waiter at the back of the line and returns its ticket.
    pub(crate) fn push_back(&mut self, waker: Waker) -> WaitKey {
        let waiter = Waiter {
            waker: Some(waker),
            status: Status::Waiting,
            prev: self.tail,
            next: None,
        };
        let index = match self.free {
            Some(index) => {
                let Slot::Vacant { next_free } = self.slots[index] else {
                    unreachable!("the free list points at an occupied slot {index}");
                };
                self.free = next_free;
                self.slots[index] = Slot::Occupied(waiter);
                index
            }
            None => {
                self.slots.push(Slot::Occupied(waiter));
                self.slots.len() - 1
            }
        };
        match self.tail {
            Some(tail) => self.waiter_mut(tail).next = Some(index),
            None => self.head = Some(index),
        }
        self.tail = Some(index);
        self.waiting += 1;
        self.occupied += 1;
        WaitKey(index)
    }

    /// Where the holder of `key` stands.
    pub(crate) fn status(&self, key: &WaitKey) -> Status {
        self.waiter(key.0).status
    }

    /// Replaces a waiting waiter's waker, unless the stored one already wakes the same task.
    /// A future may be polled with a different waker each time; the last one is the one to wake.
    pub(crate) fn set_waker(&mut self, key: &WaitKey, waker: &Waker) {
        let slot = &mut self.waiter_mut(key.0).waker;
        match slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Gives a ticket back: leaves the line if still in it, and frees the slot.
    /// Returns the status the waiter had, so a cancelled waiter can tell whether it was served.
    pub(crate) fn remove(&mut self, key: WaitKey) -> Status {
        let index = key.0;
        let status = self.waiter(index).status;
        if status == Status::Waiting {
            self.unlink(index);
        }
        self.slots[index] = Slot::Vacant {
            next_free: self.free,
        };
        self.free = Some(index);
        self.occupied -= 1;
        if self.occupied == 0 && self.slots.capacity() > KEEP_SLOTS {
            // Every key is back, so no key can point into the slab: start afresh. A new
            // (empty) vector rather than `shrink_to`, which would keep a small block in the
            // middle of the memory the burst used, and with it a whole page.
            self.slots = Vec::new();
            self.free = None;
        }
        status
    }

    /// Serves the first waiter: takes it out of the line, marks it [`Status::Notified`], and
    /// returns its waker for the caller to wake once it has let go of its borrow.
    /// Returns `None` when nobody is waiting.
    pub(crate) fn notify_first(&mut self) -> Option<Waker> {
        let index = self.head?;
        self.unlink(index);
        let waiter = self.waiter_mut(index);
        waiter.status = Status::Notified;
        waiter.waker.take()
    }

    /// Serves every waiter, in order. Returns their wakers.
    pub(crate) fn notify_all(&mut self) -> Vec<Waker> {
        self.drain(Status::Notified)
    }

    /// Sends every waiter away unserved, in order. Returns their wakers.
    pub(crate) fn dismiss_all(&mut self) -> Vec<Waker> {
        self.drain(Status::Dismissed)
    }

    /// Takes back what was handed out: every waiter that was notified and has not come back
    /// for its key yet is marked [`Status::Dismissed`] instead, as if it had been sent away
    /// unserved. Its waker was already taken and woken, so it will come back and see that.
    /// O(slots): only a queue's immediate shutdown needs it.
    pub(crate) fn withdraw_notified(&mut self) {
        for slot in &mut self.slots {
            if let Slot::Occupied(waiter) = slot
                && waiter.status == Status::Notified
            {
                waiter.status = Status::Dismissed;
            }
        }
    }

    fn drain(&mut self, status: Status) -> Vec<Waker> {
        let mut wakers = Vec::with_capacity(self.waiting);
        while let Some(index) = self.head {
            self.unlink(index);
            let waiter = self.waiter_mut(index);
            waiter.status = status;
            wakers.extend(waiter.waker.take());
        }
        wakers
    }

    /// Takes a waiting slot out of the line, joining its neighbours.
    fn unlink(&mut self, index: usize) {
        let Waiter { prev, next, .. } = *self.waiter(index);
        match prev {
            Some(prev) => self.waiter_mut(prev).next = next,
            None => self.head = next,
        }
        match next {
            Some(next) => self.waiter_mut(next).prev = prev,
            None => self.tail = prev,
        }
        let waiter = self.waiter_mut(index);
        waiter.prev = None;
        waiter.next = None;
        self.waiting -= 1;
    }

    fn waiter(&self, index: usize) -> &Waiter {
        match &self.slots[index] {
            Slot::Occupied(waiter) => waiter,
            Slot::Vacant { .. } => panic!("WaitList: slot {index} is vacant; a key was used twice"),
        }
    }

    fn waiter_mut(&mut self, index: usize) -> &mut Waiter {
        match &mut self.slots[index] {
            Slot::Occupied(waiter) => waiter,
            Slot::Vacant { .. } => panic!("WaitList: slot {index} is vacant; a key was used twice"),
        }
    }
}

impl fmt::Debug for WaitList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

/// Wakes every waker, for callers that have just let go of their borrow.
pub(crate) fn wake_all(wakers: impl IntoIterator<Item = Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}

/// The `Drop` of every waiting future: gives up its place, if it still holds one.
///
/// Takes the place out of `place` and hands it to `cancel`, the primitive's own bookkeeping
/// under its `RefCell` borrow, which returns the wakers of whoever it passed the turn on to
/// (a permit handed to a cancelled waiter goes to the next one; a barrier's drain may end).
/// Those are woken here, after `cancel` has returned and its borrow has ended: never wake
/// while borrowed.
pub(crate) fn cancel_on_drop<P, W>(place: &mut Option<P>, cancel: impl FnOnce(P) -> W)
where
    W: IntoIterator<Item = Waker>,
{
    if let Some(place) = place.take() {
        wake_all(cancel(place));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::testing::CountingWaker;

    /// Notifies waiters one by one and says whose waker came out each time.
    fn served_order(list: &mut WaitList, counters: &[CountingWaker]) -> Vec<usize> {
        std::iter::from_fn(|| list.notify_first())
            .map(|waker| {
                counters
                    .iter()
                    .position(|c| waker.will_wake(&c.waker()))
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn serves_in_arrival_order() {
        let mut list = WaitList::new();
        let counters: Vec<_> = (0..4).map(|_| CountingWaker::new()).collect();
        let keys: Vec<_> = counters.iter().map(|c| list.push_back(c.waker())).collect();
        assert_eq!(list.len(), 4);
        assert_eq!(served_order(&mut list, &counters), [0, 1, 2, 3]);
        assert!(list.is_empty());
        for key in keys {
            assert_eq!(list.remove(key), Status::Notified);
        }
    }

    #[test]
    fn removal_from_head_middle_and_tail_keeps_the_rest_in_order() {
        let mut list = WaitList::new();
        let counters: Vec<_> = (0..5).map(|_| CountingWaker::new()).collect();
        let mut keys: Vec<_> = counters
            .iter()
            .map(|c| list.push_back(c.waker()))
            .map(Some)
            .collect();
        for gone in [0, 2, 4] {
            assert_eq!(list.remove(keys[gone].take().unwrap()), Status::Waiting);
        }
        assert_eq!(list.len(), 2);
        assert_eq!(served_order(&mut list, &counters), [1, 3]);
        for key in keys.into_iter().flatten() {
            assert_eq!(list.remove(key), Status::Notified);
        }
    }

    #[test]
    fn slots_are_reused_and_the_line_stays_fifo() {
        let mut list = WaitList::new();
        let a = CountingWaker::new();
        let first = list.push_back(a.waker());
        let second = list.push_back(a.waker());
        list.remove(first);
        // The freed slot 0 is reused, but the newcomer still queues behind `second`.
        let third = list.push_back(a.waker());
        assert_eq!(third.0, 0);
        assert_eq!(list.slots.len(), 2);
        list.notify_first().unwrap();
        assert_eq!(list.status(&second), Status::Notified);
        assert_eq!(list.status(&third), Status::Waiting);
        list.remove(second);
        list.remove(third);
        assert!(list.is_empty());
        assert!(list.notify_first().is_none());
    }

    #[test]
    fn a_burst_of_waiters_gives_its_memory_back() {
        let mut list = WaitList::new();
        let c = CountingWaker::new();
        let keys: Vec<_> = (0..10_000).map(|_| list.push_back(c.waker())).collect();
        let last = list.push_back(c.waker());
        assert_eq!(list.notify_all().len(), 10_001);
        for key in keys {
            list.remove(key);
        }
        assert!(list.slots.capacity() > KEEP_SLOTS, "one key is still out");
        assert_eq!(list.remove(last), Status::Notified);
        assert!(list.slots.capacity() <= KEEP_SLOTS);
        // The fresh slab works as before.
        let key = list.push_back(c.waker());
        assert!(list.notify_first().is_some());
        assert_eq!(list.remove(key), Status::Notified);
    }

    #[test]
    fn set_waker_replaces_a_different_waker() {
        let mut list = WaitList::new();
        let (old, new) = (CountingWaker::new(), CountingWaker::new());
        let key = list.push_back(old.waker());
        list.set_waker(&key, &new.waker());
        list.notify_first().unwrap().wake();
        assert_eq!((old.count(), new.count()), (0, 1));
        list.remove(key);
    }

    #[test]
    fn withdraw_notified_turns_served_waiters_into_dismissed_ones() {
        let mut list = WaitList::new();
        let c = CountingWaker::new();
        let served = list.push_back(c.waker());
        let waiting = list.push_back(c.waker());
        list.notify_first().unwrap();
        list.withdraw_notified();
        assert_eq!(list.status(&served), Status::Dismissed);
        assert_eq!(
            list.status(&waiting),
            Status::Waiting,
            "the line is untouched"
        );
        assert_eq!(list.len(), 1);
        list.remove(served);
        list.remove(waiting);
    }

    #[test]
    fn notify_all_and_dismiss_all_empty_the_line() {
        let mut list = WaitList::new();
        let c = CountingWaker::new();
        let a = list.push_back(c.waker());
        let b = list.push_back(c.waker());
        assert_eq!(list.notify_all().len(), 2);
        let d = list.push_back(c.waker());
        assert_eq!(list.dismiss_all().len(), 1);
        assert!(list.is_empty());
        assert_eq!(list.status(&a), Status::Notified);
        assert_eq!(list.status(&b), Status::Notified);
        assert_eq!(list.remove(d), Status::Dismissed);
        list.remove(a);
        list.remove(b);
    }
}
