//! minirt against tokio's current_thread runtime (three ways: `tokio::spawn`, a `LocalSet`, a
//! `LocalRuntime`) and smol's `LocalExecutor`, on the same workloads.
//!
//! ```text
//! cargo bench --bench compare               # every workload, then benches/opcount.sh
//! cargo bench --bench compare -- --quick    # a smoke pass (CI runs it)
//! cargo bench --bench compare -- --twice    # the suite twice; lists the rows whose verdicts differ
//! cargo bench --bench compare -- --filter ping_pong --in-process   # every peer in this process
//! cargo bench --bench compare -- --filter ping_pong --peer minirt   # one peer, to profile it
//! cargo bench --bench compare -- --out DIR  # the report files in DIR, not target/minirt-bench
//! cargo bench --bench compare -- --malloc-defaults   # keep glibc's heap trimming (machine.rs)
//! cargo bench --bench compare -- --no-pin   # pin no I/O row's threads to CPUs (pin.rs)
//! cargo bench --bench compare -- --pin      # pin them even on a busy machine
//! ```
//!
//! Each workload runs in rounds: every peer once per round, in turn (minirt, tokio,
//! tokio-local, tokio-localrt, smol, minirt, ...), so that a machine whose speed drifts
//! affects every peer alike; by default each peer in a process of its own (this binary,
//! re-executed with `--peer-child WORKLOAD PEER`), with `--in-process` all of them here. Every
//! run returns a checksum, and a time counts only if all peers agree. Rounds are added until
//! the intervals the verdicts depend on are narrow, or the workload's time is up. Each row
//! gives each peer's median (min, max), the ratio `peer / minirt` (above 1: minirt is
//! faster) with its 95 % bootstrap interval, and a verdict per target: met, missed, or
//! inconclusive. A workload a peer cannot express is left blank, with the reason.
//!
//! The table goes to stdout; `target/minirt-bench/` gets `results.json`, `report.md` and
//! `report.svg`. The workloads are in `compare/`: `executor.rs` (tokio's and smol's executor
//! benches), `timers.rs`, `sync.rs` (and the blocking pool), `io.rs` (with `line_echo.rs`,
//! which the outside-process tools share, and `pin.rs`) and `memory.rs`; the runtimes in
//! `peers.rs`; the workloads' vocabulary in `harness.rs`, the rounds in `rounds.rs`, the child processes in `isolate.rs`, the
//! statistics in `stats.rs` and `rows.rs`; the output in `report.rs` and `svg.rs`, with `machine.rs` (the
//! machine, and how busy it was), `counts.rs` (`benches/opcount.sh`'s exact counts) and
//! `replay.rs` (`--twice`).

// The crate root of a bench looks for modules beside it; these live in `compare/`.
#[path = "compare/counts.rs"]
mod counts;
#[path = "compare/executor.rs"]
mod executor;
#[path = "compare/harness.rs"]
mod harness;
#[path = "compare/io.rs"]
mod io;
#[path = "compare/isolate.rs"]
mod isolate;
#[path = "compare/line_echo.rs"]
mod line_echo;
#[path = "compare/machine.rs"]
mod machine;
#[path = "compare/memory.rs"]
mod memory;
#[path = "compare/peers.rs"]
mod peers;
#[path = "compare/pin.rs"]
mod pin;
#[path = "compare/replay.rs"]
mod replay;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/rounds.rs"]
mod rounds;
#[path = "compare/rows.rs"]
mod rows;
#[path = "compare/stats.rs"]
mod stats;
#[path = "compare/svg.rs"]
mod svg;
#[path = "compare/sync.rs"]
mod sync;
#[path = "compare/timers.rs"]
mod timers;

use counts::Counts;
use harness::{Plan, Workload};
use machine::Context;
use peers::Runtimes;
use rows::Row;

