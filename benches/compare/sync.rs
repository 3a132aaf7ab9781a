//! Sync workloads (request/reply over a queue, a contended semaphore, the mutex, queue
//! throughput) and the blocking pool.
//!
//! smol's twins use its ecosystem's crates: `async-channel` for queues (and `bounded(1)` as
//! its oneshot), `async-lock` for the mutex and the semaphore, `blocking::unblock` for the pool.

use std::any::Any;
use std::cell::LazyCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use super::harness::{Group, Workload, all_peers, twins, workload};
use super::peers::{LocalRt, Runtimes, Smol, Spawn, SpawnLocal, Tokio, TokioSpawn};

/// tokio's `sync_mpsc_oneshot.rs`: 1,000 round trips, each sending a oneshot sender over a
/// bounded(10) channel to a responder task, which answers on it.
const ROUND_TRIPS: u64 = 1_000;
const REQUEST_CAPACITY: usize = 10;
/// tokio's `sync_semaphore.rs` (`contended_concurrent`): 6 tasks on a semaphore of 5 permits.
/// Each task takes a permit `ACQUIRES` times and holds it across a yield, so that one of the
/// six always waits.
const SEM_TASKS: u64 = 6;
const SEM_PERMITS: usize = 5;
const ACQUIRES: u64 = 1_000;
/// Mutex: `LOCKERS` tasks each lock `LOCKS` times. Contended: each holds the lock across a
/// `yield_now`, so the others queue up behind it. Uncontended: one task, no yield.
const LOCKERS: u64 = 10;
const LOCKS: u64 = 1_000;
/// Queue throughput: one producer task puts `QUEUE_ITEMS`, the main task gets them all.
const QUEUE_ITEMS: u64 = 10_000;
/// Blocking pool: `BATCHES` rounds of `BATCH` `spawn_blocking(|| black_box(1))` calls, each
/// round awaited before the next.
const BATCHES: u64 = 100;
const BATCH: u64 = 16;

pub fn workloads(rts: &Runtimes) -> Vec<Workload<'_>> {
    let (rt, tk, smol) = (&rts.minirt, &rts.tokio, rts.smol);
    let sync = |name, peers| workload(name, Group::Sync, peers);
    let [socket_minirt, socket_tokio, socket_localrt, socket_smol] = idle_sockets(rts);
    vec![
        sync(
            "request_reply_1k",
            twins!(
                request_reply_minirt,
                request_reply_tokio,
                request_reply_smol,
                (rt, tk, smol)
            ),
        ),
        // The same on runtimes that also have one idle socket registered, as a server would:
        // the loop then has a poller to check, and how often it does shows here.
        sync(
            "request_reply_1k_socket_open",
            all_peers(
                move || {
                    LazyCell::force(&socket_minirt);
                    request_reply_minirt(&rts.minirt_io)
                },
                {
                    let socket_tokio = socket_tokio.clone();
                    move || {
                        LazyCell::force(&socket_tokio);
                        request_reply_tokio::<Spawn>(&rts.tokio_io)
                    }
                },
                // The same runtime as "tokio", with the same socket.
                move || {
                    LazyCell::force(&socket_tokio);
                    request_reply_tokio::<SpawnLocal>(&rts.tokio_io)
                },
                move || {
                    LazyCell::force(&socket_localrt);
                    request_reply_tokio::<LocalRt>(&rts.tokio_io)
                },
                move || {
                    LazyCell::force(&socket_smol);
                    request_reply_smol(smol)
                },
            ),
        ),
        sync(
            "semaphore_concurrent_6x1k",
            twins!(
                semaphore_minirt,
                semaphore_tokio,
                semaphore_smol,
                (rt, tk, smol)
            ),
        ),
        sync(
            "mutex_uncontended_10k",
            twins!(mutex_minirt, mutex_tokio, mutex_smol, (rt, tk, smol), false),
        ),
        sync(
            "mutex_contended_10x1k",
            twins!(mutex_minirt, mutex_tokio, mutex_smol, (rt, tk, smol), true),
        ),
        sync(
            "queue_unbounded_10k",
            twins!(queue_minirt, queue_tokio, queue_smol, (rt, tk, smol), None),
        ),
        sync(
            "queue_bounded100_10k",
            twins!(
                queue_minirt,
                queue_tokio,
                queue_smol,
                (rt, tk, smol),
                Some(100)
            ),
        ),
        workload(
            "spawn_blocking_100x16",
            Group::Blocking,
            twins!(
                blocking_minirt,
                blocking_tokio,
                blocking_smol,
                (rt, tk, smol)
            ),
        ),
    ]
}

