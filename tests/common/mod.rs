//! Small test futures shared by the integration tests.
#![allow(dead_code)]

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;

/// A future that stays pending until `Gate::open`, keeping its latest waker where a test (or
/// another thread) can take it, and counting its polls.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Default)]
struct GateInner {
    open: AtomicBool,
    polls: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }
    /// A future that completes once the gate is open.
    pub fn wait(&self) -> GateWait {
        GateWait { gate: self.clone() }
    }
    pub fn open(&self) {
        self.inner.open.store(true, Ordering::SeqCst);
        if let Some(w) = self.inner.waker.lock().unwrap().take() {
            w.wake();
        }
    }
    pub fn polls(&self) -> usize {
        self.inner.polls.load(Ordering::SeqCst)
    }
    /// A clone of the latest waker the future stored.
    pub fn waker(&self) -> Option<Waker> {
        self.inner.waker.lock().unwrap().clone()
    }
}

pub struct GateWait {
    gate: Gate,
}

impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &self.gate.inner;
        inner.polls.fetch_add(1, Ordering::SeqCst);
        *inner.waker.lock().unwrap() = Some(cx.waker().clone());
        // Re-check after storing the waker, so an `open` in between is not lost.
        if inner.open.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Records the thread its `Drop` ran on.
pub struct DropRecorder {
    pub dropped_on: Arc<Mutex<Option<ThreadId>>>,
}

impl DropRecorder {
    pub fn new() -> (DropRecorder, Arc<Mutex<Option<ThreadId>>>) {
        let slot = Arc::new(Mutex::new(None));
        (
            DropRecorder {
                dropped_on: slot.clone(),
            },
            slot,
        )
    }
}

impl Drop for DropRecorder {
    fn drop(&mut self) {
        *self.dropped_on.lock().unwrap() = Some(std::thread::current().id());
    }
}

/// Ends the test process if the returned guard is still alive after `limit`, so that a test
/// that waits on the network fails instead of hanging, however it hangs.
pub fn watchdog(limit: std::time::Duration) -> Watchdog {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let name = std::thread::current().name().unwrap_or("test").to_string();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
            eprintln!("{name}: still running after {limit:?}: it hangs");
            std::process::exit(101);
        }
    });
    Watchdog { _done: done }
}

/// Dropping it tells the watchdog thread the test is over.
pub struct Watchdog {
    _done: std::sync::mpsc::Sender<()>,
}

/// How many file descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("Linux /proc")
        .count()
}

/// The fds registered in this process's epoll instances, with their event masks, read from
/// `/proc/self/fdinfo` (lines like `tfd:        7 events:       19 data: ...`).
pub fn epoll_registrations() -> Vec<(i32, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("Linux /proc") {
        let Ok(entry) = entry else { continue };
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if target.to_string_lossy() != "anon_inode:[eventpoll]" {
            continue;
        }
        let info_path = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(info) = std::fs::read_to_string(info_path) else {
            continue;
        };
        for line in info.lines().filter(|l| l.starts_with("tfd:")) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let fd = words[1].parse().unwrap();
            let events = u32::from_str_radix(words[3], 16).unwrap();
            found.push((fd, events));
        }
    }
    found
}

/// Blocks this (plain) thread until `fd` is registered for reading in an epoll instance.
/// Since the reactor became edge-triggered a socket is registered for reading from the moment
/// it is made, so this no longer tells that a task has found nothing to read and is waiting:
/// it only tells that the socket is in the poller.
pub fn wait_until_armed_for_read(fd: i32) {
    const EPOLLIN: u32 = 0x1;
    while !epoll_registrations()
        .iter()
        .any(|&(f, events)| f == fd && events & EPOLLIN != 0)
    {
        std::thread::yield_now();
    }
}

/// Reads `reader` to its end.
pub async fn read_to_end<R: futures_io::AsyncRead + Unpin>(reader: &mut R) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0; 8192];
    loop {
        match minirt::io::read(reader, &mut buf).await.unwrap() {
            0 => return all,
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// A listener on a free loopback port, and a client connected to it, with the server's end.
pub async fn connected_pair() -> (
    minirt::net::TcpListener,
    minirt::net::TcpStream,
    minirt::net::TcpStream,
) {
    let listener = minirt::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = minirt::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (listener, client, server)
}

/// The names of this process's threads, from `/proc/self/task/*/comm`.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_string())
        .collect()
}

/// Blocking-pool threads alive in this process: their names, `minirt-blocking-N`, are cut to
/// 15 bytes by the kernel.
pub fn pool_threads() -> usize {
    thread_names()
        .iter()
        .filter(|name| name.starts_with("minirt-blocking"))
        .count()
}

/// Blocks this (plain) thread until `done()` holds; panics, naming `what`, after 30 s.
pub fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::yield_now();
    }
}

/// Shuts `rt` down with `shutdown_timeout(100 ms)` while one of its blocking jobs does not
/// return until `release` is sent. Checks that it returns promptly and says a thread was left,
/// that the job's thread is the only one left (`threads_before` + 1 threads), and that it
/// exits once released. Returns how long `shutdown_timeout` took.
pub fn shutdown_leaving_one_straggler(
    rt: minirt::Runtime,
    threads_before: usize,
    release: std::sync::mpsc::Sender<()>,
) -> std::time::Duration {
    let start = std::time::Instant::now();
    let all_exited = rt.shutdown_timeout(std::time::Duration::from_millis(100));
    let took = start.elapsed();
    assert!(!all_exited, "the stuck job's thread cannot have exited");
    assert!(
        took < std::time::Duration::from_secs(10),
        "shutdown_timeout took {took:?}"
    );
    // The idle threads exit; the stuck one is left detached, and only it.
    wait_until("only the stuck job's thread is left", || {
        pool_threads() == 1
    });
    assert_eq!(thread_names().len(), threads_before + 1, "one straggler");
    // Released at last, the straggler finishes its job (its result goes nowhere) and exits.
    release.send(()).unwrap();
    wait_until("the straggler exits once released", || {
        thread_names().len() == threads_before
    });
    took
}

/// Spawns `fut` behind a counter bumped just before `fut` is first polled.
pub fn spawn_counted<F>(started: &Rc<Cell<usize>>, fut: F) -> minirt::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let started = started.clone();
    minirt::spawn(async move {
        started.set(started.get() + 1);
        fut.await
    })
}
