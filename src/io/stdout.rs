//! [`Stdout`] and [`Stderr`]: a bounded buffer per stream, emptied by a writer thread.
//!
//! ```text
//!  task ──write──▶ buffer (≤ BUFFER_CAPACITY) ──the thread swaps it out──▶ write(2) on fd 1
//!    ▲  (full: the task waits)                                                  │
//!    └────────── room again / flushed: the thread wakes the waiting tasks ◀─────┘
//! ```
//!
//! The loop thread only copies bytes into the buffer under a mutex that the writer thread holds
//! for a swap or a few counters, never across a system call. So a slow (or stopped) reader of
//! stdout makes writers *wait*, as a full socket does, but it never stops the loop.
//!
//! # Why a thread of its own, not the blocking pool or the reactor
//!
//! - **Not the reactor.** Waiting for fd 1 to be writable needs it in non-blocking mode, and
//!   `O_NONBLOCK` belongs to the open file description, which a terminal or a pipe shares with
//!   other processes (the shell, the program at the other end). Setting it would make *their*
//!   writes fail with `EAGAIN`. A regular file cannot be registered with epoll at all.
//! - **Not the blocking pool.** A runtime waits for its pool's threads when it is dropped. A
//!   write stuck on a pipe nobody reads would then hang the program's exit, Ctrl-C included.
//!   The writer thread is detached: a process that exits leaves it behind.
//!
//! So each stream has one thread, started the first time the stream is written, that lives as
//! long as the process. It is the only background thread minirt starts on its own, and it
//! exists only in programs that use async stdout or stderr.
//!
//! # Memory is bounded
//!
//! At most [`BUFFER_CAPACITY`] bytes wait in the buffer, and at most as many more are in the
//! writer thread's hands: 2 × 64 KiB per stream, whatever the program writes. When the buffer
//! is full, a write waits (or [`Stdout::try_write_all`] says `WouldBlock`); it never grows.

use std::fmt;
use std::future::Future;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_io::AsyncWrite;

/// How many bytes a stream's buffer holds. When it is full, writes wait. The writer thread
/// holds at most as many again while it writes them out, so a stream never uses more than
/// twice this.
pub const BUFFER_CAPACITY: usize = 64 * 1024;

/// Which of the process's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

/// One output stream's shared half: the buffer, and what the writer thread says back.
struct Pipe {
    stream: Stream,
    state: Mutex<State>,
    /// Signalled when the buffer gets bytes, for the writer thread.
    has_data: Condvar,
    /// Signalled when `done` grows (or `error` is set), for [`flush_stdio`].
    wrote: Condvar,
}

#[derive(Default)]
struct State {
    /// Bytes accepted and not yet taken by the writer thread.
    ///
    /// # Invariant: `buf.len() <= BUFFER_CAPACITY`.
    buf: Vec<u8>,
    /// Bytes accepted since the start.
    accepted: u64,
    /// Bytes the writer thread has finished with (written, or lost to `error`).
    done: u64,
    /// The first write error; every later write and flush reports it.
    error: Option<(io::ErrorKind, String)>,
    /// Whether the writer thread runs (or could not start: then `error` says why).
    started: bool,
    /// Tasks waiting for room in `buf`.
    room: Vec<Waker>,
    /// Tasks waiting for `done` to reach their target.
    flushed: Vec<Waker>,
}

impl State {
    fn error(&self) -> Option<io::Error> {
        let (kind, message) = self.error.as_ref()?;
        Some(io::Error::new(*kind, message.clone()))
    }

    /// Takes whole `parts` (their concatenation, from byte `skip` on) into the buffer if they
    /// fit, so that a line written in one call is never cut in two by another task's write.
    /// Something bigger than the whole buffer goes in pieces, each into an empty buffer.
    /// Returns how many bytes were taken, or `None` when the caller must wait for room.
    fn accept(&mut self, parts: &[&[u8]], skip: usize) -> Option<usize> {
        let total: usize = parts.iter().map(|p| p.len()).sum::<usize>() - skip;
        let room = BUFFER_CAPACITY - self.buf.len();
        let take = if total <= room {
            total
        } else if self.buf.is_empty() {
            room
        } else {
            return None;
        };
        let (mut skip, mut left) = (skip, take);
        for part in parts {
            let skipped = skip.min(part.len());
            skip -= skipped;
            let rest = &part[skipped..];
            let n = rest.len().min(left);
            self.buf.extend_from_slice(&rest[..n]);
            left -= n;
        }
        self.accepted += take as u64;
        Some(take)
    }
}

