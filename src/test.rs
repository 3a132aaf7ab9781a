//! Testing async code under many schedules, in paused time: [`check`] and [`explore`].
//!
//! An ordering bug (a check and an act with an `.await` between them, two tasks that assume
//! which of them runs first) hides under the one order a FIFO loop always picks. These
//! helpers run a test body many times, each on a fresh runtime whose clock is paused (so
//! timers fire at exact instants and an hour of sleeping takes microseconds) and whose
//! scheduling is drawn from a different seed (`Builder::seed`: which ready task runs next,
//! how many a turn polls, the order of simultaneous timer and socket wakes). A failure names
//! its seed, and the seed replays it: the same seed and the same inputs give the same order,
//! the same trace and the same result.
//!
//! ```text
//! $ cargo test overdraft
//! minirt::test::check: failed with seed 17: balance went negative: -50
//!   replay it: MINIRT_SEED=17 cargo test overdraft
//! $ MINIRT_SEED=17 MINIRT_TRACE=bad.json cargo test overdraft   # the same failure, traced
//! ```
//!
//! What fails a run is a panic of the body itself. An assertion inside a spawned task fails
//! that task's [`JoinHandle`](crate::JoinHandle), as it always does in minirt, not the body:
//! await the handles and unwrap them (`tests/seeded_primitives.rs` has a `join` helper that
//! does). With `MINIRT_SEED` set, `check` and `explore` run that one seed only. What a seed cannot
//! replay: anything the loop does not decide, such as wakes from other threads, blocking jobs
//! and real sockets (see `src/runtime/seed.rs`).

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};

use crate::Runtime;
use crate::runtime::seed::seed_from_env;

/// Runs `body` once for each seed in `seeds` (or only for `MINIRT_SEED`, when it is set), on a
/// new runtime with its clock paused and its scheduling drawn from the seed. Returns at the
/// first seed whose run panics, with that seed and the panic's message.
///
/// # Errors
/// A [`Failure`] naming the first failing seed.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// // Two tasks write; which one writes last depends on the order the loop picks.
/// let failure = minirt::test::explore(0..100, || async {
///     let last = Rc::new(Cell::new(0));
///     let (a, b) = (last.clone(), last.clone());
///     let first = minirt::spawn(async move { a.set(1) });
///     let second = minirt::spawn(async move { b.set(2) });
///     let _ = minirt::join_all([first, second]).await;
///     assert_eq!(last.get(), 2, "the second task wrote last");
/// });
/// let failure = failure.unwrap_err();
/// assert!(failure.message().contains("the second task wrote last"));
/// ```
pub fn explore<F, Fut>(seeds: impl IntoIterator<Item = u64>, body: F) -> Result<(), Failure>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let seeds: Box<dyn Iterator<Item = u64>> = match seed_from_env() {
        Some(seed) => Box::new(std::iter::once(seed)),
        None => Box::new(seeds.into_iter()),
    };
    for seed in seeds {
        let runtime = Runtime::builder()
            .start_paused(true)
            .seed(seed)
            .build()
            .unwrap_or_else(|e| panic!("minirt::test: cannot start a runtime: {e}"));
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(body());
            drop(runtime);
        }));
        if let Err(payload) = outcome {
            let message = match (
                payload.downcast_ref::<&str>(),
                payload.downcast_ref::<String>(),
            ) {
                (Some(text), _) => (*text).to_string(),
                (_, Some(text)) => text.clone(),
                _ => "a panic with a payload that is not text".to_string(),
            };
            return Err(Failure { seed, message });
        }
    }
    Ok(())
}

/// Runs `body` under each seed like [`explore`], and panics at the first failure with its
/// seed and the command that replays it (`MINIRT_SEED=N cargo test NAME`, the test's name
/// taken from its thread).
///
/// # Panics
/// When `body` panics under one of the seeds.
///
/// ```
/// use std::time::Duration;
///
/// minirt::test::check(0..20, || async {
///     let start = minirt::time::now();
///     let slow = minirt::spawn(minirt::sleep(Duration::from_secs(60)));
///     minirt::sleep(Duration::from_secs(30)).await;
///     assert!(!slow.is_finished());
///     slow.await.unwrap();
///     assert_eq!(minirt::time::now() - start, Duration::from_secs(60));
/// });
/// ```
#[track_caller]
pub fn check<F, Fut>(seeds: impl IntoIterator<Item = u64>, body: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    if let Err(failure) = explore(seeds, body) {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("NAME");
        panic!(
            "minirt::test::check: {failure}\n  replay it: MINIRT_SEED={} cargo test {name}",
            failure.seed
        );
    }
}

/// A seed under which a test body failed: what [`explore`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    seed: u64,
    message: String,
}

impl Failure {
    /// The seed that replays the failure (`Builder::seed`, or `MINIRT_SEED`).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The panic's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed with seed {}: {}", self.seed, self.message)
    }
}

impl std::error::Error for Failure {}
