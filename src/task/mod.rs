//! Tasks: one heap allocation that holds a future, its state, and later its output.
//!
//! `spawn` puts a future in a `Cell` (`raw.rs`): a `Header` followed by the *stage*, which
//! holds first the future, then its output, then nothing. The header carries the state word
//! (`state.rs`), a table of functions that know the future's type (`Vtable`), the
//! `JoinHandle`'s waker, and a handle on the runtime's shared half, which a waker on another
//! thread needs to reach the runtime's inbox.
//!
//! Three kinds of reference point at a task, and each keeps it alive:
//! - `TaskRef`: a counted reference. The runtime's owned-task list holds one until the task
//!   completes, each `Waker` holds one, and the `JoinHandle` holds one.
//! - `Notified`: a run-queue entry. It does not bump the count: the `SCHEDULED` flag is its
//!   reference (see `SCHEDULED` in `state.rs`).
//! - a borrowed waker, made on the stack for the duration of one poll, which holds nothing.
//!
//! The memory is freed when the last reference of any kind goes, which may be on any thread.
//!
//! # The thread rule
//!
//! minirt is single-threaded: **a task's future, its output, its `JoinHandle` waker and its slot
//! in the owned-task list are touched only on its home thread**, the thread of the runtime that
//! spawned it. This holds because:
//! - only the runtime polls, cancels and completes tasks, and `Runtime` is `!Send`;
//! - only the `JoinHandle` reads the output, and `JoinHandle` is `!Send`;
//! - the runtime drops every future it still owns when it is dropped, on its own thread, and
//!   drops outputs that nobody wants as soon as the task completes;
//! - wakers, which are `Send + Sync`, touch only the atomic state word and the shared half.
//!
//! So by the time the last reference goes, which may be a waker on another thread, the stage is
//! empty and freeing the cell touches no future and no output. Every `unsafe` block below that
//! touches the stage cites this rule.
//!
//! # What a task costs
//!
//! One allocation: the header (56 bytes on 64-bit targets) plus the larger of the future and
//! its output (tagged). An empty `async {}` block costs 80 bytes. The runtime adds 12 bytes per
//! live task in its owned-task list, and 8 bytes per queued task in the run queue.

pub(crate) mod join_handle;
pub(crate) mod owned;
pub(crate) mod raw;
pub(crate) mod state;
pub(crate) mod waker;

pub use join_handle::{JoinError, JoinHandle};
pub(crate) use raw::{Notified, TaskRef};