/// Adds `cx`'s waker to `list` unless the same task is there already.
fn add_waker(list: &mut Vec<Waker>, cx: &Context<'_>) {
    if !list.iter().any(|w| w.will_wake(cx.waker())) {
        list.push(cx.waker().clone());
    }
}

impl Pipe {
    fn cell(stream: Stream) -> &'static OnceLock<Pipe> {
        static OUT: OnceLock<Pipe> = OnceLock::new();
        static ERR: OnceLock<Pipe> = OnceLock::new();
        match stream {
            Stream::Out => &OUT,
            Stream::Err => &ERR,
        }
    }

    fn get(stream: Stream) -> &'static Pipe {
        Pipe::cell(stream).get_or_init(|| Pipe {
            stream,
            state: Mutex::default(),
            has_data: Condvar::new(),
            wrote: Condvar::new(),
        })
    }

    /// Blocks the calling thread until the writer thread has finished with every byte
    /// accepted so far, or `deadline` passes. True if every byte was written.
    fn wait_written(&self, deadline: Instant) -> bool {
        let mut state = self.lock();
        let target = state.accepted;
        while state.done < target && state.error.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .wrote
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.error.is_none()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tries to take `parts` (from byte `skip` on); see [`State::accept`]. Registers `cx` to
    /// be woken when there is room, if there is none: under the lock, so that the writer
    /// thread cannot make room in between (no lost wakeup).
    fn poll_accept(
        &'static self,
        cx: Option<&Context<'_>>,
        parts: &[&[u8]],
        skip: usize,
    ) -> Poll<io::Result<usize>> {
        let mut state = self.lock();
        if let Some(error) = state.error() {
            return Poll::Ready(Err(error));
        }
        if !state.started {
            state.started = true;
            if let Err(e) = self.start() {
                state.error = Some((e.kind(), format!("cannot start the writer thread: {e}")));
                return Poll::Ready(Err(e));
            }
        }
        match state.accept(parts, skip) {
            Some(n) => {
                drop(state);
                if n > 0 {
                    self.has_data.notify_one();
                }
                Poll::Ready(Ok(n))
            }
            None => {
                if let Some(cx) = cx {
                    add_waker(&mut state.room, cx);
                }
                Poll::Pending
            }
        }
    }

    /// Ready once the writer thread has finished with every byte up to `target`, which is
    /// set to "every byte accepted so far" if it is `None`.
    fn poll_flushed(&self, cx: &Context<'_>, target: &mut Option<u64>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        if let Some(error) = state.error() {
            return Poll::Ready(Err(error));
        }
        if state.done >= *target.get_or_insert(state.accepted) {
            return Poll::Ready(Ok(()));
        }
        add_waker(&mut state.flushed, cx);
        Poll::Pending
    }

    fn start(&'static self) -> io::Result<()> {
        let name = match self.stream {
            Stream::Out => "minirt-stdout",
            Stream::Err => "minirt-stderr",
        };
        // Detached on purpose: see "Why a thread of its own" in the module docs.
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || self.write_forever())
            .map(drop)
    }

    /// The writer thread: swap the buffer out, wake the tasks that wait for room, write it,
    /// then wake the tasks that wait for a flush. The lock is never held across the write.
    fn write_forever(&self) {
        let mut chunk = Vec::with_capacity(BUFFER_CAPACITY);
        loop {
            let mut state = self.lock();
            while state.buf.is_empty() {
                state = self
                    .has_data
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            std::mem::swap(&mut state.buf, &mut chunk);
            let room = std::mem::take(&mut state.room);
            drop(state);
            room.into_iter().for_each(Waker::wake);
            let result = self.write_out(&chunk);
            let mut state = self.lock();
            state.done += chunk.len() as u64;
            if let Err(e) = result {
                let stream = match self.stream {
                    Stream::Out => "stdout",
                    Stream::Err => "stderr",
                };
                state
                    .error
                    .get_or_insert_with(|| (e.kind(), format!("writing to {stream}: {e}")));
            }
            let flushed = std::mem::take(&mut state.flushed);
            drop(state);
            self.wrote.notify_all();
            flushed.into_iter().for_each(Waker::wake);
            chunk.clear();
        }
    }

    /// Writes through std's own handle, whose lock keeps a `println!` elsewhere from landing
    /// in the middle of a chunk.
    fn write_out(&self, chunk: &[u8]) -> io::Result<()> {
        match self.stream {
            Stream::Out => {
                let mut out = io::stdout().lock();
                out.write_all(chunk)?;
                out.flush()
            }
            Stream::Err => io::stderr().lock().write_all(chunk),
        }
    }
}

