//! `spawn_blocking`: results, panics, the thread limit, keep-alive, abort and shutdown.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

fn runtime(threads: usize) -> minirt::Runtime {
    minirt::Runtime::builder()
        .max_blocking_threads(threads)
        .build()
        .unwrap()
}

/// Signals a channel when the thread that owns it exits (thread-local destructors run then).
struct ExitSignal(mpsc::Sender<()>);
impl Drop for ExitSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}
thread_local! {
    static ON_EXIT: std::cell::RefCell<Option<ExitSignal>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn results_and_panics_come_back_and_the_thread_survives() {
    let rt = runtime(1);
    rt.block_on(async {
        assert_eq!(minirt::spawn_blocking(|| 6 * 7).await.unwrap(), 42);
        let err = minirt::spawn_blocking(|| panic!("job exploded"))
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.to_string(), "task panicked: job exploded");
        // The only pool thread survived the panic and runs the next job.
        let name = minirt::spawn_blocking(|| std::thread::current().name().map(String::from));
        assert_eq!(name.await.unwrap().as_deref(), Some("minirt-blocking-1"));
    });
}

#[test]
fn a_thousand_jobs_on_four_threads_never_exceed_four() {
    let rt = runtime(4);
    let running = Arc::new(AtomicUsize::new(0));
    let most_running = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..1_000u64)
            .map(|i| {
                let (running, most_running, threads) =
                    (running.clone(), most_running.clone(), threads.clone());
                minirt::spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most_running.fetch_max(now, Ordering::SeqCst);
                    threads.lock().unwrap().insert(std::thread::current().id());
                    std::thread::sleep(Duration::from_micros(100));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..1_000).sum());
    assert!(most_running.load(Ordering::SeqCst) <= 4);
    // The keep-alive (5 s) outlasts the test, so every thread that ever ran a job is still
    // alive at the end: the distinct count is the most threads alive at once.
    let threads = threads.lock().unwrap().len();
    assert!(
        (1..=4).contains(&threads),
        "{threads} pool threads ran jobs"
    );
}

#[test]
fn idle_threads_exit_after_the_keep_alive_and_come_back_on_demand() {
    let rt = minirt::Runtime::builder()
        .blocking_keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    let name = |rt: &minirt::Runtime| {
        rt.block_on(async {
            minirt::spawn_blocking(|| std::thread::current().name().unwrap().to_string()).await
        })
        .unwrap()
    };
    let (exit_tx, exited) = mpsc::channel();
    let first = rt.block_on(async move {
        minirt::spawn_blocking(move || {
            ON_EXIT.with(|slot| *slot.borrow_mut() = Some(ExitSignal(exit_tx)));
            std::thread::current().name().unwrap().to_string()
        })
        .await
        .unwrap()
    });
    assert_eq!(first, "minirt-blocking-1");
    exited
        .recv_timeout(Duration::from_secs(10))
        .expect("the idle thread exits after its keep-alive");
    assert_eq!(
        name(&rt),
        "minirt-blocking-2",
        "a new thread was started on demand"
    );
}

#[test]
fn blocking_work_does_not_stall_the_loop() {
    // Four jobs block their pool threads until the ticker task has ticked ten times on the
    // loop: they can only finish if the loop keeps running while they block.
    const TICKS: usize = 10;
    let rt = runtime(4);
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Arc::new(Mutex::new(blocked));
    rt.block_on(async move {
        let jobs: Vec<_> = (0..4)
            .map(|_| {
                let blocked = blocked.clone();
                minirt::spawn_blocking(move || {
                    blocked
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(60))
                        .expect("the ticker kept ticking while the jobs blocked")
                })
            })
            .collect();
        let ticker = minirt::spawn(async move {
            let mut interval = minirt::time::interval(Duration::from_millis(10));
            for _ in 0..TICKS {
                interval.tick().await;
            }
            for _ in 0..4 {
                release.send(()).unwrap();
            }
        });
        for job in jobs {
            job.await.unwrap();
        }
        ticker.await.unwrap();
    });
}

