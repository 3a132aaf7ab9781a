//! Replay: `cargo bench --bench compare -- --twice` runs the suite twice, back to back, and
//! lists every row whose two verdicts disagree, with both runs' intervals. A row that is
//! inconclusive in both agrees: it says, twice, that this machine cannot tell. A report should
//! quote as met or missed only rows that agree.

use std::fmt::Write as _;

use super::rows::{Row, interval_text};
use super::stats::{self, Interval, Verdict};

/// One run's standing for one row: its verdict and what it says, and the best tokio ratio.
struct Standing {
    verdict: Option<(Verdict, String)>,
    best: Option<(&'static str, Interval)>,
}

impl Standing {
    fn of(row: &Row) -> Standing {
        Standing {
            verdict: row.verdict(),
            best: row.best_tokio(),
        }
    }

    fn text(&self) -> String {
        match &self.verdict {
            Some((v, text)) => format!("{}: {text}", v.name()),
            None => "n/a".into(),
        }
    }
}

/// A row's name and its standing in each run (`None` where a run has no such row).
type Both = (String, Option<Standing>, Option<Standing>);

/// The two runs' standings, row by row, in the first run's order.
pub struct Replay {
    rows: Vec<Both>,
}

impl Replay {
    pub fn new(first: &[Row], second: &[Row]) -> Replay {
        let mut rows: Vec<_> = first
            .iter()
            .map(|r| {
                let other = second.iter().find(|s| s.name == r.name).map(Standing::of);
                (r.name.clone(), Some(Standing::of(r)), other)
            })
            .collect();
        for s in second {
            if !first.iter().any(|r| r.name == s.name) {
                rows.push((s.name.clone(), None, Some(Standing::of(s))));
            }
        }
        Replay { rows }
    }

    /// The names of the rows whose verdicts disagree (`stats.rs`, `disagreements`).
    pub fn disagreeing(&self) -> Vec<String> {
        let verdicts = |pick: fn(&Both) -> &Option<Standing>| {
            self.rows
                .iter()
                .filter_map(|row| {
                    let s = pick(row).as_ref()?;
                    Some((row.0.clone(), s.verdict.as_ref().map(|v| v.0)))
                })
                .collect::<Vec<_>>()
        };
        let (first, second) = (verdicts(|r| &r.1), verdicts(|r| &r.2));
        stats::disagreements(&first, &second)
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// How the best tokio ratio moved between the runs, as `second / first - 1`.
    fn change(a: &Option<Standing>, b: &Option<Standing>) -> Option<f64> {
        let ratio = |s: &Option<Standing>| s.as_ref()?.best.map(|b| b.1.ratio);
        Some(ratio(b)? / ratio(a)? - 1.0)
    }

    /// For stdout: a line per disagreeing row, or that there is none.
    pub fn print(&self) {
        let bad = self.disagreeing();
        println!(
            "\nreplay: {} of {} rows gave the same verdict in both runs",
            self.rows.len() - bad.len(),
            self.rows.len()
        );
        for (name, a, b) in &self.rows {
            if bad.contains(name) {
                let text =
                    |s: &Option<Standing>| s.as_ref().map_or("absent".into(), Standing::text);
                println!("  {name}: run 1 {}; run 2 {}", text(a), text(b));
            }
        }
    }

    /// The report's section body.
    pub fn markdown(&self) -> String {
        let bad = self.disagreeing();
        let mut out = format!(
            "The suite ran twice, back to back (`--twice`); this report's table is the second \
             run, and the first run's report is beside it (`run-1/`). {} of {} rows gave the \
             same verdict in both runs (inconclusive twice counts as the same).\n\n",
            self.rows.len() - bad.len(),
            self.rows.len()
        );
        if bad.is_empty() {
            out.push_str("No row's verdict changed between the runs.\n\n");
        } else {
            out.push_str("Rows whose verdicts disagree (quote them as inconclusive, with both intervals):\n\n");
            for (name, a, b) in &self.rows {
                if bad.contains(name) {
                    let text =
                        |s: &Option<Standing>| s.as_ref().map_or("absent".into(), Standing::text);
                    let _ = writeln!(out, "- `{name}`: run 1 {}; run 2 {}", text(a), text(b));
                }
            }
            out.push('\n');
        }
        out.push_str(
            "| row | run 1: best tokio/minirt | run 2: best tokio/minirt | change | run 1 | run 2 |\n\
             |---|---:|---:|---:|---|---|\n",
        );
        for (name, a, b) in &self.rows {
            let best = |s: &Option<Standing>| {
                s.as_ref()
                    .and_then(|s| s.best)
                    .map_or("–".into(), |(p, i)| format!("{} {p}", interval_text(i)))
            };
            let verdict = |s: &Option<Standing>| {
                s.as_ref()
                    .and_then(|s| s.verdict.as_ref())
                    .map_or("n/a", |v| v.0.name())
            };
            let change =
                Self::change(a, b).map_or("–".into(), |c| format!("{:+.1} %", c * 100.0));
            let flag = if bad.contains(name) { " **≠**" } else { "" };
            let _ = writeln!(
                out,
                "| {name}{flag} | {} | {} | {change} | {} | {} |",
                best(a),
                best(b),
                verdict(a),
                verdict(b)
            );
        }
        out
    }
}
