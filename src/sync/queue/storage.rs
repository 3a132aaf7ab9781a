//! The order a queue hands its items out in: the only thing its three kinds differ in. Each
//! kind's storage is here, with the kind's constructors.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

use super::GenericQueue;

/// Where a queue keeps its items, and so which item [`get`](super::GenericQueue::get) returns
/// next. minirt has three: [`Fifo`], [`Lifo`] and [`Priority`].
///
/// The trait is sealed: everything else about a queue (waiting, fairness, shutdown, `join`) is
/// written once over it, and the three kinds are all there is.
///
/// # Examples
///
/// ```
/// use minirt::sync::queue::{Fifo, Storage};
///
/// let mut s = Fifo::default();
/// s.push(1);
/// s.push(2);
/// assert_eq!(s.pop(), Some(1));
/// assert_eq!(s.len(), 1);
/// ```
pub trait Storage: Default + sealed::Sealed {
    /// What the queue holds.
    type Item;

    /// Adds an item.
    ///
    /// ```
    /// use minirt::sync::queue::{Lifo, Storage};
    ///
    /// let mut s = Lifo::default();
    /// s.push(1);
    /// assert_eq!(s.len(), 1);
    /// ```
    fn push(&mut self, item: Self::Item);

    /// Takes the item that is next in this storage's order.
    ///
    /// ```
    /// use minirt::sync::queue::{Priority, Storage};
    ///
    /// let mut s = Priority::default();
    /// s.push(2);
    /// s.push(1);
    /// assert_eq!(s.pop(), Some(1));
    /// ```
    fn pop(&mut self) -> Option<Self::Item>;

    /// How many items are stored.
    ///
    /// ```
    /// use minirt::sync::queue::{Fifo, Storage};
    ///
    /// assert_eq!(Fifo::<u8>::default().len(), 0);
    /// ```
    fn len(&self) -> usize;

    /// Whether no items are stored.
    ///
    /// ```
    /// use minirt::sync::queue::{Fifo, Storage};
    ///
    /// assert!(Fifo::<u8>::default().is_empty());
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

mod sealed {
    pub trait Sealed {}
}

/// First in, first out: the storage of [`Queue`](super::Queue). A `VecDeque`, pushed at the back
/// and popped at the front.
///
/// # Examples
///
/// ```
/// use minirt::sync::queue::{Fifo, Storage};
///
/// let mut s = Fifo::default();
/// s.push('a');
/// s.push('b');
/// assert_eq!(s.pop(), Some('a'));
/// ```
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out: the storage of [`LifoQueue`](super::LifoQueue). A `Vec` used as a stack.
///
/// # Examples
///
/// ```
/// use minirt::sync::queue::{Lifo, Storage};
///
/// let mut s = Lifo::default();
/// s.push('a');
/// s.push('b');
/// assert_eq!(s.pop(), Some('b'));
/// ```
pub struct Lifo<T>(Vec<T>);

/// Smallest first: the storage of [`PriorityQueue`](super::PriorityQueue). A `BinaryHeap` of
/// `Reverse<T>`, because `BinaryHeap` on its own pops the largest.
///
/// Items that compare equal come out in no particular order. To keep arrival order among equal
/// priorities, put `(priority, sequence_number, item)` tuples, as with asyncio.
///
/// # Examples
///
/// ```
/// use minirt::sync::queue::{Priority, Storage};
///
/// let mut s = Priority::default();
/// s.push(3);
/// s.push(1);
/// s.push(2);
/// assert_eq!(s.pop(), Some(1));
/// ```
pub struct Priority<T>(BinaryHeap<Reverse<T>>);

impl<T> sealed::Sealed for Fifo<T> {}
impl<T> sealed::Sealed for Lifo<T> {}
impl<T: Ord> sealed::Sealed for Priority<T> {}

impl<T> Storage for Fifo<T> {
    type Item = T;

    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }

    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Storage for Lifo<T> {
    type Item = T;

    fn push(&mut self, item: T) {
        self.0.push(item);
    }

    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Storage for Priority<T> {
    type Item = T;

    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }

    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

// Written out rather than derived: a derive would demand `T: Default`.
impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T> fmt::Debug for Fifo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fifo").field("len", &self.0.len()).finish()
    }
}

impl<T> fmt::Debug for Lifo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifo").field("len", &self.0.len()).finish()
    }
}

impl<T> fmt::Debug for Priority<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Priority")
            .field("len", &self.0.len())
            .finish()
    }
}

impl<T> GenericQueue<Fifo<T>> {
    /// An unbounded FIFO queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::Queue::new();
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(1));
    /// ```
    #[doc(alias = "Queue")]
    pub fn new() -> Self {
        Self::with_maxsize(None)
    }

    /// A FIFO queue that holds at most `maxsize` items; `put` waits while it is full.
    ///
    /// # Panics
    ///
    /// If `maxsize` is 0. A porter's trap: asyncio reads `maxsize=0` (and any `maxsize <= 0`)
    /// as "unbounded"; here that is spelled [`Queue::new`](super::Queue::new), and a bounded
    /// queue needs room for at least one item.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::Queue::bounded(1);
    /// q.put_nowait(1).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn bounded(maxsize: usize) -> Self {
        Self::with_maxsize(Some(maxsize))
    }
}

impl<T> GenericQueue<Lifo<T>> {
    /// An unbounded LIFO queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::LifoQueue::new();
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(2));
    /// ```
    #[doc(alias = "LifoQueue")]
    pub fn new() -> Self {
        Self::with_maxsize(None)
    }

    /// A LIFO queue that holds at most `maxsize` items.
    ///
    /// # Panics
    ///
    /// If `maxsize` is 0 (see [`Queue::bounded`](super::Queue::bounded)).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::LifoQueue::<u8>::bounded(2);
    /// assert_eq!(q.maxsize(), Some(2));
    /// ```
    pub fn bounded(maxsize: usize) -> Self {
        Self::with_maxsize(Some(maxsize))
    }
}

impl<T: Ord> GenericQueue<Priority<T>> {
    /// An unbounded priority queue: the smallest item comes out first.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::PriorityQueue::new();
    /// q.put_nowait((2, "later")).unwrap();
    /// q.put_nowait((1, "first")).unwrap();
    /// assert_eq!(q.get_nowait(), Ok((1, "first")));
    /// ```
    #[doc(alias = "PriorityQueue")]
    pub fn new() -> Self {
        Self::with_maxsize(None)
    }

    /// A priority queue that holds at most `maxsize` items.
    ///
    /// # Panics
    ///
    /// If `maxsize` is 0 (see [`Queue::bounded`](super::Queue::bounded)).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::PriorityQueue::bounded(1);
    /// q.put_nowait(5).unwrap();
    /// assert!(q.put_nowait(1).unwrap_err().is_full());
    /// ```
    pub fn bounded(maxsize: usize) -> Self {
        Self::with_maxsize(Some(maxsize))
    }
}
