//! The rounds: a workload's twins run in turn, round after round, until its intervals are
//! narrow enough; then its rows.
//!
//! [`run`] runs a workload in rounds: in each round every peer runs once, in turn (minirt,
//! tokio, tokio-local, tokio-localrt, smol, minirt, ...), so that a machine whose speed drifts
//! affects every peer alike, and all peers must return the same checksum. By default each peer
//! runs in a process of its own (`isolate.rs`), so that no peer inherits another's heap,
//! another's data in its caches, or another's threads; `Plan::isolated = false`
//! (`--in-process`) runs every twin in this process, as the harness did before.
//!
//! After `warmup` rounds, rounds are added until every interval a verdict depends on is
//! narrow enough (`Plan::width`) and the rounds have taken `Plan::min_time`, or the
//! workload's time (`Plan::budget`) or round count (`Plan::max_samples`) runs out. Then each row gets, per peer, the statistic (a median, or a
//! percentile of pooled round trips), and per peer but minirt the ratio `peer / minirt` with
//! its 95 % bootstrap interval (`stats.rs`), from which the row's verdict follows (`rows.rs`).

use std::time::{Duration, Instant};

use super::harness::{Group, Plan, RunFn, Show, Workload};
use super::isolate::Children;
use super::rows::{Row, Spec, Unit};
use super::stats::{self, Rounds};

/// The process's CPU time so far, all threads.
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The process's minor page faults so far: pages the kernel had to map in (a heap that grew
/// back after being given back, say).
pub fn process_minor_faults() -> u64 {
    // SAFETY: `rusage` is plain data; all zeroes is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_SELF is a constant the kernel knows.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_minflt as u64
}

/// One run's measurements, made where the twin runs (this process, or a child).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub checksum: u64,
    pub wall: Duration,
    /// The CPU time of the whole process during the run.
    pub cpu: Duration,
    /// The process's minor page faults during the run.
    pub faults: u64,
    pub inner: Option<Duration>,
    pub round_trips: Vec<Duration>,
}

/// Runs a twin once and measures it.
pub fn measure(twin: &mut RunFn<'_>) -> Sample {
    let faults = process_minor_faults();
    let cpu = process_cpu_time();
    let start = Instant::now();
    let run = twin();
    let wall = start.elapsed();
    let cpu = process_cpu_time().saturating_sub(cpu);
    Sample {
        checksum: run.checksum,
        wall,
        cpu,
        faults: process_minor_faults().saturating_sub(faults),
        inner: run.inner,
        round_trips: run.round_trips,
    }
}

/// What a workload's rows need besides the samples.
struct Meta {
    name: &'static str,
    group: Group,
    items: Option<(u64, &'static str)>,
    show: Vec<Show>,
    target: Option<f64>,
    round_trip_target: Option<f64>,
    note: Option<String>,
    peers: Vec<(&'static str, Result<(), &'static str>)>,
}

/// Runs `workload` in rounds, checks the checksums, and returns its rows.
pub fn run(workload: &mut Workload<'_>, plan: &Plan) -> Vec<Row> {
    let began = Instant::now();
    let meta = Meta {
        name: workload.name,
        group: workload.group,
        items: workload.items,
        show: workload.show.clone(),
        target: workload.target,
        round_trip_target: workload.round_trip_target,
        note: workload.note.clone(),
        peers: workload.peers.iter().map(|p| (p.name, p.blank())).collect(),
    };
    let runnable: Vec<usize> = (0..meta.peers.len())
        .filter(|i| meta.peers[*i].1.is_ok())
        .collect();
    // One peer alone needs no other process: it shares this one with no other peer.
    let mut children = (plan.isolated && runnable.len() > 1).then(|| {
        let names: Vec<&'static str> = runnable.iter().map(|i| meta.peers[*i].0).collect();
        Children::start(meta.name, &names)
    });
    let peers = &mut workload.peers;
    let mut one_run = |k: usize| match &mut children {
        Some(children) => children.run(k),
        None => measure(peers[runnable[k]].twin().expect("a runnable peer")),
    };
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); meta.peers.len()];
    let mut round = |samples: &mut Vec<Vec<Sample>>, keep: bool| {
        let mut checksums = Vec::new();
        for (k, i) in runnable.iter().enumerate() {
            let sample = one_run(k);
            checksums.push((meta.peers[*i].0, sample.checksum));
            if keep {
                samples[*i].push(sample);
            }
        }
        assert!(
            checksums.windows(2).all(|w| w[0].1 == w[1].1),
            "{}: peers disagree on the result: {checksums:?}",
            meta.name
        );
    };
    for _ in 0..plan.warmup {
        round(&mut samples, false);
    }
    let kept = |samples: &Vec<Vec<Sample>>| runnable.first().map_or(0, |i| samples[*i].len());
    let start = Instant::now();
    match workload.samples {
        Some((quick, full)) => {
            for _ in 0..plan.pick(quick, full) {
                round(&mut samples, true);
            }
        }
        None => {
            let mut want = plan.min_samples;
            loop {
                while kept(&samples) < want {
                    round(&mut samples, true);
                }
                let n = kept(&samples);
                let spent = start.elapsed();
                if n >= plan.max_samples
                    || spent >= plan.budget
                    || (spent >= plan.min_time
                        && meta
                            .rows(&samples, stats::CHECK_RESAMPLES)
                            .iter()
                            .all(|r| r.settled(plan.width)))
                {
                    break;
                }
                // A quarter more rounds, as many as the time left allows (at least one).
                let per_round = spent / n as u32;
                let fit = (plan.budget - spent).as_nanos() / per_round.as_nanos().max(1);
                want = n + (n / 4).clamp(1, (fit as usize).max(1));
                want = want.min(plan.max_samples);
            }
        }
    }
    drop(children);
    let mut rows = meta.rows(&samples, stats::RESAMPLES);
    for row in &mut rows {
        row.seconds = began.elapsed().as_secs_f64();
    }
    rows
}

