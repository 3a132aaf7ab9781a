//! Isolation: each peer of a workload runs in a process of its own, and the processes take
//! turns, round by round.
//!
//! For a workload, [`Children::start`] re-executes this bench binary once per peer, as
//! `compare --peer-child WORKLOAD PEER`. The child builds the workloads (which makes no
//! runtime: see `peers.rs`), keeps its peer's twin of `WORKLOAD`, says `ready`, and then
//! runs the twin once per `run` line on its stdin, answering each with one line of
//! measurements, timed inside the child exactly as the harness times a run in-process
//! (`rounds.rs`, `measure`). The parent sends `run` to each child in turn (A B C D E A B
//! ...), waiting for each answer before the next, so only one peer runs at a time and the
//! others sleep in a `read`. A child exits when its stdin closes.
//!
//! So no peer runs in a heap another peer has churned or fragmented, behind another
//! runtime's threads, or after another peer's data has filled the caches of its own address
//! space; what the peers still share is the machine (its CPU caches and the host), and the
//! alternation spreads that alike over all of them.
//!
//! Every wait on a child has a deadline (`READY_DEADLINE`, `RUN_DEADLINE`); a child that
//! misses it is killed, and the bench stops with the reason, as it does when checksums differ.
//! Dropping [`Children`] closes their stdin and reaps them (killing any that linger).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::harness::Workload;
use super::rounds::{Sample, measure};
use super::{machine, pin};

/// The hidden argument that makes this binary a peer's child: `--peer-child WORKLOAD PEER`.
pub const CHILD_ARG: &str = "--peer-child";

/// How long a child may take to start and build its workload.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long one run may take (the slowest take a second or two on a loaded machine).
const RUN_DEADLINE: Duration = Duration::from_secs(120);
/// How long a child may take to exit once its stdin is closed, before it is killed.
const EXIT_DEADLINE: Duration = Duration::from_secs(10);

struct Kid {
    peer: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Lines from the child's stdout, read by a thread of ours (a pipe has no read timeout).
    lines: Receiver<String>,
}

/// One child process per peer of one workload.
pub struct Children {
    workload: String,
    kids: Vec<Kid>,
}

impl Children {
    /// Starts a child for each of `peers` and waits until every one is ready.
    pub fn start(workload: &str, peers: &[&'static str]) -> Children {
        let exe = std::env::current_exe().expect("the bench binary's path");
        let mut children = Children {
            workload: workload.to_string(),
            kids: Vec::new(),
        };
        for peer in peers {
            let mut command = Command::new(&exe);
            if machine::malloc_defaults() {
                command.env(machine::MALLOC_ENV, "1");
            }
            if pin::off() {
                command.env(pin::NO_PIN_ENV, "1");
            }
            let mut child = command
                .args([CHILD_ARG, workload, peer])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("re-executing the bench binary");
            let stdin = child.stdin.take();
            let stdout = child.stdout.take().expect("a piped stdout");
            let (tx, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            children.kids.push(Kid {
                peer,
                child,
                stdin,
                lines,
            });
        }
        let mut pids = Vec::new();
        for k in 0..children.kids.len() {
            let line = children.answer(k, READY_DEADLINE);
            let pid = line
                .strip_prefix("ready ")
                .and_then(|pid| pid.parse::<u32>().ok())
                .unwrap_or_else(|| children.fail(k, &format!("said {line:?} instead of ready")));
            pids.push(pid);
        }
        // The point of it all: every peer in a process of its own, none in this one.
        let mut distinct = pids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(
            distinct.len() == pids.len() && !pids.contains(&std::process::id()),
            "{workload}: peers share a process: {pids:?}"
        );
        children
    }

    /// Runs the `k`-th child's twin once and returns its measurements.
    pub fn run(&mut self, k: usize) -> Sample {
        let sent = self.kids[k]
            .stdin
            .as_mut()
            .map(|stdin| writeln!(stdin, "run").and_then(|()| stdin.flush()));
        if !matches!(sent, Some(Ok(()))) {
            // Give a child that just died the moment to be reaped, so `fail` can say how.
            std::thread::sleep(Duration::from_millis(50));
            self.fail(k, "stopped taking commands");
        }
        let line = self.answer(k, RUN_DEADLINE);
        decode(&line).unwrap_or_else(|e| self.fail(k, &format!("answered {e}")))
    }

    /// The `k`-th child's next line, within `deadline`.
    fn answer(&mut self, k: usize, deadline: Duration) -> String {
        match self.kids[k].lines.recv_timeout(deadline) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                self.fail(k, &format!("gave no answer within {}s", deadline.as_secs()))
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = self.kids[k].child.wait();
                self.fail(k, "exited without answering")
            }
        }
    }

