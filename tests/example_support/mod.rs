//! Runs a compiled example program as a child process, the way a user would.
//!
//! `cargo test` builds every example before it runs the tests, into `target/<profile>/examples`,
//! next to the `deps` folder that holds this test binary. Server examples can listen on
//! `127.0.0.1:0` and print `listening on ADDR` once bound, so a test learns the port the OS
//! picked.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The path of a compiled example.
pub fn example_path(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("the test binary's path");
    dir.pop(); // the binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo test`, which builds examples",
        path.display()
    );
    // `cargo test --test NAME` builds only that test, not the examples: catch a stale binary.
    // An example is one file, or a folder of them (`examples/NAME/main.rs` and its modules).
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let folder = std::fs::read_dir(examples.join(name)).into_iter().flatten();
    let mut sources: Vec<PathBuf> = folder.filter_map(|e| Some(e.ok()?.path())).collect();
    sources.push(examples.join(format!("{name}.rs")));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    for source in sources {
        if let (Some(src), Some(bin)) = (modified(&source), modified(&path)) {
            assert!(
                bin >= src,
                "{} is older than {}; run `cargo build --examples` (or plain `cargo test`)",
                path.display(),
                source.display()
            );
        }
    }
    path
}

/// A running example, killed when dropped. A thread reads its stdout line by line, so that
/// waiting for a line can time out and a chatty example never blocks on a full pipe.
pub struct Running {
    pub child: Child,
    lines: Receiver<String>,
}

impl Running {
    /// Reads stdout lines until one contains `needle`; returns that line. Panics after
    /// `timeout` or at end of output.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no line containing {needle:?} in time"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the example ended before printing {needle:?}")
                }
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) to the example.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the example to exit (bounded), returning its exit status and the rest of its
    /// stdout.
    pub fn wait_exit(mut self, timeout: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                // The reader thread ends at end of output; collect what it read.
                let rest: Vec<String> = self.lines.iter().collect();
                return (status, rest.join("\n"));
            }
            assert!(
                Instant::now() < deadline,
                "the example did not exit in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts example `name` with `args`, stdout piped, stderr inherited (shown on failure).
pub fn start(name: &str, args: &[&str]) -> Running {
    start_with_env(name, args, &[])
}

/// Like [`start`], with extra environment variables.
pub fn start_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
    spawn_example(name, args, env, false)
}

/// Like [`start`], but the example's stderr lines are read too, mixed with its stdout lines
/// (in the order they arrive), so that a test can wait for a message on either.
pub fn start_with_stderr(name: &str, args: &[&str]) -> Running {
    spawn_example(name, args, &[], true)
}

fn spawn_example(name: &str, args: &[&str], env: &[(&str, &str)], stderr: bool) -> Running {
    let mut child = Command::new(example_path(name))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if stderr {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .spawn()
        .expect("start the example");
    let (tx, lines) = std::sync::mpsc::channel();
    let forward = |output: Box<dyn std::io::Read + Send>, tx: std::sync::mpsc::Sender<String>| {
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    };
    forward(Box::new(child.stdout.take().unwrap()), tx.clone());
    if let Some(stderr) = child.stderr.take() {
        forward(Box::new(stderr), tx);
    }
    Running { child, lines }
}

/// Like [`start_server`], with the example's stderr lines read too (see [`start_with_stderr`]).
pub fn start_server_with_stderr(name: &str, args: &[&str]) -> (Running, SocketAddr) {
    let running = start_with_stderr(name, args);
    listening(running)
}

/// Starts a server example with `args` (which should make it listen on `127.0.0.1:0`) and
/// returns it with the address from its `listening on ADDR` line.
pub fn start_server(name: &str, args: &[&str]) -> (Running, SocketAddr) {
    start_server_with_env(name, args, &[])
}

/// Like [`start_server`], with extra environment variables.
pub fn start_server_with_env(
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Running, SocketAddr) {
    listening(start_with_env(name, args, env))
}

/// Waits for the `listening on ADDR` line, and returns the example with that address.
fn listening(mut running: Running) -> (Running, SocketAddr) {
    let line = running.wait_for_line("listening on ", Duration::from_secs(30));
    let after = &line[line.find("listening on ").unwrap() + "listening on ".len()..];
    let addr = after
        .split_whitespace()
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (running, addr)
}

/// Runs example `name` to completion with `args` and returns its output (stdout and stderr
/// captured). Panics, killing it, if it runs longer than `timeout`.
pub fn run(name: &str, args: &[&str], timeout: Duration) -> Output {
    let child = spawn_piped(name, args);
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(output) => output.expect("collect the example's output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("example {name} ran longer than {timeout:?}");
        }
    }
}

/// The numbers on an example's summary line, the first line of `stdout` that starts with
/// `first`: `jobs: 1000 succeeded: 990 ...` gives `{"jobs": 1000, "succeeded": 990, ...}`.
/// Pairs whose value is not a whole number are left out.
pub fn summary<'a>(stdout: &'a str, first: &str) -> HashMap<&'a str, u64> {
    let line = stdout
        .lines()
        .find(|line| line.starts_with(first))
        .unwrap_or_else(|| panic!("no line starting with {first:?} in:\n{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .chunks(2)
        .filter_map(|pair| Some((pair[0].strip_suffix(':')?, pair.get(1)?.parse().ok()?)))
        .collect()
}

/// Starts server example `name` with `args` (which should make it listen on `127.0.0.1:0`),
/// stdout and stderr piped, and reads stdout only up to its `listening on ADDR` line, byte by
/// byte: the child is handed back with stdout's read end open and everything after that line
/// unread, for tests of a reader that has stopped reading.
pub fn start_with_unread_stdout(
    name: &str,
    args: &[&str],
) -> (Child, std::process::ChildStdout, SocketAddr) {
    use std::io::Read;
    let mut child = spawn_piped(name, args);
    let mut stdout = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0];
    while let Ok(1) = stdout.read(&mut byte) {
        line.push(byte[0]);
        if byte[0] != b'\n' {
            continue;
        }
        let text = String::from_utf8_lossy(&std::mem::take(&mut line)).into_owned();
        if let Some(rest) = text.trim().strip_prefix("listening on ") {
            // The address is the first word: `listening on ADDR with 2 threads`.
            if let Some(Ok(addr)) = rest.split_whitespace().next().map(str::parse) {
                return (child, stdout, addr);
            }
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{name}: no `listening on ADDR` line on stdout");
}

/// Starts example `name` with `args`, stdin empty, stdout and stderr piped.
fn spawn_piped(name: &str, args: &[&str]) -> Child {
    Command::new(example_path(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example")
}

/// Sends Ctrl-C to `child` and waits (20 s at most, then kills it and panics) for it to
/// exit; returns the status and its stderr, which must be piped.
pub fn interrupt_and_wait(mut child: Child) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not exit after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

pub mod faults;