/// An idle UDP socket on each reactor (tokio's `Runtime` and its `LocalRuntime` each have
/// one), bound and registered on a peer's first run, never used. "tokio" and "tokio-local"
/// share one (they share the runtime). Each is only held, so they are boxed as `Any`.
type IdleSocket<'a> = Rc<LazyCell<Box<dyn Any>, Box<dyn FnOnce() -> Box<dyn Any> + 'a>>>;

fn idle_sockets(rts: &Runtimes) -> [IdleSocket<'_>; 4] {
    const ANY: &str = "127.0.0.1:0";
    fn lazy<'a>(make: Box<dyn FnOnce() -> Box<dyn Any> + 'a>) -> IdleSocket<'a> {
        Rc::new(LazyCell::new(make))
    }
    [
        lazy(Box::new(|| {
            Box::new(
                rts.minirt_io
                    .block_on(async { minirt::net::UdpSocket::bind(ANY) })
                    .unwrap(),
            )
        })),
        lazy(Box::new(|| {
            Box::new(
                rts.tokio_io
                    .rt
                    .block_on(tokio::net::UdpSocket::bind(ANY))
                    .unwrap(),
            )
        })),
        lazy(Box::new(|| {
            Box::new(
                rts.tokio_io
                    .localrt
                    .block_on(tokio::net::UdpSocket::bind(ANY))
                    .unwrap(),
            )
        })),
        lazy(Box::new(|| {
            Box::new(
                async_io::Async::<std::net::UdpSocket>::bind(
                    ANY.parse::<std::net::SocketAddr>().unwrap(),
                )
                .unwrap(),
            )
        })),
    ]
}

// request_reply: a responder task answers each request on the oneshot that came with it.
// minirt's queue has no "all senders dropped": its twin shuts the queue down instead.

fn request_reply_minirt(rt: &minirt::Runtime) -> u64 {
    use minirt::sync::{Queue, oneshot};
    rt.block_on(async {
        let requests: Queue<oneshot::Sender<u64>> = Queue::bounded(REQUEST_CAPACITY);
        let responder = minirt::spawn({
            let requests = requests.clone();
            async move {
                let mut n = 0;
                while let Ok(reply) = requests.get().await {
                    n += 1;
                    reply.set_result(n).unwrap();
                }
            }
        });
        let mut sum = 0;
        for _ in 0..ROUND_TRIPS {
            let (tx, rx) = oneshot::channel();
            requests.put(tx).await.unwrap();
            sum += rx.await.unwrap();
        }
        requests.shutdown();
        responder.await.unwrap();
        sum
    })
}

fn request_reply_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    use tokio::sync::{mpsc, oneshot};
    tk.block_on::<S, _>(async {
        let (requests, mut incoming) = mpsc::channel::<oneshot::Sender<u64>>(REQUEST_CAPACITY);
        let responder = S::spawn(async move {
            let mut n = 0;
            while let Some(reply) = incoming.recv().await {
                n += 1;
                reply.send(n).unwrap();
            }
        });
        let mut sum = 0;
        for _ in 0..ROUND_TRIPS {
            let (tx, rx) = oneshot::channel();
            requests.send(tx).await.unwrap();
            sum += rx.await.unwrap();
        }
        drop(requests);
        responder.await.unwrap();
        sum
    })
}

fn request_reply_smol(smol: Smol) -> u64 {
    smol.block_on(async {
        let (requests, incoming) =
            async_channel::bounded::<async_channel::Sender<u64>>(REQUEST_CAPACITY);
        let responder = smol.ex.spawn(async move {
            let mut n = 0;
            while let Ok(reply) = incoming.recv().await {
                n += 1;
                reply.try_send(n).unwrap();
            }
        });
        let mut sum = 0;
        for _ in 0..ROUND_TRIPS {
            let (tx, rx) = async_channel::bounded(1);
            requests.send(tx).await.unwrap();
            sum += rx.recv().await.unwrap();
        }
        drop(requests);
        responder.await;
        sum
    })
}