impl Meta {
    /// The rows, from the samples kept so far.
    fn rows(&self, samples: &[Vec<Sample>], resamples: usize) -> Vec<Row> {
        self.show
            .iter()
            .map(|show| {
                let (suffix, stat, q) = match show {
                    Show::Wall => (String::new(), "median", 0.5),
                    Show::Cpu => ("_cpu".into(), "median", 0.5),
                    Show::Lateness { p99: false, .. } => ("_lateness".into(), "median", 0.5),
                    Show::Lateness { p99: true, .. } => ("_lateness_p99".into(), "p99", 0.99),
                    Show::RoundTrip(q) => (format!("_rtt_{}", q.name()), q.name(), q.q()),
                };
                let target = match show {
                    Show::RoundTrip(_) => self.round_trip_target,
                    _ => self.target,
                };
                let series = self
                    .peers
                    .iter()
                    .zip(samples)
                    .map(|((peer, run), samples)| {
                        (*peer, run.map(|()| Rounds::new(values(samples, *show))))
                    })
                    .collect();
                let spec = Spec {
                    name: format!("{}{suffix}", self.name),
                    group: self.group,
                    unit: Unit::Nanos,
                    stat,
                    q,
                    target: target.unwrap_or(self.group.target_vs_tokio()),
                    items: self.items.filter(|_| matches!(show, Show::Wall)),
                    note: self.note.clone(),
                };
                let mut row = Row::new(spec, series, resamples);
                if matches!(show, Show::Wall) {
                    row.faults = self
                        .peers
                        .iter()
                        .zip(samples)
                        .filter(|(_, s)| !s.is_empty())
                        .map(|((peer, _), s)| {
                            let mut f: Vec<f64> = s.iter().map(|s| s.faults as f64).collect();
                            f.sort_by(f64::total_cmp);
                            (*peer, stats::percentile(&f, 0.5))
                        })
                        .collect();
                }
                row
            })
            .collect()
    }
}

/// Each round's values for one view of the samples: one per round, or for a round-trip row
/// every round trip of the round.
fn values(samples: &[Sample], show: Show) -> Vec<Vec<f64>> {
    let nanos = |d: &Duration| d.as_nanos() as f64;
    samples
        .iter()
        .map(|s| match show {
            Show::Wall => vec![nanos(&s.wall)],
            Show::Cpu => vec![nanos(&s.cpu)],
            // Signed: a timer that fired early shows up as a negative lateness.
            Show::Lateness { requested, .. } => {
                let inner = s.inner.expect("a lateness workload times its own sleeps");
                vec![nanos(&inner) - nanos(&requested)]
            }
            Show::RoundTrip(_) => {
                assert!(
                    !s.round_trips.is_empty(),
                    "a round-trip workload times its round trips"
                );
                s.round_trips.iter().map(nanos).collect()
            }
        })
        .collect()
}
