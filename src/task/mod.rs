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
//! spawned it. And **by the time the last reference goes, which may be a waker on another
//! thread, the stage is empty**, so freeing the cell touches no future and no output. Every
//! `unsafe` block below that touches the stage, or frees the cell, cites this rule.
//!
//! What makes it true:
//! - only the runtime polls, cancels and completes tasks, and `Runtime` is `!Send`;
//! - only the `JoinHandle` reads the output, and `JoinHandle` is `!Send`;
//! - a future leaves the stage only on the home thread: when it completes, when it is aborted,
//!   and when the runtime shuts down, which cancels every task it still owns (the owned-task
//!   list holds a reference to each until then);
//! - an output leaves the stage only on the home thread: the handle reads or drops it, or, when
//!   no handle wants it, the runtime drops it as the task completes;
//! - wakers, which are `Send + Sync`, touch only the atomic state word and the shared half;
//! - a task spawned from another thread through a `Handle` is an ordinary local task, made on
//!   the home thread: the other thread sends only a `Send` job (a closure) through the inbox,
//!   and the loop runs it at home, where it builds the future and spawns it. The future's
//!   output leaves through a thread-safe completion cell (`remote.rs`), never through the
//!   stage, and the future is dropped at home before the cell is filled. A job the runtime
//!   never runs is dropped whole, with its closure and the not-yet-polled future inside: by the
//!   shutdown at home, or by the spawning thread if the runtime was already closed. Both are
//!   `Send`, so this is sound on any thread; a future that never became a task has no home.
//!
//! # User code in the middle: panics and re-entrancy
//!
//! The runtime calls user code while it keeps its books: a waker's `wake`, `clone` and `Drop`,
//! a future's `Drop` and an output's `Drop`. Any of it may panic, and a waker's `Drop` may even
//! run the runtime (a foreign executor driving minirt from a destructor). The rule above
//! survives both, because of four habits, each at one place:
//! - **Finish the bookkeeping, then call out.** `complete` sets `COMPLETE` and stores the
//!   output before it wakes the join waker; a waker is moved out of its slot before it is
//!   woken or dropped, so no borrow of a cell spans user code (`raw.rs`, `join_waker`).
//! - **Give up interest first.** `JoinHandle::drop` clears `JOIN_INTEREST` in one atomic step
//!   before it drops the waker: if that drop completes the task, the runtime drops the output
//!   itself, at home, rather than leave it for a handle that is gone.
//! - **Guards for references.** A reference given back after user code is held by a guard
//!   (`TaskRef::adopt`), so a panic cannot leak the task, nor through it the runtime's poller.
//! - **Shutdown finishes.** `Local::shutdown` cancels each task under `catch_unwind`, closes
//!   the inbox, and raises the first panic only once every future is gone.
//!
//! `dealloc` checks the stage's tag as a last line of defence: should a future or output ever
//! be found there, it leaks the cell and says so, rather than drop it on the wrong thread. The
//! regression tests for each path are in `tests/task_user_code.rs`, and for remote spawns in
//! `tests/remote_spawn.rs`; Miri runs both in CI.
//!
//! # What a task costs
//!
//! One block of memory: the header (56 bytes on 64-bit targets) plus the larger of the future
//! and its output (tagged). An empty `async {}` block costs 80 bytes. The runtime adds 12 bytes
//! per live task in its owned-task list, and 8 bytes per queued task in the run queue. The block
//! comes from `crate::memory` (`src/memory/mod.rs`), which is the global allocator or, with the
//! `recycle` feature, a finished task's block kept for reuse.

pub(crate) mod join_handle;
pub(crate) mod owned;
pub(crate) mod raw;
pub(crate) mod remote;
pub(crate) mod state;
pub(crate) mod waker;

pub use join_handle::{JoinError, JoinHandle};
pub(crate) use raw::{Notified, TaskRef};
pub use remote::RemoteJoinHandle;
