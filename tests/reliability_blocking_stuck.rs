//! The blocking pool with a job that never returns (it blocks on a channel the test sends to
//! only at the end): the other jobs still run, up to the thread limit, jobs past the limit
//! wait their turn, and `Runtime::shutdown_timeout` returns within a loose bound, leaving the
//! stuck thread detached, as its docs say. Once released, that thread finishes and exits.
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

const THREADS: usize = 4;
/// How long a job waits for the others to join it before it reports that they did not.
const MEETING_LIMIT: Duration = Duration::from_secs(20);

/// A meeting point for blocking jobs: each `arrive` waits until `expected` jobs have
/// arrived, which only happens if they run at the same time. Then each waits for `leave`.
#[derive(Default)]
struct Meeting {
    state: Mutex<(usize, bool)>, // (arrived, may leave)
    changed: Condvar,
}

impl Meeting {
    /// Returns whether everybody arrived within [`MEETING_LIMIT`].
    fn arrive(&self, expected: usize) -> bool {
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        self.changed.notify_all();
        let (state, timeout) = self
            .changed
            .wait_timeout_while(state, MEETING_LIMIT, |s| s.0 < expected)
            .unwrap();
        let met = !timeout.timed_out();
        let _state = self
            .changed
            .wait_timeout_while(state, MEETING_LIMIT, |s| !s.1)
            .unwrap();
        met
    }

    fn leave(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}

#[test]
fn a_job_that_never_returns_leaves_the_rest_of_the_pool_working() {
    let _watchdog = common::watchdog(Duration::from_secs(120));
    let threads_before = common::thread_names().len();
    assert_eq!(common::pool_threads(), 0);
    let rt = minirt::Runtime::builder()
        .max_blocking_threads(THREADS)
        .build()
        .unwrap();
    let (release, stuck_waits) = mpsc::channel::<()>();
    let stuck_finished = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let (started_tx, started) = minirt::sync::oneshot::channel();
        let finished = stuck_finished.clone();
        drop(minirt::spawn_blocking(move || {
            started_tx.set_result(()).unwrap();
            let _ = stuck_waits.recv(); // until the very end of the test
            finished.store(true, Ordering::SeqCst);
        }));
        started.await.unwrap();

        // Beside the stuck one, THREADS - 1 jobs run at the same time.
        let meeting = Arc::new(Meeting::default());
        let others: Vec<_> = (0..THREADS - 1)
            .map(|_| {
                let meeting = meeting.clone();
                minirt::spawn_blocking(move || meeting.arrive(THREADS - 1))
            })
            .collect();
        // One job too many waits in the queue while all THREADS threads are busy.
        let extra_ran = Arc::new(AtomicBool::new(false));
        let extra = minirt::spawn_blocking({
            let extra_ran = extra_ran.clone();
            move || extra_ran.store(true, Ordering::SeqCst)
        });
        let arrived = || meeting.state.lock().unwrap().0 == THREADS - 1;
        while !arrived() {
            minirt::sleep(Duration::from_millis(1)).await;
        }
        let m = rt.metrics();
        assert_eq!(
            m.blocking_threads, THREADS as u64,
            "the pool is at its limit"
        );
        assert_eq!(m.blocking_queued, 1, "the extra job waits");
        assert!(!extra_ran.load(Ordering::SeqCst));
        meeting.leave();
        for other in others {
            assert!(
                other.await.unwrap(),
                "the other jobs did not all run at once"
            );
        }
        extra.await.unwrap();
        assert!(extra_ran.load(Ordering::SeqCst));

        // Many more jobs all run on the threads the stuck job leaves free.
        let jobs: Vec<_> = (0..200u64)
            .map(|i| minirt::spawn_blocking(move || i * 2))
            .collect();
        let sum: u64 = minirt::join_all(jobs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        assert_eq!(sum, (0..200).map(|i| i * 2).sum());
        assert!(rt.metrics().blocking_threads <= THREADS as u64);
    });
    assert!(!stuck_finished.load(Ordering::SeqCst));

    let took = common::shutdown_leaving_one_straggler(rt, threads_before, release);
    assert!(stuck_finished.load(Ordering::SeqCst));
    eprintln!(
        "pool of {THREADS} with one stuck job: {} others ran at once, shutdown_timeout(100 ms) \
         returned in {took:.1?}, 1 straggler detached, then {threads_before} threads as before",
        THREADS - 1
    );
}