// semaphore_concurrent: `SEM_TASKS` tasks, `ACQUIRES` permits each, held across a yield.

fn semaphore_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(async {
        let sem = Rc::new(minirt::sync::Semaphore::new(SEM_PERMITS));
        let tasks: Vec<_> = (0..SEM_TASKS)
            .map(|_| {
                let sem = sem.clone();
                minirt::spawn(async move {
                    for _ in 0..ACQUIRES {
                        let _permit = sem.acquire().await;
                        minirt::yield_now().await;
                    }
                    ACQUIRES
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    })
}

fn semaphore_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    tk.block_on::<S, _>(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(SEM_PERMITS));
        let tasks: Vec<_> = (0..SEM_TASKS)
            .map(|_| {
                let sem = sem.clone();
                S::spawn(async move {
                    for _ in 0..ACQUIRES {
                        let _permit = sem.acquire().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                    ACQUIRES
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    })
}

fn semaphore_smol(smol: Smol) -> u64 {
    smol.block_on(async {
        let sem = Rc::new(async_lock::Semaphore::new(SEM_PERMITS));
        let tasks: Vec<_> = (0..SEM_TASKS)
            .map(|_| {
                let sem = sem.clone();
                smol.ex.spawn(async move {
                    for _ in 0..ACQUIRES {
                        let _permit = sem.acquire().await;
                        futures_lite::future::yield_now().await;
                    }
                    ACQUIRES
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    })
}

// mutex: see `LOCKERS`.

fn mutex_minirt(rt: &minirt::Runtime, contended: bool) -> u64 {
    rt.block_on(async {
        let mutex = Rc::new(minirt::sync::Mutex::new(0u64));
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

fn mutex_tokio<S: TokioSpawn>(tk: &Tokio, contended: bool) -> u64 {
    tk.block_on::<S, _>(async {
        let mutex = Arc::new(tokio::sync::Mutex::new(0u64));
        let tasks = if contended { LOCKERS } else { 1 };
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let mutex = mutex.clone();
                S::spawn(async move {
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

fn mutex_smol(smol: Smol, contended: bool) -> u64 {
    smol.block_on(async {
        let mutex = Rc::new(async_lock::Mutex::new(0u64));
        let tasks = if contended { LOCKERS } else { 1 };
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let mutex = mutex.clone();
                smol.ex.spawn(async move {
                    for _ in 0..LOCKS * LOCKERS / tasks {
                        let mut guard = mutex.lock().await;
                        *guard += 1;
                        if contended {
                            futures_lite::future::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        *mutex.lock().await
    })
}

// queue: `capacity` None is unbounded; Some(100) is bounded(100). tokio's twin is
// `sync::mpsc`, smol's is `async-channel`.

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

fn queue_tokio<S: TokioSpawn>(tk: &Tokio, capacity: Option<usize>) -> u64 {
    use tokio::sync::mpsc;
    tk.block_on::<S, _>(async {
        let mut sum = 0;
        match capacity {
            Some(n) => {
                let (tx, mut rx) = mpsc::channel(n);
                let handle = S::spawn(async move {
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
                let (tx, mut rx) = mpsc::unbounded_channel();
                let handle = S::spawn(async move {
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

fn queue_smol(smol: Smol, capacity: Option<usize>) -> u64 {
    smol.block_on(async {
        let (tx, rx) = match capacity {
            Some(n) => async_channel::bounded(n),
            None => async_channel::unbounded(),
        };
        let handle = smol.ex.spawn(async move {
            for i in 0..QUEUE_ITEMS {
                tx.send(i).await.unwrap();
            }
        });
        let mut sum = 0;
        for _ in 0..QUEUE_ITEMS {
            sum += rx.recv().await.unwrap();
        }
        handle.await;
        sum
    })
}

// spawn_blocking: see `BATCHES`.

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

fn blocking_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    tk.block_on::<S, _>(async {
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

fn blocking_smol(smol: Smol) -> u64 {
    smol.block_on(async {
        let mut sum = 0;
        for _ in 0..BATCHES {
            let handles: Vec<_> = (0..BATCH)
                .map(|_| blocking::unblock(|| black_box(1u64)))
                .collect();
            for h in handles {
                sum += h.await;
            }
        }
        sum
    })
}
