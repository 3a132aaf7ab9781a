//! A hierarchical timer wheel: a pure data structure, with no clock and no I/O.
//!
//! Time is a `u64` count of *units* (the runtime's unit is the nanosecond). The runtime inserts
//! a value (a waker) with a deadline, and later calls [`Wheel::advance`] with the current time
//! to collect everything that is due: every deadline at or before it, exactly.
//!
//! **Ticks.** The slots are coarser than the units: a *tick*, the width of a level-0 slot, is
//! `2^shift` units, fixed when the wheel is made ([`Wheel::with_tick_bits`]; the runtime uses
//! 2^20 ns, about 1.05 ms). Everything below about slots and levels counts in ticks; each
//! entry keeps its exact deadline in units. So a slot may hold entries due at different
//! instants of its tick, and [`Wheel::advance`] to an instant inside a tick fires the entries
//! of that tick due by then and leaves the others in their slot. [`Wheel::next_deadline`]
//! is exact in units: the loop can sleep until the earliest deadline itself, not until the
//! end of its tick.
//!
//! # The idea
//!
//! A clock face with 64 slots, one per tick, makes insert O(1): put the timer in the slot for
//! its deadline. Covering longer delays with one face would need a slot per tick, so the wheel
//! stacks [`LEVELS`] faces. A slot at level 0 is 1 tick wide, at level 1 it is 64 ticks, at
//! level 2 it is 4,096 ticks, and so on: level `k` slots are `64^k` ticks wide, and the six
//! levels together cover [`MAX_SPAN`] = `2^36` ticks, about 834 days with the runtime's 2^20 ns ticks.
//!
//! **Choosing the level.** Write `now` and the deadline in base 64: level `k` owns the `k`-th
//! digit. An entry goes to the level of the highest digit where the deadline and `now` differ,
//! in the slot named by the deadline's digit there. So level 0 holds deadlines in the current
//! 64-tick block, level 1 those in the current 4,096-tick block but a later 64-tick block, and
//! so on. Two consequences keep the rest simple: every entry at level `k` is due before every
//! entry at level `k + 1`, and within a level a lower slot index is due earlier. Finding the
//! earliest slot is therefore "lowest non-empty level, lowest set bit of its 64-bit occupied
//! mask": a few bit operations, and slots never wrap around.
//!
//! **Cascading.** When time reaches the start of a level-`k` slot (`k > 0`), its entries now
//! agree with `now` on the `k`-th digit, so each is filed again, at a lower level. An entry
//! moves down at most [`LEVELS`] - 1 times in its life, so insert, cancel and expiry are O(1)
//! per timer, whatever the number of timers. [`Wheel::advance`] jumps from one occupied slot to
//! the next, so a jump of `10^12` ticks over a few timers costs a few steps, not `10^12`.
//!
//! **Overflow.** A deadline whose top digit differs from `now`'s (anything `MAX_SPAN` or more
//! ticks away, `u64::MAX` included, and some nearer ones just past a `2^36` boundary) waits on
//! an overflow list. When time reaches the start of the `2^36`-tick block of the earliest
//! overflow deadline, the whole overflow list is filed again: entries in that block enter the
//! wheel, the rest stay. This costs O(overflow entries) once per such block, which for
//! the runtime's ticks is at most every 834 days. Overflow entries never fire early or late.
//!
//! **Past deadlines.** A deadline at or before [`Wheel::now`] goes to the current level-0 slot
//! and fires at the next `advance`. That slot also holds the entries due later in the current
//! tick.
//!
//! **Order.** One `advance` returns entries by deadline, and equal deadlines in insertion
//! order. Appends and cascades keep insertion order, and each list knows whether its
//! deadlines are in order; a level-0 list that is not (past deadlines in the current slot, or
//! instants of one tick inserted out of order) is sorted when it fires. With one-unit ticks
//! only the current slot can be out of order.
//!
//! **`next_deadline` is exact.** Each list caches its minimum deadline. A list whose deadlines
//! were appended in non-decreasing order (the usual case: one timeout length, rising `now`)
//! is flagged sorted, and its minimum is its head, kept exact through cancels. Otherwise,
//! cancelling the minimum marks the cache unknown, and the next `next_deadline` (or `advance`
//! into the overflow) rescans that one list. So the cost is O(`LEVELS`) bit operations, plus,
//! only after such a cancel, one scan of the earliest list. That list can be long (every timer
//! due in the same 64 ticks at level 1, or 4,096 at level 2), so a workload that mixes timeout
//! lengths and cancels the earliest timer between calls pays O(entries in that slot) per call.
//! The caches are `Cell`s so that `next_deadline` can take `&self`; this makes the wheel
//! `!Sync`, which a single-threaded runtime never needs.
//!
//! **Why a slab.** Entries live in one `Vec`, linked into per-slot doubly linked lists by `u32`
//! indices, with freed entries on a free list. No per-timer allocation and no `unsafe`
//! pointer lists. A [`TimerKey`] holds the index and the entry's insert sequence number, which
//! is never reused, so a key for a fired or cancelled timer can never reach a newer one, even
//! after the slab is released. When the wheel empties, capacity above 1,024 entries is freed.
#![allow(dead_code)] // a few accessors serve only the tests and the metrics

