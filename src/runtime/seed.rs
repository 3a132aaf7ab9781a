//! Seeded scheduling: the loop's otherwise fixed choices, drawn from a seed instead.
//!
//! Without a seed the loop is FIFO: tasks run in the order they were woken, the ready sockets
//! and the due timers of a turn wake their tasks in the order the poller and the wheel give
//! them, and every turn polls up to `event_interval` tasks. An ordering bug (a check and an
//! act with an `.await` between them, two tasks that assume which of them runs first) can
//! pass under that one order for ever, and fail in production where the order is different.
//!
//! With [`Builder::seed`](super::Builder::seed) (or `MINIRT_SEED=N` in the environment) the
//! loop makes those choices with a pseudo-random generator started from the seed:
//!
//! - step 2 picks the next task among all the ready ones, not the oldest;
//! - each turn's budget of polls is drawn between 1 and twice `event_interval`;
//! - the tasks woken by one turn's ready sockets, and by one turn's due timers, are woken in a
//!   shuffled order.
//!
//! The same seed and the same inputs give the same choices, so a failing order replays. What
//! the loop does not decide is not covered: when a wake from another thread, a blocking job's
//! result or a real socket's bytes arrive is up to the OS. With the clock paused
//! (`Builder::start_paused`) and no other threads, a program is fully replayed by its seed.
//!
//! The generator is SplitMix64: a 64-bit counter and a bit mixer, small and well tested, and
//! plenty for choosing orders (it is not for secrets).

use std::cell::Cell;

/// The environment variable that seeds every runtime built without an explicit seed.
pub(crate) const SEED_VAR: &str = "MINIRT_SEED";

/// A SplitMix64 generator. Only the runtime's thread touches it.
#[derive(Debug)]
pub(crate) struct Rng {
    state: Cell<u64>,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng {
            state: Cell::new(seed),
        }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&self) -> u64 {
        let state = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(state);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`). The modulo's bias is below `n / 2^64`: nothing a
    /// schedule could notice.
    pub(crate) fn below(&self, n: usize) -> usize {
        debug_assert!(n > 0);
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub(crate) fn shuffle<T>(&self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The seed named by `MINIRT_SEED`, if it is set to a number. Anything else is reported once
/// on stderr and ignored: an environment variable should not stop a program from starting.
pub(crate) fn seed_from_env() -> Option<u64> {
    let value = std::env::var(SEED_VAR).ok()?;
    match value.trim().parse::<u64>() {
        Ok(seed) => Some(seed),
        Err(_) => {
            eprintln!("minirt: ignoring {SEED_VAR}={value:?}: not a number");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_gives_one_sequence() {
        let (a, b) = (Rng::new(7), Rng::new(7));
        let first: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let second: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_eq!(first, second);
        let other = Rng::new(8);
        assert_ne!(first[0], other.next_u64());
    }

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let rng = Rng::new(1);
        let mut seen = [false; 5];
        for _ in 0..200 {
            seen[rng.below(5)] = true;
        }
        assert_eq!(seen, [true; 5]);
    }

    #[test]
    fn shuffle_permutes() {
        let rng = Rng::new(3);
        let mut items: Vec<u32> = (0..10).collect();
        rng.shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(items, sorted, "seed 3 moves something");
    }
}