/// The process's standard output, written without blocking the loop: asyncio's `sys.stdout`
/// as a stream you `await`. One [`StdWriter`], on fd 1.
///
/// Writes go into a buffer of [`BUFFER_CAPACITY`] bytes that a writer thread empties; a write
/// waits only while the buffer is full (see the [module docs](crate::io) for why, and for the
/// bound on memory). Call [`flush`](StdWriter::flush) before returning from `main`.
///
/// # Example
///
/// ```
/// minirt::run(async {
///     let mut out = minirt::io::stdout();
///     for i in 0..3 {
///         out.write_line(&format!("line {i}")).await?;
///     }
///     out.flush().await
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "sys.stdout")]
pub type Stdout = StdWriter;

/// The process's standard error, written without blocking the loop: the same as [`Stdout`],
/// on fd 2.
///
/// # Example
///
/// ```
/// minirt::run(async {
///     let mut err = minirt::io::stderr();
///     err.write_line("warning: something odd").await?;
///     err.flush().await
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "sys.stderr")]
pub type Stderr = StdWriter;

/// The process's standard output for async code; see [`Stdout`].
///
/// Every handle shares one buffer and one writer thread, so making one is cheap: call it where
/// you need it.
///
/// # Example
///
/// ```
/// minirt::run(async {
///     let mut out = minirt::io::stdout();
///     out.write_line("hello").await?;
///     out.flush().await
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "sys.stdout")]
pub fn stdout() -> Stdout {
    StdWriter::new(Stream::Out)
}

/// The process's standard error for async code; see [`Stderr`].
///
/// Every handle shares one buffer and one writer thread, as [`stdout()`]'s do.
///
/// # Example
///
/// ```
/// minirt::run(async {
///     let mut err = minirt::io::stderr();
///     err.write_line("hello").await?;
///     err.flush().await
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "sys.stderr")]
pub fn stderr() -> Stderr {
    StdWriter::new(Stream::Err)
}

/// A handle on one of the process's output streams, [`Stdout`] or [`Stderr`]: which one is
/// fixed when it is made ([`stdout()`], [`stderr()`]). A handle keeps no state of its own (a
/// flush keeps its target in its future), so a cancelled write or flush leaves nothing behind.
pub struct StdWriter {
    pipe: &'static Pipe,
}

impl StdWriter {
    fn new(stream: Stream) -> StdWriter {
        StdWriter {
            pipe: Pipe::get(stream),
        }
    }

    /// Writes all of `buf`, waiting while the buffer is full. It returns once the bytes are in
    /// the buffer, not once they are written: see [`flush`](Self::flush). A `buf` that fits in
    /// the buffer goes in whole, never interleaved with another task's write.
    ///
    /// # Errors
    /// The first error the writer thread met, such as `BrokenPipe` once the reader of the pipe
    /// has gone; it is reported by every write from then on.
    ///
    /// # Cancellation safety
    /// Not safe, as [`crate::io::write_all`]: a buffer bigger than [`BUFFER_CAPACITY`] may be
    /// half taken. A smaller one is taken whole or not at all.
    ///
    /// # Example
    ///
    /// ```
    /// minirt::run(async {
    ///     let mut out = minirt::io::stdout();
    ///     out.write_all(b"one line\n").await?;
    ///     out.flush().await
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> crate::io::WriteAll<'a, StdWriter> {
        crate::io::write_all(self, buf)
    }

    /// Writes `line` and a newline, in one piece (unless the line is longer than the whole
    /// buffer, [`BUFFER_CAPACITY`]), waiting while the buffer is full. This is `print`'s async
    /// cousin.
    ///
    /// # Errors
    /// As for [`write_all`](Self::write_all).
    ///
    /// # Cancellation safety
    /// A line that fits in the buffer is taken whole or not at all, so dropping the future
    /// loses nothing that was not written.
    ///
    /// # Example
    ///
    /// ```
    /// minirt::run(async {
    ///     let mut err = minirt::io::stderr();
    ///     err.write_line(&format!("{} tasks", 3)).await?;
    ///     err.flush().await
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "print")]
    pub fn write_line<'a>(&'a self, line: &'a str) -> WriteLine<'a> {
        WriteLine {
            pipe: self.pipe,
            line: line.as_bytes(),
            sent: 0,
        }
    }

    /// Writes all of `buf` if the buffer has room for it now, or nothing. For logging that
    /// must never wait: on `WouldBlock`, drop the line (and count it).
    ///
    /// # Errors
    /// `WouldBlock` when the buffer has no room for all of `buf`; `InvalidInput` when `buf` is
    /// longer than [`BUFFER_CAPACITY`]; the writer thread's first error, as for
    /// [`write_all`](Self::write_all).
    ///
    /// # Example
    ///
    /// ```
    /// use std::io::ErrorKind;
    ///
    /// minirt::run(async {
    ///     let out = minirt::io::stdout();
    ///     let mut dropped = 0;
    ///     match out.try_write_all(b"request served\n") {
    ///         Ok(()) => {}
    ///         Err(e) if e.kind() == ErrorKind::WouldBlock => dropped += 1,
    ///         Err(_) => {} // the reader has gone: nobody sees the log anyway
    ///     }
    ///     # let _ = dropped;
    /// });
    /// ```
    pub fn try_write_all(&self, buf: &[u8]) -> io::Result<()> {
        if buf.len() > BUFFER_CAPACITY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "try_write_all: more bytes than the whole buffer holds",
            ));
        }
        match self.pipe.poll_accept(None, &[buf], 0) {
            Poll::Ready(result) => result.map(drop),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Waits until every byte written so far (when it is first polled), by any task, has been
    /// handed to the OS. Call it before the program returns from `main`: bytes still in the
    /// buffer then are lost, since the writer thread does not hold the process open.
    ///
    /// # Errors
    /// As for [`write_all`](Self::write_all).
    ///
    /// # Cancellation safety
    /// Safe: it only waits. Wrap it in [`timeout`](crate::timeout) when the reader may have
    /// stopped reading.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// minirt::run(async {
    ///     let mut out = minirt::io::stdout();
    ///     out.write_line("bye").await?;
    ///     // Do not let a stuck reader hold the exit up for long.
    ///     let _ = minirt::timeout(Duration::from_secs(1), out.flush()).await;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "drain")]
    pub fn flush(&self) -> FlushStd<'_> {
        FlushStd {
            pipe: self.pipe,
            target: None,
            _writer: std::marker::PhantomData,
        }
    }
}