use std::cell::Cell;

/// Bits of a tick that one level consumes: a level has `2^SLOT_BITS` slots.
pub(crate) const SLOT_BITS: usize = 6;
/// Slots per level.
pub(crate) const SLOTS: usize = 1 << SLOT_BITS;
/// Selects a slot index from a shifted tick.
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// Levels in the wheel. A slot at level `k` is `64^k` ticks wide.
pub(crate) const LEVELS: usize = 6;
/// Ticks covered by the whole wheel: one turn of the top level, `2^36`.
pub(crate) const MAX_SPAN: u64 = 1 << (SLOT_BITS * LEVELS);
/// Index of the overflow list in [`Wheel::lists`], treated as level `LEVELS` with one slot.
const OVERFLOW: usize = LEVELS * SLOTS;
/// "No entry": the end of a list.
const NIL: u32 = u32::MAX;
/// Slab capacity kept when the wheel empties. Anything above is released.
const RETAINED_CAPACITY: usize = 1024;

/// Ticks covered by one slot at `level`: `64^level`.
const fn slot_span(level: usize) -> u64 {
    1 << (level * SLOT_BITS)
}

/// The level for an entry due at `tick` (`>= now`, both in ticks): the one owning the highest bit where `tick`
/// and `now` differ. [`LEVELS`] means the overflow list.
const fn level_for(now: u64, tick: u64) -> usize {
    // `| SLOT_MASK`: ticks differing only in the lowest digit, or not at all, go to level 0.
    let highest_differing_bit = 63 - ((now ^ tick) | SLOT_MASK).leading_zeros() as usize;
    let level = highest_differing_bit / SLOT_BITS;
    if level < LEVELS { level } else { LEVELS }
}

/// The slot of `level` that covers `tick`.
const fn slot_for(tick: u64, level: usize) -> usize {
    ((tick >> (level * SLOT_BITS)) & SLOT_MASK) as usize
}

/// First tick of `slot` at `level`, in the turn of that level that contains `now`.
const fn slot_start(now: u64, level: usize, slot: usize) -> u64 {
    let turn = slot_span(level + 1);
    (now & !(turn - 1)) | (slot as u64 * slot_span(level))
}

/// First tick of the `MAX_SPAN` block containing `tick`: when an overflow entry due at `tick`
/// moves into the wheel.
const fn block_start(tick: u64) -> u64 {
    tick & !(MAX_SPAN - 1)
}

/// Names one inserted timer. Stays valid until the timer fires or is cancelled, then matches
/// nothing, forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey {
    /// Slab index of the entry.
    index: u32,
    /// The entry's insert sequence number, its generation.
    seq: u64,
}

/// One slab slot: an armed timer, or a free slot on the free list.
struct Entry<T> {
    /// `Some` while armed, `None` while free.
    value: Option<T>,
    /// The instant (in units, not ticks) at which the timer is due.
    deadline: u64,
    /// Insert sequence number: the generation a key must match, and the tie-breaker.
    seq: u64,
    /// Previous entry on the same list, or `NIL`.
    prev: u32,
    /// Next entry on the same list (or on the free list), or `NIL`.
    next: u32,
    /// Index in [`Wheel::lists`] of the list holding the entry.
    list: u16,
}

/// A doubly linked list of entries: one wheel slot, or the overflow.
///
/// # Invariant: `sorted` implies `min_known` and `min` equals the head's deadline.
struct List {
    /// First entry, or `NIL` if empty.
    head: u32,
    /// Last entry, or `NIL` if empty.
    tail: u32,
    /// Smallest deadline on the list, when `min_known`.
    min: Cell<u64>,
    /// Whether `min` is exact. Cleared when the minimum of an unsorted list is cancelled.
    min_known: Cell<bool>,
    /// Whether deadlines are non-decreasing from head to tail.
    sorted: Cell<bool>,
}

