//! Timer workloads: arming and cancelling, `timeout` around a ready future, many sleeps that
//! all fire, and how late a single sleep wakes up.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::harness::{Group, Rng, Show, Workload, peer, peer_timed, workload};
use super::peers::{Runtimes, Smol, Tokio};

/// Arm a sleep (poll it once, so it takes its place in the wheel) and drop it, which cancels
/// it: `TIMER_OPS` pairs per run, with `ARMED` other timers already armed (0, or 1,000,000 as
/// in async-io's `register_timer` bench).
const TIMER_OPS: u64 = 10_000;
const ARMED: usize = 1_000_000;
/// tokio's `time_timeout.rs`: `timeout(1 s, ready)`, `TIMEOUTS` per run.
const TIMEOUTS: u64 = 10_000;
/// `SLEEPERS` tasks each sleep a random 1..=100 ms (seeded), and all of them fire.
const SLEEPERS: u64 = 100_000;
const SLEEP_SEED: u64 = 0x5eed;

pub fn workloads(rts: &Runtimes) -> Vec<Workload<'_>> {
    let (rt, tk, smol) = (&rts.minirt, &rts.tokio_time, rts.smol);
    let timers = |name, peers| workload(name, Group::Timers, peers);
    let mut armed_minirt = None;
    let mut armed_tokio = None;
    let mut armed_smol = None;
    let mut all = vec![
        timers(
            "timer_insert_cancel_10k",
            vec![
                peer("minirt", move || insert_cancel_minirt(rt)),
                peer("tokio", move || insert_cancel_tokio(tk)),
                peer("smol", move || insert_cancel_smol(smol)),
            ],
        ),
        // The million timers are armed by the first (warm-up) run, and cancelled when the
        // workload is dropped, after its last run.
        timers(
            "timer_insert_cancel_1m_armed",
            vec![
                peer("minirt", move || {
                    armed_minirt.get_or_insert_with(|| arm_many_minirt(rt));
                    insert_cancel_minirt(rt)
                }),
                peer("tokio", move || {
                    armed_tokio.get_or_insert_with(|| arm_many_tokio(tk));
                    insert_cancel_tokio(tk)
                }),
                peer("smol", move || {
                    armed_smol.get_or_insert_with(|| arm_many_smol(smol));
                    insert_cancel_smol(smol)
                }),
            ],
        ),
        timers(
            "timeout_ready_10k",
            vec![
                peer("minirt", move || timeout_minirt(rt)),
                peer("tokio", move || timeout_tokio(tk)),
                peer("smol", move || timeout_smol(smol)),
            ],
        ),
        Workload {
            show: vec![Show::Wall, Show::Cpu],
            ..timers(
                "sleep_100k_random_1_100ms",
                vec![
                    peer("minirt", move || sleepers_minirt(rt)),
                    peer("tokio", move || sleepers_tokio(tk)),
                    peer("smol", move || sleepers_smol(smol)),
                ],
            )
        },
    ];
    // One sleep per run; `samples` runs make the median and the p99 of its lateness. The p99
    // needs many: a virtual machine wakes a few sleeping threads in a thousand 0.5-4 ms late,
    // whatever sleeps (std's `thread::sleep` too: `benches/sleep_floor.rs`), so out of 300
    // samples the p99 (the 3rd worst) is a normal wake-up or one of those, by chance. Out of
    // 3,000 it is the 30th worst.
    for (name, ms, samples) in [("sleep_1ms", 1, (20, 3000)), ("sleep_10ms", 10, (10, 1000))] {
        let requested = Duration::from_millis(ms);
        all.push(Workload {
            show: vec![
                Show::Lateness {
                    requested,
                    p99: false,
                },
                Show::Lateness {
                    requested,
                    p99: true,
                },
            ],
            samples: Some(samples),
            ..timers(
                name,
                vec![
                    peer_timed("minirt", move || one_sleep_minirt(rt, requested)),
                    peer_timed("tokio", move || one_sleep_tokio(tk, requested)),
                    peer_timed("smol", move || one_sleep_smol(smol, requested)),
                ],
            )
        });
    }
    all
}

fn insert_cancel_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(std::future::poll_fn(|cx| {
        for i in 0..TIMER_OPS {
            let mut sleep = minirt::sleep(Duration::from_secs(10 + i % 100));
            black_box(Pin::new(&mut sleep).poll(cx).is_pending());
        }
        Poll::Ready(TIMER_OPS)
    }))
}

fn insert_cancel_tokio(tk: &Tokio) -> u64 {
    tk.rt.block_on(std::future::poll_fn(|cx| {
        for i in 0..TIMER_OPS {
            let sleep = tokio::time::sleep(Duration::from_secs(10 + i % 100));
            let mut sleep = std::pin::pin!(sleep);
            black_box(sleep.as_mut().poll(cx).is_pending());
        }
        Poll::Ready(TIMER_OPS)
    }))
}

fn insert_cancel_smol(smol: Smol) -> u64 {
    smol.block_on(std::future::poll_fn(|cx| {
        for i in 0..TIMER_OPS {
            let mut timer = async_io::Timer::after(Duration::from_secs(10 + i % 100));
            black_box(Pin::new(&mut timer).poll(cx).is_pending());
        }
        Poll::Ready(TIMER_OPS)
    }))
}

