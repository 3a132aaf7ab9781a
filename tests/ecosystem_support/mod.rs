//! What the ecosystem tests (`tests/ecosystem_*.rs`, `tests/example_hyper_server.rs`) share.
#![allow(dead_code)]

/// `len` deterministic bytes that do not repeat with a short period (xorshift32 from `seed`),
/// so that a test that compares them catches a chunk lost, repeated or moved.
pub fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
