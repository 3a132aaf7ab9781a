//! `Builder`: the runtime's options.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use super::seed::seed_from_env;
use super::{DEFAULT_EVENT_INTERVAL, Runtime};
use crate::blocking::{DEFAULT_BLOCKING_KEEP_ALIVE, DEFAULT_MAX_BLOCKING_THREADS};
use crate::time::Clock;
use crate::trace::Recorder;

/// Options for a [`Runtime`].
///
/// ```
/// let rt = minirt::Runtime::builder().event_interval(32).build()?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Builder does nothing until `build()` is called"]
pub struct Builder {
    pub(super) event_interval: usize,
    pub(super) max_blocking_threads: usize,
    pub(super) blocking_keep_alive: Duration,
    pub(super) start_paused: bool,
    slow_poll: Option<Duration>,
    trace: Option<PathBuf>,
    seed: Option<u64>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The default options.
    pub fn new() -> Builder {
        Builder {
            event_interval: DEFAULT_EVENT_INTERVAL,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            blocking_keep_alive: DEFAULT_BLOCKING_KEEP_ALIVE,
            start_paused: false,
            slow_poll: None,
            trace: None,
            seed: None,
        }
    }

    /// Starts the runtime with its clock paused: time moves only by
    /// [`time::advance`](crate::time::advance) or, when the loop has nothing to do, by jumping
    /// to the next timer. A test that sleeps an hour runs in microseconds, and every timer
    /// fires at its exact deadline. See "Paused time" in [`minirt::time`](crate::time). This is
    /// tokio's `start_paused`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = minirt::Runtime::builder().start_paused(true).build()?;
    /// let took = std::time::Instant::now();
    /// rt.block_on(minirt::sleep(Duration::from_secs(3600)));
    /// assert!(took.elapsed() < Duration::from_secs(1));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn start_paused(mut self, paused: bool) -> Builder {
        self.start_paused = paused;
        self
    }

    /// Seeds the loop's scheduling choices: which ready task runs next, how many tasks a turn
    /// polls, and in which order one turn's ready sockets and due timers wake their tasks are
    /// drawn from `seed` instead of being FIFO. The same seed and the same inputs give the same
    /// order, so an ordering bug found under one seed replays under it (see
    /// [`minirt::test::check`](crate::test::check)). Wakes from other threads, blocking jobs and
    /// real sockets still arrive when the OS delivers them. Without this call, the environment
    /// variable `MINIRT_SEED=N` seeds every runtime; without either, the loop is FIFO.
    ///
    /// ```
    /// let rt = minirt::Runtime::builder().seed(42).build()?;
    /// let order = rt.block_on(async {
    ///     let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    ///     let tasks: Vec<_> = (0..3)
    ///         .map(|i| {
    ///             let order = order.clone();
    ///             minirt::spawn(async move { order.borrow_mut().push(i) })
    ///         })
    ///         .collect();
    ///     minirt::join_all(tasks).await;
    ///     order.take()
    /// });
    /// assert_eq!(order.len(), 3); // in an order seed 42 chose, the same every run
    /// # std::io::Result::Ok(())
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = Some(seed);
        self
    }

    /// The seed from `seed` or `MINIRT_SEED`.
    pub(super) fn seed_or_env(&self) -> Option<u64> {
        self.seed.or_else(seed_from_env)
    }

    /// Warns on stderr about every task poll that takes longer than `threshold`, naming the
    /// task: asyncio's debug-mode "Executing ... took 0.2 seconds". Without this call, the
    /// environment variable `MINIRT_SLOW_POLL_MS` (a number of milliseconds) turns it on.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = minirt::Runtime::builder()
    ///     .slow_poll_threshold(Duration::from_millis(50))
    ///     .build()?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.slow_poll = Some(threshold);
        self
    }

    /// Records a scheduling trace to `path`, written when the runtime is dropped, in Chrome's
    /// Trace Event Format (open it in <https://ui.perfetto.dev>). Without this call, the
    /// environment variable `MINIRT_TRACE=path.json` turns it on. See `docs/observing.md`.
    ///
    /// ```no_run
    /// let rt = minirt::Runtime::builder().trace("trace.json").build()?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn trace(mut self, path: impl Into<PathBuf>) -> Builder {
        self.trace = Some(path.into());
        self
    }

    /// The slow-poll threshold from `slow_poll_threshold` or `MINIRT_SLOW_POLL_MS`.
    pub(super) fn slow_poll_threshold_or_env(&self) -> Option<Duration> {
        self.slow_poll.or_else(|| {
            let value = std::env::var("MINIRT_SLOW_POLL_MS").ok()?;
            match value.trim().parse::<u64>() {
                Ok(ms) => Some(Duration::from_millis(ms)),
                Err(_) => {
                    eprintln!("minirt: ignoring MINIRT_SLOW_POLL_MS={value:?}: not a number of ms");
                    None
                }
            }
        })
    }

    /// The trace recorder asked for by `trace` or `MINIRT_TRACE`.
    ///
    /// # Errors
    /// When `trace(path)` names a file that cannot be created. A bad `MINIRT_TRACE` only
    /// prints a warning: an environment variable should not stop a program from starting.
    pub(super) fn trace_recorder(&self, clock: &Arc<Clock>) -> io::Result<Option<Recorder>> {
        if let Some(path) = &self.trace {
            return Recorder::create(path.clone(), clock.clone()).map(Some);
        }
        let Some(path) = std::env::var_os("MINIRT_TRACE") else {
            return Ok(None);
        };
        match Recorder::create(PathBuf::from(&path), clock.clone()) {
            Ok(recorder) => Ok(Some(recorder)),
            Err(error) => {
                eprintln!("minirt: not tracing: cannot create MINIRT_TRACE={path:?}: {error}");
                Ok(None)
            }
        }
    }

    /// The most threads the [`spawn_blocking`](crate::spawn_blocking) pool may run at once
    /// (default [`DEFAULT_MAX_BLOCKING_THREADS`]). Values below 1 are treated as 1. Jobs past
    /// the limit wait in FIFO order.
    ///
    /// ```
    /// let rt = minirt::Runtime::builder().max_blocking_threads(4).build()?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn max_blocking_threads(mut self, threads: usize) -> Builder {
        self.max_blocking_threads = threads.max(1);
        self
    }

    /// How long an idle pool thread waits for a job before it exits (default
    /// [`DEFAULT_BLOCKING_KEEP_ALIVE`]).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = minirt::Runtime::builder()
    ///     .blocking_keep_alive(Duration::from_millis(500))
    ///     .build()?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// How many tasks the loop polls between two checks of I/O and timers (see
    /// [`DEFAULT_EVENT_INTERVAL`]). Values below 1 are treated as 1.
    pub fn event_interval(mut self, polls: usize) -> Builder {
        self.event_interval = polls.max(1);
        self
    }

    /// Creates the runtime.
    ///
    /// # Errors
    /// When the OS refuses to create the poller, or the file named by [`trace`](Builder::trace)
    /// cannot be created.
    pub fn build(self) -> io::Result<Runtime> {
        Runtime::from_builder(self)
    }
}
