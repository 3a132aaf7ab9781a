//! Queues for passing work between tasks: asyncio's `Queue`, `LifoQueue` and `PriorityQueue`.
//!
//! The three kinds differ only in the order they hand items out, so they are one type,
//! [`GenericQueue`], over a [`Storage`]: [`Queue`] is FIFO, [`LifoQueue`] is a stack, and
//! [`PriorityQueue`] gives the smallest item first.
//!
//! # How it works
//!
//! A queue is two fair semaphores around its storage (the same `Permits` logic as
//! [`Semaphore`](super::Semaphore)):
//!
//! - *get permits*, one per stored item that nobody has been promised yet. `get` takes one
//!   (waiting if there is none), then pops an item.
//! - *put permits*, one per free place (as many as `usize::MAX` for an unbounded queue). `put`
//!   takes one (waiting while the queue is full), then pushes its item.
//!
//! Each push gives a get permit back and each pop gives a put permit back. As with the
//! semaphore, a permit given back while somebody waits goes straight to the first waiter. So
//! waiters are served first come, first served, and a newcomer cannot take an item that a woken
//! getter is about to take. Such a promised item is not counted by [`len`](GenericQueue::len)
//! or [`is_empty`](GenericQueue::is_empty): they count what
//! [`get_nowait`](GenericQueue::get_nowait) can take, so asyncio's idiom
//! `while not q.empty(): q.get_nowait()` works unchanged (see [`len`](GenericQueue::len) for how
//! this differs from asyncio's `qsize()`).
//!
//! Cancellation is dropping. A `get` dropped after it was promised an item passes the promise to
//! the next waiting `get` (or frees it): the item stays in the queue. A dropped `put` inserts
//! nothing; if it had been promised a place, the place passes on.
//!
//! # Shutdown, `task_done` and `join`
//!
//! [`shutdown`](GenericQueue::shutdown) makes every later put fail and hand its item back, and
//! wakes all blocked putters and getters. Getters first drain what is left, then get
//! [`QueueShutdown`]. A worker is therefore written
//! `while let Ok(item) = queue.get().await { ... }` and ends cleanly.
//! [`shutdown_immediate`](GenericQueue::shutdown_immediate) is asyncio's
//! `shutdown(immediate=True)`: it also takes every item out (and withdraws the items already
//! promised to woken getters), so every getter gets [`QueueShutdown`] at once, and counts the
//! removed items as done, which releases `join`.
//!
//! [`task_done`](GenericQueue::task_done) and [`join`](GenericQueue::join) work as in asyncio:
//! every successful put adds one unfinished task, each `task_done` marks one finished, and
//! `join` waits until none are left.
//!
//! # One thread
//!
//! A queue handle is an `Rc<RefCell<..>>`: cheap to clone, one clone per task, and `!Send`. All
//! of a runtime's tasks run on its one thread, so no atomics are needed. To feed a queue from
//! another thread, send through a [`oneshot`](super::oneshot) or the blocking pool instead.
//!
//! # Examples
//!
//! asyncio's documentation example: three workers drain a queue, and `join` waits until every
//! item is marked done.
//!
//! ```
//! use minirt::sync::Queue;
//!
//! minirt::run(async {
//!     let queue = Queue::new();
//!     for job in 1..=9 {
//!         queue.put_nowait(job).unwrap();
//!     }
//!     let workers: Vec<_> = (0..3)
//!         .map(|_| {
//!             let queue = queue.clone();
//!             minirt::spawn(async move {
//!                 let mut done = 0;
//!                 while let Ok(job) = queue.get().await {
//!                     done += job;
//!                     minirt::yield_now().await; // the "work"
//!                     queue.task_done().unwrap();
//!                 }
//!                 done
//!             })
//!         })
//!         .collect();
//!     queue.join().await; // every job was taken and marked done
//!     queue.shutdown(); // the workers' loops end
//!     let mut total = 0;
//!     for worker in workers {
//!         total += worker.await.unwrap();
//!     }
//!     assert_eq!(total, 45);
//! });
//! ```

