//! The results, four ways: the table on stdout (a row at a time, as workloads finish), and in
//! a report directory: `results.json`, `report.md` (the machine and how busy it was, the
//! table with every ratio's interval and each row's verdict, the exact counts of
//! `benches/opcount.sh`, and with `--twice` the rows whose verdicts disagree) and
//! `report.svg` (a bar per workload per peer of the ratio `peer / minirt`, on a log scale,
//! with a line at 1.0 and the interval as a whisker).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::counts::Counts;
use super::harness::PEERS;
use super::machine::Context;
use super::replay::Replay;
use super::rows::{Cell, Row, Unit, interval_text};
use super::stats;
use super::svg;

/// Where the report files go: `$CARGO_TARGET_DIR/minirt-bench`, or `target/minirt-bench`.
pub fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("minirt-bench")
}

/// A value in the row's unit, for people: `1.234ms`, `-12.000µs`, `96 B`.
fn human(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Bytes => format!("{v:.0} B"),
        Unit::Nanos => {
            let a = v.abs();
            let (scale, suffix) = if a < 1e3 {
                (1.0, "ns")
            } else if a < 1e6 {
                (1e3, "µs")
            } else if a < 1e9 {
                (1e6, "ms")
            } else {
                (1e9, "s")
            };
            format!("{:.3}{suffix}", v / scale)
        }
    }
}

/// Items per second at the row's median, if the row moves items.
fn rate(row: &Row, value: f64) -> Option<String> {
    let (items, unit) = row.items?;
    Some(format!("{:.0} {unit}/s", items as f64 * 1e9 / value))
}

pub fn print_header() {
    println!(
        "{:<30} {:>13} {:>12} {:>25}  {:>26}",
        "workload", "peer", "median", "min - max", "peer/minirt [95 % interval]"
    );
}

/// Prints one row, a line per peer, in the table's format, then its verdict.
pub fn print_row(row: &Row) {
    for (peer, cell) in &row.cells {
        match cell {
            Cell::Blank(reason) => {
                println!("{:<30} {peer:>13} {:>12}  blank: {reason}", row.name, "-")
            }
            Cell::Measured {
                value, min, max, ..
            } => {
                let ratio = row.interval(peer).map_or_else(
                    || "-".to_string(),
                    |i| format!("{:.2} [{:.2}-{:.2}]", i.ratio, i.lo, i.hi),
                );
                let rate = rate(row, *value).map_or(String::new(), |r| format!("  {r:>14}"));
                let faults = row
                    .faults(peer)
                    .map_or(String::new(), |f| format!("  {f:>6.0} faults"));
                println!(
                    "{:<30} {peer:>13} {:>12} {:>12} - {:>10}  {ratio:>26}{faults}{rate}",
                    row.name,
                    human(row.unit, *value),
                    human(row.unit, *min),
                    human(row.unit, *max),
                );
            }
        }
    }
    if let Some((verdict, text)) = row.verdict() {
        println!(
            "{:<30} {:>13} {} rounds in {:.1} s: {}: {text}",
            row.name,
            "verdict",
            row.rounds,
            row.seconds,
            verdict.name()
        );
    }
}