    /// Stops the bench: kills the `k`-th child if it still runs, and says what it did.
    fn fail(&mut self, k: usize, what: &str) -> ! {
        let kid = &mut self.kids[k];
        // A child that has exited says how (a signal, a panic's exit code); one that still
        // runs is stopped.
        let how = match kid.child.try_wait() {
            Ok(Some(status)) => format!(" ({status})"),
            _ => {
                let _ = kid.child.kill();
                let _ = kid.child.wait();
                String::new()
            }
        };
        panic!(
            "{}: the {} child process {what}{how}",
            self.workload, kid.peer
        );
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for kid in &mut self.kids {
            // EOF on its stdin: the child exits at once.
            drop(kid.stdin.take());
        }
        let until = Instant::now() + EXIT_DEADLINE;
        for kid in &mut self.kids {
            while matches!(kid.child.try_wait(), Ok(None)) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            if matches!(kid.child.try_wait(), Ok(None)) {
                let _ = kid.child.kill();
                let _ = kid.child.wait();
            }
        }
    }
}

/// The child's side: keeps `peer`'s twin of `workload`, says `ready PID`, then runs the twin
/// once per `run` line and answers each with its measurements. Exits when stdin closes, or
/// when stdout does (the parent is gone), without tearing the workload down (a million armed
/// timers, say: the kernel frees it all at once).
pub fn serve(mut workload: Workload<'_>, peer: &str) -> ! {
    let Some(twin) = workload
        .peers
        .iter_mut()
        .find(|p| p.name == peer)
        .and_then(|p| p.twin())
    else {
        panic!("{}: no twin for {peer}", workload.name);
    };
    let mut out = std::io::stdout().lock();
    let say = |out: &mut std::io::StdoutLock<'_>, line: &str| {
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            std::process::exit(0);
        }
    };
    say(&mut out, &format!("ready {}", std::process::id()));
    for line in std::io::stdin().lock().lines() {
        match line.as_deref() {
            Ok("run") => {
                let sample = measure(twin);
                say(&mut out, &encode(&sample));
            }
            Ok(other) => panic!("{}: unknown command {other:?}", workload.name),
            Err(_) => break,
        }
    }
    std::process::exit(0)
}

/// `sample CHECKSUM WALL_NS CPU_NS FAULTS INNER_NS|- [ROUND_TRIP_NS ...]`.
pub fn encode(s: &Sample) -> String {
    use std::fmt::Write as _;
    let mut line = format!(
        "sample {} {} {} {} ",
        s.checksum,
        s.wall.as_nanos(),
        s.cpu.as_nanos(),
        s.faults
    );
    match s.inner {
        Some(inner) => {
            let _ = write!(line, "{}", inner.as_nanos());
        }
        None => line.push('-'),
    }
    for rtt in &s.round_trips {
        let _ = write!(line, " {}", rtt.as_nanos());
    }
    line
}

/// The inverse of [`encode`]; an error says what was wrong, with the start of the line.
pub fn decode(line: &str) -> Result<Sample, String> {
    let bad = || {
        let start: String = line.chars().take(80).collect();
        format!("{start:?}, not a sample")
    };
    let mut words = line.split(' ');
    if words.next() != Some("sample") {
        return Err(bad());
    }
    let mut number =
        || -> Result<u64, String> { words.next().and_then(|w| w.parse().ok()).ok_or_else(bad) };
    let checksum = number()?;
    let wall = Duration::from_nanos(number()?);
    let cpu = Duration::from_nanos(number()?);
    let faults = number()?;
    let inner = match words.next() {
        Some("-") => None,
        Some(w) => Some(Duration::from_nanos(w.parse().map_err(|_| bad())?)),
        None => return Err(bad()),
    };
    let round_trips = words
        .map(|w| w.parse().map(Duration::from_nanos).map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    Ok(Sample {
        checksum,
        wall,
        cpu,
        faults,
        inner,
        round_trips,
    })
}
