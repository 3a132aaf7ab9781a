//! The statistics behind a row: a quantile over rounds, the ratio of two peers' quantiles with
//! a 95 % bootstrap interval, and the verdict of an interval against a target.
//!
//! **Rounds are the unit.** The harness runs every peer once per round, in turn, so the
//! `i`-th sample of each peer was taken within the same fraction of a second. The bootstrap
//! therefore draws whole rounds (with replacement) and recomputes every peer's statistic from
//! the same draw: a slow phase of the host that hit all peers in round 7 moves minirt's and
//! tokio's statistics together, and the ratio's interval does not widen for it. A round holds
//! one value for a timed run, and every round trip of the run for a round-trip row (a pooled
//! percentile), so round trips of one run are drawn together, as they were measured together.
//!
//! **Percentile bootstrap**, as criterion computes its intervals: `RESAMPLES` redraws, the
//! ratio `peer / minirt` in each, and the 2.5th and 97.5th percentiles of those ratios.
//! criterion seeds its generator from the OS; here [`Rng`] is seeded from the row's name, so the
//! same samples always give the same interval and a report can be recomputed exactly.
//!
//! **Verdicts**, as criterion classifies a change against its noise threshold: an interval
//! that clears the target by [`NOISE`] on the good side is `met`, one that lies wholly more
//! than [`NOISE`] beyond it on the bad side `missed`, and anything else `inconclusive`. The interval speaks for the
//! rounds of one run; between two runs minutes apart this host moves a row by more than that
//! (see "Replay" in `benches/README.md`), so a ratio a hair past its target is not yet an
//! answer.
//!
//! This file depends on nothing else in the bench, so that `tests/bench_stats.rs` can test it.

/// The confidence of the intervals.
pub const CONFIDENCE: f64 = 0.95;
/// Redraws for a reported interval.
pub const RESAMPLES: usize = 2_000;
/// Redraws for the check, between batches of rounds, of whether the intervals are narrow
/// enough yet (cheaper; the reported interval is recomputed with `RESAMPLES`).
pub const CHECK_RESAMPLES: usize = 400;

/// A small deterministic generator (xorshift64*): the same on every peer, so that seeded
/// workloads make the same choices everywhere, and the bootstrap's draws, so that an interval
/// replays.
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

    /// An index in `0..n`, by multiply-and-shift (Lemire): no division, and a bias below
    /// `n / 2^64`.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    pub fn bool(&mut self) -> bool {
        self.next() >> 63 == 1
    }

    /// A new generator seeded from this one (fastrand's `fork`).
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next())
    }
}

/// A seed from a name (FNV-1a), so that each row's bootstrap has its own fixed draws.
pub fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The `q` quantile of sorted `values`, nearest rank: 0.5 is the median.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One peer's values for one row, round by round, ready for weighted quantiles: the
/// quantile of the multiset in which round `i` counts `weights[i]` times.
pub struct Rounds {
    /// Each round's values, sorted.
    blocks: Vec<Vec<f64>>,
    /// When every round holds one value: `(value, round)`, sorted by value, walked once per
    /// quantile.
    single: Option<Vec<(f64, u32)>>,
    /// Otherwise every value, sorted: the candidates of a binary search.
    pool: Vec<f64>,
}

impl Rounds {
    /// From each round's values. Every round must hold at least one value.
    pub fn new(rounds: Vec<Vec<f64>>) -> Rounds {
        assert!(!rounds.is_empty(), "a row needs at least one round");
        let mut blocks = rounds;
        for b in &mut blocks {
            assert!(!b.is_empty(), "a round with no value");
            b.sort_by(f64::total_cmp);
        }
        let (single, pool) = if blocks.iter().all(|b| b.len() == 1) {
            let mut s: Vec<(f64, u32)> = blocks
                .iter()
                .enumerate()
                .map(|(i, b)| (b[0], i as u32))
                .collect();
            s.sort_by(|a, b| a.0.total_cmp(&b.0));
            (Some(s), Vec::new())
        } else {
            let mut pool: Vec<f64> = blocks.iter().flatten().copied().collect();
            pool.sort_by(f64::total_cmp);
            (None, pool)
        };
        Rounds {
            blocks,
            single,
            pool,
        }
    }

    pub fn rounds(&self) -> usize {
        self.blocks.len()
    }

