//! Memory: the peak RSS of `IDLE_TASKS` idle tasks, each parked on a oneshot receiver that is
//! never completed, in bytes per task.
//!
//! Each measurement runs in a fresh process (this bench binary, re-executed with the hidden
//! argument `--memory-child PEER N`), so that no peer inherits another's heap. The child makes
//! its runtime and a vector for the senders, reads `VmRSS` from `/proc/self/status`, spawns the
//! tasks, waits until every one has been polled once (and so is parked), reads `VmHWM` and
//! `VmRSS` again, prints the four numbers and exits without tearing down. Bytes per task is
//! `(VmHWM after - VmRSS before) / N`: it counts the task, its future, the oneshot channel it
//! waits on and whatever the runtime keeps per task. smol has no oneshot; its twin uses
//! `async_channel::bounded(1)`.

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::harness::{Group, Plan};
use super::machine;
use super::peers::{LocalRt, Smol, Spawn, SpawnLocal, Tokio, TokioSpawn};
use super::rows::{Row, Spec, Unit};
use super::stats::{RESAMPLES, Rounds};

/// Tasks per child: a million in the full run, a tenth of that in the quick pass.
const IDLE_TASKS: (usize, usize) = (100_000, 1_000_000);
/// Children per peer, interleaved: the median of these is reported.
const ROUNDS: (usize, usize) = (1, 3);

/// The hidden argument that makes this binary a memory child.
pub const CHILD_ARG: &str = "--memory-child";

/// Runs the children for every peer, interleaved, and returns the row.
pub fn run(plan: &Plan) -> Row {
    let began = std::time::Instant::now();
    let n = plan.pick(IDLE_TASKS.0, IDLE_TASKS.1);
    let rounds = plan.pick(ROUNDS.0, ROUNDS.1);
    let exe = std::env::current_exe().expect("the bench binary's path");
    let mut per_task: Vec<Vec<f64>> = vec![Vec::new(); plan.peers.len()];
    for _ in 0..rounds {
        for (i, peer) in plan.peers.iter().enumerate() {
            let mut command = Command::new(&exe);
            if machine::malloc_defaults() {
                command.env(machine::MALLOC_ENV, "1");
            }
            let out = command
                .args([CHILD_ARG, peer, &n.to_string()])
                .output()
                .expect("re-executing the bench binary");
            assert!(
                out.status.success(),
                "memory child for {peer} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let kb: Vec<f64> = text
                .split_whitespace()
                .map(|w| w.parse().expect("the child prints four numbers"))
                .collect();
            let [rss_before, _hwm_before, _rss_after, hwm_after] = kb[..] else {
                panic!("memory child for {peer} printed {text:?}");
            };
            per_task[i].push((hwm_after - rss_before) * 1024.0 / n as f64);
        }
    }
    let series = plan
        .peers
        .iter()
        .zip(per_task)
        .map(|(peer, values)| {
            let rounds = values.into_iter().map(|v| vec![v]).collect();
            (*peer, Ok(Rounds::new(rounds)))
        })
        .collect();
    let spec = Spec {
        name: format!("idle_task_memory_{}k", n / 1000),
        group: Group::Memory,
        unit: Unit::Bytes,
        stat: "median",
        q: 0.5,
        target: Group::Memory.target_vs_tokio(),
        items: None,
        note: Some("one process per peer and round, in turn".into()),
    };
    let mut row = Row::new(spec, series, RESAMPLES);
    row.seconds = began.elapsed().as_secs_f64();
    row
}

/// `VmRSS` and `VmHWM` of this process, in kB.
fn rss_hwm() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The child: `args` are the peer's name and the number of tasks. Never returns.
pub fn child(args: &[String]) -> ! {
    let [peer, n] = args else {
        panic!("usage: {CHILD_ARG} PEER N");
    };
    let n: usize = n.parse().expect("N");
    let before = match peer.as_str() {
        "minirt" => idle_minirt(n),
        "tokio" => idle_tokio::<Spawn>(n),
        "tokio-local" => idle_tokio::<SpawnLocal>(n),
        "tokio-localrt" => idle_tokio::<LocalRt>(n),
        "smol" => idle_smol(n),
        other => panic!("unknown peer {other}"),
    };
    let after = rss_hwm();
    println!("{} {} {} {}", before.0, before.1, after.0, after.1);
    // The tasks and the runtime are still alive: exit without dropping them.
    std::process::exit(0)
}

// Each twin makes its runtime and the senders' vector (so neither counts), reads the RSS,
// spawns `n` tasks that wait on a oneshot, yields until all have been polled, and returns the
// reading from before, leaving everything alive. The senders are kept, so no receiver wakes.

fn idle_minirt(n: usize) -> (u64, u64) {
    use minirt::sync::oneshot;
    let rt = Box::leak(Box::new(minirt::Runtime::new().unwrap()));
    let mut senders: Vec<Option<oneshot::Sender<()>>> = (0..n).map(|_| None).collect();
    let before = rss_hwm();
    rt.block_on(async {
        let parked = Rc::new(Cell::new(0));
        for slot in &mut senders {
            let (tx, rx) = oneshot::channel();
            *slot = Some(tx);
            let parked = parked.clone();
            drop(minirt::spawn(async move {
                parked.set(parked.get() + 1);
                let _ = rx.await;
            }));
        }
        while parked.get() < n {
            minirt::yield_now().await;
        }
    });
    std::mem::forget(senders);
    before
}

fn idle_tokio<S: TokioSpawn>(n: usize) -> (u64, u64) {
    use tokio::sync::oneshot;
    let tk = Box::leak(Box::new(Tokio::new(false, false)));
    let mut senders: Vec<Option<oneshot::Sender<()>>> = (0..n).map(|_| None).collect();
    let before = rss_hwm();
    tk.block_on::<S, _>(async {
        let parked = Arc::new(AtomicUsize::new(0));
        for slot in &mut senders {
            let (tx, rx) = oneshot::channel();
            *slot = Some(tx);
            let parked = parked.clone();
            S::spawn(async move {
                parked.fetch_add(1, Ordering::Relaxed);
                let _ = rx.await;
            });
        }
        while parked.load(Ordering::Relaxed) < n {
            tokio::task::yield_now().await;
        }
    });
    std::mem::forget(senders);
    before
}

fn idle_smol(n: usize) -> (u64, u64) {
    let smol = Smol::new();
    let mut senders: Vec<Option<async_channel::Sender<()>>> = (0..n).map(|_| None).collect();
    let before = rss_hwm();
    smol.block_on(async {
        let parked = Rc::new(Cell::new(0));
        for slot in &mut senders {
            let (tx, rx) = async_channel::bounded(1);
            *slot = Some(tx);
            let parked = parked.clone();
            smol.ex
                .spawn(async move {
                    parked.set(parked.get() + 1);
                    let _ = rx.recv().await;
                })
                .detach();
        }
        while parked.get() < n {
            futures_lite::future::yield_now().await;
        }
    });
    std::mem::forget(senders);
    before
}
