//! minirt against tokio's current_thread runtime (three ways: `tokio::spawn`, a `LocalSet`, a
//! `LocalRuntime`) and smol's `LocalExecutor`, side by side in one process.
//!
//! ```text
//! cargo bench --bench compare               # every workload (a few minutes)
//! cargo bench --bench compare -- --quick    # a smoke pass of a few seconds (CI runs it)
//! cargo bench --bench compare -- --filter spawn
//! cargo bench --bench compare -- --filter ping_pong --peer minirt   # one peer, to profile it
//! ```
//!
//! Runs are interleaved (minirt, tokio, tokio-local, tokio-localrt, smol, minirt, ...) so that
//! a machine whose speed drifts affects every peer alike, and each peer's median over the
//! samples is reported with its min and max, and the ratio `peer / minirt` (above 1 means
//! minirt is faster); workloads that time their round trips add their p50, p99 and p99.9. Every
//! run returns a checksum, and a time counts only if all peers agree. A workload a peer cannot
//! express is left blank, with the reason.
//!
//! The table goes to stdout; `target/minirt-bench/` gets `results.json`, `report.md` and
//! `report.svg`. The workloads are in `compare/`: `executor.rs` (tokio's and smol's executor
//! benches), `timers.rs`, `sync.rs` (and the blocking pool), `io.rs` (with `line_echo.rs`,
//! which the outside-process tools share) and `memory.rs`; the runtimes in `peers.rs`, the
//! runs and statistics in `harness.rs`, the output in `report.rs`.

// The crate root of a bench looks for modules beside it; these live in `compare/`.
#[path = "compare/executor.rs"]
mod executor;
#[path = "compare/harness.rs"]
mod harness;
#[path = "compare/io.rs"]
mod io;
#[path = "compare/line_echo.rs"]
mod line_echo;
#[path = "compare/memory.rs"]
mod memory;
#[path = "compare/peers.rs"]
mod peers;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/sync.rs"]
mod sync;
#[path = "compare/timers.rs"]
mod timers;

use harness::Plan;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == memory::CHILD_ARG) {
        memory::child(&args[i + 1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let filter = args
        .iter()
        .position(|a| a == "--filter")
        .and_then(|i| args.get(i + 1).cloned());
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    // `--peer NAME` runs only that peer (for profiling one runtime under valgrind, say);
    // `--peer minirt,tokio-local` runs those two.
    let only = args
        .iter()
        .position(|a| a == "--peer")
        .and_then(|i| args.get(i + 1).cloned());
    let mut plan = Plan::new(quick);
    plan.peers.retain(|p| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|o| o == *p))
    });
    let ctx = report::Context::new();

    let rts = peers::Runtimes::new();
    let workloads = [
        executor::workloads(&rts),
        timers::workloads(&rts),
        sync::workloads(&rts),
        io::workloads(&rts),
    ]
    .into_iter()
    .flatten();

    report::print_header();
    let mut rows = Vec::new();
    // Each workload is dropped as soon as it has run, with whatever it set up (a million
    // armed timers, say).
    for mut workload in workloads {
        if !wants(workload.name) {
            continue;
        }
        workload.peers.retain(|p| plan.peers.contains(&p.name));
        for row in harness::run(&mut workload, &plan) {
            report::print_row(&row);
            rows.push(row);
        }
    }
    if wants("idle_task_memory") {
        let row = memory::run(&plan);
        report::print_row(&row);
        rows.push(row);
    }
    match report::write_all(&rows, &ctx) {
        Ok(dir) => println!(
            "\nreport: {}/{{results.json,report.md,report.svg}}",
            dir.display()
        ),
        Err(e) => eprintln!("could not write the report: {e}"),
    }
}
