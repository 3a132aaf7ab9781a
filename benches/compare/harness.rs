//! The harness: peers, workloads, interleaved runs, checksums and statistics.
//!
//! A [`Workload`] is one piece of work with one twin per peer. [`run`] calls the twins in
//! turn (minirt, tokio, tokio-local, tokio-localrt, smol, minirt, ...) so that a machine whose
//! speed drifts affects every peer alike, checks after every round that all peers returned the
//! same checksum, and turns the samples into [`Row`]s: a median with its min and max per peer,
//! or, for workloads that time each of their round trips, the p50, p99 and p99.9 of all the
//! round trips of all the runs.

use std::time::{Duration, Instant};

/// The peers, in the order they run and are printed. minirt comes first: ratios are
/// `peer / minirt`.
pub const PEERS: [&str; 5] = ["minirt", "tokio", "tokio-local", "tokio-localrt", "smol"];

/// tokio's three ways of running tasks: a row's target is judged against the fastest.
pub const TOKIO_PEERS: [&str; 3] = ["tokio", "tokio-local", "tokio-localrt"];

/// What one run of a twin reports: the checksum every peer must agree on, for workloads
/// that time something inside the run (a sleep's lateness), that time, and for workloads that
/// time each round trip, those times.
#[derive(Default)]
pub struct Run {
    pub checksum: u64,
    pub inner: Option<Duration>,
    pub round_trips: Vec<Duration>,
}

type RunFn<'a> = Box<dyn FnMut() -> Run + 'a>;

/// One peer's twin of a workload, or the reason it has none.
pub struct Peer<'a> {
    pub name: &'static str,
    run: Result<RunFn<'a>, &'static str>,
}

/// A twin that returns its checksum; the harness times it.
pub fn peer<'a>(name: &'static str, mut run: impl FnMut() -> u64 + 'a) -> Peer<'a> {
    Peer {
        name,
        run: Ok(Box::new(move || Run {
            checksum: run(),
            ..Run::default()
        })),
    }
}

/// The five twins of a workload: minirt, tokio three ways, and smol.
pub fn all_peers<'a>(
    minirt: impl FnMut() -> u64 + 'a,
    tokio: impl FnMut() -> u64 + 'a,
    tokio_local: impl FnMut() -> u64 + 'a,
    tokio_localrt: impl FnMut() -> u64 + 'a,
    smol: impl FnMut() -> u64 + 'a,
) -> Vec<Peer<'a>> {
    vec![
        peer("minirt", minirt),
        peer("tokio", tokio),
        peer("tokio-local", tokio_local),
        peer("tokio-localrt", tokio_localrt),
        peer("smol", smol),
    ]
}

/// The five twins of a workload from its three functions, `f_minirt(rt, args..)`,
/// `f_tokio::<S>(tk, args..)` (run with `S` = `Spawn`, `SpawnLocal` and `LocalRt`) and
/// `f_smol(smol, args..)`.
macro_rules! twins {
    ($minirt:ident, $tokio:ident, $smol:ident, ($rt:expr, $tk:expr, $sm:expr) $(, $arg:expr)*) => {
        $crate::harness::all_peers(
            move || $minirt($rt $(, $arg)*),
            move || $tokio::<$crate::peers::Spawn>($tk $(, $arg)*),
            move || $tokio::<$crate::peers::SpawnLocal>($tk $(, $arg)*),
            move || $tokio::<$crate::peers::LocalRt>($tk $(, $arg)*),
            move || $smol($sm $(, $arg)*),
        )
    };
}
pub(crate) use twins;

/// A twin that times part of its own run and returns `(checksum, time)`.
pub fn peer_timed<'a>(
    name: &'static str,
    mut run: impl FnMut() -> (u64, Duration) + 'a,
) -> Peer<'a> {
    Peer {
        name,
        run: Ok(Box::new(move || {
            let (checksum, inner) = run();
            Run {
                checksum,
                inner: Some(inner),
                ..Run::default()
            }
        })),
    }
}

/// A twin that times each of its round trips and returns `(checksum, round trip times)`.
pub fn peer_round_trips<'a>(
    name: &'static str,
    mut run: impl FnMut() -> (u64, Vec<Duration>) + 'a,
) -> Peer<'a> {
    Peer {
        name,
        run: Ok(Box::new(move || {
            let (checksum, round_trips) = run();
            Run {
                checksum,
                round_trips,
                ..Run::default()
            }
        })),
    }
}

/// A peer that cannot express the workload: left blank, with the reason printed.
pub fn blank<'a>(name: &'static str, reason: &'static str) -> Peer<'a> {
    Peer {
        name,
        run: Err(reason),
    }
}

/// Which part of minirt a workload measures; the targets differ by group.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Group {
    Executor,
    Timers,
    Sync,
    Blocking,
    Io,
    Memory,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Executor => "executor",
            Group::Timers => "timers",
            Group::Sync => "sync",
            Group::Blocking => "blocking",
            Group::Io => "I/O",
            Group::Memory => "memory",
        }
    }

    /// The target, as the least `tokio / minirt` ratio that meets it.
    pub fn target_vs_tokio(self) -> f64 {
        match self {
            Group::Executor => 1.5,
            Group::Timers | Group::Sync | Group::Blocking => 1.2,
            Group::Io | Group::Memory => 1.0,
        }
    }
}

