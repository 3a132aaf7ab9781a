//! The results, four ways: the table on stdout (a row at a time, as workloads finish), and in
//! `target/minirt-bench/`: `results.json`, `report.md` (the table with the date, the machine,
//! the command and each target met or missed) and `report.svg` (a bar per workload per peer of
//! the ratio `peer / minirt`, on a log scale, with a line at 1.0).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::harness::{Cell, Group, PEERS, Row, Unit};

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
        "{:<30} {:>13} {:>12} {:>25}  {:>11}",
        "workload", "peer", "median", "min - max", "peer/minirt"
    );
}

/// Prints one row, a line per peer, in the table's format.
pub fn print_row(row: &Row) {
    for (peer, cell) in &row.cells {
        match cell {
            Cell::Blank(reason) => {
                println!("{:<30} {peer:>13} {:>12}  blank: {reason}", row.name, "-")
            }
            Cell::Measured {
                value, min, max, ..
            } => {
                let ratio = row
                    .ratio(peer)
                    .map_or_else(|| "-".to_string(), |r| format!("{r:.2}"));
                let rate = rate(row, *value).map_or(String::new(), |r| format!("  {r:>14}"));
                println!(
                    "{:<30} {peer:>13} {:>12} {:>12} - {:>10}  {ratio:>11}{rate}",
                    row.name,
                    human(row.unit, *value),
                    human(row.unit, *min),
                    human(row.unit, *max),
                );
            }
        }
    }
}

/// How a row stands against its target: `(met, what it says)`, or `None` when minirt or
/// every tokio peer has no number for it. The target is judged against the strictest of
/// tokio's ways of running tasks that ran (see [`Row::best_tokio`]).
pub fn verdict(row: &Row) -> Option<(bool, String)> {
    let (best, tokio) = row.best_tokio()?;
    let target = row.target;
    let mut met = tokio >= target;
    let mut text = format!("{tokio:.2}x {best} (target {target}x)");
    if row.group == Group::Executor
        && let Some(smol) = row.ratio("smol")
    {
        met &= smol > 1.0;
        let _ = write!(text, ", {smol:.2}x smol (target > 1)");
    }
    Some((met, text))
}

