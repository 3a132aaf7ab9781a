//! The comparison bench's statistics (`benches/compare/stats.rs`): weighted quantiles over
//! rounds, the bootstrap interval of a ratio, verdicts, and the replay's list of rows whose
//! verdicts differ. The file is compiled here as it is in the bench; it depends on nothing
//! else of it.

#[path = "../benches/compare/stats.rs"]
#[allow(dead_code)]
mod stats;

use proptest::prelude::*;
use stats::{Interval, Rng, Rounds, Verdict, judge, percentile, ratio_intervals};

/// The `q` quantile of the multiset in which round `i` counts `weights[i]` times, by
/// expanding it: the reference the fast paths must match.
fn naive(rounds: &[Vec<f64>], weights: &[u32], q: f64) -> f64 {
    let mut all: Vec<f64> = rounds
        .iter()
        .zip(weights)
        .flat_map(|(r, w)| (0..*w).flat_map(move |_| r.iter().copied()))
        .collect();
    all.sort_by(f64::total_cmp);
    percentile(&all, q)
}

/// Values of a run that takes `base` on median, spread like a noisy machine's: most within
/// 10 %, one in ten up to twice as long.
fn noisy(rng: &mut Rng, base: f64) -> f64 {
    let jitter = 1.0 + (rng.below(1000) as f64 / 1000.0) * 0.1;
    let slow = if rng.below(10) == 0 {
        1.0 + rng.below(1000) as f64 / 1000.0
    } else {
        1.0
    };
    base * jitter * slow
}

proptest! {
    /// One value per round (a run's time): the walk over sorted values.
    #[test]
    fn a_weighted_quantile_of_single_values_is_the_expanded_ones(
        values in prop::collection::vec(0u32..50, 1..40),
        weights_seed in any::<u64>(),
        q in prop::sample::select(vec![0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0]),
    ) {
        let rounds: Vec<Vec<f64>> = values.iter().map(|v| vec![f64::from(*v)]).collect();
        let mut rng = Rng::new(weights_seed);
        let mut weights: Vec<u32> = (0..rounds.len()).map(|_| rng.below(4) as u32).collect();
        weights[0] += 1;
        let r = Rounds::new(rounds.clone());
        prop_assert_eq!(r.weighted_quantile(&weights, q), naive(&rounds, &weights, q));
    }

    /// Many values per round (round trips, pooled): the binary search over the pool.
    #[test]
    fn a_weighted_quantile_of_pooled_rounds_is_the_expanded_ones(
        rounds in prop::collection::vec(prop::collection::vec(0u32..30, 1..20), 1..12),
        weights_seed in any::<u64>(),
        q in prop::sample::select(vec![0.0, 0.5, 0.99, 0.999, 1.0]),
    ) {
        let rounds: Vec<Vec<f64>> = rounds
            .iter()
            .map(|r| r.iter().map(|v| f64::from(*v)).collect())
            .collect();
        let mut rng = Rng::new(weights_seed);
        let mut weights: Vec<u32> = (0..rounds.len()).map(|_| rng.below(3) as u32).collect();
        weights[0] += 1;
        let r = Rounds::new(rounds.clone());
        prop_assert_eq!(r.weighted_quantile(&weights, q), naive(&rounds, &weights, q));
    }
}

#[test]
fn quantiles_with_every_round_once_are_the_plain_ones() {
    let r = Rounds::new(vec![vec![5.0, 1.0], vec![3.0], vec![4.0, 2.0, 6.0]]);
    assert_eq!(r.quantile(0.5), 3.0);
    assert_eq!(r.quantile(1.0), 6.0);
    assert_eq!((r.min(), r.max(), r.len(), r.rounds()), (1.0, 6.0, 6, 3));
}

#[test]
fn the_same_samples_and_seed_give_the_same_interval() {
    let mut rng = Rng::new(7);
    let base: Vec<Vec<f64>> = (0..40).map(|_| vec![noisy(&mut rng, 100.0)]).collect();
    let peer: Vec<Vec<f64>> = (0..40).map(|_| vec![noisy(&mut rng, 150.0)]).collect();
    let (b, p) = (Rounds::new(base), Rounds::new(peer));
    let once = ratio_intervals(&b, &[&p], 0.5, 2000, 42);
    let again = ratio_intervals(&b, &[&p], 0.5, 2000, 42);
    assert_eq!(once, again);
    let other = ratio_intervals(&b, &[&p], 0.5, 2000, 43);
    assert_ne!(once, other, "the seed drives the redraws");
}

/// A 95 % interval should hold the true ratio in about 95 of 100 experiments; the percentile
/// bootstrap of a median is a little optimistic on small samples, so at least 85.
#[test]
fn the_interval_holds_the_true_ratio_in_most_experiments() {
    let mut rng = Rng::new(2026);
    let mut held = 0;
    for experiment in 0..100 {
        let base: Vec<Vec<f64>> = (0..30).map(|_| vec![noisy(&mut rng, 100.0)]).collect();
        let peer: Vec<Vec<f64>> = (0..30).map(|_| vec![noisy(&mut rng, 150.0)]).collect();
        let [Some(i)] = ratio_intervals(
            &Rounds::new(base),
            &[&Rounds::new(peer)],
            0.5,
            1000,
            experiment,
        )[..] else {
            panic!("a ratio of positive medians");
        };
        // Both runs' noise has the same distribution, so the true ratio of medians is 1.5.
        held += usize::from(i.lo <= 1.5 && 1.5 <= i.hi);
        assert!(i.lo <= i.ratio && i.ratio <= i.hi, "{i:?}");
    }
    assert!(
        held >= 85,
        "the interval held the true ratio in {held} of 100 experiments"
    );
}

