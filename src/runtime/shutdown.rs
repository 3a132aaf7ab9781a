//! Shutting a runtime down: every task it still owns is dropped on its own thread, the inbox
//! closes, and the blocking pool and the trace finish.
//!
//! Second-pass material: what makes the runtime robust, not what makes it run. User code
//! runs throughout (futures' and outputs' `Drop`s, join wakers), and any of it may panic or
//! spawn again, so each step is guarded and repeated until nothing is left ("User code in the
//! middle" in `src/task/mod.rs`).

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::PoisonError;
use std::time::Duration;

use super::context::Enter;
use super::handle::Job;
use super::{Local, Runtime};
use crate::task::Notified;

impl Local {
    /// Closes the inbox, then drops every task the runtime still owns, on this thread.
    ///
    /// The inbox is closed first, so that from then on a spawn from another thread is refused
    /// (its job dropped on that thread) and a wake from there only gives up its reference:
    /// nothing new can arrive from outside, and the loop below ends. What was already in the
    /// inbox is taken and dropped here. Dropping a future or a job may spawn or wake other
    /// tasks on this thread, so this repeats until a pass finds nothing. (Closing last, as a
    /// first version did, let a job arrive after the final pass; a task its `Drop` spawned was
    /// never cancelled, and a thread spawning without pause could keep the passes going.)
    ///
    /// User code runs here (futures' and outputs' `Drop`, join wakers' `wake`), and any of it
    /// may panic. A panic must not stop the shutdown halfway: a task left with its future
    /// would later be freed by a stray waker on another thread, future and all. So each task is
    /// cancelled under `catch_unwind`, and the first panic is handed back to the caller, to be
    /// raised once the runtime is fully shut down.
    pub(super) fn shutdown(&self) -> Option<Box<dyn Any + Send>> {
        self.shared
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        let mut first_panic = None;
        loop {
            let tasks = self.owned.borrow_mut().drain();
            let queued: Vec<Notified> = self.run_queue.borrow_mut().drain(..).collect();
            let (remote, _, jobs) = self.shared.take_inbox();
            if tasks.is_empty() && queued.is_empty() && remote.is_empty() && jobs.is_empty() {
                break;
            }
            // Remote spawns not yet run: dropping each drops its closure (and the future it
            // carries) here, and cancels its `RemoteJoinHandle`. Both are user code.
            drop_jobs(jobs, &mut first_panic);
            for owned in tasks {
                let cancelled = panic::catch_unwind(AssertUnwindSafe(|| {
                    // SAFETY: home thread; the task was in the owned list, so its future is
                    // alive.
                    unsafe { owned.raw().cancel() };
                    self.complete(owned);
                }));
                if let Err(payload) = cancelled {
                    first_panic.get_or_insert(payload);
                }
            }
            // Queue entries only clear `SCHEDULED`: the futures behind them were in `tasks`.
            drop(queued);
            drop(remote);
        }
        // Timers of sleeps that outlive the runtime: a sleep armed from another thread hears
        // that its runtime is gone (`time/sleep.rs`).
        if let Some(payload) = self.timers.clear() {
            first_panic.get_or_insert(payload);
        }
        first_panic
    }
}

/// Drops spawn jobs that will never run, each under `catch_unwind`, keeping the first panic.
fn drop_jobs(jobs: Vec<Job>, first_panic: &mut Option<Box<dyn Any + Send>>) {
    for job in jobs {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(job))) {
            first_panic.get_or_insert(payload);
        }
    }
}

impl Runtime {
    /// Drops the runtime like `drop`, but waits at most `timeout` for running
    /// [`spawn_blocking`](crate::spawn_blocking) jobs to finish. Jobs still running then are
    /// left to finish on their own threads, detached; their results go nowhere. Returns true
    /// if every pool thread exited in time.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = minirt::Runtime::new()?;
    /// rt.block_on(async {
    ///     drop(minirt::spawn_blocking(|| std::thread::sleep(Duration::from_secs(2))));
    ///     minirt::sleep(Duration::from_millis(10)).await; // let the job start
    /// });
    /// assert!(!rt.shutdown_timeout(Duration::from_millis(10)), "the job was still running");
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.close(Some(timeout))
    }

    /// Cancels every task, then shuts the blocking pool down and finishes the trace. Safe to
    /// call twice. A panic from a task's cleanup (see [`Local::shutdown`]) is raised last, once
    /// all of this is done, unless the thread is already unwinding.
    fn close(&mut self, timeout: Option<Duration>) -> bool {
        let panicked = {
            let _enter = Enter::shutdown(&self.local);
            self.local.shutdown()
        };
        // Cancelling the tasks first dropped the receivers of queued blocking jobs, so those
        // are skipped; only jobs already running are waited for.
        let joined = self.local.blocking.shutdown(timeout);
        if let Some(trace) = &self.local.observer.trace {
            trace.borrow_mut().finish();
        }
        if let Some(payload) = panicked
            && !std::thread::panicking()
        {
            panic::resume_unwind(payload);
        }
        joined
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.close(None);
    }
}
