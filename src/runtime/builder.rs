//! `Builder`: the runtime's options.

use std::io;
use std::time::Duration;

use super::{DEFAULT_EVENT_INTERVAL, Runtime};
use crate::blocking::{DEFAULT_BLOCKING_KEEP_ALIVE, DEFAULT_MAX_BLOCKING_THREADS};

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
    /// When the OS refuses to create the poller.
    pub fn build(self) -> io::Result<Runtime> {
        Runtime::from_builder(self)
    }
}