/// The far deadline of armed timer `i`: an hour or two away, spread over the wheel.
fn far(i: usize) -> Duration {
    Duration::from_secs(3600 + (i % 3600) as u64)
}

fn arm_many_minirt(rt: &minirt::Runtime) -> Vec<minirt::Sleep> {
    let mut sleeps: Vec<_> = (0..ARMED).map(|i| minirt::sleep(far(i))).collect();
    rt.block_on(std::future::poll_fn(|cx| {
        for sleep in &mut sleeps {
            let _ = Pin::new(sleep).poll(cx);
        }
        Poll::Ready(())
    }));
    sleeps
}

fn arm_many_tokio(tk: &Tokio) -> Vec<Pin<Box<tokio::time::Sleep>>> {
    tk.rt.block_on(async {
        let mut sleeps: Vec<_> = (0..ARMED)
            .map(|i| Box::pin(tokio::time::sleep(far(i))))
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

fn arm_many_smol(smol: Smol) -> Vec<async_io::Timer> {
    let mut timers: Vec<_> = (0..ARMED).map(|i| async_io::Timer::after(far(i))).collect();
    smol.block_on(std::future::poll_fn(|cx| {
        for timer in &mut timers {
            let _ = Pin::new(timer).poll(cx);
        }
        Poll::Ready(())
    }));
    timers
}

// timeout_ready: `timeout(1 s, ready)` `TIMEOUTS` times in one task. smol has no `timeout`;
// its idiom is racing the future against a `Timer` with `or`, which polls the future first.

async fn quick_job() -> u64 {
    1
}

fn timeout_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(async {
        let mut sum = 0;
        for _ in 0..TIMEOUTS {
            sum += black_box(
                minirt::timeout(Duration::from_secs(1), quick_job())
                    .await
                    .unwrap(),
            );
        }
        sum
    })
}

fn timeout_tokio(tk: &Tokio) -> u64 {
    tk.rt.block_on(async {
        let mut sum = 0;
        for _ in 0..TIMEOUTS {
            let out = tokio::time::timeout(Duration::from_secs(1), quick_job()).await;
            sum += black_box(out.unwrap());
        }
        sum
    })
}

fn timeout_smol(smol: Smol) -> u64 {
    use futures_lite::FutureExt;
    smol.block_on(async {
        let mut sum = 0;
        for _ in 0..TIMEOUTS {
            // The timer is made first, as `timeout` makes its sleep: its deadline is read
            // from the clock whether or not it is ever polled.
            let timer = async_io::Timer::after(Duration::from_secs(1));
            let out = async { Some(quick_job().await) }
                .or(async {
                    timer.await;
                    None
                })
                .await;
            sum += black_box(out.unwrap());
        }
        sum
    })
}

// sleep_100k_random: `SLEEPERS` tasks sleep a seeded random 1..=100 ms each; all are awaited.
// The wall time is about 100 ms whatever the runtime does, so the `_cpu` row (the process's
// CPU time) is the one that shows the cost of arming and firing them.

fn sleep_times() -> impl Iterator<Item = Duration> {
    let mut rng = Rng::new(SLEEP_SEED);
    (0..SLEEPERS).map(move |_| Duration::from_millis(rng.range(1, 101)))
}

fn sleepers_minirt(rt: &minirt::Runtime) -> u64 {
    rt.block_on(async {
        let handles: Vec<_> = sleep_times()
            .map(|d| minirt::spawn(minirt::sleep(d)))
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        SLEEPERS
    })
}

fn sleepers_tokio(tk: &Tokio) -> u64 {
    tk.rt.block_on(async {
        let handles: Vec<_> = sleep_times()
            .map(|d| tokio::spawn(tokio::time::sleep(d)))
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        SLEEPERS
    })
}

fn sleepers_smol(smol: Smol) -> u64 {
    smol.block_on(async {
        let handles: Vec<_> = sleep_times()
            .map(|d| smol.ex.spawn(async_io::Timer::after(d)))
            .collect();
        for h in handles {
            h.await;
        }
        SLEEPERS
    })
}

// One sleep of `requested`, timed inside the runtime: the harness reports the time minus
// `requested`, the lateness.

fn one_sleep_minirt(rt: &minirt::Runtime, requested: Duration) -> (u64, Duration) {
    rt.block_on(async {
        let start = Instant::now();
        minirt::sleep(requested).await;
        (requested.as_millis() as u64, start.elapsed())
    })
}

fn one_sleep_tokio(tk: &Tokio, requested: Duration) -> (u64, Duration) {
    tk.rt.block_on(async {
        let start = Instant::now();
        tokio::time::sleep(requested).await;
        (requested.as_millis() as u64, start.elapsed())
    })
}

fn one_sleep_smol(smol: Smol, requested: Duration) -> (u64, Duration) {
    smol.block_on(async {
        let start = Instant::now();
        async_io::Timer::after(requested).await;
        (requested.as_millis() as u64, start.elapsed())
    })
}