/// `results.json`: the context, the bootstrap's settings, the rows in the order they ran
/// (each with its name, statistic, unit, target, verdict and rounds, and for each peer
/// `{"median_ns": .., "min_ns": .., "max_ns": .., "samples": .., "ratio": .., "ratio_lo": ..,
/// "ratio_hi": ..}`: the ratio `peer / minirt` and its interval, for every peer but minirt),
/// and the exact counts. The value's key names the statistic and the unit (`p99_ns` for a
/// p99 row, `median_bytes` for the memory row); a blank peer has `{"blank": "reason"}`.
pub fn json(rows: &[Row], ctx: &Context, counts: &Counts) -> String {
    let mut out = Vec::new();
    for row in rows {
        let unit = match row.unit {
            Unit::Nanos => "ns",
            Unit::Bytes => "bytes",
        };
        let mut peers = Map::new();
        for (peer, cell) in &row.cells {
            let mut p = Map::new();
            match cell {
                Cell::Blank(reason) => {
                    p.insert("blank".into(), json!(reason));
                }
                Cell::Measured {
                    value,
                    min,
                    max,
                    samples,
                } => {
                    p.insert(format!("{}_{unit}", row.stat), json!(value.round()));
                    p.insert(format!("min_{unit}"), json!(min.round()));
                    p.insert(format!("max_{unit}"), json!(max.round()));
                    p.insert("samples".into(), json!(samples));
                    if let Some(f) = row.faults(peer) {
                        p.insert("minor_faults_per_run".into(), json!(f));
                    }
                    if let Some(i) = row.interval(peer) {
                        p.insert("ratio".into(), finite(i.ratio));
                        p.insert("ratio_lo".into(), finite(i.lo));
                        p.insert("ratio_hi".into(), finite(i.hi));
                    }
                }
            }
            peers.insert(peer.to_string(), Value::Object(p));
        }
        let verdict = row.verdict();
        out.push(json!({
                "name": row.name,
                "group": row.group.name(),
                "stat": row.stat,
                "unit": unit,
                "target": row.target,
                "rounds": row.rounds,
                "seconds": (row.seconds * 10.0).round() / 10.0,
                "verdict": verdict.as_ref().map(|v| v.0.name()),
                "verdict_text": verdict.map(|v| v.1),
                "note": row.note,
                "peers": peers,
        }));
    }
    let all = json!({
        "context": ctx.json(),
        "bootstrap": {
            "confidence": stats::CONFIDENCE,
            "resamples": stats::RESAMPLES,
            "unit": "round",
            "seed": "FNV-1a of the row's name",
        },
        "rows": out,
        "counts": counts.json(),
    });
    serde_json::to_string_pretty(&all).expect("JSON") + "\n"
}

/// A number for JSON, which has no infinity: those become null.
fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 1e4).round() / 1e4)
    } else {
        Value::Null
    }
}

/// Now, as `YYYY-MM-DD HH:MM UTC` (civil-from-days, so no date crate is needed).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// `report.md`: the context, one line per row with a column per peer, the ratios with their
/// intervals and the verdict; then the exact counts and, for `--twice`, the replay.
pub fn markdown(rows: &[Row], ctx: &Context, counts: &Counts, replay: Option<&Replay>) -> String {
    let mut out = String::from("# minirt against tokio and smol\n\n");
    out.push_str(&ctx.markdown());
    out.push_str(
        "\nEach cell is the peer's median over its runs (min – max below it); the memory row \
         is bytes per idle task. Each round runs every peer once, in turn; `x/minirt` is the \
         peer's median over minirt's (above 1: minirt is faster, or smaller), with its 95 % \
         bootstrap interval below it (whole rounds redrawn 2,000 times, seeded by the row's \
         name, so the same samples give the same interval). Under a run's time: the peer's \
         median minor page faults per run (memory the kernel had to map in during it). How \
         many rounds each row took is in its rounds column, and how they were counted above. Rows ending in `_rtt_p50`, `_rtt_p99` and \
         `_rtt_p99.9` are percentiles of every round trip of every run, pooled (min – max: \
         the fastest and slowest round trip). Targets: executor ≥ 1.5× tokio and ahead of \
         smol; timers, sync and blocking ≥ 1.2× tokio; I/O ≥ 1.0× tokio; memory no more than \
         tokio's; `remote_wake_1k` ≥ 1.0× tokio; `echo_64_threads` throughput ≥ 0.95× tokio \
         and its percentiles within 1.25× of tokio's (≥ 0.8×). tokio runs up to three ways \
         (`tokio::spawn`, a `LocalSet`, a `LocalRuntime`); ",
    );
    // The margin is written from the constant the verdicts use, so the text cannot drift.
    let noise = stats::NOISE * 100.0;
    out.push_str(&format!(
        "a target is met when every tokio way's interval clears it by {noise:.0} % (`NOISE` \
         in `compare/stats.rs`; and, for the executor, smol's interval lies above {:.2}), \
         missed when one lies more than {noise:.0} % below it, and inconclusive otherwise: an \
         interval that straddles the target, or lies within {noise:.0} % of it, which is less \
         than two runs of the same code can differ by.\n\n",
        1.0 + stats::NOISE
    ));
    table(&mut out, rows);
    out.push_str("\n## Exact counts\n\n");
    out.push_str(&counts.markdown());
    if let Some(replay) = replay {
        out.push_str("\n## Replay\n\n");
        out.push_str(&replay.markdown());
    }
    out
}