mod error;
mod futures;
mod storage;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::task::Waker;

pub use error::{GetError, PutError, QueueShutdown, TaskDoneError};
pub use futures::{Get, Join, Put};
pub use storage::{Fifo, Lifo, Priority, Storage};

use super::event::Flag;
use super::permits::Permits;
use super::waiters::wake_all;

/// A first-in, first-out queue: asyncio's `Queue`. See [`GenericQueue`] for its methods.
///
/// # Examples
///
/// ```
/// let q = minirt::sync::Queue::new();
/// q.put_nowait("first").unwrap();
/// q.put_nowait("second").unwrap();
/// assert_eq!(q.get_nowait(), Ok("first"));
/// ```
pub type Queue<T> = GenericQueue<Fifo<T>>;

/// A last-in, first-out queue (a stack): asyncio's `LifoQueue`. See [`GenericQueue`] for its
/// methods.
///
/// # Examples
///
/// ```
/// let q = minirt::sync::LifoQueue::new();
/// q.put_nowait("first").unwrap();
/// q.put_nowait("second").unwrap();
/// assert_eq!(q.get_nowait(), Ok("second"));
/// ```
pub type LifoQueue<T> = GenericQueue<Lifo<T>>;

/// A queue that hands out the smallest item first: asyncio's `PriorityQueue`. See
/// [`GenericQueue`] for its methods.
///
/// # Examples
///
/// ```
/// let q = minirt::sync::PriorityQueue::new();
/// q.put_nowait((2, "low")).unwrap();
/// q.put_nowait((0, "urgent")).unwrap();
/// assert_eq!(q.get_nowait(), Ok((0, "urgent")));
/// ```
pub type PriorityQueue<T> = GenericQueue<Priority<T>>;

/// A queue for tasks on one runtime thread, in the order `S` gives. Use it through its three
/// names: [`Queue`], [`LifoQueue`], [`PriorityQueue`].
///
/// Cloning gives another handle to the same queue. It is `!Send`: all of a runtime's tasks run
/// on one thread, so it is an `Rc<RefCell<..>>` and uses no atomics. Nor is it `Sync`, so
/// another thread cannot use it even by reference:
///
/// ```compile_fail,E0277
/// let queue = minirt::sync::Queue::<u32>::new();
/// std::thread::scope(|s| {
///     s.spawn(|| queue.put_nowait(1));
/// });
/// ```
///
/// # Examples
///
/// A producer and a consumer task, each with its own handle:
///
/// ```
/// use minirt::sync::Queue;
///
/// minirt::run(async {
///     let q = Queue::bounded(2);
///     let producer = minirt::spawn({
///         let q = q.clone();
///         async move {
///             for i in 0..5 {
///                 q.put(i).await.unwrap(); // waits while two items are queued
///             }
///             q.shutdown();
///         }
///     });
///     let mut got = Vec::new();
///     while let Ok(i) = q.get().await {
///         got.push(i);
///     }
///     producer.await.unwrap();
///     assert_eq!(got, [0, 1, 2, 3, 4]);
/// });
/// ```
pub struct GenericQueue<S: Storage> {
    inner: Rc<RefCell<Inner<S>>>,
}

/// # Invariant
/// `gets.available() + (getters promised an item) == items.len()`, and
/// `puts.available() + (putters promised a place) + items.len() == maxsize` (bounded queues).
/// So a getter that was promised an item always finds one, and a promised place is always free.
/// An immediate shutdown keeps both: it empties `items`, takes every get permit back (counted or
/// promised), and gives the removed places back to `puts`.
struct Inner<S: Storage> {
    items: S,
    maxsize: Option<usize>,
    /// One permit per stored item not yet promised to a getter.
    gets: Permits,
    /// One permit per free place not yet promised to a putter.
    puts: Permits,
    /// Items put and not yet marked with `task_done`.
    unfinished: usize,
    /// Set exactly while `unfinished == 0`: what `join` waits for.
    all_done: Flag,
    shutdown: bool,
}