impl fmt::Debug for StdWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdWriter")
            .field("stream", &self.pipe.stream)
            .finish()
    }
}

/// Writes go into the shared buffer; `poll_flush` waits for the writer thread to write
/// everything accepted up to each poll (so, while other tasks keep writing, it may wait longer
/// than [`flush`](StdWriter::flush), which fixes its target once: `poll_flush` has nowhere to
/// keep one between polls); `poll_close` is a flush (the stream itself stays open for others).
impl AsyncWrite for StdWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_accept(Some(cx), &[buf], 0)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pipe.poll_flushed(cx, &mut None)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// The future of [`StdWriter::flush`]. Its target (every byte accepted
/// when it is first polled) lives in the future, so dropping it leaves nothing behind.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct FlushStd<'a> {
    pipe: &'static Pipe,
    target: Option<u64>,
    _writer: std::marker::PhantomData<&'a ()>,
}

impl fmt::Debug for FlushStd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushStd")
            .field("stream", &self.pipe.stream)
            .field("target", &self.target)
            .finish()
    }
}

impl Future for FlushStd<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.pipe.poll_flushed(cx, &mut this.target)
    }
}

/// The future of [`StdWriter::write_line`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WriteLine<'a> {
    pipe: &'static Pipe,
    line: &'a [u8],
    /// How much of `line` and its newline the buffer has taken.
    sent: usize,
}

impl fmt::Debug for WriteLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteLine")
            .field("stream", &self.pipe.stream)
            .field("line", &String::from_utf8_lossy(self.line))
            .field("sent", &self.sent)
            .finish()
    }
}

