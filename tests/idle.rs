//! An idle runtime sleeps in the poller: it uses (almost) no CPU while it waits.
mod common;

use common::Gate;
use std::time::{Duration, Instant};

/// This thread's user + system CPU time, in clock ticks (usually 10 ms), from `/proc`.
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("Linux /proc");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_parked_runtime_does_not_spin() {
    let gate = Gate::new();
    let opener = gate.clone();
    // Before the thread starts its sleep, so that `wall` covers all of it however late this
    // thread gets back to its own work on a loaded machine.
    let start = Instant::now();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        opener.open();
    });
    let cpu_before = thread_cpu_ticks();
    minirt::run(gate.wait());
    let wall = start.elapsed();
    let cpu = thread_cpu_ticks() - cpu_before;
    thread.join().unwrap();
    assert!(wall >= Duration::from_millis(400));
    // A busy loop would burn ~40 ticks here. Allow a loose 10 (100 ms at the usual 100 Hz).
    assert!(
        cpu <= 10,
        "the loop used {cpu} ticks of CPU in {wall:?} while idle"
    );
}
