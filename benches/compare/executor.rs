//! Executor workloads: spawning, yielding and waking, with nothing else in the way.
//!
//! From tokio's benches (`rt_current_thread.rs`, `rt_multi_threaded.rs`): `spawn_many_local`
//! (1,000 tasks), `spawn_many_remote_idle` (1,000), `yield_many` (200 tasks x 1,000 yields),
//! `ping_pong` (1,000 pings), `chained_spawn` (1,000). From smol's async-executor benches
//! (`local_executor.rs`: `TASKS = 300`, `STEPS = 300`, `LIGHT_TASKS = 25_000`): `spawn_one`,
//! `spawn_many_local` (25,000), `spawn_recursively` (300 x 300), `channels` (a ring of 300
//! tasks, 300 rounds) and `web_server`. From issue 14: `remote_wake` (a plain thread and a
//! task ping-pong 1,000 times, each wake crossing threads). From issue 15:
//! `spawn_remote_2_threads` (two threads spawn 500 tasks each onto one running runtime at once).
//!
//! Where the originals signal the end through a `std::sync::mpsc` channel or a counter, these
//! await the tasks' handles instead, so that every peer runs the same shape and every run
//! returns a checksum.

use std::future::Future;
use std::hint::black_box;
use std::sync::{Arc, Barrier};

use super::harness::{Group, Rng, Workload, blank, peer, twins, workload};
use super::peers::{LocalRt, Runtimes, Smol, Spawn, Tokio, TokioSpawn};

/// tokio's `NUM_SPAWN`, `ITER` and `NUM_PINGS`.
const TOKIO_N: u64 = 1_000;
/// tokio's `yield_many`: `TASKS` tasks, `NUM_YIELD` yields each.
const YIELD_TASKS: u64 = 200;
const YIELDS: u64 = 1_000;
/// smol's `LIGHT_TASKS`, `TASKS` and `STEPS`.
const LIGHT_TASKS: u64 = 25_000;
const TASKS: u64 = 300;
const STEPS: u64 = 300;
/// `spawn_one` is a single spawn; a run does it this many times, so that a run is long enough
/// to time.
const SPAWN_ONE_TIMES: u64 = 1_000;
/// The `web_server` seed (smol's `fastrand::Rng::with_seed(0x12345678)`).
const WEB_SEED: u64 = 0x1234_5678;
/// `remote_wake`: round trips between a plain thread and a task.
const REMOTE_WAKES: u64 = 1_000;

pub fn workloads(rts: &Runtimes) -> Vec<Workload<'_>> {
    let (rt, tk, smol) = (&rts.minirt, &rts.tokio, rts.smol);
    let executor = |name, peers| workload(name, Group::Executor, peers);
    vec![
        executor(
            "spawn_many_local_1k",
            twins!(
                spawn_many_minirt,
                spawn_many_tokio,
                spawn_many_smol,
                (rt, tk, smol),
                TOKIO_N
            ),
        ),
        executor(
            "spawn_many_remote_idle_1k",
            vec![
                peer("minirt", move || spawn_remote_minirt(rt)),
                peer("tokio", move || spawn_remote_tokio::<Spawn>(tk)),
                blank(
                    "tokio-local",
                    "a LocalSet is !Send: no spawn from another thread",
                ),
                peer("tokio-localrt", move || spawn_remote_tokio::<LocalRt>(tk)),
                blank(
                    "smol",
                    "a LocalExecutor is !Send: no spawn from another thread",
                ),
            ],
        ),
        executor(
            "spawn_remote_2_threads_1k",
            vec![
                peer("minirt", move || spawn_two_threads_minirt(rt)),
                peer("tokio", move || spawn_two_threads_tokio::<Spawn>(tk)),
                blank(
                    "tokio-local",
                    "a LocalSet is !Send: no spawn from another thread",
                ),
                peer("tokio-localrt", move || {
                    spawn_two_threads_tokio::<LocalRt>(tk)
                }),
                blank(
                    "smol",
                    "a LocalExecutor is !Send: no spawn from another thread",
                ),
            ],
        ),
        executor(
            "spawn_many_local_25k",
            twins!(
                spawn_many_minirt,
                spawn_many_tokio,
                spawn_many_smol,
                (rt, tk, smol),
                LIGHT_TASKS
            ),
        ),
        executor(
            "spawn_one_x1k",
            twins!(
                spawn_one_minirt,
                spawn_one_tokio,
                spawn_one_smol,
                (rt, tk, smol)
            ),
        ),
        executor(
            "yield_many_200x1k",
            twins!(
                yield_many_minirt,
                yield_many_tokio,
                yield_many_smol,
                (rt, tk, smol)
            ),
        ),
        executor(
            "ping_pong_1k",
            twins!(
                ping_pong_minirt,
                ping_pong_tokio,
                ping_pong_smol,
                (rt, tk, smol)
            ),
        ),
        // Issue 14's bar for cross-thread wakes: at least even with tokio.
        Workload {
            target: Some(1.0),
            ..executor(
                "remote_wake_1k",
                twins!(
                    remote_wake_minirt,
                    remote_wake_tokio,
                    remote_wake_smol,
                    (rt, tk, smol)
                ),
            )
        },
        executor(
            "chained_spawn_1k",
            twins!(
                chained_spawn_minirt,
                chained_spawn_tokio,
                chained_spawn_smol,
                (rt, tk, smol)
            ),
        ),
        executor(
            "spawn_recursively_300x300",
            twins!(
                recursively_minirt,
                recursively_tokio,
                recursively_smol,
                (rt, tk, smol)
            ),
        ),
        executor(
            "channels_ring300x300",
            twins!(
                channels_minirt,
                channels_tokio,
                channels_smol,
                (rt, tk, smol)
            ),
        ),
        executor(
            "web_server_300",
            twins!(
                web_server_minirt,
                web_server_tokio,
                web_server_smol,
                (rt, tk, smol)
            ),
        ),
    ]
}