/// The table of rows, with footnotes for blanks and notes.
fn table(out: &mut String, rows: &[Row]) {
    out.push_str("| workload | group |");
    for peer in PEERS {
        let _ = write!(out, " {peer} |");
    }
    for peer in &PEERS[1..] {
        let _ = write!(out, " {peer}/minirt |");
    }
    out.push_str(" best tokio/minirt | rounds | verdict |\n|---|---|");
    out.push_str(&"---:|".repeat(PEERS.len() * 2 + 1));
    out.push_str("---|\n");
    let mut notes: Vec<String> = Vec::new();
    let note = |notes: &mut Vec<String>, text: String| {
        let at = notes.iter().position(|n| *n == text).unwrap_or_else(|| {
            notes.push(text);
            notes.len() - 1
        });
        at + 1
    };
    for row in rows {
        let _ = write!(out, "| {}", row.name);
        if let Some(text) = &row.note {
            let _ = write!(out, "[^{}]", note(&mut notes, text.clone()));
        }
        let _ = write!(out, " | {} |", row.group.name());
        for peer in PEERS {
            match row.cells.iter().find(|(p, _)| *p == peer).map(|(_, c)| c) {
                Some(Cell::Measured {
                    value, min, max, ..
                }) => {
                    let faults = row
                        .faults(peer)
                        .map_or(String::new(), |f| format!("<br><sub>{f:.0} faults</sub>"));
                    let _ = write!(
                        out,
                        " {}<br><sub>{} – {}</sub>{faults} |",
                        human(row.unit, *value),
                        human(row.unit, *min),
                        human(row.unit, *max)
                    );
                }
                Some(Cell::Blank(reason)) => {
                    let n = note(&mut notes, format!("{peer}: {reason}"));
                    let _ = write!(out, " blank[^{n}] |");
                }
                None => out.push_str(" – |"),
            }
        }
        for peer in &PEERS[1..] {
            match row.interval(peer) {
                Some(i) => {
                    let _ = write!(
                        out,
                        " {:.2}<br><sub>{:.2} – {:.2}</sub> |",
                        i.ratio, i.lo, i.hi
                    );
                }
                None => out.push_str(" – |"),
            }
        }
        match row.best_tokio() {
            Some((best, i)) => {
                let _ = write!(out, " {} ({best}) |", interval_text(i));
            }
            None => out.push_str(" – |"),
        }
        let _ = write!(out, " {} |", row.rounds);
        match row.verdict() {
            Some((verdict, text)) => {
                let name = match verdict {
                    stats::Verdict::Met => "met".to_string(),
                    other => format!("**{}**", other.name()),
                };
                let _ = writeln!(out, " {name}: {text} |");
            }
            None => out.push_str(" n/a |\n"),
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(out, "[^{}]: {n}", i + 1);
        }
    }
}

/// Writes the three files into `dir`.
pub fn write_all(
    dir: &Path,
    rows: &[Row],
    ctx: &Context,
    counts: &Counts,
    replay: Option<&Replay>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("results.json"), json(rows, ctx, counts))?;
    std::fs::write(dir.join("report.md"), markdown(rows, ctx, counts, replay))?;
    std::fs::write(dir.join("report.svg"), svg::svg(rows, ctx))?;
    Ok(())
}