/// Every workload but memory, in the order they run.
fn workloads(rts: &Runtimes) -> impl Iterator<Item = Workload<'_>> {
    [
        executor::workloads(rts),
        timers::workloads(rts),
        sync::workloads(rts),
        io::workloads(rts),
    ]
    .into_iter()
    .flatten()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Pinning is for an idle machine (see `pin.rs`): `--pin` and `--no-pin` decide, else the
    // load average when the run begins. A child does as its parent decided.
    let load = machine::load_now();
    pin::init(if std::env::var_os(pin::NO_PIN_ENV).is_some() {
        Some("pinning is off".into())
    } else if args.iter().any(|a| a == "--no-pin") {
        Some("--no-pin".into())
    } else if load >= machine::BUSY_LOAD && !args.iter().any(|a| a == "--pin") {
        Some(format!(
            "the machine was busy when the run began (load average {load:.2}; --pin pins anyway)"
        ))
    } else {
        None
    });
    machine::set_up_malloc(
        args.iter().any(|a| a == "--malloc-defaults")
            || std::env::var_os(machine::MALLOC_ENV).is_some(),
    );
    if let Some(i) = args.iter().position(|a| a == memory::CHILD_ARG) {
        memory::child(&args[i + 1..]);
    }
    if let Some(i) = args.iter().position(|a| a == isolate::CHILD_ARG) {
        let [name, peer] = &args[i + 1..] else {
            panic!("usage: {} WORKLOAD PEER", isolate::CHILD_ARG);
        };
        let rts = Runtimes::new();
        let Some(workload) = workloads(&rts).find(|w| w.name == name) else {
            panic!("no workload named {name}");
        };
        isolate::serve(workload, peer);
    }
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let quick = flag("--quick");
    let filter = value("--filter");
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let mut plan = Plan::new(quick);
    plan.isolated = !flag("--in-process");
    // `--peer NAME` runs only that peer (for profiling one runtime under valgrind, say: one
    // peer alone runs in this process); `--peer minirt,tokio-local` runs those two.
    if let Some(only) = value("--peer") {
        plan.peers.retain(|p| only.split(',').any(|o| o == *p));
    }
    // The exact counts take minutes: a full run makes them, a partial one only if asked.
    let opcount = !flag("--no-opcount") && (flag("--opcount") || (!quick && filter.is_none()));
    let runs = if flag("--twice") { 2 } else { 1 };
    let command = {
        let given: Vec<&str> = args[1..]
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "--bench")
            .collect();
        if given.is_empty() {
            "cargo bench --bench compare".to_string()
        } else {
            format!("cargo bench --bench compare -- {}", given.join(" "))
        }
    };

    let mut done: Vec<(Vec<Row>, Context)> = Vec::new();
    for run in 1..=runs {
        if runs > 1 {
            println!("\n=== run {run} of {runs}");
        }
        let mut ctx = Context::new(command.clone(), plan.isolated, plan.describe());
        let rows = suite(&plan, &wants);
        ctx.finish();
        if let Some(why) = ctx.busy() {
            println!("\nwarning: the machine was busy: {why}");
        }
        done.push((rows, ctx));
    }
    let counts = if opcount {
        println!("\nexact counts: bash benches/opcount.sh (a few minutes under valgrind)");
        counts::run()
    } else {
        Counts::Skipped("a quick or filtered run (`--opcount` asks for them)".into())
    };
    let dir = value("--out").map_or_else(report::out_dir, std::path::PathBuf::from);
    let written = match &done[..] {
        [(rows, ctx)] => report::write_all(&dir, rows, ctx, &counts, None),
        [(first, ctx1), (second, ctx2)] => {
            let replay = replay::Replay::new(first, second);
            replay.print();
            report::write_all(&dir.join("run-1"), first, ctx1, &counts, None)
                .and_then(|()| report::write_all(&dir, second, ctx2, &counts, Some(&replay)))
        }
        _ => unreachable!("one run or two"),
    };
    match written {
        Ok(()) => println!(
            "\nreport: {}/{{results.json,report.md,report.svg}}",
            dir.display()
        ),
        Err(e) => eprintln!("could not write the report: {e}"),
    }
}

/// Runs every wanted workload, then the memory row, printing each row as it comes.
fn suite(plan: &Plan, wants: &dyn Fn(&str) -> bool) -> Vec<Row> {
    let rts = Runtimes::new();
    report::print_header();
    let mut rows = Vec::new();
    // Each workload is dropped as soon as it has run, with whatever it set up (a million
    // armed timers, say).
    for mut workload in workloads(&rts) {
        if !wants(workload.name) {
            continue;
        }
        workload.peers.retain(|p| plan.peers.contains(&p.name));
        for row in rounds::run(&mut workload, plan) {
            report::print_row(&row);
            rows.push(row);
        }
    }
    if wants("idle_task_memory") {
        let row = memory::run(plan);
        report::print_row(&row);
        rows.push(row);
    }
    rows
}
