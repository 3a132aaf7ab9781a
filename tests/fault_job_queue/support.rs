//! What the job_queue tests share: a `redis-server` of their own, a small blocking RESP client
//! to look at it from outside, fake brokers, and ways to start the example with its stdout or
//! stderr closed, full or unread. Included by `#[path]` from `tests/example_job_queue_redis.rs`
//! and `tests/fault_job_queue.rs`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::encode::encode;
use redis_protocol::resp2::types::{OwnedFrame as Frame, Resp2Frame};

use crate::example_support::{self, Running};

/// Whether `redis-server` can be run here; says why not (once per test) when it cannot.
pub fn redis_installed(test: &str) -> bool {
    let installed = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("{test}: skipped: redis-server is not installed (.ci/run installs it)");
    }
    installed
}

/// A port the OS just handed out and took back: free now, but anyone may take it before we
/// do, so whoever binds it must check that it got it (see [`Redis::start`]).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How a [`Redis`] keeps its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing on disk.
    None,
    /// `--appendonly yes --appendfsync always`: a write it acknowledged survives SIGKILL.
    AofAlways,
    /// `--appendonly yes --appendfsync everysec`: a failed AOF write makes it refuse writes
    /// (`MISCONF`) until it can write again, where `always` would make it exit.
    AofEverySec,
}

/// A `redis-server` of the test's own.
pub struct Redis {
    child: Child,
    pub port: u16,
    dir: PathBuf,
    /// Whether `dir` is the test's to remove.
    own_dir: bool,
    persistence: Persistence,
}

impl Redis {
    /// Starts one without persistence, or says why not and returns `None` when `redis-server`
    /// is not installed.
    pub fn start(test: &str) -> Option<Redis> {
        Redis::start_with(test, Persistence::None, None, None)
    }

    /// Starts one with AOF on and fsynced before every reply.
    pub fn start_with_aof(test: &str) -> Option<Redis> {
        Redis::start_with(test, Persistence::AofAlways, None, None)
    }

    /// Starts one that keeps its data in `dir` (which the test removes), as `persistence` says.
    pub fn start_in(test: &str, dir: &std::path::Path, persistence: Persistence) -> Option<Redis> {
        Redis::start_with(test, persistence, Some(dir), None)
    }

    /// Starts one, trying `port` first (for the test of this harness).
    pub fn start_trying(test: &str, port: u16) -> Option<Redis> {
        Redis::start_with(test, Persistence::None, None, Some(port))
    }

