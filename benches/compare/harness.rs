//! The harness's vocabulary: peers and their twins, workloads, what a workload's rows show,
//! the groups and their targets, and the plan that counts the rounds (`rounds.rs` runs them).
//!
//! A [`Workload`] is one piece of work with one twin per peer: a closure that runs the work
//! once on that peer's runtime and returns a checksum every peer must agree on, or the reason
//! the peer cannot express the work.

use std::time::Duration;

pub use super::stats::Rng;

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

pub type RunFn<'a> = Box<dyn FnMut() -> Run + 'a>;

/// One peer's twin of a workload, or the reason it has none.
pub struct Peer<'a> {
    pub name: &'static str,
    run: Result<RunFn<'a>, &'static str>,
}

impl<'a> Peer<'a> {
    /// The twin, unless the peer cannot express the workload.
    pub fn twin(&mut self) -> Option<&mut RunFn<'a>> {
        self.run.as_mut().ok()
    }

    /// `Ok` if the peer has a twin, or the reason it has none.
    pub fn blank(&self) -> Result<(), &'static str> {
        self.run.as_ref().map(|_| ()).map_err(|reason| *reason)
    }
}

/// A twin whose set-up (a connection, sockets) waits for its first run, which is a warm-up
/// run: a process that never runs the twin never pays for it.
pub fn deferred<R, G: FnMut() -> R>(make: impl FnOnce() -> G) -> impl FnMut() -> R {
    let mut make = Some(make);
    let mut twin = None;
    move || {
        let twin = twin.get_or_insert_with(|| make.take().expect("made once")());
        twin()
    }
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

    pub fn q(self) -> f64 {
        match self {
            Quantile::P50 => 0.5,
            Quantile::P99 => 0.99,
            Quantile::P999 => 0.999,
        }
    }

    /// Its name in rows and in `results.json`.
    pub fn name(self) -> &'static str {
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
    /// Said under the report for each of its rows (how the I/O rows are pinned, say).
    pub note: Option<String>,
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
        note: None,
        peers,
    }
}

/// How the runs are counted.
pub struct Plan {
    pub quick: bool,
    /// Each peer in a process of its own (the default), or all in this one (`--in-process`).
    pub isolated: bool,
    /// The peers to run (all of [`PEERS`] unless `--peer` picks some).
    pub peers: Vec<&'static str>,
    pub warmup: usize,
    /// Bounds on the rounds kept, and on the time the kept rounds of one workload take: at
    /// least `min_time`, so that a quick workload's rounds still span more than one phase of
    /// a host whose speed comes and goes (a workload done in 0.1 s read 1.12x and then 1.81x
    /// in two back-to-back runs, each interval 4 % wide), and at most `budget`.
    pub min_samples: usize,
    pub max_samples: usize,
    pub min_time: Duration,
    pub budget: Duration,
    /// Rounds are added while an interval a verdict depends on spans more than this share of
    /// its ratio (0.05: the interval is at most 5 % of the ratio wide).
    pub width: f64,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                isolated: true,
                peers: PEERS.to_vec(),
                warmup: 1,
                min_samples: 3,
                max_samples: 3,
                min_time: Duration::ZERO,
                budget: Duration::ZERO,
                width: f64::INFINITY,
            }
        } else {
            Plan {
                quick,
                isolated: true,
                peers: PEERS.to_vec(),
                warmup: 3,
                min_samples: 10,
                max_samples: 2_000,
                min_time: Duration::from_secs(2),
                budget: Duration::from_secs(8),
                width: 0.05,
            }
        }
    }

    /// How rounds are counted, in a sentence for the report.
    pub fn describe(&self) -> String {
        if self.quick {
            format!(
                "{} warm-up round, then {} rounds per workload (`--quick`: a smoke pass, not a \
                 measurement)",
                self.warmup, self.min_samples
            )
        } else {
            format!(
                "{} warm-up rounds, then at least {} rounds and {} s of them per workload, \
                 added until every interval a verdict depends on spans at most {:.0} % of its \
                 ratio, or {} s of rounds or {} rounds have gone by; the timer lateness rows \
                 take a fixed count",
                self.warmup,
                self.min_samples,
                self.min_time.as_secs(),
                self.width * 100.0,
                self.budget.as_secs(),
                self.max_samples
            )
        }
    }

    /// `quick` or `full`, by the mode.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }
}
