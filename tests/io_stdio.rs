//! `minirt::io::{stdin, stdout, stderr}` tested on real pipes: this binary runs itself as a
//! child process (`MINIRT_STDIO_CHILD=<case>`), with stdin and stdout as pipes that the parent
//! reads, does not read, or closes. It has no test harness (see Cargo.toml): `main` runs the
//! cases in turn, and a case fails by panicking.

use std::io::{BufRead, ErrorKind, Read, Write};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use minirt::io::{BUFFER_CAPACITY, BufReader};

const CHILD: &str = "MINIRT_STDIO_CHILD";

fn main() {
    if let Ok(case) = std::env::var(CHILD) {
        match case.as_str() {
            "lines" => child_lines(),
            "stuck" => child_stuck(),
            "closed" => child_closed(),
            "stdin" => child_stdin(),
            "two_runtimes" => child_two_runtimes(),
            "flush_read" => child_flush(Duration::from_secs(30)),
            "flush_unread" => child_flush(FLUSH_UNREAD_TIMEOUT),
            "run_only" => child_run_only(),
            other => panic!("unknown case {other}"),
        }
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let cases: [(&str, fn()); 8] = [
        (
            "stdout_lines_from_many_tasks_arrive_whole_and_in_order",
            stdout_lines_from_many_tasks_arrive_whole_and_in_order,
        ),
        (
            "stdout_nobody_reads_the_loop_runs_memory_is_bounded_a_cancelled_write_loses_nothing",
            stdout_nobody_reads_the_loop_runs_memory_is_bounded_a_cancelled_write_loses_nothing,
        ),
        (
            "stdout_closed_gives_broken_pipe_not_a_panic",
            stdout_closed_gives_broken_pipe_not_a_panic,
        ),
        (
            "stdout_outlives_a_runtime_dropped_while_a_task_waited_on_it",
            stdout_outlives_a_runtime_dropped_while_a_task_waited_on_it,
        ),
        (
            "stdin_read_line_is_cancel_safe_and_the_loop_runs_while_it_waits",
            stdin_read_line_is_cancel_safe_and_the_loop_runs_while_it_waits,
        ),
        (
            "flush_stdio_after_run_returns_once_every_byte_is_written",
            flush_stdio_after_run_returns_once_every_byte_is_written,
        ),
        (
            "flush_stdio_gives_up_at_the_timeout_when_nobody_reads",
            flush_stdio_gives_up_at_the_timeout_when_nobody_reads,
        ),
        (
            "run_flushes_what_tasks_wrote_before_it_returns",
            run_flushes_what_tasks_wrote_before_it_returns,
        ),
    ];
    for (name, case) in cases {
        if filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())) {
            print!("test {name} ... ");
            case();
            println!("ok");
        }
    }
}

