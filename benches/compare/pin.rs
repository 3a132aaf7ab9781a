//! CPU pinning for the loopback I/O rows: the server on one CPU, its load generator on
//! another, so that the two never take turns on one core (and the scheduler does not move
//! them from run to run). Where the process may use only one CPU, nothing is pinned, and the
//! rows say so.
//!
//! Pinning is for an idle machine. On a busy one, a pinned thread cannot move away from the
//! other work on its CPU, and the row measures that work: `echo_64_threads` took 1.4-1.9 s
//! per run pinned and 110 ms unpinned in the same minutes (2026-12-07, load average 7-11,
//! `cargo bench --bench compare -- --quick --filter echo_64_threads`, with and without
//! `--no-pin`). So a run that starts on a busy machine (the load average at or above
//! `machine::BUSY_LOAD`) pins nothing unless `--pin` asks, and its rows say why.
//!
//! The CPUs are the first two of the set the process was started with, read once by
//! [`init`] before anything is pinned (a pinned thread's own mask would name one CPU only).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static ALLOWED: OnceLock<Vec<usize>> = OnceLock::new();

/// Set in a child's environment when the run pins nothing.
pub const NO_PIN_ENV: &str = "MINIRT_BENCH_NO_PIN";
static OFF: AtomicBool = AtomicBool::new(false);
/// Why nothing is pinned, when `OFF` is set.
static WHY_OFF: OnceLock<String> = OnceLock::new();

/// The calling thread's CPU set, as a list of CPU numbers.
fn current() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is plain bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the number of bits in `set`.
        .filter(|cpu| unsafe { libc::CPU_ISSET(*cpu, &set) })
        .collect()
}

/// Pins the calling thread to `cpus`. Returns whether the kernel accepted it.
fn set(cpus: &[usize]) -> bool {
    // SAFETY: as in `current`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for cpu in cpus {
        // SAFETY: every CPU number came from `current`, so it is below `CPU_SETSIZE`.
        unsafe { libc::CPU_SET(*cpu, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is this thread.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// Reads the process's CPU set. Call it first thing in `main`, before any thread is pinned.
/// With `off` (and why: `--no-pin`, a busy machine, or `NO_PIN_ENV` in a child's
/// environment), nothing is pinned.
pub fn init(off: Option<String>) {
    if let Some(why) = off {
        OFF.store(true, Ordering::Relaxed);
        let _ = WHY_OFF.set(why);
    }
    ALLOWED.get_or_init(current);
}

/// Whether pinning is off for this run (children are told through `NO_PIN_ENV`).
pub fn off() -> bool {
    OFF.load(Ordering::Relaxed)
}

fn allowed() -> &'static [usize] {
    ALLOWED.get_or_init(current)
}

/// The server's CPU and the load generator's, if the process may use two.
pub fn split() -> Option<(usize, usize)> {
    if off() {
        return None;
    }
    match allowed() {
        [server, client, ..] => Some((*server, *client)),
        _ => None,
    }
}

/// What the split rows say about their pinning.
pub fn describe_split() -> String {
    match split() {
        Some((server, client)) => format!(
            "server pinned to CPU {server}, load generator to CPU {client} (sched_setaffinity)"
        ),
        None if off() => format!(
            "not pinned: {}",
            WHY_OFF.get().map_or("pinning is off", String::as_str)
        ),
        None => "not pinned: the process may use one CPU only".into(),
    }
}

/// Pins the calling thread (the server's: the runtime under test) to the server's CPU for as
/// long as the guard lives, then gives it back the process's whole set.
#[must_use = "the thread is unpinned when the guard is dropped"]
pub struct Server(bool);

impl Server {
    pub fn pin() -> Server {
        Server(split().is_some_and(|(server, _)| set(&[server])))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.0 {
            set(allowed());
        }
    }
}

/// Pins the calling thread (a load generator's, made for one run) to the load generator's CPU.
pub fn client() {
    if let Some((_, client)) = split() {
        set(&[client]);
    }
}