impl<S: Storage> Inner<S> {
    /// Stores an item whose put permit is already taken. Returns the waker of a getter it was
    /// promised to, if any.
    fn push(&mut self, item: S::Item) -> Option<Waker> {
        self.items.push(item);
        self.unfinished += 1;
        self.all_done.clear();
        self.gets.release()
    }

    /// Takes an item whose get permit is already taken. Also returns the waker of a putter that
    /// was promised the freed place, if any.
    fn pop(&mut self) -> (S::Item, Option<Waker>) {
        let item = self
            .items
            .pop()
            .expect("a get permit always stands for a stored item");
        (item, self.puts.release())
    }

    /// Takes every item out for an immediate shutdown, withdraws every promise of an item, and
    /// counts the removed items as done. Returns the items (for the caller to drop outside the
    /// borrow: an item's `Drop` is user code) and the wakers of every waiter, putters and
    /// `join`ers included.
    fn empty_out(&mut self) -> (Vec<S::Item>, Vec<Waker>) {
        let mut wakers = self.gets.close_now();
        wakers.extend(self.puts.close());
        let removed: Vec<S::Item> = std::iter::from_fn(|| self.items.pop()).collect();
        // The places come back to the counter (nobody waits on a closed `puts`), so `is_full`
        // is false again and the invariant on `puts` still holds.
        wakers.extend(self.puts.add(removed.len()));
        // asyncio: one `task_done` per removed item, never below zero.
        self.unfinished = self.unfinished.saturating_sub(removed.len());
        if self.unfinished == 0 {
            wakers.extend(self.all_done.set());
        }
        (removed, wakers)
    }
}

impl<S: Storage> GenericQueue<S> {
    fn with_maxsize(maxsize: Option<usize>) -> Self {
        assert_ne!(
            maxsize,
            Some(0),
            "a bounded queue needs maxsize >= 1; use new() for unbounded"
        );
        let inner = Inner {
            items: S::default(),
            maxsize,
            gets: Permits::new(0),
            // Unbounded: more places than memory could ever hold items.
            puts: Permits::new(maxsize.unwrap_or(usize::MAX)),
            unfinished: 0,
            all_done: Flag::new(true),
            shutdown: false,
        };
        GenericQueue {
            inner: Rc::new(RefCell::new(inner)),
        }
    }