#[test]
fn queued_jobs_start_in_fifo_order() {
    let rt = runtime(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let order = order.clone();
                minirt::spawn_blocking(move || order.lock().unwrap().push(i))
            })
            .collect();
        minirt::join_all(handles).await;
    });
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
}

/// A job that blocks its pool thread until the returned sender is dropped or used.
fn gate_job() -> (mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
    let (release, wait) = mpsc::channel::<()>();
    (release, move || {
        let _ = wait.recv();
    })
}

#[test]
fn abort_removes_a_job_that_has_not_started() {
    let rt = runtime(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    rt.block_on(async move {
        let (release, job) = gate_job();
        let busy = minirt::spawn_blocking(job);
        let queued = minirt::spawn_blocking(move || r.fetch_add(1, Ordering::SeqCst));
        queued.abort();
        assert!(queued.await.unwrap_err().is_cancelled());
        drop(release);
        busy.await.unwrap();
        // A job queued after the aborted one runs, so the aborted one had its turn.
        minirt::spawn_blocking(|| ()).await.unwrap();
    });
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the aborted job never ran");
}

#[test]
fn abort_after_the_job_started_only_detaches_it() {
    let rt = runtime(1);
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    rt.block_on(async move {
        let (started_tx, started) = minirt::sync::oneshot::channel::<()>();
        let (release, job) = gate_job();
        let handle = minirt::spawn_blocking(move || {
            started_tx.set_result(()).unwrap();
            job();
            f.fetch_add(1, Ordering::SeqCst);
        });
        started.await.unwrap();
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        drop(release);
    });
    drop(rt); // waits for the running job
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the started job ran to its end"
    );
}

#[test]
fn dropping_the_runtime_waits_for_running_jobs_and_skips_queued_ones() {
    let rt = runtime(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    rt.block_on(async move {
        let (started_tx, started) = minirt::sync::oneshot::channel();
        drop(minirt::spawn_blocking(move || {
            started_tx.set_result(()).unwrap();
            // Long enough that the runtime is dropped while this job still runs. Under Miri the
            // clock is virtual and runs with the instructions interpreted, and the loop's
            // work until the drop (a spin before it sleeps, say) can take more than 100 ms of
            // it; a sleep there costs nothing, since Miri jumps the clock ahead.
            std::thread::sleep(Duration::from_millis(if cfg!(miri) { 10_000 } else { 100 }));
        }));
        for _ in 0..5 {
            let r = r.clone();
            drop(minirt::spawn_blocking(move || {
                r.fetch_add(1, Ordering::SeqCst)
            }));
        }
        started.await.unwrap(); // the first job runs; the others wait behind it
    });
    let start = Instant::now();
    drop(rt);
    assert!(
        start.elapsed() >= Duration::from_millis(50),
        "drop waited for the job"
    );
    assert_eq!(ran.load(Ordering::SeqCst), 0, "queued jobs were skipped");
}

#[test]
fn shutdown_timeout_leaves_a_straggler_detached() {
    let rt = runtime(2);
    let (release, job) = gate_job();
    rt.block_on(async {
        let (started_tx, started) = minirt::sync::oneshot::channel();
        drop(minirt::spawn_blocking(move || {
            started_tx.set_result(()).unwrap();
            job();
        }));
        started.await.unwrap();
    });
    let start = Instant::now();
    assert!(!rt.shutdown_timeout(Duration::from_millis(20)));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "shutdown_timeout returned promptly"
    );
    drop(release); // the detached thread finishes on its own
}

#[test]
fn shutdown_timeout_with_idle_threads_returns_true() {
    let rt = runtime(2);
    rt.block_on(async { minirt::spawn_blocking(|| ()).await })
        .unwrap();
    assert!(rt.shutdown_timeout(Duration::from_secs(5)));
}

#[test]
fn spawn_blocking_outside_a_runtime_panics_clearly() {
    let payload = std::panic::catch_unwind(|| drop(minirt::spawn_blocking(|| ()))).unwrap_err();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(message.contains("spawn_blocking called outside a runtime"));
}
