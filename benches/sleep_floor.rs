//! How late this machine wakes a sleeping thread: the floor under every runtime's timer
//! lateness. One sleep at a time, taking turns, on minirt, on smol's `async-io`, and with
//! std's `thread::sleep` (no runtime at all), and the lateness percentiles of each.
//!
//! ```text
//! cargo bench --bench sleep_floor -- --samples 3000 --ms 1
//! ```
//!
//! It prints one line per sleeper: `p50`, `p90`, `p99`, `p99.9`, the maximum, and how many
//! sleeps woke more than 500 µs late. If `thread::sleep` has the same tail as the runtimes,
//! the tail is the machine's (a virtual CPU that the host did not run in time), and no runtime
//! can do better. Without `--samples` it exits at once, so that a plain `cargo bench` does
//! not spend its time here.

use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: sleep_floor --samples N (1..=100000) [--ms M (1..=100)]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<u64>())
    };
    let samples = match value("--samples") {
        None => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(Ok(n)) if (1..=100_000).contains(&n) => n as usize,
        Some(_) => {
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let ms = match value("--ms") {
        None => 1,
        Some(Ok(m)) if (1..=100).contains(&m) => m,
        Some(_) => {
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let requested = Duration::from_millis(ms);
    let rt = match minirt::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sleep_floor: cannot start a minirt runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let late = |start: Instant| start.elapsed().saturating_sub(requested);
    let mut minirt = Vec::with_capacity(samples);
    let mut smol = Vec::with_capacity(samples);
    let mut thread = Vec::with_capacity(samples);
    for _ in 0..samples {
        minirt.push(rt.block_on(async {
            let start = Instant::now();
            minirt::sleep(requested).await;
            late(start)
        }));
        smol.push(async_io::block_on(async {
            let start = Instant::now();
            async_io::Timer::after(requested).await;
            late(start)
        }));
        let start = Instant::now();
        std::thread::sleep(requested);
        thread.push(late(start));
    }
    println!("lateness of {samples} sleeps of {ms} ms each, taking turns:");
    for (name, mut lateness) in [("minirt", minirt), ("smol", smol), ("thread", thread)] {
        lateness.sort();
        let q = |q: f64| {
            let rank = (q * lateness.len() as f64).ceil() as usize;
            lateness[rank.clamp(1, lateness.len()) - 1]
        };
        let over = lateness
            .iter()
            .filter(|l| **l > Duration::from_micros(500))
            .count();
        println!(
            "{name:<7} p50 {:>9.1?}  p90 {:>9.1?}  p99 {:>9.1?}  p99.9 {:>9.1?}  max {:>9.1?}  \
             >500µs {over}",
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            lateness[lateness.len() - 1],
        );
    }
    ExitCode::SUCCESS
}
