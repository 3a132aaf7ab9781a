//! The machine and the software a run was made on, and how busy the machine was meanwhile:
//! what a reader needs to judge a report, and what makes two reports comparable.
//!
//! Recorded: the CPU model and count, the kernel, the load average before and after, the
//! toolchain, every peer's version (from `Cargo.lock`), the commit measured, and the share of
//! the machine's CPU time that went to anything but this run during it (from `/proc/stat`, less
//! this process's and its children's own time from `getrusage`), with the time the hypervisor
//! took (steal). A run is flagged busy when anything else took at least `BUSY_SHARE` of the
//! machine or the host stole at least `BUSY_STEAL` of it during the run: its figures are then
//! not results. The load average before the run is recorded but does not flag it: it trails a
//! minute behind and counts the bench's own build just before (and, for `--twice`'s second
//! run, the first run), so an idle machine read 3.7 there; what else ran is measured directly.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Set (to anything) in a child's environment when the run keeps glibc's malloc defaults.
pub const MALLOC_ENV: &str = "MINIRT_BENCH_MALLOC_DEFAULTS";
static MALLOC_DEFAULTS: AtomicBool = AtomicBool::new(false);

/// The heap every process of the bench runs on. glibc gives the top of its heap back to the
/// kernel whenever more than `M_TRIM_THRESHOLD` is free there, and serves a block of at least
/// `M_MMAP_THRESHOLD` with a mapping of its own, which it unmaps when the block is freed;
/// both start at 128 KiB and rise as a process frees large mapped blocks (up to 32 MiB for
/// the mapping threshold). A workload alone in a fresh process, allocating a few hundred KiB
/// per run and freeing it all, shrinks and regrows its heap on every run and pays page faults
/// for it (tokio's `ping_pong_1k`: 60-80 faults and 200-350 µs per run, 2026-12-07, with
/// `--filter ping_pong --malloc-defaults`); in a process shared with other peers, or in a
/// long-lived program, something else pins the heap's top and the thresholds have risen. So,
/// unless `defaults` (`--malloc-defaults`), every process of the bench, parent and children
/// alike, fixes both first thing where a long-lived program's end up: blocks under 32 MiB come
/// from the heap, and the heap is not given back. The report says which; each wall-time row
/// counts page faults per run.
pub fn set_up_malloc(defaults: bool) {
    MALLOC_DEFAULTS.store(defaults, Ordering::Relaxed);
    #[cfg(target_env = "gnu")]
    if !defaults {
        // SAFETY: mallopt only changes malloc's parameters; a value it refuses changes nothing.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}

/// Whether this run keeps glibc's malloc defaults (children are told through `MALLOC_ENV`).
pub fn malloc_defaults() -> bool {
    MALLOC_DEFAULTS.load(Ordering::Relaxed)
}

fn malloc_description() -> &'static str {
    if malloc_defaults() {
        "glibc's defaults (the heap's top is given back past 128 KiB free)"
    } else {
        "glibc with M_MMAP_THRESHOLD at 32 MiB and M_TRIM_THRESHOLD at 1 GiB in every process \
         (blocks under 32 MiB come from the heap, which is not given back)"
    }
}

/// A load average at or above this when the run begins leaves the I/O rows unpinned (`pin.rs`).
pub const BUSY_LOAD: f64 = 1.0;
/// A share of the machine's CPU time taken by anything else during the run that marks it busy.
const BUSY_SHARE: f64 = 0.10;
/// A share of the machine's CPU time stolen by the host that marks the run busy.
const BUSY_STEAL: f64 = 0.05;

/// The crates whose versions the report names: the peers and what they run on.
const CRATES: [&str; 9] = [
    "minirt",
    "polling",
    "tokio",
    "async-executor",
    "async-io",
    "async-channel",
    "async-lock",
    "blocking",
    "futures-lite",
];

/// The CPU counters of `/proc/stat`'s first line, in clock ticks.
#[derive(Clone, Copy, Default)]
struct Ticks {
    busy: u64,
    steal: u64,
    total: u64,
}

fn ticks() -> Ticks {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return Ticks::default();
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    Ticks {
        busy: at(0) + at(1) + at(2) + at(5) + at(6),
        steal: at(7),
        total: (0..8).map(at).sum(),
    }
}

/// This process's and its reaped children's CPU time, in seconds.
fn own_cpu_seconds() -> f64 {
    let of = |who| {
        // SAFETY: `rusage` is plain data; all zeroes is a valid value to be overwritten.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid, writable `rusage`; `who` is a constant the kernel knows.
        unsafe { libc::getrusage(who, &mut usage) };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        secs(usage.ru_utime) + secs(usage.ru_stime)
    };
    of(libc::RUSAGE_SELF) + of(libc::RUSAGE_CHILDREN)
}

/// The 1-minute load average now.
pub fn load_now() -> f64 {
    first_load(&load_average())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn first_load(load: &str) -> f64 {
    load.split(' ')
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0.0)
}

/// A command's first line of output, or `None`.
fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status.success().then_some(())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}