    /// The port comes from [`free_port`], which races with every other process that binds
    /// one: another server may take it between our probe and redis-server's bind. Then the
    /// server that answers on the port is not ours, and the test would talk to a stranger (a
    /// test's probe listener that resets the connection, a stopped Redis that never answers).
    /// So the server must prove it is ours (its `process_id`), and if our redis-server could
    /// not bind, we try another port.
    fn start_with(
        test: &str,
        persistence: Persistence,
        dir: Option<&std::path::Path>,
        first: Option<u16>,
    ) -> Option<Redis> {
        if !redis_installed(test) {
            return None;
        }
        let own_dir = dir.is_none();
        let temp = || std::env::temp_dir().join(format!("minirt-{test}-{}", std::process::id()));
        let dir = dir.map_or_else(temp, std::path::Path::to_path_buf);
        for attempt in 0..10 {
            std::fs::create_dir_all(&dir).unwrap();
            let port = first.filter(|_| attempt == 0).unwrap_or_else(free_port);
            let child = spawn_server(port, &dir, persistence);
            let mut redis = Redis {
                child,
                port,
                dir: dir.clone(),
                own_dir,
                persistence,
            };
            if redis.wait_until_up() {
                return Some(redis);
            }
            // Dropping it kills our redis-server (and removes the directory if it is ours).
        }
        panic!("{test}: redis-server could not get a port in 10 tries");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits until our redis-server answers on its port. False if it exited first (the port
    /// was taken): the caller picks another.
    fn wait_until_up(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let ours = format!("process_id:{}\r\n", self.child.id());
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            let info = TcpStream::connect(("127.0.0.1", self.port))
                .ok()
                .and_then(|s| {
                    // Briefly: a stranger on the port may never answer.
                    let mut probe = Client::over(s);
                    let timeout = Some(Duration::from_millis(500));
                    probe.stream.set_read_timeout(timeout).ok()?;
                    probe.try_call(&[b"INFO"]).ok()
                });
            let text = match info {
                Some(Frame::BulkString(text)) => String::from_utf8_lossy(&text).into_owned(),
                _ => String::new(),
            };
            match text.contains(&ours) && text.contains("loading:0\r\n") {
                true => return true,
                // Loading its AOF, not listening yet, or a stranger on the port: wait (if
                // it is a stranger, our redis-server fails to bind and exits).
                false => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        panic!("redis-server on port {} did not start in time", self.port);
    }

    pub fn client(&self) -> Client {
        Client::over(TcpStream::connect(("127.0.0.1", self.port)).unwrap())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Kills the server with SIGKILL: without AOF it loses everything.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts it again on the same port (after [`kill`](Self::kill)), with the same data
    /// directory: with AOF, it loads what it had acknowledged.
    pub fn restart(&mut self) {
        self.child = spawn_server(self.port, &self.dir, self.persistence);
        assert!(
            self.wait_until_up(),
            "port {} was taken by another process while redis-server was down",
            self.port
        );
    }

    /// [`kill`](Self::kill), wait `down`, [`restart`](Self::restart).
    pub fn kill_and_restart(&mut self, down: Duration) {
        self.kill();
        std::thread::sleep(down);
        self.restart();
    }
}

fn spawn_server(port: u16, dir: &PathBuf, persistence: Persistence) -> Child {
    let aof: &[&str] = match persistence {
        Persistence::None => &["--appendonly", "no"],
        Persistence::AofAlways => &["--appendonly", "yes", "--appendfsync", "always"],
        Persistence::AofEverySec => &["--appendonly", "yes", "--appendfsync", "everysec"],
    };
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(aof)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server")
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.own_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A small tmpfs of the test's own, unmounted when dropped: a disk that fills up.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts one of `size` bytes, or says why not (mounting needs root) and returns `None`.
    pub fn mount(test: &str, size: usize) -> Option<Tmpfs> {
        let path = std::env::temp_dir().join(format!("minirt-{test}-{}-fs", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_dir(&path);
            eprintln!("{test}: skipped: cannot mount a tmpfs (it needs root)");
            return None;
        }
        Some(Tmpfs { path })
    }

    /// Fills the disk with a file, leaving about `room` bytes free; returns the file's path.
    pub fn fill(&self, room: usize) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        let mut written = 0u64;
        while file.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
        }
        drop(file);
        let keep = written.saturating_sub(room as u64);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap()
            .set_len(keep)
            .unwrap();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A tiny blocking RESP client, to look at the broker from outside.
pub struct Client {
    stream: TcpStream,
    input: Vec<u8>,
}

impl Client {
    pub fn over(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            input: Vec::new(),
        }
    }

    /// Sends a command (its words as bytes), and reads its reply.
    pub fn try_call(&mut self, words: &[&[u8]]) -> std::io::Result<Frame> {
        let words = words.iter().map(|w| Frame::BulkString(w.to_vec()));
        let frame = Frame::Array(words.collect());
        let mut bytes = vec![0; frame.encode_len(false)];
        encode(&mut bytes, &frame, false).unwrap();
        self.stream.write_all(&bytes)?;
        loop {
            let decoded = decode(&self.input)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            if let Some((frame, used)) = decoded {
                self.input.drain(..used);
                return Ok(frame);
            }
            let mut chunk = [0; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn call(&mut self, words: &[&str]) -> Frame {
        let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.call_bytes(&words)
    }

    /// Sends a command and reads its reply, waiting out `LOADING`: a restarted server loading
    /// its AOF answers that for a while, and it is a state, not the value a test asks for.
    pub fn call_bytes(&mut self, words: &[&[u8]]) -> Frame {
        let shown: Vec<String> = words
            .iter()
            .map(|w| String::from_utf8_lossy(&w[..w.len().min(40)]).into_owned())
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let reply = self
                .try_call(words)
                .unwrap_or_else(|e| panic!("redis did not answer {shown:?}: {e}"));
            match &reply {
                Frame::Error(text)
                    if text.starts_with("LOADING") && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => return reply,
            }
        }
    }

    pub fn int(&mut self, words: &[&str]) -> i64 {
        match self.call(words) {
            Frame::Integer(n) => n,
            other => panic!("{words:?} gave {other:?}"),
        }
    }

    pub fn text(&mut self, words: &[&str]) -> Option<String> {
        match self.call(words) {
            Frame::BulkString(b) => Some(String::from_utf8(b).unwrap()),
            Frame::Null => None,
            other => panic!("{words:?} gave {other:?}"),
        }
    }

    /// The items of a list, as text.
    pub fn list(&mut self, key: &str) -> Vec<String> {
        match self.call(&["LRANGE", key, "0", "-1"]) {
            Frame::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    Frame::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => panic!("{key} holds {other:?}"),
                })
                .collect(),
            other => panic!("LRANGE {key} gave {other:?}"),
        }
    }

    /// How many keys match `pattern`.
    pub fn count_keys(&mut self, pattern: &str) -> usize {
        match self.call(&["KEYS", pattern]) {
            Frame::Array(keys) => keys.len(),
            other => panic!("KEYS gave {other:?}"),
        }
    }
}

// ---- The example, run against the broker. ----

pub fn start_worker(redis: &Redis, concurrency: &str) -> (Running, String) {
    start_worker_at(&redis.url(), concurrency)
}

pub fn start_worker_at(url: &str, concurrency: &str) -> (Running, String) {
    let args = ["worker", "--broker", url, "--concurrency", concurrency];
    let mut worker = example_support::start("job_queue", &args);
    let ready = worker.wait_for_line("ready", Duration::from_secs(30));
    let id = ready.split_whitespace().nth(1).unwrap().to_string();
    (worker, id)
}

/// Starts a submitter; returns it with its batch name.
pub fn start_submit(redis: &Redis, args: &[&str]) -> (Running, String) {
    let url = redis.url();
    let mut all = vec!["submit", "--broker", url.as_str(), "--timeout", "300"];
    all.extend_from_slice(args);
    let mut submit = example_support::start("job_queue", &all);
    let line = submit.wait_for_line("submitted", Duration::from_secs(60));
    let batch = line.split_whitespace().nth(5).unwrap().to_string();
    (submit, batch)
}

/// Waits until at least `n` results of `batch` are stored.
pub fn wait_for_results(client: &mut Client, batch: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let pattern = format!("jq:result:{batch}:*");
    loop {
        let keys = client.count_keys(&pattern);
        if keys >= n {
            return;
        }
        assert!(Instant::now() < deadline, "only {keys} results in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `key` has a value, and returns it.
pub fn wait_for_key(client: &mut Client, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(text) = client.text(&["GET", key]) {
            return text;
        }
        assert!(Instant::now() < deadline, "no {key} in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops a worker with Ctrl-C and checks that it exits cleanly; returns its output.
pub fn stop_worker(worker: Running) -> String {
    worker.interrupt();
    let (status, rest) = worker.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains("processed: "), "{rest}");
    rest
}

/// The numbers on a worker's last line (`worker W: processed: 3 failed: 0 ...`).
pub fn worker_counts(stdout: &str) -> std::collections::HashMap<String, u64> {
    let line = stdout
        .lines()
        .find(|line| line.starts_with("worker ") && line.contains(": processed: "))
        .unwrap_or_else(|| panic!("no worker summary in:\n{stdout}"));
    let words: Vec<&str> = line.split_whitespace().skip(2).collect();
    words
        .chunks(2)
        .filter_map(|pair| {
            Some((
                pair[0].strip_suffix(':')?.to_string(),
                pair.get(1)?.parse().ok()?,
            ))
        })
        .collect()
}

// ---- Fake brokers: a listener in the test that answers as no Redis would. ----

/// A fake broker on a port of its own, serving each connection on a thread with `serve`.
/// Counts the bytes `serve` managed to write (see [`FakeBroker::written`]).
pub struct FakeBroker {
    pub port: u16,
    written: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl FakeBroker {
    pub fn start<F>(serve: F) -> FakeBroker
    where
        F: Fn(TcpStream, &AtomicU64) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        let (w, s) = (written.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let (serve, w) = (serve.clone(), w.clone());
                        std::thread::spawn(move || serve(stream, &w));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakeBroker {
            port,
            written,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Bytes written to clients so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads until a whole command has come (or the client is gone): what a fake broker does
/// before it answers.
pub fn read_command(stream: &mut TcpStream, input: &mut Vec<u8>) -> Option<Frame> {
    loop {
        if let Ok(Some((frame, used))) = decode(input) {
            input.drain(..used);
            return Some(frame);
        }
        let mut chunk = [0; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => input.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Writes `bytes` (counting what went out) until done or the client stops reading.
pub fn write_counted(stream: &mut TcpStream, bytes: &[u8], written: &AtomicU64) -> bool {
    for chunk in bytes.chunks(64 * 1024) {
        if stream.write_all(chunk).is_err() {
            return false;
        }
        written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    true
}

/// A broker that answers every command for `for_how_long` with the error reply `error`
/// (`-LOADING ...`), and after that passes everything to and from the real one at `upstream`.
pub fn error_then_proxy(error: &'static str, for_how_long: Duration, upstream: u16) -> FakeBroker {
    let until = Instant::now() + for_how_long;
    FakeBroker::start(move |mut client, written| {
        let mut input = Vec::new();
        while Instant::now() < until {
            if read_command(&mut client, &mut input).is_none() {
                return;
            }
            let reply = format!("-{error}\r\n");
            if !write_counted(&mut client, reply.as_bytes(), written) {
                return;
            }
        }
        let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        if server.write_all(&input).is_err() {
            return;
        }
        let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut s2, &mut c2);
            let _ = c2.shutdown(std::net::Shutdown::Both);
        });
        let _ = std::io::copy(&mut client, &mut server);
        let _ = server.shutdown(std::net::Shutdown::Both);
    })
}

// ---- The example with its stdout or stderr closed, full, or unread. ----

/// Where a stream of the example goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// Read by the test, as usual.
    Read,
    /// Not open at all (`>&-`).
    Closed,
    /// `/dev/full`: every write fails with ENOSPC.
    DevFull,
    /// A pipe that is full before the example starts, and that nobody reads.
    FullPipe,
}

/// A running example whose streams go to [`Sink`]s. Killed when dropped.
pub struct Sunk {
    pub child: Child,
    /// The readers of full pipes: `sleep`s that never read, kept running while the example
    /// runs.
    sleepers: Vec<Child>,
}

impl Drop for Sunk {
    fn drop(&mut self) {
        for child in std::iter::once(&mut self.child).chain(&mut self.sleepers) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A pipe filled to the brim, whose reader (`sleep`, as in `worker | (sleep 1d)`) never reads.
fn full_pipe() -> (Child, std::process::ChildStdin) {
    use std::os::fd::AsRawFd;
    let mut sleeper = Command::new("sleep")
        .arg("600")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start sleep");
    let mut writer = sleeper.stdin.take().unwrap();
    // SAFETY: F_GETPIPE_SZ takes no pointer; it only reads the size of the pipe `writer`
    // holds open.
    let size = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(size > 0, "F_GETPIPE_SZ on a pipe");
    // Exactly what an empty pipe holds: this write does not block, and leaves it full.
    writer.write_all(&vec![b'x'; size as usize]).unwrap();
    (sleeper, writer)
}

/// Starts example `name` with `args`, its stdout and stderr going to the given sinks (a
/// [`Sink::Read`] stream is piped: read it from `child`).
pub fn start_sunk(name: &str, args: &[&str], stdout: Sink, stderr: Sink) -> Sunk {
    let path = example_support::example_path(name);
    // Closing a stream needs a shell: `exec` with `>&-` closes it in the example itself.
    let mut closes = String::new();
    for (sink, fd) in [(stdout, 1), (stderr, 2)] {
        if sink == Sink::Closed {
            closes += &format!(" {fd}>&-");
        }
    }
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("exec \"$0\" \"$@\"{closes}"))
        .arg(&path)
        .args(args)
        .stdin(Stdio::null());
    let mut sleepers = Vec::new();
    let mut stdio = |sink: Sink| -> Stdio {
        match sink {
            Sink::Read => Stdio::piped(),
            Sink::Closed => Stdio::inherit(), // closed by the shell
            Sink::DevFull => std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap()
                .into(),
            Sink::FullPipe => {
                let (sleeper, writer) = full_pipe();
                sleepers.push(sleeper);
                writer.into()
            }
        }
    };
    command.stdout(stdio(stdout));
    command.stderr(stdio(stderr));
    let child = command.spawn().expect("start the example");
    Sunk { child, sleepers }
}

impl Sunk {
    /// Waits for the exit (bounded): the status, or a panic naming `what`.
    pub fn wait_exit(&mut self, timeout: Duration, what: &str) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{what}: still running after {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn interrupt(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(status.success());
    }
}

// ---- Seeds, printed so that a failing run can be replayed. ----

/// The seed for `test`: `JQ_SEED` if set, else one from the clock. Printed (the harness
/// shows it when the test fails): `JQ_SEED=N cargo test --test fault_job_queue NAME`.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("JQ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(1, |d| d.as_nanos() as u64)
        });
    println!(
        "{test}: seed {seed} (replay with JQ_SEED={seed} cargo test --test fault_job_queue {test})"
    );
    seed
}

/// A small seeded generator (SplitMix64): enough to pick kill points.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A duration from `low` to `high`.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high - low).as_millis() as u64 + 1;
        low + Duration::from_millis(self.next() % span)
    }
}
