//! The exact counts beside the wall-clock rows: instructions, atomic read-modify-writes and
//! allocations per operation, minirt and tokio, from `benches/opcount.sh` (callgrind and a
//! counting allocator). Load cannot move them, so a noisy row in the report stands next to a
//! figure that says what each runtime does per operation.
//!
//! A full run (`cargo bench --bench compare`) runs the script after the timed rows, so the
//! report and the counts come from one command on one commit; `--quick` and `--filter` skip
//! it (`--opcount` asks for it anyway, `--no-opcount` skips it). It takes a few minutes:
//! 36 runs under valgrind.

use std::process::{Command, Stdio};

/// The script's output, or why there is none.
pub enum Counts {
    Table { markdown: String, seconds: f64 },
    Skipped(String),
}

/// How long the script may run before it is stopped (it takes 2-5 minutes on 2 CPUs).
const DEADLINE_SECONDS: u32 = 1_800;

/// Runs `benches/opcount.sh` and keeps its table.
pub fn run() -> Counts {
    let root = env!("CARGO_MANIFEST_DIR");
    let start = std::time::Instant::now();
    let out = Command::new("timeout")
        .arg(DEADLINE_SECONDS.to_string())
        .args(["bash", "benches/opcount.sh"])
        .current_dir(root)
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => return Counts::Skipped(format!("could not run benches/opcount.sh: {e}")),
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !text.starts_with("| operation") {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = text
            .lines()
            .chain(why.lines())
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .to_string();
        return Counts::Skipped(format!("benches/opcount.sh failed ({}): {why}", out.status));
    }
    Counts::Table {
        markdown: text,
        seconds: start.elapsed().as_secs_f64(),
    }
}

impl Counts {
    /// The table's rows as JSON objects (`{"operation": .., "runtime": .., "instructions":
    /// .., ...}`), or the reason there are none.
    pub fn json(&self) -> serde_json::Value {
        let markdown = match self {
            Counts::Table { markdown, .. } => markdown,
            Counts::Skipped(why) => return serde_json::json!({ "skipped": why }),
        };
        let keys = [
            "operation",
            "runtime",
            "instructions",
            "atomic_rmws",
            "allocations",
            "bytes_allocated",
        ];
        let rows: Vec<serde_json::Value> = markdown
            .lines()
            .skip(2)
            .filter_map(|line| {
                let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
                (cells.len() == keys.len()).then(|| {
                    let mut row = serde_json::Map::new();
                    for (key, cell) in keys.iter().zip(cells) {
                        let value = cell
                            .parse::<f64>()
                            .map_or_else(|_| serde_json::json!(cell), |n| serde_json::json!(n));
                        row.insert((*key).into(), value);
                    }
                    serde_json::Value::Object(row)
                })
            })
            .collect();
        serde_json::Value::Array(rows)
    }

    /// The report's section body.
    pub fn markdown(&self) -> String {
        match self {
            Counts::Table { markdown, seconds } => format!(
                "Per operation, from `bash benches/opcount.sh` run by the same command after the \
                 timed rows ({seconds:.0} s): each (operation, runtime) pair runs under \
                 `valgrind --tool=callgrind` with N repetitions and with none, and the \
                 difference is divided by N, so set-up and teardown cancel out. Instruction and \
                 atomic counts are exact and do not depend on load; `docs/why-fast.md` explains \
                 the operations.\n\n{markdown}"
            ),
            Counts::Skipped(why) => format!("Not measured in this run: {why}.\n"),
        }
    }
}