/// What a workload's rows report. Every run records its wall time, the process's CPU time and
/// the run's own inner time, if any; each `Show` makes one row from them.
#[derive(Clone, Copy)]
pub enum Show {
    /// The wall time of a run (the default).
    Wall,
    /// The CPU time of the whole process during a run: for workloads whose wall time is set
    /// by the clock (sleeps), this is the work the runtime did.
    Cpu,
    /// The run's inner time minus `requested`: how late a timer fired. `p99` picks the 99th
    /// percentile instead of the median.
    Lateness { requested: Duration, p99: bool },
    /// The `q` quantile of every round trip the runs timed, pooled over the runs.
    RoundTrip(Quantile),
}

/// The quantiles a round-trip row reports.
#[derive(Clone, Copy)]
pub enum Quantile {
    P50,
    P99,
    P999,
}

impl Quantile {
    pub const ALL: [Quantile; 3] = [Quantile::P50, Quantile::P99, Quantile::P999];

    fn q(self) -> f64 {
        match self {
            Quantile::P50 => 0.5,
            Quantile::P99 => 0.99,
            Quantile::P999 => 0.999,
        }
    }

    /// Its name in rows and in `results.json`.
    fn name(self) -> &'static str {
        match self {
            Quantile::P50 => "p50",
            Quantile::P99 => "p99",
            Quantile::P999 => "p99.9",
        }
    }
}

/// The rows of a workload that times its round trips: its wall time (its throughput), then
/// the p50, p99 and p99.9 of a round trip.
pub fn with_round_trips() -> Vec<Show> {
    let mut show = vec![Show::Wall];
    show.extend(Quantile::ALL.map(Show::RoundTrip));
    show
}

pub struct Workload<'a> {
    pub name: &'static str,
    pub group: Group,
    /// For throughput workloads: how many items one run moves, and their unit.
    pub items: Option<(u64, &'static str)>,
    pub show: Vec<Show>,
    /// Fixed sample counts `(quick, full)`, for workloads that need many (percentiles);
    /// otherwise as many as fit the time budget.
    pub samples: Option<(usize, usize)>,
    /// Where a workload's bar differs from its group's, as the least `tokio / minirt` ratio
    /// that meets it: for its wall-time rows, and for its round-trip rows.
    pub target: Option<f64>,
    pub round_trip_target: Option<f64>,
    pub peers: Vec<Peer<'a>>,
}

pub fn workload<'a>(name: &'static str, group: Group, peers: Vec<Peer<'a>>) -> Workload<'a> {
    Workload {
        name,
        group,
        items: None,
        show: vec![Show::Wall],
        samples: None,
        target: None,
        round_trip_target: None,
        peers,
    }
}

/// What a row counts in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Nanos,
    Bytes,
}

