//! minirt against tokio's current_thread runtime, side by side in one process.
//!
//! ```text
//! cargo bench --bench compare               # every workload
//! cargo bench --bench compare -- --quick    # a smoke pass of a few seconds (CI runs it)
//! cargo bench --bench compare -- --filter spawn
//! ```
//!
//! Runs are interleaved (minirt, tokio, tokio-local, minirt, ...) so that a machine whose speed
//! drifts affects every peer alike, and each peer's median over the samples is reported with
//! its min and max. Every run returns a checksum, and a time counts only if all peers agree.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// One way of running a workload: a peer's name and a closure that runs it once.
struct Peer<'a> {
    name: &'static str,
    run: Box<dyn FnMut() -> u64 + 'a>,
}

struct Workload<'a> {
    name: &'static str,
    /// For throughput workloads: how many items one run moves, and their unit.
    items: Option<(u64, &'static str)>,
    peers: Vec<Peer<'a>>,
}

fn peer<'a>(name: &'static str, run: impl FnMut() -> u64 + 'a) -> Peer<'a> {
    Peer {
        name,
        run: Box::new(run),
    }
}

fn workload<'a>(name: &'static str, peers: Vec<Peer<'a>>) -> Workload<'a> {
    Workload {
        name,
        items: None,
        peers,
    }
}

/// `spawn_many_local`: spawn N empty tasks from inside the runtime, then await them all.
/// N = 10,000 here (tokio's benches use 1,000; this issue's closing note asks for 10,000).
const SPAWN_MANY: u64 = 10_000;

