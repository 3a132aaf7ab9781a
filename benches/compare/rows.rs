//! A row of the results: one statistic of one workload across the peers, each peer's ratio
//! to minirt with its 95 % interval, and the row's verdict against its target.
//!
//! The target is a least ratio `tokio / minirt`, judged against every tokio peer that ran
//! (the row is met only if minirt reaches it against the strictest of tokio's ways of running
//! tasks) and, for executor rows, minirt must also be ahead of smol. Each of those intervals
//! gives met, missed or inconclusive (`stats.rs`, `judge`, with its margin `NOISE`); the row
//! is missed if any is, met if all are, and inconclusive otherwise.

use super::harness::{Group, TOKIO_PEERS};
use super::stats::{self, Interval, Rounds, Verdict};

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

/// What a row is, before it has numbers.
pub struct Spec {
    pub name: String,
    pub group: Group,
    pub unit: Unit,
    /// The statistic's name: "median", "p50", "p99" or "p99.9".
    pub stat: &'static str,
    /// The statistic, as a quantile: 0.5 for the median.
    pub q: f64,
    /// The least `tokio / minirt` ratio that meets the row's target.
    pub target: f64,
    pub items: Option<(u64, &'static str)>,
    pub note: Option<String>,
}

/// One line of the results: a workload (or one view of it) across the peers.
pub struct Row {
    pub name: String,
    pub group: Group,
    pub unit: Unit,
    pub stat: &'static str,
    pub target: f64,
    pub items: Option<(u64, &'static str)>,
    pub note: Option<String>,
    /// How many rounds the figures come from, and how long the workload took in all (its
    /// processes' start, warm-up and rounds).
    pub rounds: usize,
    pub seconds: f64,
    pub cells: Vec<(&'static str, Cell)>,
    /// For each peer but minirt that has a number: `peer / minirt` and its interval.
    pub intervals: Vec<(&'static str, Interval)>,
    /// For a run's wall-time row: each peer's median minor page faults per run.
    pub faults: Vec<(&'static str, f64)>,
}

impl Row {
    /// A row from each peer's values, round by round (every peer measured in the same
    /// rounds), or the reason a peer has none; the intervals from `resamples` redraws.
    pub fn new(
        spec: Spec,
        series: Vec<(&'static str, Result<Rounds, &'static str>)>,
        resamples: usize,
    ) -> Row {
        let cells = series
            .iter()
            .map(|(peer, s)| {
                let cell = match s {
                    Ok(r) => Cell::Measured {
                        value: r.quantile(spec.q),
                        min: r.min(),
                        max: r.max(),
                        samples: r.len(),
                    },
                    Err(reason) => Cell::Blank(reason),
                };
                (*peer, cell)
            })
            .collect();
        let rounds = series
            .iter()
            .find_map(|(_, s)| s.as_ref().ok().map(Rounds::rounds))
            .unwrap_or(0);
        let base = series
            .iter()
            .find_map(|(p, s)| (*p == "minirt").then_some(s.as_ref().ok()).flatten());
        let others: Vec<(&'static str, &Rounds)> = series
            .iter()
            .filter(|(p, _)| *p != "minirt")
            .filter_map(|(p, s)| s.as_ref().ok().map(|r| (*p, r)))
            .collect();
        let intervals = match base {
            Some(base) => {
                let refs: Vec<&Rounds> = others.iter().map(|(_, r)| *r).collect();
                let seed = stats::seed_of(&spec.name);
                let found = stats::ratio_intervals(base, &refs, spec.q, resamples, seed);
                others
                    .iter()
                    .zip(found)
                    .filter_map(|((p, _), i)| i.map(|i| (*p, i)))
                    .collect()
            }
            None => Vec::new(),
        };
        Row {
            name: spec.name,
            group: spec.group,
            unit: spec.unit,
            stat: spec.stat,
            target: spec.target,
            items: spec.items,
            note: spec.note,
            rounds,
            seconds: 0.0,
            cells,
            intervals,
            faults: Vec::new(),
        }
    }

    /// `peer`'s median minor page faults per run, if counted.
    pub fn faults(&self, peer: &str) -> Option<f64> {
        self.faults
            .iter()
            .find_map(|(p, f)| (*p == peer).then_some(*f))
    }

    /// `peer / minirt` with its interval: above 1 means minirt is ahead.
    pub fn interval(&self, peer: &str) -> Option<Interval> {
        self.intervals
            .iter()
            .find_map(|(p, i)| (*p == peer).then_some(*i))
    }

    /// The value of `peer` divided by minirt's.
    pub fn ratio(&self, peer: &str) -> Option<f64> {
        self.interval(peer).map(|i| i.ratio)
    }

    /// The fastest tokio peer that ran, and its ratio with its interval.
    pub fn best_tokio(&self) -> Option<(&'static str, Interval)> {
        TOKIO_PEERS
            .iter()
            .filter_map(|p| self.interval(p).map(|i| (*p, i)))
            .min_by(|a, b| a.1.ratio.total_cmp(&b.1.ratio))
    }

    /// The intervals the verdict depends on, each with its bar and whether the bar must be
    /// passed rather than reached: every tokio peer's, and smol's for an executor row.
    fn judged(&self) -> Vec<(&'static str, Interval, f64, bool)> {
        let mut judged: Vec<_> = TOKIO_PEERS
            .iter()
            .filter_map(|p| self.interval(p).map(|i| (*p, i, self.target, false)))
            .collect();
        if self.group == Group::Executor
            && let Some(i) = self.interval("smol")
        {
            judged.push(("smol", i, 1.0, true));
        }
        judged
    }

    /// The verdict and what it says, or `None` when minirt or every tokio peer has no number.
    pub fn verdict(&self) -> Option<(Verdict, String)> {
        let judged = self.judged();
        let tokio: Vec<_> = judged.iter().filter(|j| j.0 != "smol").collect();
        // The tokio peer that decides: the worst verdict, then the lowest ratio.
        let rank = |v: Verdict| match v {
            Verdict::Missed => 0,
            Verdict::Inconclusive => 1,
            Verdict::Met => 2,
        };
        let decisive = tokio.iter().min_by(|a, b| {
            let (va, vb) = (stats::judge(a.1, a.2, a.3), stats::judge(b.1, b.2, b.3));
            rank(va)
                .cmp(&rank(vb))
                .then(a.1.ratio.total_cmp(&b.1.ratio))
        })?;
        let verdict = judged
            .iter()
            .map(|(_, i, bar, strict)| stats::judge(*i, *bar, *strict))
            .fold(Verdict::Met, Verdict::and);
        let mut text = format!(
            "{} {} (target {}x)",
            interval_text(decisive.1),
            decisive.0,
            self.target
        );
        if let Some((_, i, _, _)) = judged.iter().find(|j| j.0 == "smol") {
            text.push_str(&format!(", {} smol (target > 1)", interval_text(*i)));
        }
        Some((verdict, text))
    }

    /// Whether every interval the verdict depends on spans at most `width` of its ratio.
    pub fn settled(&self, width: f64) -> bool {
        self.judged()
            .iter()
            .all(|(_, i, _, _)| i.relative_width() <= width)
    }
}

/// `1.57x [1.49–1.66]`.
pub fn interval_text(i: Interval) -> String {
    format!("{:.2}x [{:.2}–{:.2}]", i.ratio, i.lo, i.hi)
}
