//! Runs a compiled example program as a child process, the way a user would.
//!
//! `cargo test` builds every example before it runs the tests, into `target/<profile>/examples`,
//! next to the `deps` folder that holds this test binary. Server examples take `--addr
//! 127.0.0.1:0` and print `listening on ADDR` as their first line on stdout, so a test learns
//! the port the OS picked.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
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
    path
}

/// A running example, killed when dropped.
pub struct Running {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
}

impl Running {
    /// Reads stdout lines until one contains `needle`; returns that line. Panics after
    /// `timeout` or at end of output.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut line = String::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "no line containing {needle:?} in time"
            );
            line.clear();
            let n = self
                .stdout
                .read_line(&mut line)
                .expect("read the example's stdout");
            assert!(n > 0, "the example ended before printing {needle:?}");
            if line.contains(needle) {
                return line.trim_end().to_string();
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
                let mut rest = String::new();
                let _ = self.stdout.read_to_string(&mut rest);
                return (status, rest);
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
    let mut child = Command::new(example_path(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the example");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    Running { child, stdout }
}

/// Starts a server example on `127.0.0.1:0` (plus `extra` args) and returns it with the
/// address from its `listening on ADDR` line.
pub fn start_server(name: &str, extra: &[&str]) -> (Running, SocketAddr) {
    let mut args = vec!["--addr", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut running = start(name, &args);
    let line = running.wait_for_line("listening on", Duration::from_secs(30));
    let addr = line
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (running, addr)
}

/// Runs example `name` to completion with `args` and returns its output (stdout and stderr
/// captured). Panics, killing it, if it runs longer than `timeout`.
pub fn run(name: &str, args: &[&str], timeout: Duration) -> Output {
    let child = Command::new(example_path(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
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