fn spawn_many_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(async {
        let handles: Vec<_> = (0..SPAWN_MANY)
            .map(|i| minirt::spawn(async move { black_box(i) }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn spawn_many_tokio(rt: &tokio::runtime::Runtime) -> u64 {
    rt.block_on(async {
        let handles: Vec<_> = (0..SPAWN_MANY)
            .map(|i| tokio::spawn(async move { black_box(i) }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn spawn_many_tokio_local(rt: &tokio::runtime::Runtime) -> u64 {
    let local = tokio::task::LocalSet::new();
    local.block_on(rt, async {
        let handles: Vec<_> = (0..SPAWN_MANY)
            .map(|i| tokio::task::spawn_local(async move { black_box(i) }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

/// Timers: arm a sleep (poll it once, so it takes its place in the wheel) and drop it, which
/// cancels it. `TIMER_OPS` pairs per run, with `armed` other timers already in the wheel
/// (0, or 1,000,000 as in async-io's `register_timer` bench).
const TIMER_OPS: u64 = 10_000;
const ARMED: usize = 1_000_000;

fn insert_cancel_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(std::future::poll_fn(|cx| {
        for i in 0..TIMER_OPS {
            let mut sleep = minirt::sleep(Duration::from_secs(10 + i % 100));
            black_box(Pin::new(&mut sleep).poll(cx).is_pending());
        }
        Poll::Ready(TIMER_OPS)
    }))
}

fn insert_cancel_tokio(rt: &tokio::runtime::Runtime) -> u64 {
    rt.block_on(std::future::poll_fn(|cx| {
        for i in 0..TIMER_OPS {
            let sleep = tokio::time::sleep(Duration::from_secs(10 + i % 100));
            let mut sleep = std::pin::pin!(sleep);
            black_box(sleep.as_mut().poll(cx).is_pending());
        }
        Poll::Ready(TIMER_OPS)
    }))
}

/// Arms `ARMED` far timers that stay in minirt's wheel for the rest of the process.
fn arm_many_minirt(rt: &minirt::Runtime) -> Vec<minirt::Sleep> {
    let mut sleeps: Vec<_> = (0..ARMED)
        .map(|i| minirt::sleep(Duration::from_secs(3600 + (i % 3600) as u64)))
        .collect();
    rt.block_on(std::future::poll_fn(|cx| {
        for sleep in &mut sleeps {
            let _ = Pin::new(sleep).poll(cx);
        }
        Poll::Ready(())
    }));
    sleeps
}

fn arm_many_tokio(rt: &tokio::runtime::Runtime) -> Vec<Pin<Box<tokio::time::Sleep>>> {
    rt.block_on(async {
        let mut sleeps: Vec<_> = (0..ARMED)
            .map(|i| {
                Box::pin(tokio::time::sleep(Duration::from_secs(
                    3600 + (i % 3600) as u64,
                )))
            })
            .collect();
        std::future::poll_fn(|cx| {
            for sleep in &mut sleeps {
                let _ = sleep.as_mut().poll(cx);
            }
            Poll::Ready(())
        })
        .await;
        sleeps
    })
}

/// One 10 ms sleep: the run's time minus 10 ms is the timer's lateness.
const SLEEP_MS: u64 = 10;

fn sleep_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(minirt::sleep(Duration::from_millis(SLEEP_MS)));
    SLEEP_MS
}

fn sleep_tokio(rt: &tokio::runtime::Runtime) -> u64 {
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(SLEEP_MS)).await });
    SLEEP_MS
}

/// Queue throughput: one producer task puts `QUEUE_ITEMS`, the main task gets them all.
/// `capacity` None is unbounded; Some(100) is bounded(100). tokio's peer is `sync::mpsc`.
const QUEUE_ITEMS: u64 = 10_000;

fn queue_minirt(rt: &minirt::Runtime, capacity: Option<usize>) -> u64 {
    rt.block_on(async {
        let queue = match capacity {
            Some(n) => minirt::sync::Queue::bounded(n),
            None => minirt::sync::Queue::new(),
        };
        let producer = queue.clone();
        let handle = minirt::spawn(async move {
            for i in 0..QUEUE_ITEMS {
                producer.put(i).await.unwrap();
            }
        });
        let mut sum = 0;
        for _ in 0..QUEUE_ITEMS {
            sum += queue.get().await.unwrap();
        }
        handle.await.unwrap();
        sum
    })
}

fn queue_tokio(rt: &tokio::runtime::Runtime, capacity: Option<usize>) -> u64 {
    rt.block_on(async {
        let mut sum = 0;
        match capacity {
            Some(n) => {
                let (tx, mut rx) = tokio::sync::mpsc::channel(n);
                let handle = tokio::spawn(async move {
                    for i in 0..QUEUE_ITEMS {
                        tx.send(i).await.unwrap();
                    }
                });
                for _ in 0..QUEUE_ITEMS {
                    sum += rx.recv().await.unwrap();
                }
                handle.await.unwrap();
            }
            None => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let handle = tokio::spawn(async move {
                    for i in 0..QUEUE_ITEMS {
                        tx.send(i).unwrap();
                    }
                });
                for _ in 0..QUEUE_ITEMS {
                    sum += rx.recv().await.unwrap();
                }
                handle.await.unwrap();
            }
        }
        sum
    })
}

/// Mutex: `LOCKERS` tasks each lock `LOCKS` times. Contended: each holds the lock across a
/// `yield_now`, so the others queue up behind it. Uncontended: one task, no yield.
const LOCKERS: u64 = 10;
const LOCKS: u64 = 1_000;

fn mutex_minirt(rt: &minirt::Runtime, contended: bool) -> u64 {
    rt.block_on(async {
        let mutex = std::rc::Rc::new(minirt::sync::Mutex::new(0u64));
        let tasks = if contended { LOCKERS } else { 1 };
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let mutex = mutex.clone();
                minirt::spawn(async move {
                    for _ in 0..LOCKS * LOCKERS / tasks {
                        let mut guard = mutex.lock().await;
                        *guard += 1;
                        if contended {
                            minirt::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        *mutex.lock().await
    })
}

fn mutex_tokio(rt: &tokio::runtime::Runtime, contended: bool) -> u64 {
    rt.block_on(async {
        let mutex = std::sync::Arc::new(tokio::sync::Mutex::new(0u64));
        let tasks = if contended { LOCKERS } else { 1 };
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let mutex = mutex.clone();
                tokio::spawn(async move {
                    for _ in 0..LOCKS * LOCKERS / tasks {
                        let mut guard = mutex.lock().await;
                        *guard += 1;
                        if contended {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        *mutex.lock().await
    })
}

/// Blocking pool: `BATCHES` rounds of `BATCH` `spawn_blocking(|| black_box(1))` calls, each
/// round awaited before the next.
const BATCHES: u64 = 100;
const BATCH: u64 = 16;

fn blocking_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(async {
        let mut sum = 0;
        for _ in 0..BATCHES {
            let handles: Vec<_> = (0..BATCH)
                .map(|_| minirt::spawn_blocking(|| black_box(1u64)))
                .collect();
            for h in handles {
                sum += h.await.unwrap();
            }
        }
        sum
    })
}

fn blocking_tokio(rt: &tokio::runtime::Runtime) -> u64 {
    rt.block_on(async {
        let mut sum = 0;
        for _ in 0..BATCHES {
            let handles: Vec<_> = (0..BATCH)
                .map(|_| tokio::task::spawn_blocking(|| black_box(1u64)))
                .collect();
            for h in handles {
                sum += h.await.unwrap();
            }
        }
        sum
    })
}

/// `echo_64`: 64 connections each send a 1 KiB message and wait for it to come back, 100 times,
/// over loopback. The server runs on the runtime being measured; the client runs on its own
/// thread, with its own runtime of the same kind and the same code. Each run connects afresh.
const ECHO_CONNECTIONS: usize = 64;
const ECHO_ROUNDS: usize = 100;
const ECHO_SIZE: usize = 1024;
const ECHO_MESSAGES: u64 = (ECHO_CONNECTIONS * ECHO_ROUNDS) as u64;

fn echo_minirt(rt: &minirt::Runtime, listener: &minirt::net::TcpListener) -> u64 {
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || minirt::run(echo_client_minirt(addr)));
    let served = rt.block_on(async {
        let mut handlers = Vec::new();
        for _ in 0..ECHO_CONNECTIONS {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            handlers.push(minirt::spawn(async move {
                let mut buf = [0; ECHO_SIZE];
                let mut total = 0;
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return total;
                    }
                    stream.write_all(&buf[..n]).await.unwrap();
                    total += n as u64;
                }
            }));
        }
        let mut total = 0;
        for h in handlers {
            total += h.await.unwrap();
        }
        total
    });
    assert_eq!(client.join().unwrap(), served);
    served
}

async fn echo_client_minirt(addr: std::net::SocketAddr) -> u64 {
    let clients: Vec<_> = (0..ECHO_CONNECTIONS)
        .map(|_| {
            minirt::spawn(async move {
                let mut stream = minirt::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let message = [7u8; ECHO_SIZE];
                let mut back = [0; ECHO_SIZE];
                for _ in 0..ECHO_ROUNDS {
                    stream.write_all(&message).await.unwrap();
                    let mut got = 0;
                    while got < ECHO_SIZE {
                        got += stream.read(&mut back[got..]).await.unwrap();
                    }
                }
                (ECHO_ROUNDS * ECHO_SIZE) as u64
            })
        })
        .collect();
    let mut total = 0;
    for c in clients {
        total += c.await.unwrap();
    }
    total
}

fn echo_tokio(rt: &tokio::runtime::Runtime, listener: &tokio::net::TcpListener) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap()
            .block_on(echo_client_tokio(addr))
    });
    let served = rt.block_on(async {
        let mut handlers = Vec::new();
        for _ in 0..ECHO_CONNECTIONS {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            handlers.push(tokio::spawn(async move {
                let mut buf = [0; ECHO_SIZE];
                let mut total = 0;
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return total;
                    }
                    stream.write_all(&buf[..n]).await.unwrap();
                    total += n as u64;
                }
            }));
        }
        let mut total = 0;
        for h in handlers {
            total += h.await.unwrap();
        }
        total
    });
    assert_eq!(client.join().unwrap(), served);
    served
}

async fn echo_client_tokio(addr: std::net::SocketAddr) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let clients: Vec<_> = (0..ECHO_CONNECTIONS)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let message = [7u8; ECHO_SIZE];
                let mut back = [0; ECHO_SIZE];
                for _ in 0..ECHO_ROUNDS {
                    stream.write_all(&message).await.unwrap();
                    let mut got = 0;
                    while got < ECHO_SIZE {
                        got += stream.read(&mut back[got..]).await.unwrap();
                    }
                }
                (ECHO_ROUNDS * ECHO_SIZE) as u64
            })
        })
        .collect();
    let mut total = 0;
    for c in clients {
        total += c.await.unwrap();
    }
    total
}

fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let filter = args
        .iter()
        .position(|a| a == "--filter")
        .and_then(|i| args.get(i + 1).cloned());
    let (warmup, samples) = if quick { (1, 3) } else { (5, 31) };

    let minirt_rt = minirt::Runtime::new().expect("minirt runtime");
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    // Timer workloads need tokio's time driver; the executor workloads run without it.
    let tokio_time = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    let minirt_loaded = minirt::Runtime::new().expect("minirt runtime");
    let tokio_loaded = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    // The network workloads need tokio's I/O driver (minirt always has its poller).
    let tokio_net_rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime with I/O");
    let minirt_listener = minirt_rt
        .block_on(async { minirt::net::TcpListener::bind("127.0.0.1:0") })
        .expect("minirt listener");
    let tokio_listener = tokio_net_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("tokio listener");
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    // Arming a million timers takes a moment: only when a workload needs them.
    let (_minirt_armed, _tokio_armed) = if wants("insert_cancel_1m_armed") {
        (
            arm_many_minirt(&minirt_loaded),
            arm_many_tokio(&tokio_loaded),
        )
    } else {
        (Vec::new(), Vec::new())
    };

    let mut workloads = vec![
        workload(
            "spawn_many_local_10k",
            vec![
                peer("minirt", || spawn_many_minirt(&minirt_rt)),
                peer("tokio", || spawn_many_tokio(&tokio_rt)),
                peer("tokio-local", || spawn_many_tokio_local(&tokio_rt)),
            ],
        ),
        workload(
            "timer_insert_cancel_10k",
            vec![
                peer("minirt", || insert_cancel_minirt(&minirt_rt)),
                peer("tokio", || insert_cancel_tokio(&tokio_time)),
            ],
        ),
        workload(
            "timer_insert_cancel_1m_armed",
            vec![
                peer("minirt", || insert_cancel_minirt(&minirt_loaded)),
                peer("tokio", || insert_cancel_tokio(&tokio_loaded)),
            ],
        ),
        workload(
            "queue_unbounded_10k",
            vec![
                peer("minirt", || queue_minirt(&minirt_rt, None)),
                peer("tokio", || queue_tokio(&tokio_rt, None)),
            ],
        ),
        workload(
            "queue_bounded100_10k",
            vec![
                peer("minirt", || queue_minirt(&minirt_rt, Some(100))),
                peer("tokio", || queue_tokio(&tokio_rt, Some(100))),
            ],
        ),
        workload(
            "mutex_uncontended_10k",
            vec![
                peer("minirt", || mutex_minirt(&minirt_rt, false)),
                peer("tokio", || mutex_tokio(&tokio_rt, false)),
            ],
        ),
        workload(
            "mutex_contended_10x1k",
            vec![
                peer("minirt", || mutex_minirt(&minirt_rt, true)),
                peer("tokio", || mutex_tokio(&tokio_rt, true)),
            ],
        ),
        workload(
            "spawn_blocking_100x16",
            vec![
                peer("minirt", || blocking_minirt(&minirt_rt)),
                peer("tokio", || blocking_tokio(&tokio_rt)),
            ],
        ),
        workload(
            "sleep_10ms",
            vec![
                peer("minirt", || sleep_minirt(&minirt_rt)),
                peer("tokio", || sleep_tokio(&tokio_time)),
            ],
        ),
        Workload {
            items: Some((ECHO_MESSAGES, "msgs")),
            ..workload(
                "echo_64",
                vec![
                    peer("minirt", || echo_minirt(&minirt_rt, &minirt_listener)),
                    peer("tokio", || echo_tokio(&tokio_net_rt, &tokio_listener)),
                ],
            )
        },
    ];

    println!(
        "{:<24} {:>8} {:>12} {:>23}  {:>12}",
        "workload", "peer", "median", "min - max", "tokio/minirt"
    );
    for workload in &mut workloads {
        if !wants(workload.name) {
            continue;
        }
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); workload.peers.len()];
        let mut checksums = vec![0; workload.peers.len()];
        for round in 0..warmup + samples {
            for (i, peer) in workload.peers.iter_mut().enumerate() {
                let start = Instant::now();
                let checksum = (peer.run)();
                let elapsed = start.elapsed();
                checksums[i] = checksum;
                if round >= warmup {
                    times[i].push(elapsed);
                }
            }
            assert!(
                checksums.windows(2).all(|w| w[0] == w[1]),
                "{}: peers disagree on the result: {checksums:?}",
                workload.name
            );
        }
        let medians: Vec<Duration> = times
            .iter_mut()
            .map(|t| {
                t.sort();
                median(t)
            })
            .collect();
        for (i, peer) in workload.peers.iter().enumerate() {
            let t = &times[i];
            let ratio = medians[i].as_secs_f64() / medians[0].as_secs_f64();
            let rate = match workload.items {
                Some((items, unit)) => {
                    format!(
                        "  {:>10.0} {unit}/s",
                        items as f64 / medians[i].as_secs_f64()
                    )
                }
                None => String::new(),
            };
            println!(
                "{:<24} {:>8} {:>12.3?} {:>10.3?} - {:>10.3?}  {:>12.2}{rate}",
                workload.name,
                peer.name,
                medians[i],
                t[0],
                t[t.len() - 1],
                ratio
            );
        }
    }
}
