//! The runtimes under test, made once and shared by every workload.
//!
//! - minirt: one `Runtime` (it always has its poller, timers and blocking pool).
//! - tokio: `current_thread` runtimes, with a driver enabled only where the workload needs it
//!   (none for the executor and sync workloads, time for timers, I/O for sockets). tokio's
//!   twins are written once over [`TokioSpawn`] and run three ways: `tokio::spawn` inside
//!   `Runtime::block_on` ("tokio"), `spawn_local` inside a `LocalSet` ("tokio-local"), and
//!   `spawn_local` on a `LocalRuntime` ("tokio-localrt": tokio's `!Send` single-threaded
//!   runtime, stable since 1.54, where `spawn_local` is the native spawn and no `LocalSet` sits
//!   in between).
//! - smol: one `async_executor::LocalExecutor`, driven by `async_io::block_on(ex.run(..))`;
//!   `async-io` supplies its timers and sockets.
//!
//! Every runtime is made on first use (a `LazyCell`), so that a process that runs one peer
//! (the harness's child processes, see `isolate.rs`) makes only that peer's runtime: it
//! inherits no other runtime's heap, file descriptors or threads.

use std::cell::LazyCell;
use std::future::Future;

use tokio::runtime::{Handle, LocalOptions, LocalRuntime, Runtime as TokioRuntime};
use tokio::task::{JoinHandle, LocalSet};

/// How a tokio twin spawns, and how it is driven.
pub trait TokioSpawn: 'static {
    fn spawn<F>(future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    fn block_on<F: Future>(tokio: &Tokio, future: F) -> F::Output;

    /// The handle that spawns onto the runtime from outside it.
    fn handle(tokio: &Tokio) -> &Handle {
        tokio.rt.handle()
    }
}

/// `tokio::spawn` inside `Runtime::block_on`.
pub enum Spawn {}

/// `task::spawn_local` inside `LocalSet::block_on`.
pub enum SpawnLocal {}

impl TokioSpawn for Spawn {
    fn spawn<F>(future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(future)
    }

    fn block_on<F: Future>(tokio: &Tokio, future: F) -> F::Output {
        tokio.rt.block_on(future)
    }
}

impl TokioSpawn for SpawnLocal {
    fn spawn<F>(future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::task::spawn_local(future)
    }

    fn block_on<F: Future>(tokio: &Tokio, future: F) -> F::Output {
        tokio.local.block_on(&tokio.rt, future)
    }
}

/// `task::spawn_local` inside `LocalRuntime::block_on`.
pub enum LocalRt {}

impl TokioSpawn for LocalRt {
    fn spawn<F>(future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // On a `LocalRuntime`, the free `spawn_local` spawns on the runtime itself.
        tokio::task::spawn_local(future)
    }

    fn block_on<F: Future>(tokio: &Tokio, future: F) -> F::Output {
        tokio.localrt.block_on(future)
    }

    fn handle(tokio: &Tokio) -> &Handle {
        tokio.localrt.handle()
    }
}

/// A value made on first use, by a function that may capture (the drivers wanted).
pub type Lazy<T> = LazyCell<T, Box<dyn FnOnce() -> T>>;

/// A tokio `current_thread` runtime with the `LocalSet` that "tokio-local" runs in, and a
/// `LocalRuntime` with the same drivers for "tokio-localrt"; each runtime is made on first use.
pub struct Tokio {
    pub rt: Lazy<TokioRuntime>,
    pub local: LocalSet,
    pub localrt: Lazy<LocalRuntime>,
}

impl Tokio {
    /// `time` and `io` enable those drivers.
    pub fn new(time: bool, io: bool) -> Tokio {
        let builder = move || {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            if time {
                builder.enable_time();
            }
            if io {
                builder.enable_io();
            }
            builder
        };
        Tokio {
            rt: LazyCell::new(Box::new(move || builder().build().expect("tokio runtime"))),
            local: LocalSet::new(),
            localrt: LazyCell::new(Box::new(move || {
                builder()
                    .build_local(LocalOptions::default())
                    .expect("tokio LocalRuntime")
            })),
        }
    }

    pub fn block_on<S: TokioSpawn, F: Future>(&self, future: F) -> F::Output {
        S::block_on(self, future)
    }
}

/// smol's single-threaded executor. Leaked, as in async-executor's own benches, so that tasks
/// can capture `&'static` and spawn more.
#[derive(Clone, Copy)]
pub struct Smol {
    pub ex: &'static async_executor::LocalExecutor<'static>,
}

impl Smol {
    pub fn new() -> Smol {
        Smol {
            ex: Box::leak(Box::new(async_executor::LocalExecutor::new())),
        }
    }

    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_io::block_on(self.ex.run(future))
    }
}

/// Every runtime the workloads use, each made on first use. A workload keeps `&LazyCell`s
/// and lets a call coerce them (`&rts.minirt` where a `&minirt::Runtime` is wanted), so that
/// building the workloads makes no runtime.
pub struct Runtimes {
    /// Everything but sockets.
    pub minirt: LazyCell<minirt::Runtime>,
    /// Sockets: like tokio's, kept apart, because a runtime with registered sockets checks
    /// its poller on every turn of the loop (see the report's findings).
    pub minirt_io: LazyCell<minirt::Runtime>,
    /// No drivers: the executor and sync workloads.
    pub tokio: Tokio,
    /// The time driver: timers.
    pub tokio_time: Tokio,
    /// The I/O driver: sockets.
    pub tokio_io: Tokio,
    /// A `LocalExecutor` that has run nothing holds no thread and no descriptor.
    pub smol: Smol,
}

fn new_minirt() -> minirt::Runtime {
    minirt::Runtime::new().expect("minirt runtime")
}

impl Runtimes {
    pub fn new() -> Runtimes {
        Runtimes {
            minirt: LazyCell::new(new_minirt),
            minirt_io: LazyCell::new(new_minirt),
            tokio: Tokio::new(false, false),
            tokio_time: Tokio::new(true, false),
            tokio_io: Tokio::new(false, true),
            smol: Smol::new(),
        }
    }
}