/// One peer's result in one row.
pub enum Cell {
    Measured {
        /// The row's statistic (the median, or a percentile) and the extremes, in the row's
        /// unit.
        value: f64,
        min: f64,
        max: f64,
        /// How many values the statistic was picked from: runs, or for a round-trip row,
        /// round trips.
        samples: usize,
    },
    Blank(&'static str),
}

/// One line of the results: a workload (or one view of it) across the peers.
pub struct Row {
    pub name: String,
    pub group: Group,
    pub unit: Unit,
    /// The statistic in `value`: "median", "p50", "p99" or "p99.9".
    pub stat: &'static str,
    /// The least `tokio / minirt` ratio that meets the row's target.
    pub target: f64,
    pub items: Option<(u64, &'static str)>,
    pub cells: Vec<(&'static str, Cell)>,
}

impl Row {
    /// The value of `peer` divided by minirt's: above 1 means minirt is ahead.
    pub fn ratio(&self, peer: &str) -> Option<f64> {
        let value = |name: &str| {
            self.cells.iter().find_map(|(n, cell)| match cell {
                Cell::Measured { value, .. } if *n == name => Some(*value),
                _ => None,
            })
        };
        let base = value("minirt")?;
        (base > 0.0).then(|| value(peer).map(|v| v / base))?
    }

    /// The strictest tokio peer that ran, and its ratio: the fastest of tokio's ways.
    pub fn best_tokio(&self) -> Option<(&'static str, f64)> {
        TOKIO_PEERS
            .iter()
            .filter_map(|p| self.ratio(p).filter(|r| *r > 0.0).map(|r| (*p, r)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// How the runs are counted.
pub struct Plan {
    pub quick: bool,
    /// The peers to run (all of [`PEERS`] unless `--peer` picks one).
    pub peers: Vec<&'static str>,
    pub warmup: usize,
    /// Bounds on the samples per peer, and the time one workload may take in all.
    pub min_samples: usize,
    pub max_samples: usize,
    pub budget: Duration,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                peers: PEERS.to_vec(),
                warmup: 1,
                min_samples: 3,
                max_samples: 3,
                budget: Duration::ZERO,
            }
        } else {
            Plan {
                quick,
                peers: PEERS.to_vec(),
                warmup: 3,
                min_samples: 11,
                max_samples: 41,
                budget: Duration::from_secs(3),
            }
        }
    }

    /// `quick` or `full`, by the mode.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }
}

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

/// One run's measurements.
#[derive(Clone)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    inner: Option<Duration>,
    round_trips: Vec<Duration>,
}

/// Runs `workload` interleaved, checks the checksums, and returns its rows.
pub fn run(workload: &mut Workload<'_>, plan: &Plan) -> Vec<Row> {
    let n = workload.peers.len();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); n];
    let mut round = |samples: &mut Vec<Vec<Sample>>, keep: bool| {
        let mut checksums = Vec::new();
        for (i, peer) in workload.peers.iter_mut().enumerate() {
            let Ok(run) = &mut peer.run else { continue };
            let cpu = process_cpu_time();
            let start = Instant::now();
            let result = run();
            let wall = start.elapsed();
            let cpu = process_cpu_time().saturating_sub(cpu);
            checksums.push((peer.name, result.checksum));
            if keep {
                samples[i].push(Sample {
                    wall,
                    cpu,
                    inner: result.inner,
                    round_trips: result.round_trips,
                });
            }
        }
        assert!(
            checksums.windows(2).all(|w| w[0].1 == w[1].1),
            "{}: peers disagree on the result: {checksums:?}",
            workload.name
        );
    };
    let warm = Instant::now();
    for _ in 0..plan.warmup {
        round(&mut samples, false);
    }
    let per_round = warm.elapsed() / plan.warmup.max(1) as u32;
    let count = match workload.samples {
        Some((quick, full)) => plan.pick(quick, full),
        None => {
            let fit = plan.budget.as_nanos() / per_round.as_nanos().max(1);
            (fit as usize).clamp(plan.min_samples, plan.max_samples)
        }
    };
    for _ in 0..count {
        round(&mut samples, true);
    }
    workload
        .show
        .iter()
        .map(|show| {
            let (suffix, stat) = match show {
                Show::Wall => (String::new(), "median"),
                Show::Cpu => ("_cpu".into(), "median"),
                Show::Lateness { p99: false, .. } => ("_lateness".into(), "median"),
                Show::Lateness { p99: true, .. } => ("_lateness_p99".into(), "p99"),
                Show::RoundTrip(q) => (format!("_rtt_{}", q.name()), q.name()),
            };
            let target = match show {
                Show::RoundTrip(_) => workload.round_trip_target,
                _ => workload.target,
            };
            let cells = workload
                .peers
                .iter()
                .zip(&samples)
                .map(|(peer, samples)| {
                    let cell = match &peer.run {
                        Err(reason) => Cell::Blank(reason),
                        Ok(_) => summarize(samples, *show),
                    };
                    (peer.name, cell)
                })
                .collect();
            Row {
                name: format!("{}{suffix}", workload.name),
                group: workload.group,
                unit: Unit::Nanos,
                stat,
                target: target.unwrap_or(workload.group.target_vs_tokio()),
                items: workload.items.filter(|_| matches!(show, Show::Wall)),
                cells,
            }
        })
        .collect()
}

fn summarize(samples: &[Sample], show: Show) -> Cell {
    if let Show::RoundTrip(q) = show {
        let mut all: Vec<f64> = samples
            .iter()
            .flat_map(|s| &s.round_trips)
            .map(|d| d.as_nanos() as f64)
            .collect();
        assert!(
            !all.is_empty(),
            "a round-trip workload times its round trips"
        );
        all.sort_by(f64::total_cmp);
        return measured(percentile(&all, q.q()), &all);
    }
    let mut values: Vec<f64> = samples
        .iter()
        .map(|s| match show {
            Show::Wall => s.wall.as_nanos() as f64,
            Show::Cpu => s.cpu.as_nanos() as f64,
            // Signed: a timer that fired early shows up as a negative lateness.
            Show::Lateness { requested, .. } => {
                let inner = s.inner.expect("a lateness workload times its own sleeps");
                inner.as_nanos() as f64 - requested.as_nanos() as f64
            }
            Show::RoundTrip(_) => unreachable!("pooled above"),
        })
        .collect();
    values.sort_by(f64::total_cmp);
    let value = match show {
        Show::Lateness { p99: true, .. } => percentile(&values, 0.99),
        _ => percentile(&values, 0.5),
    };
    measured(value, &values)
}

/// A measured cell from sorted `values` and the statistic picked from them.
pub fn measured(value: f64, sorted: &[f64]) -> Cell {
    Cell::Measured {
        value,
        min: sorted[0],
        max: sorted[sorted.len() - 1],
        samples: sorted.len(),
    }
}

/// The `q` quantile of sorted `values` (nearest rank): 0.5 is the median.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A small deterministic generator (xorshift64*), the same on every peer, so that seeded
/// workloads make the same choices everywhere.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    pub fn bool(&mut self) -> bool {
        self.next() >> 63 == 1
    }

    /// A new generator seeded from this one (fastrand's `fork`).
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next())
    }
}
