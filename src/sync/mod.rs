//! Tools for tasks that wait on each other: a oneshot channel, queues, a mutex, a semaphore, an
//! event, a condition variable and a barrier. They are asyncio's `Future`, `Queue`, `Lock`,
//! `Semaphore` (and `BoundedSemaphore`), `Event`, `Condition` and `Barrier`, with Rust names
//! (the asyncio names work in the docs' search too).
//!
//! | you want to | use |
//! |---|---|
//! | hand one value to one waiting task, maybe from another thread | [`oneshot::channel`] |
//! | pass items from producers to workers, with `task_done`/`join` | [`Queue`], [`LifoQueue`], [`PriorityQueue`] |
//! | let one task at a time touch some data across `.await`s | [`Mutex`] |
//! | let at most `n` tasks into a section at once | [`Semaphore`] |
//! | let tasks wait until something has happened | [`Event`] |
//! | let tasks wait, under a lock, until shared data changes | [`Condition`] with a [`Mutex`] |
//! | let `n` tasks wait for each other, round after round | [`Barrier`] |
//!
//! # How they fit the loop
//!
//! None of these spawns anything or talks to the runtime. When a task must wait, the
//! primitive's future stores the task's [`Waker`](std::task::Waker) and returns `Pending`; the
//! task is parked. Whoever makes progress possible (unlocking, putting an item, setting the
//! event) takes that waker and wakes it, which puts the task back on the runtime's run queue.
//! So "waiting" costs nothing while it lasts, and the primitive is only touched when a task
//! runs.
//!
//! # How they are built
//!
//! Everything except the oneshot channel is built from two pieces:
//!
//! - a FIFO line of waiters (a slab-indexed linked list: O(1) to join, to leave from anywhere,
//!   and to serve the first);
//! - on top of it, a count of permits with *direct hand-off*: a permit that comes back while
//!   somebody waits goes straight to the first waiter instead of back on the counter.
//!
//! A [`Semaphore`] is those permits in a `RefCell`. A [`Mutex`] is a semaphore with one permit
//! next to a `RefCell<T>`. A queue is two sets of permits, one counting items and one counting
//! free places, around its storage. An [`Event`] (and a queue's `join`) is a flag that serves its
//! whole line at once. A [`Condition`] and a [`Barrier`] are a line of waiters with no permits:
//! `notify` serves its front, the last arrival at a barrier serves it all. So the fairness and
//! cancellation rules are written once:
//!
//! - **First come, first served.** Waiters are served in the order they started waiting, and a
//!   task that did not wait cannot take what is being handed to one that did.
//! - **Cancellation is dropping.** Dropping any of these futures at any `.await` leaves the
//!   primitive as if it had never waited. A future that was already handed a permit, the lock or
//!   an item's promise passes it to the next waiter. No permit leaks, no item is lost, no lock
//!   stays stuck.
//! - **Never wake while borrowed.** The wakers to wake are collected, the `RefCell` borrow is
//!   released, and only then are they woken. (The oneshot finishes its atomic state transition
//!   first, and holds no `&mut` into its cells while a waker runs.)
//!
//! # One thread
//!
//! A runtime runs all its tasks on one thread, so these use `Rc` and `RefCell`, not atomics, and
//! are `!Send`: share them with `Rc` (queues are cloneable handles already). The one exception is
//! [`oneshot`], an atomic state word with the value and the wakers in cells, so that a plain
//! thread can complete a value a task is waiting for.
//!
//! # Examples
//!
//! ```
//! use std::rc::Rc;
//! use minirt::sync::{Event, Mutex, Queue};
//!
//! minirt::run(async {
//!     let queue = Queue::new();
//!     let seen = Rc::new(Mutex::new(Vec::new()));
//!     let finished = Rc::new(Event::new());
//!     let worker = minirt::spawn({
//!         let (queue, seen, finished) = (queue.clone(), seen.clone(), finished.clone());
//!         async move {
//!             while let Ok(word) = queue.get().await {
//!                 seen.lock().await.push(word);
//!             }
//!             finished.set();
//!         }
//!     });
//!     queue.put("hello").await.unwrap();
//!     queue.put("world").await.unwrap();
//!     queue.shutdown();
//!     finished.wait().await;
//!     worker.await.unwrap();
//!     assert_eq!(*seen.lock().await, ["hello", "world"]);
//! });
//! ```

pub mod oneshot;
pub mod queue;

mod barrier;
mod condition;
mod event;
mod mutex;
mod permits;
mod semaphore;
#[cfg(test)]
mod testing;
mod waiters;

pub use barrier::{Barrier, BarrierWait, BrokenBarrier};
pub use condition::{Condition, ConditionWait};
pub use event::{Event, EventWait};
pub use mutex::{Lock, Mutex, MutexGuard};
pub use queue::{
    GetError, LifoQueue, PriorityQueue, PutError, Queue, QueueShutdown, TaskDoneError,
};
pub use semaphore::{Acquire, Permit, Semaphore, TooManyPermits};