impl List {
    /// A list holding only entry `index`, due at `deadline`, or an empty list for `NIL`.
    fn single(index: u32, deadline: u64) -> List {
        List {
            head: index,
            tail: index,
            min: Cell::new(deadline),
            min_known: Cell::new(true),
            sorted: Cell::new(true),
        }
    }
}

/// A hierarchical timer wheel holding values of type `T` (see the [module docs](self)).
pub(crate) struct Wheel<T> {
    /// The time (in units) the wheel has advanced to.
    now: u64,
    /// A tick is `2^shift` units.
    shift: u32,
    /// Armed entries.
    len: usize,
    /// Sequence number for the next insert.
    next_seq: u64,
    /// Armed and free entries.
    entries: Vec<Entry<T>>,
    /// First free entry, or `NIL`. Free entries are chained through `Entry::next`.
    free_head: u32,
    /// `LEVELS * SLOTS` slot lists (level `k`, slot `s` at `k * SLOTS + s`), then the overflow.
    lists: Box<[List]>,
    /// Per level, bit `s` is set iff slot `s` is non-empty. `occupied[LEVELS]` is the overflow.
    occupied: [u64; LEVELS + 1],
    /// Reused buffer for sorting a slot that mixes past deadlines.
    scratch: Vec<u32>,
}

impl<T> Wheel<T> {
    /// An empty wheel at time 0, with ticks of one unit.
    pub(crate) fn new() -> Self {
        Self::with_tick_bits(0)
    }

    /// An empty wheel at time 0 whose ticks (level-0 slots) are `2^shift` units wide.
    pub(crate) fn with_tick_bits(shift: u32) -> Self {
        assert!(shift < 64, "a tick of 2^{shift} units");
        Wheel {
            now: 0,
            shift,
            len: 0,
            next_seq: 0,
            entries: Vec::new(),
            free_head: NIL,
            lists: (0..=OVERFLOW).map(|_| List::single(NIL, 0)).collect(),
            occupied: [0; LEVELS + 1],
            scratch: Vec::new(),
        }
    }