/// Rounds are drawn whole, for every peer at once: a drift that slows every peer alike in a
/// round (the host, a busy neighbour) moves both medians together and the ratio not at all.
/// Drawn apart, the same data would give a wide interval.
#[test]
fn a_drift_shared_by_all_peers_in_a_round_does_not_widen_the_interval() {
    let mut rng = Rng::new(99);
    let drift: Vec<f64> = (0..50)
        .map(|_| 1.0 + rng.below(1000) as f64 / 250.0)
        .collect();
    let base = Rounds::new(drift.iter().map(|d| vec![100.0 * d]).collect());
    let peer = Rounds::new(drift.iter().map(|d| vec![200.0 * d]).collect());
    let [Some(i)] = ratio_intervals(&base, &[&peer], 0.5, 2000, 1)[..] else {
        panic!("a ratio");
    };
    assert!(
        (i.lo - 2.0).abs() < 1e-9 && (i.hi - 2.0).abs() < 1e-9,
        "{i:?}"
    );
}

#[test]
fn a_base_at_or_below_zero_has_no_ratio() {
    let base = Rounds::new(vec![vec![-5.0], vec![-3.0], vec![-1.0]]);
    let peer = Rounds::new(vec![vec![5.0], vec![3.0], vec![1.0]]);
    assert_eq!(ratio_intervals(&base, &[&peer], 0.5, 100, 1), vec![None]);
}

#[test]
fn verdicts_follow_where_the_interval_lies() {
    let i = |lo, hi| Interval {
        ratio: (lo + hi) / 2.0,
        lo,
        hi,
    };
    // Against 1.5x the margin of NOISE (5 %) makes the band 1.4286..1.575.
    assert_eq!(judge(i(1.6, 1.8), 1.5, false), Verdict::Met);
    assert_eq!(
        judge(i(1.58, 1.8), 1.5, false),
        Verdict::Met,
        "reaching the bar and its margin is enough"
    );
    assert_eq!(
        judge(i(1.52, 1.8), 1.5, false),
        Verdict::Inconclusive,
        "above the bar, but within the noise of it"
    );
    assert_eq!(judge(i(1.2, 1.4), 1.5, false), Verdict::Missed);
    assert_eq!(
        judge(i(1.2, 1.45), 1.5, false),
        Verdict::Inconclusive,
        "below the bar, but within the noise of it"
    );
    assert_eq!(judge(i(1.4, 1.6), 1.5, false), Verdict::Inconclusive);
    assert_eq!(
        judge(i(1.05, 1.2), 1.0, true),
        Verdict::Inconclusive,
        "a strict bar must be passed"
    );
    assert_eq!(judge(i(1.06, 1.2), 1.0, true), Verdict::Met);
    assert_eq!(judge(i(0.8, 0.95), 1.0, true), Verdict::Missed);
    assert_eq!(judge(i(0.8, 0.96), 1.0, true), Verdict::Inconclusive);
    // The margin is what the constant says, not a number buried in the test.
    assert!((stats::NOISE - 0.05).abs() < 1e-12);
    use Verdict::*;
    assert_eq!(Met.and(Met), Met);
    assert_eq!(Met.and(Inconclusive), Inconclusive);
    assert_eq!(Inconclusive.and(Missed), Missed);
    assert_eq!(Missed.and(Met), Missed);
}

#[test]
fn the_replay_lists_the_rows_whose_verdicts_differ() {
    use Verdict::*;
    let row = |name: &str, v| (name.to_string(), v);
    let first = vec![
        row("ping_pong_1k", Some(Met)),
        row("udp_rtt", Some(Missed)),
        row("echo_64", Some(Inconclusive)),
        row("memory", None),
        row("only_first", Some(Met)),
    ];
    let second = vec![
        row("ping_pong_1k", Some(Inconclusive)),
        row("udp_rtt", Some(Missed)),
        row("echo_64", Some(Inconclusive)),
        row("memory", None),
        row("only_second", Some(Met)),
    ];
    assert_eq!(
        stats::disagreements(&first, &second),
        vec!["ping_pong_1k", "only_first", "only_second"]
    );
}

#[test]
fn below_stays_in_range_and_seeds_differ() {
    let mut rng = Rng::new(3);
    let mut seen = [0usize; 7];
    for _ in 0..7000 {
        seen[rng.below(7)] += 1;
    }
    assert!(seen.iter().all(|n| (800..1200).contains(n)), "{seen:?}");
    assert_ne!(
        stats::seed_of("ping_pong_1k"),
        stats::seed_of("ping_pong_1k_rtt_p99")
    );
}