    /// How many values in all.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(Vec::len).sum()
    }

    pub fn min(&self) -> f64 {
        self.blocks
            .iter()
            .map(|b| b[0])
            .fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.blocks
            .iter()
            .map(|b| b[b.len() - 1])
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The `q` quantile (nearest rank) of every value of every round, each round once.
    pub fn quantile(&self, q: f64) -> f64 {
        self.weighted_quantile(&vec![1; self.rounds()], q)
    }

    /// The `q` quantile (nearest rank) when round `i` counts `weights[i]` times.
    pub fn weighted_quantile(&self, weights: &[u32], q: f64) -> f64 {
        debug_assert_eq!(weights.len(), self.rounds());
        let total: u64 = self
            .blocks
            .iter()
            .zip(weights)
            .map(|(b, w)| b.len() as u64 * u64::from(*w))
            .sum();
        assert!(total > 0, "every round weighed zero");
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        if let Some(single) = &self.single {
            let mut seen = 0;
            for (value, round) in single {
                seen += u64::from(weights[*round as usize]);
                if seen >= rank {
                    return *value;
                }
            }
            unreachable!("the ranks add up to the total");
        }
        // The smallest value with at least `rank` values at or below it.
        let at_or_below = |v: f64| -> u64 {
            self.blocks
                .iter()
                .zip(weights)
                .filter(|(_, w)| **w > 0)
                .map(|(b, w)| b.partition_point(|x| *x <= v) as u64 * u64::from(*w))
                .sum()
        };
        let (mut lo, mut hi) = (0, self.pool.len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if at_or_below(self.pool[mid]) >= rank {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        self.pool[lo]
    }
}

/// A ratio `peer / minirt` and its interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub ratio: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    /// The interval's width relative to the ratio: 0.05 means the interval spans 5 % of it.
    pub fn relative_width(&self) -> f64 {
        (self.hi - self.lo) / self.ratio
    }
}

/// `value / base`, with a base at or below zero (a timer that fired early) counted as minirt
/// being infinitely ahead.
fn ratio(value: f64, base: f64) -> f64 {
    if base > 0.0 {
        value / base
    } else {
        f64::INFINITY
    }
}

/// For each of `others`, the ratio of its `q` quantile to `base`'s, with a percentile
/// bootstrap interval over `resamples` redraws of whole rounds (the same draw for all), seeded
/// with `seed`. `None` where the ratio is undefined (`base`'s quantile is not positive). Every
/// series must have the same number of rounds: they were measured in the same rounds.
pub fn ratio_intervals(
    base: &Rounds,
    others: &[&Rounds],
    q: f64,
    resamples: usize,
    seed: u64,
) -> Vec<Option<Interval>> {
    let n = base.rounds();
    assert!(
        others.iter().all(|o| o.rounds() == n),
        "peers measured in different rounds"
    );
    let b = base.quantile(q);
    if b <= 0.0 {
        return vec![None; others.len()];
    }
    let mut rng = Rng::new(seed);
    let mut ratios: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); others.len()];
    let mut weights = vec![0u32; n];
    for _ in 0..resamples {
        weights.fill(0);
        for _ in 0..n {
            weights[rng.below(n)] += 1;
        }
        let b = base.weighted_quantile(&weights, q);
        for (o, out) in others.iter().zip(&mut ratios) {
            out.push(ratio(o.weighted_quantile(&weights, q), b));
        }
    }
    let tail = (1.0 - CONFIDENCE) / 2.0;
    others
        .iter()
        .zip(ratios)
        .map(|(o, mut rs)| {
            rs.sort_by(f64::total_cmp);
            Some(Interval {
                ratio: o.quantile(q) / b,
                lo: percentile(&rs, tail),
                hi: percentile(&rs, 1.0 - tail),
            })
        })
        .collect()
}

/// How far past its target an interval must lie for a verdict, as a fraction of the target:
/// met at or above `target * (1 + NOISE)`, missed below `target / (1 + NOISE)`. criterion's
/// `noise_threshold` plays the same part for a change (1 % there, for one benchmark against
/// its own past; 5 % here, the width the rounds settle to, for two runtimes a run apart).
pub const NOISE: f64 = 0.05;

/// Where a row stands against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// The interval straddles the target, or lies within [`NOISE`] of it: this run cannot
    /// tell.
    Inconclusive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "missed",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// Both must be met for the whole to be; either missed makes it missed.
    pub fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Missed, _) | (_, Missed) => Missed,
            (Met, Met) => Met,
            _ => Inconclusive,
        }
    }
}

/// An interval against a bar its ratio must reach (`ratio >= bar`), or, if `strict`, pass
/// (`ratio > bar`), with the margin of [`NOISE`] on either side of the bar.
pub fn judge(interval: Interval, bar: f64, strict: bool) -> Verdict {
    let (up, down) = (bar * (1.0 + NOISE), bar / (1.0 + NOISE));
    let (above, below) = if strict {
        (interval.lo > up, interval.hi <= down)
    } else {
        (interval.lo >= up, interval.hi < down)
    };
    if above {
        Verdict::Met
    } else if below {
        Verdict::Missed
    } else {
        Verdict::Inconclusive
    }
}

/// The rows of two runs whose verdicts differ, in `first`'s order, then rows only one run
/// has. Two inconclusive verdicts agree (the row says twice that the machine cannot tell), and
/// so do two rows without a verdict.
pub fn disagreements<'a>(
    first: &'a [(String, Option<Verdict>)],
    second: &'a [(String, Option<Verdict>)],
) -> Vec<&'a str> {
    let find = |rows: &'a [(String, Option<Verdict>)], name: &str| {
        rows.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    };
    let mut out: Vec<&str> = first
        .iter()
        .filter(|(name, v)| find(second, name) != Some(*v))
        .map(|(name, _)| name.as_str())
        .collect();
    out.extend(
        second
            .iter()
            .filter(|(name, _)| find(first, name).is_none())
            .map(|(name, _)| name.as_str()),
    );
    out
}