/// `name version` for each of `CRATES` found in `Cargo.lock`.
fn versions(lock: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take())
            && CRATES.contains(&n.as_str())
        {
            found.push((n, v.trim_matches('"').to_string()));
        }
    }
    found.sort_by_key(|(n, _)| CRATES.iter().position(|c| c == n));
    found
}

/// Where and how the run was made. `new` at the start, `finish` when the timed part ends.
pub struct Context {
    pub date: String,
    pub command: String,
    pub cpu: String,
    pub cpus: String,
    pub kernel: String,
    pub toolchain: String,
    pub commit: String,
    pub versions: Vec<(String, String)>,
    pub load_before: String,
    pub load_after: String,
    /// Shares of the machine's CPU time during the run: taken by anything but this run, and
    /// stolen by the host. Known after `finish`.
    pub others: f64,
    pub steal: f64,
    pub seconds: f64,
    pub isolated: bool,
    /// How the rounds were counted (`Plan::describe`).
    pub rounds: String,
    start: Instant,
    ticks: Ticks,
    own: f64,
}

impl Context {
    pub fn new(command: String, isolated: bool, rounds: String) -> Context {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let online = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let allowed = std::thread::available_parallelism().map_or(0, usize::from);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
        let dirty = output("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|l| !l.is_empty());
        let commit = output("git", &["rev-parse", "--short", "HEAD"]).map_or_else(
            || "unknown".into(),
            |c| {
                if dirty {
                    format!("{c} (with changes)")
                } else {
                    c
                }
            },
        );
        Context {
            date: super::report::utc_now(),
            command,
            cpu,
            cpus: format!("{online} online, {allowed} usable"),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".into(), |k| k.trim().to_string()),
            toolchain: output("rustc", &["-V"]).unwrap_or_else(|| "unknown".into()),
            commit,
            versions: versions(&lock),
            load_before: load_average(),
            load_after: String::new(),
            others: 0.0,
            steal: 0.0,
            seconds: 0.0,
            isolated,
            rounds,
            start: Instant::now(),
            ticks: ticks(),
            own: own_cpu_seconds(),
        }
    }

    /// Records the end of the timed part: load, and what else ran meanwhile.
    pub fn finish(&mut self) {
        self.load_after = load_average();
        self.seconds = self.start.elapsed().as_secs_f64();
        let now = ticks();
        let total = now.total.saturating_sub(self.ticks.total) as f64;
        if total > 0.0 {
            // SAFETY: sysconf has no preconditions.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
            let busy = now.busy.saturating_sub(self.ticks.busy) as f64 / hz;
            let own = own_cpu_seconds() - self.own;
            self.others = ((busy - own) * hz / total).max(0.0);
            self.steal = now.steal.saturating_sub(self.ticks.steal) as f64 / total;
        }
    }

    /// Why the machine counts as busy, if it does.
    pub fn busy(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.others >= BUSY_SHARE {
            why.push(format!(
                "{:.0} % of the machine's CPU time went to other work during the run \
                 (at or above {:.0} %)",
                self.others * 100.0,
                BUSY_SHARE * 100.0
            ));
        }
        if self.steal >= BUSY_STEAL {
            why.push(format!(
                "the host stole {:.0} % of the CPU time (at or above {:.0} %)",
                self.steal * 100.0,
                BUSY_STEAL * 100.0
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// The machine in one line, for the SVG's subtitle.
    pub fn machine(&self) -> String {
        format!("{}, {} CPUs", self.cpu, self.cpus)
    }

    /// The report's list of facts, in Markdown.
    pub fn markdown(&self) -> String {
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        let mut out = format!(
            "- date: {}\n- command: `{}` ({}; {:.1} s for the timed rows)\n- rounds: {}\n- \
             machine: {}, \
             {} CPUs; kernel {}\n- load average (1, 5, 15 min): {} before, {} after\n- \
             during the run: {:.1} % of the CPU time went to other work, {:.1} % was stolen \
             by the host\n- toolchain: {}; commit {}\n- versions (Cargo.lock): {}\n- \
             allocator: {}\n",
            self.date,
            self.command,
            if self.isolated {
                "each peer in a process of its own"
            } else {
                "every peer in one process"
            },
            self.seconds,
            self.rounds,
            self.cpu,
            self.cpus,
            self.kernel,
            self.load_before,
            self.load_after,
            self.others * 100.0,
            self.steal * 100.0,
            self.toolchain,
            self.commit,
            versions.join(", "),
            malloc_description()
        );
        if let Some(why) = self.busy() {
            out.push_str(&format!(
                "\n> **Warning: the machine was busy:** {why}. The figures below are not \
                 results; run again on an idle machine.\n"
            ));
        }
        out
    }

    /// The same facts for `results.json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "date": self.date,
            "command": self.command,
            "isolated": self.isolated,
            "rounds": self.rounds,
            "cpu": self.cpu,
            "cpus": self.cpus,
            "kernel": self.kernel,
            "toolchain": self.toolchain,
            "commit": self.commit,
            "versions": self.versions.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "load_before": self.load_before,
            "load_after": self.load_after,
            "others_share": self.others,
            "steal_share": self.steal,
            "seconds": self.seconds,
            "allocator": malloc_description(),
            "busy": self.busy(),
        })
    }
}
