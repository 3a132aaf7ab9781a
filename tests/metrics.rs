//! `Runtime::metrics` counts a scripted workload exactly.
use std::time::Duration;

const SPAWNS: u64 = 10;
const YIELDS: u64 = 5;
const TIMERS: u64 = 4;

#[test]
fn counts_are_exact_for_a_scripted_workload() {
    let rt = minirt::Runtime::new().unwrap();
    rt.block_on(async {
        // SPAWNS tasks, each yielding YIELDS times: YIELDS + 1 polls each.
        let handles: Vec<_> = (0..SPAWNS)
            .map(|_| {
                minirt::spawn(async {
                    for _ in 0..YIELDS {
                        minirt::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    let m = rt.metrics();
    assert_eq!(m.tasks_spawned, SPAWNS);
    assert_eq!(m.tasks_completed, SPAWNS);
    assert_eq!(m.tasks_alive, 0);
    assert_eq!(m.polls, SPAWNS * (YIELDS + 1));
    // Each yield is a same-thread wake; the main future is not a task, so its wakes (by the
    // finishing tasks' JoinHandles) do not count.
    assert_eq!(m.wakes_same_thread, SPAWNS * YIELDS);
    assert_eq!((m.wakes_other_thread, m.wakes_io, m.wakes_timer), (0, 0, 0));

    rt.block_on(async {
        let sleeps: Vec<_> = (0..TIMERS)
            .map(|i| minirt::spawn(minirt::sleep(Duration::from_millis(1 + i))))
            .collect();
        for s in sleeps {
            s.await.unwrap();
        }
        // One more timer, cancelled before it fires.
        let cancelled = minirt::timeout(
            Duration::from_millis(1),
            minirt::sleep(Duration::from_secs(60)),
        );
        assert!(cancelled.await.is_err());
    });
    let m = rt.metrics();
    assert_eq!(m.tasks_spawned, SPAWNS + TIMERS);
    assert_eq!(
        m.wakes_timer, TIMERS,
        "each sleeping task woken once by the wheel"
    );
    // The timers: TIMERS sleeps plus the timeout's own timer fired; the 60 s one was cancelled.
    assert_eq!(m.timers_fired, TIMERS + 1);
    assert_eq!(m.timers_cancelled, 1);
    assert_eq!(m.timers_armed, 0);
    assert_eq!(m.timer_lateness.iter().sum::<u64>(), TIMERS + 1);
    assert!(m.ticks > 0);
    assert!(
        m.time_parked > Duration::ZERO,
        "it slept in the poller waiting for timers"
    );
}

#[test]
fn wakes_from_other_threads_and_io_are_counted_by_source() {
    let rt = minirt::Runtime::new().unwrap();
    rt.block_on(async {
        let (tx, rx) = minirt::sync::oneshot::channel();
        let waiter = minirt::spawn(rx);
        minirt::yield_now().await; // the waiter parks
        std::thread::spawn(move || tx.set_result(7).unwrap())
            .join()
            .unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(7));

        let listener = minirt::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = minirt::spawn(async move { listener.accept().await.map(|_| ()) });
        minirt::yield_now().await; // the server parks in accept
        let _client = minirt::net::TcpStream::connect(addr).await.unwrap();
        server.await.unwrap().unwrap();
    });
    let m = rt.metrics();
    assert_eq!(m.wakes_other_thread, 1);
    assert!(m.wakes_io >= 1, "the accept was woken by the reactor");
    assert!(m.reactor_events >= 1);
}

#[test]
fn the_summary_mentions_every_section() {
    let rt = minirt::Runtime::new().unwrap();
    rt.block_on(async { minirt::spawn_blocking(|| ()).await.unwrap() });
    let text = rt.metrics().to_string();
    for word in [
        "tasks:",
        "wakes:",
        "time:",
        "timers:",
        "blocking pool: 1 threads",
    ] {
        assert!(text.contains(word), "{word:?} missing from:\n{text}");
    }
}