// spawn_many_local: spawn `n` empty tasks from inside the runtime, then await them all.

fn spawn_many_minirt(rt: &minirt::Runtime, n: u64) -> u64 {
    rt.block_on(async {
        let handles: Vec<_> = (0..n)
            .map(|i| minirt::spawn(async move { black_box(i) }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn spawn_many_tokio<S: TokioSpawn>(tk: &Tokio, n: u64) -> u64 {
    tk.block_on::<S, _>(async {
        let handles: Vec<_> = (0..n)
            .map(|i| S::spawn(async move { black_box(i) }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn spawn_many_smol(smol: Smol, n: u64) -> u64 {
    smol.block_on(async {
        let handles: Vec<_> = (0..n)
            .map(|i| smol.ex.spawn(async move { black_box(i) }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        sum
    })
}

/// minirt's `spawn_many_remote_idle`: the same through `Runtime::handle`, whose spawns go
/// through the inbox as a spawn from another thread would.
fn spawn_remote_minirt(rt: &minirt::Runtime) -> u64 {
    let handle = rt.handle();
    let handles: Vec<_> = (0..TOKIO_N)
        .map(|i| handle.spawn(async move { black_box(i) }))
        .collect();
    rt.block_on(async {
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

/// `spawn_remote_2_threads`: from inside `block_on`, start two threads that wait for each
/// other, then each spawn half of `TOKIO_N` tasks through the handle at once, while the
/// runtime runs (or parks) and takes them in. The handles come back through an
/// `async_channel`, the same for every peer. Thread start-up is in the time, alike for all.
fn spawn_from_two_threads<H: Send + 'static>(
    spawn: impl Fn(u64) -> H + Send + Clone + 'static,
) -> async_channel::Receiver<Vec<H>> {
    let (tx, rx) = async_channel::bounded(2);
    let barrier = Arc::new(Barrier::new(2));
    for half in 0..2 {
        let (tx, spawn, barrier) = (tx.clone(), spawn.clone(), barrier.clone());
        std::thread::spawn(move || {
            barrier.wait();
            let range = half * TOKIO_N / 2..(half + 1) * TOKIO_N / 2;
            tx.send_blocking(range.map(&spawn).collect()).unwrap();
        });
    }
    rx
}

/// Awaits every handle of `batches` batches from `rx`, and sums their outputs.
async fn await_batches<H, T, E>(rx: async_channel::Receiver<Vec<H>>, batches: usize) -> u64
where
    H: Future<Output = Result<T, E>>,
    T: Into<u64>,
    E: std::fmt::Debug,
{
    let mut sum = 0;
    for _ in 0..batches {
        for h in rx.recv().await.unwrap() {
            sum += h.await.unwrap().into();
        }
    }
    sum
}

fn spawn_two_threads_minirt(rt: &minirt::Runtime) -> u64 {
    let handle = rt.handle();
    rt.block_on(async move {
        let rx = spawn_from_two_threads(move |i| handle.spawn(async move { black_box(i) }));
        await_batches(rx, 2).await
    })
}

fn spawn_two_threads_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    let handle = S::handle(tk).clone();
    tk.block_on::<S, _>(async move {
        let rx = spawn_from_two_threads(move |i| handle.spawn(async move { black_box(i) }));
        await_batches(rx, 2).await
    })
}

/// tokio's `spawn_many_remote_idle`: spawn through the runtime's handle from outside
/// `block_on` (tokio's inject queue, the path a spawn from another thread takes), then await.
/// A `LocalRuntime`'s handle spawns `Send` tasks the same way.
fn spawn_remote_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    let handles: Vec<_> = (0..TOKIO_N)
        .map(|i| S::handle(tk).spawn(async move { black_box(i) }))
        .collect();
    tk.block_on::<S, _>(async {
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

// spawn_one: enter the runtime, spawn one empty task, await it; `SPAWN_ONE_TIMES` times.

fn spawn_one_minirt(rt: &minirt::Runtime) -> u64 {
    (0..SPAWN_ONE_TIMES)
        .map(|i| rt.block_on(async move { minirt::spawn(async move { i }).await.unwrap() }))
        .sum()
}

fn spawn_one_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    (0..SPAWN_ONE_TIMES)
        .map(|i| tk.block_on::<S, _>(async move { S::spawn(async move { i }).await.unwrap() }))
        .sum()
}

fn spawn_one_smol(smol: Smol) -> u64 {
    (0..SPAWN_ONE_TIMES)
        .map(|i| smol.block_on(async move { smol.ex.spawn(async move { i }).await }))
        .sum()
}

// yield_many: `YIELD_TASKS` tasks, each yielding `YIELDS` times.

fn yield_many_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(async {
        let handles: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                minirt::spawn(async {
                    for _ in 0..YIELDS {
                        minirt::yield_now().await;
                    }
                    YIELDS
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn yield_many_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    tk.block_on::<S, _>(async {
        let handles: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                S::spawn(async {
                    for _ in 0..YIELDS {
                        tokio::task::yield_now().await;
                    }
                    YIELDS
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn yield_many_smol(smol: Smol) -> u64 {
    smol.block_on(async {
        let handles: Vec<_> = (0..YIELD_TASKS)
            .map(|_| {
                smol.ex.spawn(async {
                    for _ in 0..YIELDS {
                        futures_lite::future::yield_now().await;
                    }
                    YIELDS
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        sum
    })
}

// ping_pong: one task spawns `TOKIO_N` pingers; each makes two oneshots, spawns a partner that
// waits on the first and answers on the second, pings, and waits for the pong. smol has no
// oneshot: its twin uses `async_channel::bounded(1)`, as smol's own benches do for replies.

fn ping_pong_minirt(rt: &minirt::Runtime) -> u64 {
    use minirt::sync::oneshot;
    rt.block_on(async {
        minirt::spawn(async {
            let pingers: Vec<_> = (0..TOKIO_N)
                .map(|i| {
                    minirt::spawn(async move {
                        let (tx1, rx1) = oneshot::channel();
                        let (tx2, rx2) = oneshot::channel();
                        drop(minirt::spawn(async move {
                            let ping: u64 = rx1.await.unwrap();
                            tx2.set_result(ping + 1).unwrap();
                        }));
                        tx1.set_result(i).unwrap();
                        rx2.await.unwrap()
                    })
                })
                .collect();
            let mut sum = 0;
            for p in pingers {
                sum += p.await.unwrap();
            }
            sum
        })
        .await
        .unwrap()
    })
}

fn ping_pong_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    use tokio::sync::oneshot;
    tk.block_on::<S, _>(async {
        S::spawn(async {
            let pingers: Vec<_> = (0..TOKIO_N)
                .map(|i| {
                    S::spawn(async move {
                        let (tx1, rx1) = oneshot::channel();
                        let (tx2, rx2) = oneshot::channel();
                        S::spawn(async move {
                            let ping: u64 = rx1.await.unwrap();
                            tx2.send(ping + 1).unwrap();
                        });
                        tx1.send(i).unwrap();
                        rx2.await.unwrap()
                    })
                })
                .collect();
            let mut sum = 0;
            for p in pingers {
                sum += p.await.unwrap();
            }
            sum
        })
        .await
        .unwrap()
    })
}

fn ping_pong_smol(smol: Smol) -> u64 {
    let ex = smol.ex;
    smol.block_on(async move {
        ex.spawn(async move {
            let pingers: Vec<_> = (0..TOKIO_N)
                .map(|i| {
                    ex.spawn(async move {
                        let (tx1, rx1) = async_channel::bounded(1);
                        let (tx2, rx2) = async_channel::bounded(1);
                        ex.spawn(async move {
                            let ping: u64 = rx1.recv().await.unwrap();
                            tx2.try_send(ping + 1).unwrap();
                        })
                        .detach();
                        tx1.try_send(i).unwrap();
                        rx2.recv().await.unwrap()
                    })
                })
                .collect();
            let mut sum = 0;
            for p in pingers {
                sum += p.await;
            }
            sum
        })
        .await
    })
}

// remote_wake: a plain thread and a task ping-pong `REMOTE_WAKES` times. Each round trip
// has its own pair of one-shot channels: the thread sends a ping, which wakes the task from
// another thread while its runtime is parked, and the task answers with a pong, which wakes
// the parked thread. The thread's side is the same for every peer (`pinger`: futures-lite's
// `block_on`, which parks the thread until it is woken); the task's side is each runtime's own
// oneshot (smol's twin: `async_channel::bounded(1)`).

/// The thread's side: for each round `i`, sends `i` on `pings[i]` and waits for the answer on
/// `pongs[i]`. Returns the sum of the answers.
fn pinger<P: Send + 'static, Q: Send + 'static>(
    pings: Vec<P>,
    pongs: Vec<Q>,
    send: impl Fn(P, u64) + Send + 'static,
    recv: impl Fn(Q) -> u64 + Send + 'static,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut sum = 0;
        for (i, (ping, pong)) in (0..).zip(pings.into_iter().zip(pongs)) {
            send(ping, i);
            sum += recv(pong);
        }
        sum
    })
}

/// `REMOTE_WAKES` channels, as the two vectors of their halves.
fn halves<A, B>(channel: impl Fn() -> (A, B)) -> (Vec<A>, Vec<B>) {
    (0..REMOTE_WAKES).map(|_| channel()).unzip()
}

fn remote_wake_minirt(rt: &minirt::Runtime) -> u64 {
    use minirt::sync::oneshot;
    let (ping_tx, ping_rx) = halves(oneshot::channel::<u64>);
    let (pong_tx, pong_rx) = halves(oneshot::channel::<u64>);
    let thread = pinger(
        ping_tx,
        pong_rx,
        |tx, i| tx.set_result(i).unwrap(),
        |rx| futures_lite::future::block_on(rx).unwrap(),
    );
    let answered = rt.block_on(async {
        minirt::spawn(async move {
            let mut sum = 0;
            for (ping, pong) in ping_rx.into_iter().zip(pong_tx) {
                let n = ping.await.unwrap() + 1;
                pong.set_result(n).unwrap();
                sum += n;
            }
            sum
        })
        .await
        .unwrap()
    });
    assert_eq!(thread.join().unwrap(), answered);
    answered
}

fn remote_wake_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    use tokio::sync::oneshot;
    let (ping_tx, ping_rx) = halves(oneshot::channel::<u64>);
    let (pong_tx, pong_rx) = halves(oneshot::channel::<u64>);
    let thread = pinger(
        ping_tx,
        pong_rx,
        |tx, i| tx.send(i).unwrap(),
        |rx| futures_lite::future::block_on(rx).unwrap(),
    );
    let answered = tk.block_on::<S, _>(async {
        S::spawn(async move {
            let mut sum = 0;
            for (ping, pong) in ping_rx.into_iter().zip(pong_tx) {
                let n = ping.await.unwrap() + 1;
                pong.send(n).unwrap();
                sum += n;
            }
            sum
        })
        .await
        .unwrap()
    });
    assert_eq!(thread.join().unwrap(), answered);
    answered
}

fn remote_wake_smol(smol: Smol) -> u64 {
    let (ping_tx, ping_rx) = halves(|| async_channel::bounded::<u64>(1));
    let (pong_tx, pong_rx) = halves(|| async_channel::bounded::<u64>(1));
    let thread = pinger(
        ping_tx,
        pong_rx,
        |tx, i| tx.try_send(i).unwrap(),
        |rx| futures_lite::future::block_on(rx.recv()).unwrap(),
    );
    let answered = smol.block_on(async {
        smol.ex
            .spawn(async move {
                let mut sum = 0;
                for (ping, pong) in ping_rx.into_iter().zip(pong_tx) {
                    let n = ping.recv().await.unwrap() + 1;
                    pong.try_send(n).unwrap();
                    sum += n;
                }
                sum
            })
            .await
    });
    assert_eq!(thread.join().unwrap(), answered);
    answered
}

// chained_spawn: each task spawns the next, `TOKIO_N` deep, and drops its handle; the last one
// completes a oneshot that the main future awaits.

fn chained_minirt(done: minirt::sync::oneshot::Sender<u64>, n: u64) {
    if n == 0 {
        done.set_result(TOKIO_N).unwrap();
    } else {
        drop(minirt::spawn(async move { chained_minirt(done, n - 1) }));
    }
}

fn chained_spawn_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(async {
        let (done, finished) = minirt::sync::oneshot::channel();
        drop(minirt::spawn(async move { chained_minirt(done, TOKIO_N) }));
        finished.await.unwrap()
    })
}

fn chained_tokio<S: TokioSpawn>(done: tokio::sync::oneshot::Sender<u64>, n: u64) {
    if n == 0 {
        done.send(TOKIO_N).unwrap();
    } else {
        S::spawn(async move { chained_tokio::<S>(done, n - 1) });
    }
}

fn chained_spawn_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    tk.block_on::<S, _>(async {
        let (done, finished) = tokio::sync::oneshot::channel();
        S::spawn(async move { chained_tokio::<S>(done, TOKIO_N) });
        finished.await.unwrap()
    })
}

fn chained_smol(smol: Smol, done: async_channel::Sender<u64>, n: u64) {
    if n == 0 {
        done.try_send(TOKIO_N).unwrap();
    } else {
        smol.ex
            .spawn(async move { chained_smol(smol, done, n - 1) })
            .detach();
    }
}

fn chained_spawn_smol(smol: Smol) -> u64 {
    smol.block_on(async {
        let (done, finished) = async_channel::bounded(1);
        smol.ex
            .spawn(async move { chained_smol(smol, done, TOKIO_N) })
            .detach();
        finished.recv().await.unwrap()
    })
}

// spawn_recursively: `TASKS` tasks, each spawning a child and awaiting it, `STEPS` deep. Each
// level boxes the next one, as smol's bench does, so that the future's type is finite (tokio's
// twin boxes in the function, because `Send` cannot be inferred through the recursion).

async fn recurse_minirt(i: u64) -> u64 {
    if i == 0 {
        return 0;
    }
    minirt::spawn(async move { Box::pin(recurse_minirt(i - 1)).await })
        .await
        .unwrap()
        + 1
}

fn recursively_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| minirt::spawn(recurse_minirt(STEPS)))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn recurse_tokio<S: TokioSpawn>(i: u64) -> std::pin::Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if i == 0 {
            return 0;
        }
        S::spawn(async move { recurse_tokio::<S>(i - 1).await })
            .await
            .unwrap()
            + 1
    })
}

fn recursively_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    tk.block_on::<S, _>(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| S::spawn(recurse_tokio::<S>(STEPS)))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

async fn recurse_smol(smol: Smol, i: u64) -> u64 {
    if i == 0 {
        return 0;
    }
    smol.ex
        .spawn(async move { Box::pin(recurse_smol(smol, i - 1)).await })
        .await
        + 1
}

fn recursively_smol(smol: Smol) -> u64 {
    smol.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| smol.ex.spawn(recurse_smol(smol, STEPS)))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await;
        }
        sum
    })
}

// channels: a ring of `TASKS` tasks joined by bounded(1) channels; the main future sends a
// number in `STEPS` times and gets it back, incremented once per task.

fn channels_minirt(rt: &minirt::Runtime) -> u64 {
    use minirt::sync::Queue;
    rt.block_on(async {
        let first = Queue::bounded(1);
        let mut current = first.clone();
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let next = Queue::bounded(1);
            let (input, output) = (current, next.clone());
            current = next;
            tasks.push(minirt::spawn(async move {
                for _ in 0..STEPS {
                    let n: u64 = input.get().await.unwrap();
                    output.put(n + 1).await.unwrap();
                }
            }));
        }
        let mut sum = 0;
        for i in 0..STEPS {
            first.put(i).await.unwrap();
            sum += current.get().await.unwrap();
        }
        for t in tasks {
            t.await.unwrap();
        }
        sum
    })
}

fn channels_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    use tokio::sync::mpsc;
    tk.block_on::<S, _>(async {
        let (first, mut current) = mpsc::channel(1);
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let (output, next) = mpsc::channel(1);
            let mut input = std::mem::replace(&mut current, next);
            tasks.push(S::spawn(async move {
                for _ in 0..STEPS {
                    let n: u64 = input.recv().await.unwrap();
                    output.send(n + 1).await.unwrap();
                }
            }));
        }
        let mut sum = 0;
        for i in 0..STEPS {
            first.send(i).await.unwrap();
            sum += current.recv().await.unwrap();
        }
        for t in tasks {
            t.await.unwrap();
        }
        sum
    })
}

fn channels_smol(smol: Smol) -> u64 {
    smol.block_on(async {
        let (first, mut current) = async_channel::bounded(1);
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let (output, next) = async_channel::bounded(1);
            let input = std::mem::replace(&mut current, next);
            tasks.push(smol.ex.spawn(async move {
                for _ in 0..STEPS {
                    let n: u64 = input.recv().await.unwrap();
                    output.send(n + 1).await.unwrap();
                }
            }));
        }
        let mut sum = 0;
        for i in 0..STEPS {
            first.send(i).await.unwrap();
            sum += current.recv().await.unwrap();
        }
        for t in tasks {
            t.await;
        }
        sum
    })
}

// web_server: smol's seeded mixed workload. A database task answers requests that arrive on a
// bounded(`TASKS / 5`) channel, each carrying a reply oneshot; it yields 0..10 times per
// request. A server task spawns `TASKS` requests (yielding now and then), and each request is
// either cached (one yield) or makes `STEPS/2..STEPS` database calls and then yields 3..16
// times. Unlike smol's bench, the server awaits its requests before it closes the database
// channel, so that every run finishes all its work. The database draws its numbers in the
// order requests reach it, but the draws are one fixed sequence and the number of calls is
// fixed by the seed, so the sum of the answers is the same on every peer.

/// The server's side of the seed: the generator each request gets, and the server's own.
fn web_rngs() -> (Rng, Rng) {
    let mut db = Rng::new(WEB_SEED);
    let web = db.fork();
    (db, web)
}

fn web_server_minirt(rt: &minirt::Runtime) -> u64 {
    use minirt::sync::{Queue, oneshot};
    rt.block_on(async {
        let (mut db_rng, mut web_rng) = web_rngs();
        let db: Queue<oneshot::Sender<u64>> = Queue::bounded((TASKS / 5) as usize);
        let db_task = minirt::spawn({
            let db = db.clone();
            async move {
                while let Ok(reply) = db.get().await {
                    for _ in 0..db_rng.range(0, 10) {
                        minirt::yield_now().await;
                    }
                    let _ = reply.set_result(db_rng.next());
                }
            }
        });
        let server = minirt::spawn(async move {
            let mut requests = Vec::new();
            for i in 0..TASKS {
                if web_rng.range(0, 17) == 16 {
                    minirt::yield_now().await;
                }
                let mut rng = web_rng.fork();
                let db = db.clone();
                requests.push(minirt::spawn(async move {
                    if rng.bool() {
                        minirt::yield_now().await;
                        return 0;
                    }
                    let mut sum = 0u64;
                    for _ in 0..rng.range(STEPS / 2, STEPS) {
                        let (tx, rx) = oneshot::channel();
                        db.put(tx).await.unwrap();
                        sum = sum.wrapping_add(black_box(rx.await.unwrap()));
                    }
                    for _ in 0..rng.range(3, 16) {
                        minirt::yield_now().await;
                    }
                    sum
                }));
                if i & 16 == 0 {
                    minirt::yield_now().await;
                }
            }
            let mut sum = 0u64;
            for r in requests {
                sum = sum.wrapping_add(r.await.unwrap());
            }
            db.shutdown();
            sum
        });
        let sum = server.await.unwrap();
        db_task.await.unwrap();
        sum
    })
}

fn web_server_tokio<S: TokioSpawn>(tk: &Tokio) -> u64 {
    use tokio::sync::{mpsc, oneshot};
    tk.block_on::<S, _>(async {
        let (mut db_rng, mut web_rng) = web_rngs();
        let (db, mut db_rx) = mpsc::channel::<oneshot::Sender<u64>>((TASKS / 5) as usize);
        let db_task = S::spawn(async move {
            while let Some(reply) = db_rx.recv().await {
                for _ in 0..db_rng.range(0, 10) {
                    tokio::task::yield_now().await;
                }
                let _ = reply.send(db_rng.next());
            }
        });
        let server = S::spawn(async move {
            let mut requests = Vec::new();
            for i in 0..TASKS {
                if web_rng.range(0, 17) == 16 {
                    tokio::task::yield_now().await;
                }
                let mut rng = web_rng.fork();
                let db = db.clone();
                requests.push(S::spawn(async move {
                    if rng.bool() {
                        tokio::task::yield_now().await;
                        return 0;
                    }
                    let mut sum = 0u64;
                    for _ in 0..rng.range(STEPS / 2, STEPS) {
                        let (tx, rx) = oneshot::channel();
                        db.send(tx).await.unwrap();
                        sum = sum.wrapping_add(black_box(rx.await.unwrap()));
                    }
                    for _ in 0..rng.range(3, 16) {
                        tokio::task::yield_now().await;
                    }
                    sum
                }));
                if i & 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            let mut sum = 0u64;
            for r in requests {
                sum = sum.wrapping_add(r.await.unwrap());
            }
            drop(db);
            sum
        });
        let sum = server.await.unwrap();
        db_task.await.unwrap();
        sum
    })
}

fn web_server_smol(smol: Smol) -> u64 {
    use futures_lite::future::yield_now;
    let ex = smol.ex;
    smol.block_on(async move {
        let (mut db_rng, mut web_rng) = web_rngs();
        let (db, db_rx) =
            async_channel::bounded::<async_channel::Sender<u64>>((TASKS / 5) as usize);
        let db_task = ex.spawn(async move {
            while let Ok(reply) = db_rx.recv().await {
                for _ in 0..db_rng.range(0, 10) {
                    yield_now().await;
                }
                let _ = reply.send(db_rng.next()).await;
            }
        });
        let server = ex.spawn(async move {
            let mut requests = Vec::new();
            for i in 0..TASKS {
                if web_rng.range(0, 17) == 16 {
                    yield_now().await;
                }
                let mut rng = web_rng.fork();
                let db = db.clone();
                requests.push(ex.spawn(async move {
                    if rng.bool() {
                        yield_now().await;
                        return 0;
                    }
                    let mut sum = 0u64;
                    for _ in 0..rng.range(STEPS / 2, STEPS) {
                        let (tx, rx) = async_channel::bounded(1);
                        db.send(tx).await.unwrap();
                        sum = sum.wrapping_add(black_box(rx.recv().await.unwrap()));
                    }
                    for _ in 0..rng.range(3, 16) {
                        yield_now().await;
                    }
                    sum
                }));
                if i & 16 == 0 {
                    yield_now().await;
                }
            }
            let mut sum = 0u64;
            for r in requests {
                sum = sum.wrapping_add(r.await);
            }
            drop(db);
            sum
        });
        let sum = server.await;
        db_task.await;
        sum
    })
}
