//! Real faults for the fault matrices (`tests/fault_*.rs`): a seeded random source whose seed
//! is printed when a test fails, a small tmpfs for a full disk, SIGKILL, and standard streams
//! that are closed, `/dev/full`, or a pipe that is full and never read.
//!
//! Replay a failed run with `MINIRT_FAULT_SEED=N cargo test --test fault_NAME TEST`.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A small seeded random source (splitmix64): the same seed, the same faults.
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `range`.
    pub fn between(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next() % (range.end - range.start).max(1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The seed of a test, from `MINIRT_FAULT_SEED` or the clock, and a guard that prints it if
/// the test panics.
pub struct Seed {
    pub seed: u64,
    test: &'static str,
}

impl Seed {
    pub fn new(test: &'static str) -> Seed {
        let seed = std::env::var("MINIRT_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                now.map_or(1, |d| d.as_nanos() as u64)
            });
        Seed { seed, test }
    }

    pub fn rng(&self) -> Rng {
        Rng(self.seed)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let line = format!(
                "{}: failed with seed {}; replay with MINIRT_FAULT_SEED={}\n",
                self.test, self.seed, self.seed
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// Sends SIGKILL to `child` and reaps it.
pub fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends SIGINT (Ctrl-C).
pub fn interrupt(child: &Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
}

/// Waits for `child` to exit, for `timeout` at most (then kills it and returns `None`).
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            kill9(child);
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The address process `pid` listens on (TCP, IPv4), found in `/proc` once it listens: for a
/// server started on port 0 whose stdout the test cannot read. `None` after `timeout`.
pub fn listening_addr(pid: u32, timeout: Duration) -> Option<SocketAddr> {
    let deadline = Instant::now() + timeout;
    loop {
        // The inodes of the process's sockets, then the listening one among them.
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter_map(|link| {
                let link = link.to_string_lossy().into_owned();
                Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
            })
            .collect();
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXIP:HEXPORT, st 0A is LISTEN, the inode is field 9.
            if fields.len() > 9 && fields[3] == "0A" && inodes.iter().any(|i| i == fields[9]) {
                let port = u16::from_str_radix(fields[1].rsplit(':').next()?, 16).ok()?;
                return Some(SocketAddr::from(([127, 0, 0, 1], port)));
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A free port on 127.0.0.1 (another process may take it before the example does: prefer
/// port 0 and [`listening_addr`]).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Connects to `addr`, trying for `timeout` while the server starts.
pub fn connect_when_up(addr: SocketAddr, timeout: Duration) -> Option<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(stream) = TcpStream::connect(addr) {
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream
                .set_write_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            return Some(stream);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tmpfs of `size` bytes mounted on a fresh folder, unmounted when dropped: a disk that
/// fills up. Only root can mount: `None` otherwise, after saying that the test is skipped.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    pub fn mount(test: &str, size: u64) -> Option<Tmpfs> {
        // SAFETY: `geteuid` has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            let line =
                format!("{test}: skipped: mounting a small tmpfs (a full disk) needs root\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "minirt-tmpfs-{test}-{}-{}",
            std::process::id(),
            size
        ));
        let _ = std::fs::create_dir_all(&dir);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let line = format!("{test}: skipped: `mount -t tmpfs` failed here\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            return None;
        }
        Some(Tmpfs { dir })
    }

    /// Fills what is left of the disk with a file, `filler`, which can be removed later.
    pub fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        let mut file = File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        while file.write_all(&[0]).is_ok() {}
        path
    }

    /// Gives the disk a new size (bigger: room again).
    pub fn resize(&self, size: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A program run under `strace`, which makes one system call fail with a given error at the
/// calls chosen: a disk error at the exact moment of an fsync, say, which no tmpfs gives
/// (a tmpfs fsync never fails). Its stdin is empty, its stdout and stderr are discarded; find
/// a server's address with [`listening_addr`]`(pid)`. Killed (SIGKILL) when dropped.
pub struct Injected {
    strace: Child,
    /// The traced program's own pid (strace's child).
    pub pid: u32,
}

impl Injected {
    /// Runs `program` with `args`, `syscall` failing with `error` (`EIO`, `ENOSPC`) at the
    /// calls `when` picks, in strace's syntax: `3` (the third), `3+` (from the third on),
    /// `3+2` (the third, fifth, seventh...). `None`, after saying the test is skipped, where
    /// strace is missing or may not trace.
    pub fn start(
        test: &str,
        program: &Path,
        args: &[&str],
        syscall: &str,
        error: &str,
        when: &str,
    ) -> Option<Injected> {
        let works = Command::new("strace")
            .args(["-qq", "-o", "/dev/null", "-e", "trace=none", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !works {
            let line = format!("{test}: skipped: strace is missing or may not trace here\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            return None;
        }
        let inject = format!("inject={syscall}:error={error}:when={when}");
        let strace = Command::new("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e"])
            .arg(format!("trace={syscall}"))
            .args(["-e", &inject])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start strace");
        // strace's child that runs `program`: not one of the short-lived children strace
        // makes first, to learn what the kernel's ptrace can do.
        let children = format!("/proc/{0}/task/{0}/children", strace.id());
        let program = program.canonicalize().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            let listed = std::fs::read_to_string(&children).unwrap_or_default();
            let runs_program = |pid: &&str| {
                std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == program)
            };
            if let Some(pid) = listed.split_whitespace().find(runs_program) {
                break pid.parse().unwrap();
            }
            assert!(Instant::now() < deadline, "strace started no program");
            std::thread::sleep(Duration::from_millis(10));
        };
        Some(Injected { strace, pid })
    }

    /// SIGKILL to the traced program, then waits for strace to end.
    pub fn kill9(&mut self) {
        // SAFETY: `kill` only sends a signal; `pid` is our child's child, not reaped by us.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
        let _ = wait_bounded(&mut self.strace, Duration::from_secs(10));
    }
}

impl Drop for Injected {
    fn drop(&mut self) {
        self.kill9();
        kill9(&mut self.strace);
    }
}

/// Moves another SQLite database (one table, `t`) over `db`, as a restored backup would be:
/// a program that has `db` open is left with a file no longer at its path.
pub fn move_another_database_over(db: &str) {
    let other = format!("{db}.other");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    std::fs::rename(&other, db).unwrap();
}

/// What a standard stream of the example is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Read by the test (the normal case).
    Read,
    /// Closed: the example starts without the file descriptor.
    Closed,
    /// `/dev/full`: every write fails with ENOSPC.
    DevFull,
    /// A pipe already full, which nobody reads: every write blocks.
    FullPipe,
}

impl Sink {
    pub const FAULTS: [Sink; 3] = [Sink::Closed, Sink::DevFull, Sink::FullPipe];
}

/// A pipe whose buffer is full, and its read end (kept, never read).
fn full_pipe() -> (File, File) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe2` writes.
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(made, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: `pipe2` succeeded: both are open descriptors that nothing else owns.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let (reader, mut writer) = (File::from(reader), File::from(writer));
    let fd = writer.as_raw_fd();
    // SAFETY: `fd` is the open write end of the pipe, owned by `writer`; F_GETFL and F_SETFL
    // only read and set its status flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    let chunk = [b'x'; 4096];
    while writer.write(&chunk).is_ok_and(|n| n > 0) {}
    while writer.write(b"x").is_ok_and(|n| n > 0) {}
    // The child gets a blocking pipe: its writes wait for a reader that never comes.
    // SAFETY: as above.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
    (reader, writer)
}

/// A running example with faulty standard streams. What the test reads of them is gathered.
pub struct Faulty {
    pub child: Child,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    _unread: Vec<File>,
}

impl Faulty {
    /// Starts `program` with `args`, stdin empty, its stdout and stderr as told.
    pub fn start(program: &Path, args: &[&str], stdout: Sink, stderr: Sink) -> Faulty {
        let mut command = if stdout == Sink::Closed || stderr == Sink::Closed {
            // The shell closes them, then becomes the program.
            let mut script = String::from("exec \"$0\" \"$@\"");
            if stdout == Sink::Closed {
                script += " >&-";
            }
            if stderr == Sink::Closed {
                script += " 2>&-";
            }
            let mut command = Command::new("sh");
            command.arg("-c").arg(script).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args).stdin(Stdio::null());
        let mut unread = Vec::new();
        let mut stdio = |sink: Sink| -> Stdio {
            match sink {
                Sink::Read => Stdio::piped(),
                Sink::Closed => Stdio::inherit(), // closed by the shell
                Sink::DevFull => {
                    Stdio::from(File::options().write(true).open("/dev/full").unwrap())
                }
                Sink::FullPipe => {
                    let (reader, writer) = full_pipe();
                    unread.push(reader);
                    Stdio::from(writer)
                }
            }
        };
        command.stdout(stdio(stdout)).stderr(stdio(stderr));
        let mut child = command.spawn().expect("start the example");
        let gather = |stream: Option<Box<dyn Read + Send>>| {
            let text = Arc::new(Mutex::new(String::new()));
            if let Some(mut stream) = stream {
                let text = text.clone();
                std::thread::spawn(move || {
                    let mut buf = [0; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        text.lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                });
            }
            text
        };
        let out = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        Faulty {
            stdout: gather(out),
            stderr: gather(err),
            child,
            _unread: unread,
        }
    }

    /// Waits (bounded) for the exit; returns the status, or a message if it hung.
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        wait_bounded(&mut self.child, timeout)
            .ok_or_else(|| format!("still running after {timeout:?}: killed"))
    }

    pub fn said(&self) -> String {
        format!(
            "stdout: {}\nstderr: {}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Faulty {
    fn drop(&mut self) {
        kill9(&mut self.child);
    }
}

/// What an exit path gave: the exit code and what was said, or why it went wrong.
pub type Outcome = Result<(i32, String), String>;

/// One exit path of a program: how to reach it (in a fresh folder, with stdout and stderr as
/// given), and the exit code it must give.
pub struct ExitPath {
    pub name: &'static str,
    pub code: i32,
    pub run: fn(&Path, Sink, Sink) -> Outcome,
}

/// Runs example `name` with `args` and the streams as told, lets `drive` act on it, and
/// waits (25 s at most) for its exit.
pub fn run_to_exit(
    name: &str,
    args: &[&str],
    out: Sink,
    err: Sink,
    drive: impl FnOnce(&mut Faulty),
) -> Outcome {
    let program = super::example_path(name);
    let mut child = Faulty::start(&program, args, out, err);
    drive(&mut child);
    let status = child.wait(Duration::from_secs(25))?;
    let code = status
        .code()
        .ok_or_else(|| format!("killed by a signal: {status:?}"))?;
    Ok((code, child.said()))
}

/// Runs every exit path with stdout, then stderr, closed, `/dev/full` and a full pipe nobody
/// reads, several at a time (most of their time is spent in bounded waits). Returns what went
/// wrong: a wrong exit code, a panic, a hang.
pub fn check_exit_paths(tag: &str, paths: Vec<ExitPath>) -> Vec<String> {
    let mut cases = Vec::new();
    for path in &paths {
        for sink in Sink::FAULTS {
            cases.push((path.name, path.code, path.run, sink, Sink::Read));
            cases.push((path.name, path.code, path.run, Sink::Read, sink));
        }
    }
    let mut failures = Vec::new();
    for (k, chunk) in cases.chunks(12).enumerate() {
        let threads: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, &(name, code, run, out, err))| {
                let dir = std::env::temp_dir()
                    .join(format!("minirt-stdio-{tag}-{}-{k}-{i}", std::process::id()));
                std::thread::spawn(move || {
                    let _ = std::fs::remove_dir_all(&dir);
                    std::fs::create_dir_all(&dir).unwrap();
                    let what = format!("{name}, stdout {out:?}, stderr {err:?}");
                    let outcome = run(&dir, out, err);
                    let _ = std::fs::remove_dir_all(&dir);
                    match outcome {
                        Ok((got, said)) if got == code && !said.contains("panicked") => None,
                        Ok((got, said)) => {
                            Some(format!("{what}: exit {got}, wanted {code}\n{said}"))
                        }
                        Err(e) => Some(format!("{what}: {e}")),
                    }
                })
            })
            .collect();
        for thread in threads {
            if let Some(failure) = thread
                .join()
                .unwrap_or_else(|_| Some("a case panicked".into()))
            {
                failures.push(failure);
            }
        }
    }
    failures
}