impl Future for WriteLine<'_> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let total = this.line.len() + 1;
        while this.sent < total {
            let parts: [&[u8]; 2] = [this.line, b"\n"];
            match this.pipe.poll_accept(Some(cx), &parts, this.sent) {
                Poll::Ready(Ok(n)) => this.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Blocks the calling thread until every byte that [`stdout()`] and [`stderr()`] have
/// accepted so far is written out, or `timeout` passes. Returns `true` if it all went out,
/// `false` if the timeout came first (the reader of the pipe is slow, or has stopped) or a
/// write failed (the reader has gone: those bytes are lost).
///
/// For the end of a program, once the runtime has stopped: bytes still in the buffers when
/// `main` returns are lost, since the writer threads do not hold the process open. Inside
/// async code, await [`Stdout::flush`] instead.
///
/// # Never on the loop
///
/// It blocks the thread it is called on, for up to `timeout`. Do not call it from a task (or
/// anything a task calls): every other task would stop while it waits, and a task that is
/// still writing could never finish. Call it after [`run`](crate::run) or
/// [`Runtime::block_on`](crate::Runtime::block_on) has returned.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// minirt::run(async {
///     // Written without waiting for the writer thread.
///     let _ = minirt::io::stdout().write_line("summary: 3 jobs").await;
/// });
/// // The runtime has stopped: blocking this thread now stalls nobody.
/// let all_out = minirt::io::flush_stdio(Duration::from_secs(1));
/// if !all_out {
///     // stdout is not being read: give up rather than hang the exit.
/// }
/// ```
#[doc(alias = "sys.stdout.flush")]
#[doc(alias = "drain")]
pub fn flush_stdio(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut all_out = true;
    // Both streams, even when the first has failed: stderr may still get its bytes out.
    let started = [Stream::Out, Stream::Err].map(|stream| Pipe::cell(stream).get());
    for pipe in started.into_iter().flatten() {
        all_out &= pipe.wait_written(deadline);
    }
    all_out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(state: &State) -> &[u8] {
        &state.buf
    }

    #[test]
    fn a_write_that_fits_goes_in_whole() {
        let mut state = State::default();
        assert_eq!(state.accept(&[b"abc", b"\n"], 0), Some(4));
        assert_eq!(state.accept(&[b"abc", b"\n"], 2), Some(2));
        assert_eq!(taken(&state), b"abc\nc\n");
        assert_eq!(state.accepted, 6);
    }

    #[test]
    fn a_write_that_does_not_fit_waits_unless_the_buffer_is_empty() {
        let mut state = State::default();
        let big = vec![b'x'; BUFFER_CAPACITY - 2];
        assert_eq!(state.accept(&[&big], 0), Some(big.len()));
        assert_eq!(state.accept(&[b"abc"], 0), None, "does not fit: wait");
        assert_eq!(state.buf.len(), BUFFER_CAPACITY - 2);
        state.buf.clear();
        let huge = vec![b'y'; BUFFER_CAPACITY + 10];
        assert_eq!(state.accept(&[&huge, b"\n"], 0), Some(BUFFER_CAPACITY));
        state.buf.clear();
        assert_eq!(state.accept(&[&huge, b"\n"], BUFFER_CAPACITY), Some(11));
        assert_eq!(taken(&state), b"yyyyyyyyyy\n");
    }

    /// A pipe with no writer thread: the test plays the thread by setting `done`. Each test
    /// passes a static of its own (not a leaked box, which valgrind would report as lost).
    fn fake_pipe(cell: &'static OnceLock<Pipe>) -> &'static Pipe {
        cell.get_or_init(|| Pipe {
            stream: Stream::Out,
            state: Mutex::new(State {
                started: true,
                ..State::default()
            }),
            has_data: Condvar::new(),
            wrote: Condvar::new(),
        })
    }

    #[test]
    fn a_cancelled_flush_leaves_no_target_behind() {
        static PIPE: OnceLock<Pipe> = OnceLock::new();
        let writer = StdWriter {
            pipe: fake_pipe(&PIPE),
        };
        let mut cx = Context::from_waker(Waker::noop());
        assert!(writer.try_write_all(b"0123456789").is_ok());
        let mut first = writer.flush();
        assert!(Pin::new(&mut first).poll(&mut cx).is_pending());
        drop(first); // cancelled, with its target of 10 bytes
        assert!(writer.try_write_all(b"abcdefghij").is_ok());
        writer.pipe.lock().done = 10;
        let mut second = writer.flush();
        assert!(
            Pin::new(&mut second).poll(&mut cx).is_pending(),
            "the second flush waits for all 20 bytes, not the first flush's 10"
        );
        writer.pipe.lock().done = 20;
        assert!(Pin::new(&mut second).poll(&mut cx).is_ready());
    }

    #[test]
    fn a_flush_keeps_its_target_while_others_write() {
        static PIPE: OnceLock<Pipe> = OnceLock::new();
        let mut writer = StdWriter {
            pipe: fake_pipe(&PIPE),
        };
        let mut cx = Context::from_waker(Waker::noop());
        assert!(writer.try_write_all(b"0123456789").is_ok());
        let mut flush = writer.flush();
        assert!(Pin::new(&mut flush).poll(&mut cx).is_pending());
        assert!(writer.try_write_all(b"later").is_ok());
        writer.pipe.lock().done = 10;
        assert!(Pin::new(&mut flush).poll(&mut cx).is_ready());
        // The trait's poll_flush has no target to keep: it waits for everything.
        assert!(Pin::new(&mut writer).poll_flush(&mut cx).is_pending());
    }
}