/// Starts this binary as the child for `case`, with all three streams piped.
fn child(case: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(CHILD, case)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` to exit (bounded), and checks it succeeded; returns its stderr.
fn expect_success(mut child: Child) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr).unwrap();
    }
    assert!(status.success(), "child failed ({status:?}): {stderr}");
    stderr
}

/// A task that counts timer ticks, to show the loop keeps running.
fn ticker() -> Rc<std::cell::Cell<u64>> {
    let ticks = Rc::new(std::cell::Cell::new(0));
    let t = ticks.clone();
    drop(minirt::spawn(async move {
        loop {
            minirt::sleep(Duration::from_millis(1)).await;
            t.set(t.get() + 1);
        }
    }));
    ticks
}

/// A waker that records that it fired, to cancel a future after its wake and before its
/// next poll.
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Flag {
    fn new() -> std::sync::Arc<Flag> {
        std::sync::Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)))
    }
}

trait FlagExt {
    fn poll<F: std::future::Future + ?Sized>(
        &self,
        fut: std::pin::Pin<&mut F>,
    ) -> std::task::Poll<F::Output>;
    async fn wait(&self);
}

impl FlagExt for std::sync::Arc<Flag> {
    /// Polls `fut` once with this flag as its waker.
    fn poll<F: std::future::Future + ?Sized>(
        &self,
        fut: std::pin::Pin<&mut F>,
    ) -> std::task::Poll<F::Output> {
        let waker = std::task::Waker::from(self.clone());
        fut.poll(&mut std::task::Context::from_waker(&waker))
    }

    /// Waits (polling every millisecond, for 10 s at most) until the waker has fired.
    async fn wait(&self) {
        let fired = async {
            while !self.0.load(std::sync::atomic::Ordering::SeqCst) {
                minirt::sleep(Duration::from_millis(1)).await;
            }
        };
        minirt::timeout(Duration::from_secs(10), fired)
            .await
            .expect("the waker fired");
    }
}

const TASKS: usize = 4;
const LINES: usize = 2000;

fn child_lines() {
    minirt::run(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                minirt::spawn(async move {
                    let out = minirt::io::stdout();
                    for i in 0..LINES {
                        // Long enough that the lines overflow the buffer many times.
                        let pad = "x".repeat(i % 50);
                        out.write_line(&format!("task {t} line {i} {pad}"))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        minirt::join_all(tasks).await;
        let mut err = minirt::io::stderr();
        err.write_all(b"to stderr\n").await.unwrap();
        err.flush().await.unwrap();
        minirt::io::stdout().flush().await.unwrap();
    });
}

fn stdout_lines_from_many_tasks_arrive_whole_and_in_order() {
    let mut child = child("lines");
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut next = [0; TASKS];
    for line in stdout.lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split(' ').collect();
        let (t, i): (usize, usize) = (words[1].parse().unwrap(), words[3].parse().unwrap());
        assert_eq!(i, next[t], "task {t}'s lines in order");
        assert_eq!(
            line,
            format!("task {t} line {i} {}", "x".repeat(i % 50)),
            "a whole line"
        );
        next[t] += 1;
    }
    assert_eq!(next, [LINES; TASKS], "every line arrived");
    let stderr = expect_success(child);
    assert_eq!(stderr, "to stderr\n");
}

/// The size of the pipe on fd 1.
fn pipe_size() -> usize {
    // SAFETY: F_GETPIPE_SZ takes no pointer and only reads the fd's pipe size.
    let size = unsafe { libc::fcntl(1, libc::F_GETPIPE_SZ) };
    assert!(size > 0, "stdout is a pipe");
    size as usize
}

/// Bytes waiting in the pipe on fd 1.
fn pipe_filled() -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points to `n`.
    let rc = unsafe { libc::ioctl(1, libc::FIONREAD, &raw mut n) };
    assert_eq!(rc, 0);
    n as usize
}

/// Writes `line`s with `try_write_all` until the buffer has no room and the pipe on fd 1
/// (which nobody reads) has stopped filling for 10 ms: then the writer thread is, almost
/// surely, stuck in `write(2)`. Returns the bytes taken. The checks that follow do not depend
/// on the "almost": they retry whatever got through.
async fn fill_stdout(out: &minirt::io::Stdout, line: &str) -> usize {
    let line = format!("{line}\n");
    let mut taken = 0;
    let full = async {
        loop {
            while out.try_write_all(line.as_bytes()).is_ok() {
                taken += line.len();
            }
            let before = pipe_filled();
            minirt::sleep(Duration::from_millis(10)).await;
            if pipe_filled() != before {
                continue;
            }
            match out.try_write_all(line.as_bytes()) {
                Ok(()) => taken += line.len(),
                Err(_) => break,
            }
        }
    };
    minirt::timeout(Duration::from_secs(20), full)
        .await
        .expect("the pipe filled");
    taken
}

/// Polls `fut` (a write of `len` bytes) with `flag`'s waker until it waits; counts into
/// `accepted` the bytes of each that got in instead (through the writer thread's last swap).
fn poll_until_pending<F>(
    flag: &std::sync::Arc<Flag>,
    mut make: impl FnMut() -> std::pin::Pin<Box<F>>,
    len: usize,
    accepted: &mut usize,
) -> std::pin::Pin<Box<F>>
where
    F: std::future::Future<Output = std::io::Result<()>> + ?Sized,
{
    for _ in 0..100 {
        let mut fut = make();
        match flag.poll(fut.as_mut()) {
            std::task::Poll::Pending => return fut,
            std::task::Poll::Ready(result) => {
                result.unwrap();
                *accepted += len;
            }
        }
    }
    panic!("the write never waited");
}

/// The child's side of the stuck pipe: fill stdout until writes wait, cancel writes and a
/// flush there, report how much was taken; then, once the parent reads, finish.
fn child_stuck() {
    let pipe_size = pipe_size();
    minirt::run(async {
        let ticks = ticker();
        let out = minirt::io::stdout();
        let line = "y".repeat(99);
        let mut accepted = fill_stdout(&out, &line).await;
        // A write cancelled while it waits takes nothing. (One that does not wait got in: count
        // it and try again.)
        let write = || minirt::timeout(Duration::from_millis(20), out.write_line(&line));
        while let Ok(result) = write().await {
            result.unwrap();
            accepted += line.len() + 1;
        }
        while out.try_write_all(format!("{line}\n").as_bytes()).is_ok() {
            accepted += line.len() + 1;
        }
        assert_eq!(
            out.try_write_all(line.as_bytes()).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert!(
            accepted + 100 > BUFFER_CAPACITY && accepted <= pipe_size + 2 * BUFFER_CAPACITY,
            "{accepted} bytes taken, pipe {pipe_size}: the buffer filled, and stopped"
        );
        // A flush cancelled while it waits changes nothing either.
        assert!(
            minirt::timeout(Duration::from_millis(20), out.flush())
                .await
                .is_err()
        );
        // A write and a flush that wait now, woken when the parent reads, are dropped without
        // being polled again: the write must have taken nothing.
        let (write_woken, flush_woken) = (Flag::new(), Flag::new());
        let write = poll_until_pending(
            &write_woken,
            || Box::pin(out.write_line(&line)),
            line.len() + 1,
            &mut accepted,
        );
        let flush_out = minirt::io::stdout();
        let mut flush = Box::pin(flush_out.flush());
        assert!(flush_woken.poll(flush.as_mut()).is_pending());
        // Other tasks run while these wait: three turns of the loop, and the ticker (whose
        // timer was armed first) has run in them.
        let before = ticks.get();
        for _ in 0..3 {
            minirt::sleep(Duration::from_millis(1)).await;
        }
        assert!(ticks.get() > before, "the loop ran while a write waited");
        let err = minirt::io::stderr();
        err.write_line(&format!("stuck {accepted}")).await.unwrap();
        err.flush().await.unwrap();
        // The parent reads now.
        write_woken.wait().await;
        flush_woken.wait().await;
        drop((write, flush)); // woken, never polled again
        // The rest goes out, and the end line after it.
        out.write_line("the end").await.unwrap();
        out.flush().await.unwrap();
    });
}

fn stdout_nobody_reads_the_loop_runs_memory_is_bounded_a_cancelled_write_loses_nothing() {
    let mut child = child("stuck");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut report = String::new();
    stderr.read_line(&mut report).unwrap(); // the child waits for nobody: stdout is unread
    let accepted: usize = report
        .trim()
        .strip_prefix("stuck ")
        .unwrap_or_else(|| panic!("report {report:?}"))
        .parse()
        .unwrap();
    let mut all = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut all).unwrap();
    child.stderr = Some(stderr.into_inner());
    expect_success(child);
    assert!(
        all.ends_with(b"\nthe end\n"),
        "{} bytes, {accepted} accepted, ending {:?}",
        all.len(),
        String::from_utf8_lossy(&all[all.len().saturating_sub(300)..])
    );
    assert_eq!(
        all.len(),
        accepted + b"the end\n".len(),
        "every accepted byte, and nothing of the cancelled write"
    );
    assert!(
        all[..accepted]
            .split(|&b| b == b'\n')
            .all(|l| l.is_empty() || l.len() == 99)
    );
}

fn child_closed() {
    // Wait for the parent to close stdout's read end (it closes stdin after).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    minirt::run(async {
        let out = minirt::io::stdout();
        out.write_line("into the void").await.unwrap(); // taken into the buffer
        let error = out.flush().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BrokenPipe, "{error}");
        // Sticky: every later write says so too.
        assert_eq!(
            out.write_line("more").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        assert_eq!(
            out.try_write_all(b"x").unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
    });
}

fn stdout_closed_gives_broken_pipe_not_a_panic() {
    let mut child = child("closed");
    drop(child.stdout.take());
    drop(child.stdin.take());
    expect_success(child);
}

fn child_stdin() {
    minirt::run(async {
        let ticks = ticker();
        let mut input = BufReader::new(minirt::io::stdin());
        let mut line = String::new();
        // Nothing arrives until we say "waiting": this read is cancelled while it waits.
        let cancelled = minirt::timeout(Duration::from_millis(20), input.read_line(&mut line));
        assert!(cancelled.await.is_err());
        // And this one is woken by the parent's line, then dropped without a second poll.
        let woken = Flag::new();
        let mut read = Box::pin(input.read_line(&mut line));
        assert!(woken.poll(read.as_mut()).is_pending());
        let out = minirt::io::stdout();
        out.write_line("waiting").await.unwrap();
        out.flush().await.unwrap();
        let before = ticks.get();
        woken.wait().await;
        drop(read);
        let mut got = Vec::new();
        loop {
            line.clear();
            if input.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            got.push(line.clone());
        }
        assert!(ticks.get() > before, "the loop ran while stdin was read");
        assert_eq!(got, ["first line\n", "second"]);
        out.write_line("done").await.unwrap();
        out.flush().await.unwrap();
    });
}

fn stdin_read_line_is_cancel_safe_and_the_loop_runs_while_it_waits() {
    let mut child = child("stdin");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "waiting\n");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"first ").unwrap();
    std::thread::sleep(Duration::from_millis(20)); // a line in two pieces
    stdin.write_all(b"line\nsecond").unwrap();
    drop(stdin);
    line.clear();
    stdout.read_to_string(&mut line).unwrap();
    expect_success(child);
    assert_eq!(line, "done\n");
}

/// A runtime ends while one of its tasks waits for room in stdout's buffer (its waker stays
/// with the writer thread, which wakes it later, from its own thread, after the runtime is
/// gone); a second runtime then uses stdout as if nothing happened.
fn child_two_runtimes() {
    minirt::run(async {
        let out = minirt::io::stdout();
        fill_stdout(&out, &"z".repeat(99)).await;
        drop(minirt::spawn(async move {
            let out = minirt::io::stdout();
            // Writes until it waits (the buffer is full for good); dropped with the runtime.
            while out.write_line("never").await.is_ok() {}
        }));
        // The task runs in these turns of the loop, and ends up waiting.
        for _ in 0..3 {
            minirt::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            out.try_write_all(b"x\n").unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        let err = minirt::io::stderr();
        err.write_line("stuck").await.unwrap();
        err.flush().await.unwrap();
    });
    minirt::run(async {
        let out = minirt::io::stdout();
        out.write_line("second runtime").await.unwrap();
        out.flush().await.unwrap();
    });
}

fn stdout_outlives_a_runtime_dropped_while_a_task_waited_on_it() {
    let mut child = child("two_runtimes");
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut report = String::new();
    stderr.read_line(&mut report).unwrap();
    assert_eq!(report, "stuck\n");
    let mut all = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut all)
        .unwrap();
    child.stderr = Some(stderr.into_inner());
    expect_success(child);
    assert!(
        all.ends_with("\nsecond runtime\n"),
        "{:?}",
        &all[all.len() - 40..]
    );
}

/// What `child_flush` writes: more than the pipe holds, so the writer thread is still busy
/// (stuck, until the parent reads) when the runtime stops.
const FLUSH_BYTES: usize = 100 * 1024;
const FLUSH_UNREAD_TIMEOUT: Duration = Duration::from_millis(200);

/// Writes [`FLUSH_BYTES`] to stdout without flushing, stops the runtime, says so on stderr
/// (std's own: nothing is left to stall), then blocks in `flush_stdio` and reports what it
/// returned, and how long it took. Returning from `main` then ends the process at once, so
/// whatever was not written by then is lost.
fn child_flush(timeout: Duration) {
    minirt::run(async {
        let out = minirt::io::stdout();
        let line = "f".repeat(1023);
        for _ in 0..FLUSH_BYTES / 1024 {
            out.write_line(&line).await.unwrap();
        }
    });
    eprintln!("run returned");
    let start = std::time::Instant::now();
    let all_out = minirt::io::flush_stdio(timeout);
    eprintln!("flushed {all_out} after {} ms", start.elapsed().as_millis());
}

/// Writes [`FLUSH_BYTES`] from a task and returns from `main` right after `run`, with no
/// flush of its own: `run` is what must get them out.
fn child_run_only() {
    minirt::run(async {
        let out = minirt::io::stdout();
        let line = "r".repeat(1023);
        for _ in 0..FLUSH_BYTES / 1024 {
            out.write_line(&line).await.unwrap();
        }
    });
}

fn run_flushes_what_tasks_wrote_before_it_returns() {
    let mut child = child("run_only");
    let mut all = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut all).unwrap();
    expect_success(child);
    assert_eq!(
        all.len(),
        FLUSH_BYTES,
        "every byte written before run returned"
    );
}

/// Runs `child_flush` as `case`: reads its stderr up to "run returned", then (if `read`)
/// reads its stdout to the end, or else waits for its report and its exit before reading
/// stdout; returns how many bytes came out on stdout, and the report.
fn run_child_flush(case: &str, read: bool) -> (usize, String) {
    let mut child = child(case);
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line, "run returned\n", "nothing read from stdout yet");
    let mut stdout = child.stdout.take().unwrap();
    let mut all = Vec::new();
    let mut report = String::new();
    if read {
        // Give a child that would not wait (a broken flush_stdio) time to exit with bytes
        // unwritten. A correct one waits however long this takes: the pause cannot make the
        // test fail, only let it catch more.
        std::thread::sleep(Duration::from_millis(50));
        stdout.read_to_end(&mut all).unwrap();
        stderr.read_line(&mut report).unwrap();
        child.stderr = Some(stderr.into_inner());
        expect_success(child);
    } else {
        // Stdout stays unread until flush_stdio has answered and the child has exited.
        stderr.read_line(&mut report).unwrap();
        child.stderr = Some(stderr.into_inner());
        expect_success(child);
        stdout.read_to_end(&mut all).unwrap();
    }
    (all.len(), report)
}

fn flush_stdio_after_run_returns_once_every_byte_is_written() {
    let (written, report) = run_child_flush("flush_read", true);
    assert!(report.starts_with("flushed true "), "{report:?}");
    assert_eq!(
        written, FLUSH_BYTES,
        "every byte reached the pipe before exit"
    );
}

fn flush_stdio_gives_up_at_the_timeout_when_nobody_reads() {
    let (written, report) = run_child_flush("flush_unread", false);
    let waited: u128 = report
        .trim()
        .strip_prefix("flushed false after ")
        .and_then(|r| r.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("report {report:?}"))
        .parse()
        .unwrap();
    assert!(
        waited >= FLUSH_UNREAD_TIMEOUT.as_millis(),
        "it waited for the timeout, not less: {waited} ms"
    );
    assert!(
        written < FLUSH_BYTES,
        "the process exited with the rest unwritten: {written} bytes"
    );
}