/// `results.json`: `{"workload": {"peer": {"median_ns": .., "min_ns": .., "max_ns": ..}}}`.
/// The key names the statistic and the unit (`p99_ns` for a p99 row, `median_bytes` for the
/// memory row); a blank peer has `{"blank": "reason"}`.
pub fn json(rows: &[Row]) -> String {
    let mut out = String::from("{\n");
    for (i, row) in rows.iter().enumerate() {
        let unit = match row.unit {
            Unit::Nanos => "ns",
            Unit::Bytes => "bytes",
        };
        let _ = writeln!(out, "  {}: {{", quote(&row.name));
        for (j, (peer, cell)) in row.cells.iter().enumerate() {
            let body = match cell {
                Cell::Blank(reason) => format!("\"blank\": {}", quote(reason)),
                Cell::Measured {
                    value,
                    min,
                    max,
                    samples,
                } => format!(
                    "\"{}_{unit}\": {value:.0}, \"min_{unit}\": {min:.0}, \"max_{unit}\": {max:.0}, \
                     \"samples\": {samples}",
                    row.stat
                ),
            };
            let comma = if j + 1 < row.cells.len() { "," } else { "" };
            let _ = writeln!(out, "    {}: {{{body}}}{comma}", quote(peer));
        }
        let comma = if i + 1 < rows.len() { "," } else { "" };
        let _ = writeln!(out, "  }}{comma}");
    }
    out.push_str("}\n");
    out
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where and how the run was made.
pub struct Context {
    pub date: String,
    pub machine: String,
    pub command: String,
}

impl Context {
    pub fn new() -> Context {
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cpus = std::thread::available_parallelism().map_or(0, usize::from);
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect();
        let command = if args.is_empty() {
            "cargo bench --bench compare".to_string()
        } else {
            format!("cargo bench --bench compare -- {}", args.join(" "))
        };
        Context {
            date: utc_now(),
            machine: format!("{model}, {cpus} CPUs (nproc)"),
            command,
        }
    }
}

/// Now, as `YYYY-MM-DD HH:MM UTC` (civil-from-days, so no date crate is needed).
fn utc_now() -> String {
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

/// `report.md`: one line per workload, a column per peer, the ratios and the verdict.
pub fn markdown(rows: &[Row], ctx: &Context) -> String {
    let mut out = String::from("# minirt against tokio and smol\n\n");
    let _ = writeln!(out, "- date: {}", ctx.date);
    let _ = writeln!(out, "- machine: {}", ctx.machine);
    let _ = writeln!(out, "- command: `{}`", ctx.command);
    out.push_str(
        "\nEach cell is the median over interleaved runs (min – max below it); the memory row \
         is bytes per idle task. `x/minirt` is the peer's number over minirt's: above 1 means \
         minirt is faster (or smaller). Rows ending in `_rtt_p50`, `_rtt_p99` and \
         `_rtt_p99.9` are percentiles of every round trip of every run, pooled (min – max: \
         the fastest and slowest round trip). Targets: executor ≥ 1.5× tokio and ahead of \
         smol; timers, sync and blocking ≥ 1.2× tokio; I/O ≥ 1.0× tokio; memory no more than \
         tokio's; `remote_wake_1k` ≥ 1.0× tokio; `echo_64_threads` throughput ≥ 0.95× tokio \
         and its percentiles within 1.25× of tokio's (≥ 0.8×). tokio runs up to three ways \
         (`tokio::spawn`, a `LocalSet`, a `LocalRuntime`): the best tokio column is the \
         fastest of those that ran, and the target is judged against it.\n\n",
    );
    out.push_str("| workload | group |");
    for peer in PEERS {
        let _ = write!(out, " {peer} |");
    }
    for peer in &PEERS[1..] {
        let _ = write!(out, " {peer}/minirt |");
    }
    out.push_str(" best tokio/minirt | target |\n|---|---|");
    out.push_str(&"---:|".repeat(PEERS.len() * 2));
    out.push_str("---|\n");
    let mut blanks = Vec::new();
    for row in rows {
        let _ = write!(out, "| {} | {} |", row.name, row.group.name());
        for peer in PEERS {
            match row.cells.iter().find(|(p, _)| *p == peer).map(|(_, c)| c) {
                Some(Cell::Measured {
                    value, min, max, ..
                }) => {
                    let _ = write!(
                        out,
                        " {}<br><sub>{} – {}</sub> |",
                        human(row.unit, *value),
                        human(row.unit, *min),
                        human(row.unit, *max)
                    );
                }
                Some(Cell::Blank(reason)) => {
                    blanks.push(format!("{} on {peer}: {reason}", row.name));
                    let _ = write!(out, " blank[^{}] |", blanks.len());
                }
                None => out.push_str(" – |"),
            }
        }
        for peer in &PEERS[1..] {
            match row.ratio(peer) {
                Some(r) => {
                    let _ = write!(out, " {r:.2} |");
                }
                None => out.push_str(" – |"),
            }
        }
        match row.best_tokio() {
            Some((best, r)) => {
                let _ = write!(out, " {r:.2} ({best}) |");
            }
            None => out.push_str(" – |"),
        }
        match verdict(row) {
            Some((met, text)) => {
                let _ = writeln!(out, " {}: {text} |", if met { "met" } else { "**missed**" });
            }
            None => out.push_str(" n/a |\n"),
        }
    }
    if !blanks.is_empty() {
        out.push('\n');
        for (i, b) in blanks.iter().enumerate() {
            let _ = writeln!(out, "[^{}]: {b}", i + 1);
        }
    }
    out
}

/// The colour of each peer's bars (minirt is the baseline, 1.0, and has none).
fn colour(peer: &str) -> &'static str {
    match peer {
        "tokio" => "#d9822b",
        "tokio-local" => "#f2b134",
        "tokio-localrt" => "#b5651d",
        _ => "#4c78a8",
    }
}

/// `report.svg`: for every row, one horizontal bar per peer of `peer / minirt` on a log scale
/// (right of the 1.0 line: minirt is ahead). Hand-written SVG.
pub fn svg(rows: &[Row], ctx: &Context) -> String {
    const LABEL: f64 = 300.0;
    const PLOT: f64 = 560.0;
    const BAR: f64 = 11.0;
    const GAP: f64 = 9.0;
    const TOP: f64 = 92.0;
    const HEADING: f64 = 20.0;
    let others = &PEERS[1..];
    let ratios: Vec<f64> = rows
        .iter()
        .flat_map(|r| others.iter().filter_map(|p| r.ratio(p)))
        .filter(|r| *r > 0.0)
        .collect();
    // The scale spans powers of two around every ratio, and at least 1/4 to 4.
    let lo = ratios.iter().copied().fold(0.25, f64::min).log2().floor();
    let hi = ratios.iter().copied().fold(4.0, f64::max).log2().ceil();
    let x = |r: f64| LABEL + (r.log2() - lo) / (hi - lo) * PLOT;
    let height = TOP
        + rows
            .iter()
            .map(|r| {
                others
                    .iter()
                    .filter(|p| r.ratio(p).is_some())
                    .count()
                    .max(1) as f64
                    * BAR
                    + GAP
            })
            .sum::<f64>()
        + 30.0
        + groups(rows) as f64 * HEADING;
    let width = LABEL + PLOT + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">peer / minirt \
         (log scale; right of 1.0: minirt is faster or smaller)</text>"
    );
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"40\" fill=\"#555\">{} · {} · {}</text>",
        escape(&ctx.date),
        escape(&ctx.machine),
        escape(&ctx.command)
    );
    // Legend.
    for (i, peer) in others.iter().enumerate() {
        let lx = 10.0 + i as f64 * 130.0;
        let _ = writeln!(
            s,
            "<rect x=\"{lx}\" y=\"52\" width=\"14\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"63\">{peer}</text>",
            colour(peer),
            lx + 19.0
        );
    }
    // Grid: a line per power of two, 1.0 in black.
    let mut e = lo;
    while e <= hi {
        let r = 2f64.powf(e);
        let gx = x(r);
        let (stroke, w) = if e == 0.0 {
            ("black", 1.5)
        } else {
            ("#ccc", 1.0)
        };
        let _ = writeln!(
            s,
            "<line x1=\"{gx:.1}\" y1=\"{}\" x2=\"{gx:.1}\" y2=\"{:.1}\" stroke=\"{stroke}\" \
             stroke-width=\"{w}\"/><text x=\"{gx:.1}\" y=\"{}\" text-anchor=\"middle\" \
             fill=\"#333\">{}</text>",
            TOP - 8.0,
            height - 24.0,
            TOP - 12.0,
            if r >= 1.0 {
                format!("{r}")
            } else {
                format!("1/{}", 1.0 / r)
            }
        );
        e += 1.0;
    }
    let mut y = TOP;
    let mut group = None;
    for row in rows {
        if group != Some(row.group) {
            group = Some(row.group);
            let _ = writeln!(
                s,
                "<text x=\"10\" y=\"{:.1}\" font-weight=\"bold\" fill=\"#555\">{}</text>\
                 <line x1=\"10\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#ddd\"/>",
                y + 12.0,
                row.group.name(),
                y + 16.0,
                width - 10.0,
                y + 16.0
            );
            y += HEADING;
        }
        let present: Vec<(&str, f64)> = others
            .iter()
            .filter_map(|p| row.ratio(p).filter(|r| *r > 0.0).map(|r| (*p, r)))
            .collect();
        let block = present.len().max(1) as f64 * BAR;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABEL - 8.0,
            y + block / 2.0 + 4.0,
            escape(&row.name)
        );
        if present.is_empty() {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{:.1}\" fill=\"#888\">no minirt number</text>",
                x(1.0) + 6.0,
                y + 9.0
            );
        }
        for (i, (peer, r)) in present.iter().enumerate() {
            let by = y + i as f64 * BAR;
            let (x0, x1) = (x(1.0).min(x(*r)), x(1.0).max(x(*r)));
            let _ = writeln!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\">\
                 <title>{} {peer}/minirt = {r:.2}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#333\">{r:.2}</text>",
                (x1 - x0).max(1.0),
                BAR - 1.0,
                colour(peer),
                escape(&row.name),
                x1 + 3.0,
                by + BAR - 2.0
            );
        }
        y += block + GAP;
    }
    s.push_str("</svg>\n");
    s
}

/// How many runs of rows share a group (a heading each).
fn groups(rows: &[Row]) -> usize {
    rows.windows(2).filter(|w| w[0].group != w[1].group).count() + usize::from(!rows.is_empty())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes the three files and returns the directory.
pub fn write_all(rows: &[Row], ctx: &Context) -> std::io::Result<PathBuf> {
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("results.json"), json(rows))?;
    std::fs::write(dir.join("report.md"), markdown(rows, ctx))?;
    std::fs::write(dir.join("report.svg"), svg(rows, ctx))?;
    Ok(dir)
}
