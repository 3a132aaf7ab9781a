//! minirt: a small single-threaded async runtime, built to be read.
//!
//! # A task's life
//!
//! 1. **Spawn.** [`spawn`] moves a future into one heap allocation, the task, and pushes it
//!    onto the runtime's run queue. You get a [`JoinHandle`] back.
//! 2. **Poll.** The loop in [`Runtime::block_on`] pops tasks in FIFO order and polls each
//!    once. A poll runs the future until it must wait for something (a socket, a timer, a
//!    lock) and returns `Pending`. Before it does, the leaf future it waits on stores the
//!    task's [`Waker`](std::task::Waker).
//! 3. **Wait.** A waiting task is in no queue at all; it costs only its memory. When no task is
//!    ready, the loop sleeps in the OS poller (or, with no socket and no timer, on its thread's
//!    parker), so an idle runtime uses no CPU.
//! 4. **Wake.** Whoever holds the waker calls `wake()`: another task, the reactor when a socket
//!    is ready, the timer wheel when a deadline passes, or a plain thread. The task goes back
//!    on the run queue, once, however many times it is woken before it runs. A wake from
//!    another thread goes through a locked inbox and ends the loop's sleep.
//! 5. **Finish.** When the future returns `Ready` (or panics, or is aborted) the runtime drops
//!    it in place, keeps the output for the `JoinHandle`, and wakes whoever awaits it. The
//!    memory is freed when the last waker and the handle are gone.
//!
//! Other threads cannot touch a runtime's tasks, but they can give it work: a [`Handle`] (from
//! [`Runtime::handle`]) sends a spawn through the same inbox, and the task is made and run on
//! the runtime's thread; a [`RemoteJoinHandle`] brings the result back. [`ThreadPerCore`] runs
//! one runtime per thread on that basis (`docs/many-cores.md`).
//!
//! Crates of the wider ecosystem run on minirt as they are when they take a futures-io stream
//! (minirt's sockets are ones) or only need wakers; with the cargo feature `hyper`, the module
//! `minirt::hyper` runs hyper 1.x with no glue. `docs/ecosystem.md` lists what runs, what does
//! not, and what to do instead.
//!
//! Read the source in the order the README gives: the [`task`] module first, then the loop in
//! `src/runtime/mod.rs`.
//!
//! ```
//! minirt::run(async {
//!     let world = minirt::spawn(async { "world" });
//!     println!("hello, {}", world.await.unwrap());
//! });
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod as_completed;
mod blocking;
#[cfg(feature = "hyper")]
pub mod hyper;
pub mod io;
mod join;
mod memory;
mod metrics;
pub mod net;
mod per_core;
mod poller;
mod reactor;
mod runtime;
pub mod signal;
pub mod sync;
pub mod task;
mod task_group;
pub mod test;
pub mod time;
mod trace;

pub use as_completed::{AsCompleted, NextCompleted, as_completed};
pub use blocking::{DEFAULT_BLOCKING_KEEP_ALIVE, DEFAULT_MAX_BLOCKING_THREADS, spawn_blocking};
pub use join::{
    JoinAll, ReturnWhen, TryJoinAll, Wait, WaitOutcome, YieldNow, join_all, try_join_all, wait,
    yield_now,
};
pub use metrics::{LATENESS_BUCKETS_MS, RuntimeMetrics};
pub use per_core::{Shard, ThreadPerCore};
pub use runtime::{
    Builder, DEFAULT_EVENT_INTERVAL, Handle, RUN_FLUSHES_STDIO_FOR, Runtime, TryCurrentError, run,
    spawn, spawn_named,
};
pub use task::{JoinError, JoinHandle, RemoteJoinHandle};
pub use task_group::{GroupError, JoinNext, TaskGroup};
pub use time::{Elapsed, Sleep, sleep, timeout};