    /// Puts an item in, waiting while the queue is full.
    ///
    /// Putters waiting for room are served in order. Dropping the future before it finishes
    /// inserts nothing (the item is dropped with it).
    ///
    /// # Errors
    ///
    /// [`PutError::Shutdown`] with the item, if the queue is shut down before the item got in.
    /// It never fails with [`PutError::Full`]: it waits instead.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let q = minirt::sync::Queue::bounded(1);
    ///     q.put("a").await.unwrap();
    ///     assert!(q.is_full());
    /// });
    /// ```
    pub fn put(&self, item: S::Item) -> Put<'_, S> {
        Put::new(self, item)
    }

    /// Puts an item in if there is room right now.
    ///
    /// # Errors
    ///
    /// [`PutError::Shutdown`] if the queue was shut down; [`PutError::Full`] if there is no free
    /// place, including when the free places are promised to putters already waiting. Both give
    /// the item back.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::Queue::bounded(1);
    /// assert!(q.put_nowait(1).is_ok());
    /// assert!(q.put_nowait(2).unwrap_err().is_full());
    /// ```
    pub fn put_nowait(&self, item: S::Item) -> Result<(), PutError<S::Item>> {
        let mut inner = self.inner.borrow_mut();
        if inner.shutdown {
            return Err(PutError::Shutdown(item));
        }
        if !inner.puts.try_acquire() {
            return Err(PutError::Full(item));
        }
        let waker = inner.push(item);
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Takes the next item, waiting while the queue is empty.
    ///
    /// Getters waiting for an item are served in order. Dropping the future before it finishes
    /// takes nothing: an item promised to it stays in the queue for the next getter.
    ///
    /// # Errors
    ///
    /// [`QueueShutdown`] once the queue is shut down and has no item left for this caller.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let q = minirt::sync::Queue::new();
    ///     q.put_nowait(1).unwrap();
    ///     assert_eq!(q.get().await, Ok(1));
    /// });
    /// ```
    pub fn get(&self) -> Get<'_, S> {
        Get::new(self)
    }

    /// Takes the next item if one is free right now.
    ///
    /// # Errors
    ///
    /// [`GetError::Shutdown`] if the queue was shut down and has no free item left;
    /// [`GetError::Empty`] if it is open and has no free item (it is empty, or every item in it
    /// is promised to a getter that was woken and has not run yet).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::Queue::new();
    /// assert!(q.get_nowait().unwrap_err().is_empty());
    /// q.put_nowait('x').unwrap();
    /// assert_eq!(q.get_nowait(), Ok('x'));
    /// ```
    pub fn get_nowait(&self) -> Result<S::Item, GetError> {
        let mut inner = self.inner.borrow_mut();
        if !inner.gets.try_acquire() {
            return Err(if inner.shutdown {
                GetError::Shutdown
            } else {
                GetError::Empty
            });
        }
        let (item, waker) = inner.pop();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(item)
    }

    /// Marks one item taken from the queue as fully handled, and wakes the `join`ers when it was
    /// the last one.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] if every item put has already been marked done.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::Queue::new();
    /// q.put_nowait(1).unwrap();
    /// let _job = q.get_nowait().unwrap();
    /// assert!(q.task_done().is_ok());
    /// assert!(q.task_done().is_err(), "only one item was put");
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut inner = self.inner.borrow_mut();
        if inner.unfinished == 0 {
            return Err(TaskDoneError(()));
        }
        inner.unfinished -= 1;
        let wakers = if inner.unfinished == 0 {
            inner.all_done.set()
        } else {
            Vec::new()
        };
        drop(inner);
        wake_all(wakers);
        Ok(())
    }

    /// Waits until every item put so far has been marked with [`task_done`](Self::task_done).
    /// Returns at once if none are unfinished. Dropping the future just stops waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let q = minirt::sync::Queue::new();
    ///     q.put_nowait(1).unwrap();
    ///     let worker = minirt::spawn({
    ///         let q = q.clone();
    ///         async move {
    ///             let _job = q.get().await.unwrap();
    ///             q.task_done().unwrap();
    ///         }
    ///     });
    ///     q.join().await;
    ///     worker.await.unwrap();
    /// });
    /// ```
    pub fn join(&self) -> Join<'_, S> {
        Join::new(self)
    }

    /// Shuts the queue down: later puts fail and give their item back, blocked putters are woken
    /// with that error, and getters drain what is left before they get [`QueueShutdown`].
    /// Calling it again does nothing. `join` is not released by it: to let the workers finish
    /// everything already queued and then stop, call `join().await` first, then `shutdown()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::Queue::new();
    /// q.put_nowait(1).unwrap();
    /// q.shutdown();
    /// assert_eq!(q.put_nowait(2).unwrap_err().into_inner(), 2);
    /// assert_eq!(q.get_nowait(), Ok(1));
    /// assert!(q.get_nowait().unwrap_err().is_shutdown());
    /// ```
    pub fn shutdown(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.shutdown = true;
        let mut wakers = inner.gets.close();
        wakers.extend(inner.puts.close());
        drop(inner);
        wake_all(wakers);
    }

    /// Shuts the queue down at once: asyncio's `shutdown(immediate=True)`. Like
    /// [`shutdown`](Self::shutdown), and besides:
    ///
    /// - every item is taken out and returned, in the order `get` would have returned them,
    ///   including items already promised to woken getters that have not run yet;
    /// - so every getter, waiting or woken, gets [`QueueShutdown`] at once;
    /// - each removed item counts as done, as if `task_done` were called for it, so `join` is
    ///   released unless items taken out *before* are still unfinished (as in asyncio, those
    ///   still need their `task_done`).
    ///
    /// Calling it after a plain `shutdown` empties what is left. The removed items are handed
    /// back rather than dropped inside the queue, so their `Drop` runs outside it.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let q = minirt::sync::Queue::new();
    ///     q.put_nowait(1).unwrap();
    ///     q.put_nowait(2).unwrap();
    ///     assert_eq!(q.shutdown_immediate(), [1, 2]);
    ///     assert!(q.get().await.unwrap_err().is_shutdown());
    ///     q.join().await; // both items were counted as done
    /// });
    /// ```
    #[doc(alias = "shutdown(immediate=True)")]
    pub fn shutdown_immediate(&self) -> Vec<S::Item> {
        let mut inner = self.inner.borrow_mut();
        inner.shutdown = true;
        let (removed, wakers) = inner.empty_out();
        drop(inner);
        wake_all(wakers);
        removed
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::Queue::<u8>::new();
    /// q.shutdown();
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.inner.borrow().shutdown
    }

    /// How many items [`get_nowait`](Self::get_nowait) could take right now: the items in the
    /// queue that are not promised to a getter. asyncio's `qsize()`.
    ///
    /// # Differences from asyncio
    ///
    /// An item put while a getter waits is promised to that getter at once (so nobody can jump
    /// the line), and from then on it is not counted here, even before the woken getter has run
    /// and taken it. asyncio counts it in `qsize()` until then and lets `get_nowait` steal it.
    /// So `len()`, `is_empty()` and `get_nowait()` always agree, and the asyncio idiom
    /// `while not q.empty(): q.get_nowait()` neither panics nor spins.
    ///
    /// # Examples
    ///
    /// ```
    /// minirt::run(async {
    ///     let q = minirt::sync::Queue::new();
    ///     q.put_nowait(1).unwrap();
    ///     assert_eq!(q.len(), 1);
    ///     let getter = minirt::spawn({
    ///         let q = q.clone();
    ///         async move { q.get().await }
    ///     });
    ///     q.get_nowait().unwrap();
    ///     minirt::yield_now().await; // the getter now waits
    ///     q.put_nowait(2).unwrap(); // promised to the getter, which has not run yet
    ///     assert_eq!(q.len(), 0);
    ///     assert!(q.get_nowait().is_err());
    ///     assert_eq!(getter.await.unwrap(), Ok(2));
    /// });
    /// ```
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        self.inner.borrow().gets.available()
    }

    /// Whether [`get_nowait`](Self::get_nowait) would find nothing to take right now: the queue
    /// is empty, or every item in it is promised to a woken getter (see [`len`](Self::len)).
    /// asyncio's `empty()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::Queue::new();
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// let mut drained = Vec::new();
    /// while !q.is_empty() {
    ///     drained.push(q.get_nowait().unwrap()); // never fails: the counts agree
    /// }
    /// assert_eq!(drained, [1, 2]);
    /// ```
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether [`put_nowait`](Self::put_nowait) would find no free place right now: the queue
    /// holds `maxsize` items, or the free places are promised to putters already waiting.
    /// Always false for an unbounded queue. asyncio's `full()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = minirt::sync::Queue::bounded(1);
    /// assert!(!q.is_full());
    /// q.put_nowait(1).unwrap();
    /// assert!(q.is_full());
    /// ```
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        let inner = self.inner.borrow();
        inner.maxsize.is_some() && inner.puts.available() == 0
    }

    /// The most items the queue holds, or `None` if it is unbounded.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(minirt::sync::Queue::<u8>::new().maxsize(), None);
    /// assert_eq!(minirt::sync::Queue::<u8>::bounded(4).maxsize(), Some(4));
    /// ```
    pub fn maxsize(&self) -> Option<usize> {
        self.inner.borrow().maxsize
    }
}

impl<S: Storage> Clone for GenericQueue<S> {
    fn clone(&self) -> Self {
        GenericQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<S: Storage> Default for GenericQueue<S> {
    fn default() -> Self {
        Self::with_maxsize(None)
    }
}

impl<S: Storage> fmt::Debug for GenericQueue<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("Queue")
            .field("len", &inner.gets.available())
            .field("maxsize", &inner.maxsize)
            .field("unfinished", &inner.unfinished)
            .field("shutdown", &inner.shutdown)
            .finish()
    }
}