    /// The time (in units) the wheel has advanced to.
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// Number of armed timers.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is armed.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arms a timer due at `deadline`, in O(1). A deadline at or before [`now`](Self::now)
    /// fires at the next [`advance`](Self::advance).
    ///
    /// # Panics
    /// If more than `u32::MAX - 1` timers are armed at once.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry {
            value: Some(value),
            deadline,
            seq,
            prev: NIL,
            next: NIL,
            list: 0,
        };
        let index = if self.free_head != NIL {
            let index = self.free_head;
            self.free_head = self.entries[index as usize].next;
            self.entries[index as usize] = entry;
            index
        } else {
            let index = u32::try_from(self.entries.len())
                .ok()
                .filter(|&index| index != NIL);
            self.entries.push(entry);
            index.expect("timer wheel: too many timers")
        };
        self.len += 1;
        self.file(index);
        TimerKey { index, seq }
    }

    /// Disarms a timer in O(1) and returns its value, or `None` if `key` already fired or was
    /// cancelled.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<T> {
        self.find(key)?;
        self.unlink(key.index);
        let (_, value) = self.release(key.index);
        self.release_memory_if_empty();
        Some(value)
    }

    /// The value of an armed timer, e.g. to replace a stored waker.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        if entry.seq == key.seq {
            entry.value.as_mut()
        } else {
            None
        }
    }

    /// The deadline of an armed timer.
    pub(crate) fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.find(key).map(|entry| entry.deadline)
    }

    /// The exact earliest deadline of any armed timer. O(`LEVELS`), plus a scan of one list if
    /// its cached minimum was cancelled (see the module docs).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.first_list().map(|(_, list)| self.min_deadline(list))
    }

    /// [`next_deadline`](Self::next_deadline), and whether the list holding the earliest
    /// timer holds others too: a hint that more timers are due soon after it, which the
    /// runtime uses to gather them into one wake-up. Same cost.
    pub(crate) fn next_deadline_and_company(&self) -> Option<(u64, bool)> {
        self.first_list().map(|(_, id)| {
            let list = &self.lists[id];
            (self.min_deadline(id), list.head != list.tail)
        })
    }

    /// Moves time to `now` (never backwards) and appends to `expired` every timer due at or
    /// before it, by deadline, equal deadlines in insertion order. Skips empty slots, so the
    /// cost does not depend on how far time moves.
    pub(crate) fn advance(&mut self, now: u64, expired: &mut Vec<(TimerKey, T)>) {
        let target = now.max(self.now);
        let target_tick = target >> self.shift;
        while let Some((level, list)) = self.first_list() {
            let start = match level {
                LEVELS => block_start(self.min_deadline(list) >> self.shift),
                _ => slot_start(self.now_tick(), level, list % SLOTS),
            };
            debug_assert!(
                start >= self.now_tick(),
                "list {list} starts at tick {start} < now {}",
                self.now
            );
            if start > target_tick {
                break;
            }
            // The start of the slot, or `now` itself if that is later within the same tick.
            self.now = self.now.max(start << self.shift);
            if level == 0 {
                if !self.fire(list, target, expired) {
                    // Its tick is `target`'s, and its later entries are due after `target`;
                    // every other list is due later still.
                    break;
                }
            } else {
                self.refile(list)
            }
        }
        self.now = target;
        self.release_memory_if_empty();
    }

    /// The tick the wheel has advanced to.
    fn now_tick(&self) -> u64 {
        self.now >> self.shift
    }

    /// The armed entry `key` names, if any.
    fn find(&self, key: TimerKey) -> Option<&Entry<T>> {
        let entry = self.entries.get(key.index as usize)?;
        (entry.seq == key.seq && entry.value.is_some()).then_some(entry)
    }

    /// `(level, list)` of the list due first: lowest non-empty level, lowest occupied slot.
    fn first_list(&self) -> Option<(usize, usize)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        Some((
            level,
            level * SLOTS + self.occupied[level].trailing_zeros() as usize,
        ))
    }

    /// Smallest deadline on the non-empty list `list_id`, rescanning it if unknown.
    fn min_deadline(&self, list_id: usize) -> u64 {
        let list = &self.lists[list_id];
        debug_assert!(list.head != NIL, "min of empty list {list_id}");
        if !list.min_known.get() {
            let (mut min, mut sorted, mut previous) = (u64::MAX, true, 0);
            let mut index = list.head;
            while index != NIL {
                let entry = &self.entries[index as usize];
                min = min.min(entry.deadline);
                sorted &= previous <= entry.deadline;
                previous = entry.deadline;
                index = entry.next;
            }
            list.min.set(min);
            list.min_known.set(true);
            list.sorted.set(sorted);
        }
        list.min.get()
    }

    /// Appends entry `index` to the list its deadline belongs to at `self.now`.
    fn file(&mut self, index: u32) {
        let deadline = self.entries[index as usize].deadline;
        // Past deadlines wait in the current slot.
        let tick = deadline.max(self.now) >> self.shift;
        let list_id = match level_for(self.now_tick(), tick) {
            LEVELS => OVERFLOW,
            level => level * SLOTS + slot_for(tick, level),
        };
        let list = &mut self.lists[list_id];
        let entry = &mut self.entries[index as usize];
        (entry.prev, entry.next, entry.list) = (list.tail, NIL, list_id as u16);
        if list.tail == NIL {
            *list = List::single(index, deadline);
            self.occupied[list_id / SLOTS] |= 1 << (list_id % SLOTS);
            return;
        }
        let tail = &mut self.entries[list.tail as usize];
        tail.next = index;
        if deadline < tail.deadline {
            list.sorted.set(false);
        }
        if deadline < list.min.get() {
            // Below the old cache, which is at most the true minimum: exact either way.
            list.min.set(deadline);
            list.min_known.set(true);
        }
        list.tail = index;
    }

    /// Removes entry `index` from its list.
    fn unlink(&mut self, index: u32) {
        let entry = &self.entries[index as usize];
        let (prev, next, deadline) = (entry.prev, entry.next, entry.deadline);
        let list_id = entry.list as usize;
        let list = &mut self.lists[list_id];
        match prev {
            NIL => list.head = next,
            _ => self.entries[prev as usize].next = next,
        }
        match next {
            NIL => list.tail = prev,
            _ => self.entries[next as usize].prev = prev,
        }
        if list.head == NIL {
            self.occupied[list_id / SLOTS] &= !(1 << (list_id % SLOTS));
        } else if list.sorted.get() {
            if prev == NIL {
                list.min.set(self.entries[next as usize].deadline);
            }
        } else if deadline == list.min.get() {
            list.min_known.set(false);
        }
    }

    /// Empties list `list_id` and returns its former head. The entries keep their links.
    fn take_list(&mut self, list_id: usize) -> u32 {
        self.occupied[list_id / SLOTS] &= !(1 << (list_id % SLOTS));
        let list = &mut self.lists[list_id];
        list.tail = NIL;
        std::mem::replace(&mut list.head, NIL)
    }

    /// Cascades a slot above level 0, or re-files the overflow: files each entry again.
    fn refile(&mut self, list_id: usize) {
        let mut index = self.take_list(list_id);
        while index != NIL {
            let next = self.entries[index as usize].next;
            self.file(index);
            let filed = self.entries[index as usize].list as usize;
            debug_assert!(
                filed / SLOTS < list_id / SLOTS || list_id == OVERFLOW,
                "entry {index} (deadline {}) went from list {list_id} to {filed} at now {}",
                self.entries[index as usize].deadline,
                self.now,
            );
            index = next;
        }
    }

    /// Fires the entries of the level-0 list `list_id` due at or before `until`, in
    /// (deadline, insertion) order, and files the others again (the list's tick is `until`'s
    /// then). Returns true if none is left.
    fn fire(&mut self, list_id: usize, until: u64, expired: &mut Vec<(TimerKey, T)>) -> bool {
        let sorted = self.lists[list_id].sorted.get();
        let mut index = self.take_list(list_id);
        // Only a list that got a deadline out of order needs a sort.
        let mut order = std::mem::take(&mut self.scratch);
        while index != NIL {
            order.push(index);
            index = self.entries[index as usize].next;
        }
        if !sorted {
            order.sort_unstable_by_key(|&i| {
                let entry = &self.entries[i as usize];
                (entry.deadline, entry.seq)
            });
        }
        let mut all = true;
        for index in order.drain(..) {
            let deadline = self.entries[index as usize].deadline;
            if deadline <= until {
                expired.push(self.release(index));
            } else {
                debug_assert_eq!(deadline >> self.shift, until >> self.shift, "entry {index}");
                // In order: the list is rebuilt sorted.
                self.file(index);
                all = false;
            }
        }
        self.scratch = order;
        all
    }

    /// Takes the value of an unlinked entry and puts the entry on the free list.
    fn release(&mut self, index: u32) -> (TimerKey, T) {
        let entry = &mut self.entries[index as usize];
        let value = entry
            .value
            .take()
            .expect("timer wheel: freeing a free entry");
        entry.next = self.free_head;
        self.free_head = index;
        self.len -= 1;
        let key = TimerKey {
            index,
            seq: entry.seq,
        };
        (key, value)
    }

    /// Releases a large slab once no timer is armed. Old keys stay harmless: the next entry
    /// at their index has a newer `seq`.
    fn release_memory_if_empty(&mut self) {
        if self.len == 0 && self.entries.capacity() > RETAINED_CAPACITY {
            self.entries.clear();
            self.entries.shrink_to(RETAINED_CAPACITY);
            self.scratch = Vec::new();
            self.free_head = NIL;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    impl<T> Wheel<T> {
        /// Slab capacity, to check that memory comes back.
        fn capacity(&self) -> usize {
            self.entries.capacity()
        }

        /// Walks every list and the free list; panics on any broken invariant.
        fn check_invariants(&self) {
            let mut armed = 0;
            for (list_id, list) in self.lists.iter().enumerate() {
                let (level, slot) = (list_id / SLOTS, list_id % SLOTS);
                assert_eq!(
                    self.occupied[level] >> slot & 1 == 1,
                    list.head != NIL,
                    "{list_id}"
                );
                let (mut prev, mut index, mut deadlines) = (NIL, list.head, Vec::new());
                while index != NIL {
                    let entry = &self.entries[index as usize];
                    assert!(entry.value.is_some() && entry.prev == prev, "entry {index}");
                    assert_eq!(entry.list as usize, list_id, "entry {index}");
                    let tick = entry.deadline.max(self.now) >> self.shift;
                    let expected = match level_for(self.now_tick(), tick) {
                        LEVELS => OVERFLOW,
                        level => level * SLOTS + slot_for(tick, level),
                    };
                    assert_eq!(
                        expected, list_id,
                        "deadline {} now {}",
                        entry.deadline, self.now
                    );
                    deadlines.push(entry.deadline);
                    (prev, index) = (index, entry.next);
                }
                assert_eq!(list.tail, prev, "list {list_id}");
                armed += deadlines.len();
                assert!(!list.sorted.get() || list.min_known.get() && deadlines.is_sorted());
                if list.min_known.get() && list.head != NIL {
                    assert_eq!(Some(&list.min.get()), deadlines.iter().min(), "{list_id}");
                }
            }
            assert_eq!(armed, self.len);
            let (mut free, mut index) = (0, self.free_head);
            while index != NIL {
                assert!(self.entries[index as usize].value.is_none());
                (free, index) = (free + 1, self.entries[index as usize].next);
            }
            assert_eq!(free + self.len, self.entries.len());
        }
    }

    /// Boundary values: powers of two, their neighbours, and the ends of `u64`.
    fn interesting() -> Vec<u64> {
        let mut values = vec![0, 4095, 4097, MAX_SPAN - 1, MAX_SPAN + 1, u64::MAX];
        for bit in 0..64 {
            let power = 1 << bit;
            values.extend([power - 1, power, power + 1, u64::MAX - power]);
        }
        values
    }

    /// `level_for`, by definition: the lowest level above which `tick` and `now` agree.
    fn reference_level(now: u64, tick: u64) -> usize {
        let agree_above = |level: usize| {
            let bits = SLOT_BITS * (level + 1);
            bits >= 64 || now >> bits == tick >> bits
        };
        (0..LEVELS)
            .find(|&level| agree_above(level))
            .unwrap_or(LEVELS)
    }

    #[test]
    fn constants_are_derived() {
        assert_eq!((SLOTS, SLOT_MASK, MAX_SPAN), (64, 63, 1 << 36));
        assert_eq!(slot_span(LEVELS), MAX_SPAN);
        assert!(OVERFLOW < usize::from(u16::MAX) && SLOTS <= 64);
    }

    #[test]
    fn level_for_matches_its_definition() {
        let check = |now, tick| assert_eq!(level_for(now, tick), reference_level(now, tick));
        for now in 0..130 {
            (now..now + 9000).for_each(|tick| check(now, tick));
        }
        let values = interesting();
        for &now in &values {
            values
                .iter()
                .filter(|&&tick| tick >= now)
                .for_each(|&tick| check(now, tick));
            if let Some(far) = now.checked_add(MAX_SPAN) {
                assert_eq!(
                    level_for(now, far),
                    LEVELS,
                    "{now} + MAX_SPAN must overflow"
                );
            }
        }
    }

    #[test]
    fn slot_math_round_trips() {
        for now in interesting() {
            assert!(now - block_start(now) < MAX_SPAN && block_start(now) % MAX_SPAN == 0);
            for level in 0..LEVELS {
                let turn = SLOT_BITS * (level + 1);
                let own = slot_start(now, level, slot_for(now, level));
                assert!(own <= now && now - own < slot_span(level), "{now} {level}");
                for slot in 0..SLOTS {
                    let start = slot_start(now, level, slot);
                    assert_eq!(slot_for(start, level), slot);
                    assert_eq!(start % slot_span(level), 0);
                    assert_eq!(
                        start >> turn,
                        now >> turn,
                        "same turn: {now} {level} {slot}"
                    );
                }
            }
        }
    }

    fn fire(wheel: &mut Wheel<u64>, now: u64) -> Vec<u64> {
        let mut expired = Vec::new();
        wheel.advance(now, &mut expired);
        wheel.check_invariants();
        expired.into_iter().map(|(_, value)| value).collect()
    }

    #[test]
    fn ties_fire_in_insertion_order() {
        let mut wheel = Wheel::new();
        wheel.insert(5000, 0); // level 2
        wheel.insert(5000, 1);
        assert!(fire(&mut wheel, 4100).is_empty()); // both cascade to level 1
        wheel.insert(5000, 2);
        assert!(fire(&mut wheel, 4990).is_empty()); // all cascade to level 0
        wheel.insert(5000, 3);
        assert_eq!(fire(&mut wheel, 5000), [0, 1, 2, 3]);
    }

    #[test]
    fn one_advance_fires_in_deadline_order() {
        let mut wheel = Wheel::new();
        for (value, deadline) in [500, 3, 70_000, 64, 3, u64::MAX, MAX_SPAN + 1]
            .into_iter()
            .enumerate()
        {
            wheel.insert(deadline, value as u64);
        }
        assert_eq!(wheel.next_deadline(), Some(3));
        assert_eq!(fire(&mut wheel, u64::MAX), [1, 4, 3, 0, 2, 6, 5]);
    }

    #[test]
    fn past_deadlines_fire_at_next_advance_sorted() {
        let mut wheel = Wheel::new();
        fire(&mut wheel, 1000);
        for (value, deadline) in [900, 10, 1000, 0, 10].into_iter().enumerate() {
            wheel.insert(deadline, value as u64);
        }
        assert_eq!(wheel.next_deadline(), Some(0));
        assert_eq!(fire(&mut wheel, 5), [3, 1, 4, 0, 2]); // going back counts as "now"
        assert_eq!(wheel.now(), 1000);
    }

    #[test]
    fn overflow_is_refiled_and_fires_exactly() {
        let mut wheel = Wheel::new();
        let far = 3 * MAX_SPAN + 5;
        let key = wheel.insert(far, 1);
        wheel.insert(u64::MAX, 2);
        wheel.insert(MAX_SPAN, 0); // just past the first block
        assert_eq!(wheel.next_deadline(), Some(MAX_SPAN));
        assert_eq!(fire(&mut wheel, MAX_SPAN), [0]);
        assert!(fire(&mut wheel, far - 1).is_empty());
        assert_eq!(
            (wheel.next_deadline(), wheel.deadline(key)),
            (Some(far), Some(far))
        );
        assert_eq!(fire(&mut wheel, far), [1]);
        assert!(fire(&mut wheel, u64::MAX - 1).is_empty());
        assert_eq!(wheel.next_deadline(), Some(u64::MAX));
        assert_eq!(fire(&mut wheel, u64::MAX), [2]);
        wheel.insert(u64::MAX, 3);
        assert_eq!(fire(&mut wheel, u64::MAX), [3]);
    }

    #[test]
    fn an_advance_inside_a_tick_fires_only_what_is_due_by_then() {
        let mut wheel = Wheel::with_tick_bits(4); // ticks of 16 units
        wheel.insert(21, 1);
        wheel.insert(18, 0);
        wheel.insert(40, 3);
        wheel.insert(31, 2);
        assert_eq!(
            wheel.next_deadline(),
            Some(18),
            "exact, not the tick's start"
        );
        assert!(fire(&mut wheel, 17).is_empty());
        assert_eq!(fire(&mut wheel, 18), [0]);
        assert_eq!(wheel.next_deadline(), Some(21));
        assert_eq!(fire(&mut wheel, 30), [1]);
        assert_eq!(wheel.next_deadline(), Some(31));
        assert_eq!(fire(&mut wheel, 39), [2]);
        assert_eq!(fire(&mut wheel, 40), [3]);
    }

    #[test]
    fn huge_jump_skips_empty_time() {
        let mut wheel = Wheel::new();
        for step in 1..=100 {
            wheel.insert(step * 10_000_000_000, step);
        }
        assert_eq!(
            fire(&mut wheel, 1_000_000_000_000),
            (1..=100).collect::<Vec<_>>()
        );
        assert_eq!(wheel.now(), 1_000_000_000_000);
    }

    #[test]
    fn stale_keys_match_nothing() {
        let mut wheel = Wheel::new();
        let fired = wheel.insert(1, 'a');
        let mut expired = Vec::new();
        wheel.advance(1, &mut expired);
        assert_eq!(expired, [(fired, 'a')]);
        let cancelled = wheel.insert(9, 'b'); // reuses the slab slot
        assert_eq!(cancelled.index, fired.index);
        assert_eq!((wheel.cancel(fired), wheel.deadline(fired)), (None, None));
        assert_eq!(wheel.get_mut(fired), None);
        assert_eq!(
            wheel
                .get_mut(cancelled)
                .map(|value| std::mem::replace(value, 'c')),
            Some('b')
        );
        assert_eq!(
            (wheel.cancel(cancelled), wheel.cancel(cancelled)),
            (Some('c'), None)
        );
        assert!(wheel.is_empty() && wheel.next_deadline().is_none());
    }

    #[test]
    fn memory_comes_back_after_a_million_cancels() {
        let mut wheel = Wheel::new();
        let keys: Vec<_> = (0..1_000_000)
            .map(|i| wheel.insert(i * 7919 % 3_000_000, i))
            .collect();
        assert_eq!(wheel.len(), 1_000_000);
        for (i, &key) in keys.iter().enumerate() {
            assert_eq!(wheel.cancel(key), Some(i as u64));
        }
        assert!(wheel.is_empty() && wheel.capacity() <= RETAINED_CAPACITY);
        let fresh = wheel.insert(5, 0);
        assert_eq!((wheel.cancel(keys[0]), fresh.index), (None, keys[0].index));
        wheel.check_invariants();
    }

    #[test]
    fn memory_comes_back_after_a_million_expiries() {
        let mut wheel = Wheel::new();
        for i in 0..1_000_000 {
            wheel.insert(i * 7919 % 3_000_000, i);
        }
        let mut expired = Vec::new();
        for now in [1000, 100_000, 3_000_000] {
            wheel.advance(now, &mut expired);
        }
        assert_eq!(expired.len(), 1_000_000);
        assert!(
            expired
                .windows(2)
                .all(|w| w[0].1 * 7919 % 3_000_000 <= w[1].1 * 7919 % 3_000_000)
        );
        assert!(wheel.is_empty() && wheel.capacity() <= RETAINED_CAPACITY);
    }

    /// One step of the model test. Amounts are interpreted relative to the wheel's `now`.
    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u64),
        Cancel(prop::sample::Index),
        Advance(u8, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => (0..8u8, 0..3000u64).prop_map(|(kind, amount)| Op::Insert(kind, amount)),
            2 => any::<prop::sample::Index>().prop_map(Op::Cancel),
            3 => (0..64u8, 0..3000u64).prop_map(|(kind, amount)| Op::Advance(kind, amount)),
        ]
    }

    /// A point relative to `now`: mostly near, sometimes past, far, around the next `MAX_SPAN`
    /// boundary or `now + MAX_SPAN`, or at the end of time.
    fn relative(now: u64, kind: u8, amount: u64) -> u64 {
        match kind {
            0 => now.saturating_sub(amount),
            1 => now.saturating_add(amount << 14),
            2 if amount % 2 == 0 => (block_start(now) | (MAX_SPAN - 2)).saturating_add(amount % 6),
            2 => now.saturating_add(MAX_SPAN - 1500).saturating_add(amount),
            3 => now.saturating_add(amount.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20),
            4 => u64::MAX - amount % 4,
            _ => now.saturating_add(amount),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn behaves_like_a_sorted_map(ops in prop::collection::vec(op(), 1..200)) {
            model_test(Wheel::new(), ops)?;
        }

        /// Ticks of 16 units: deadlines within a tick, and `advance` to instants inside one.
        #[test]
        fn behaves_like_a_sorted_map_with_wide_ticks(ops in prop::collection::vec(op(), 1..200)) {
            model_test(Wheel::with_tick_bits(4), ops)?;
        }

        /// The runtime's ticks (2^20 units): most of the test happens inside one tick.
        #[test]
        fn behaves_like_a_sorted_map_with_the_runtimes_ticks(
            ops in prop::collection::vec(op(), 1..200),
        ) {
            model_test(Wheel::with_tick_bits(20), ops)?;
        }
    }

    /// Runs `ops` on `wheel` and on a `BTreeMap` model, and checks after each step that they
    /// agree and that the wheel's invariants hold.
    fn model_test(mut wheel: Wheel<u64>, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut model = BTreeMap::new(); // (deadline, insert number) -> key
        let mut keys = Vec::new(); // every key ever issued, with its deadline and number
        let mut expired = Vec::new();
        for op in ops {
            match op {
                Op::Insert(kind, amount) => {
                    let deadline = relative(wheel.now(), kind, amount);
                    let number = keys.len() as u64;
                    let key = wheel.insert(deadline, number);
                    model.insert((deadline, number), key);
                    keys.push((key, deadline, number));
                }
                Op::Cancel(pick) if !keys.is_empty() => {
                    let (key, deadline, number) = keys[pick.index(keys.len())];
                    let armed = model.contains_key(&(deadline, number));
                    prop_assert_eq!(wheel.deadline(key), armed.then_some(deadline));
                    prop_assert_eq!(wheel.get_mut(key).copied(), armed.then_some(number));
                    let expected = model.remove(&(deadline, number)).map(|_| number);
                    prop_assert_eq!(wheel.cancel(key), expected);
                }
                Op::Cancel(_) => {}
                Op::Advance(kind, amount) => {
                    let next = wheel.next_deadline().unwrap_or(0);
                    let target = match kind {
                        0 => wheel.now().saturating_sub(amount),
                        1 => u64::MAX - amount % 2,
                        2..=4 => relative(wheel.now(), kind - 1, amount),
                        5 => next, // exactly the next deadline, or just before it
                        6 => next.saturating_sub(1),
                        _ => wheel.now().saturating_add(amount % 200),
                    };
                    let now = target.max(wheel.now());
                    let later = match now.checked_add(1) {
                        Some(next) => model.split_off(&(next, 0)),
                        None => BTreeMap::new(),
                    };
                    let due = std::mem::replace(&mut model, later);
                    let due: Vec<_> = due
                        .into_iter()
                        .map(|((_, number), key)| (key, number))
                        .collect();
                    wheel.advance(target, &mut expired);
                    prop_assert_eq!(&expired, &due);
                    prop_assert_eq!(wheel.now(), now);
                    expired.clear();
                }
            }
            prop_assert_eq!(
                wheel.next_deadline(),
                model.keys().next().map(|&(deadline, _)| deadline)
            );
            prop_assert_eq!(wheel.len(), model.len());
            wheel.check_invariants();
        }
        Ok(())
    }
}
