//! [`Stdin`]: the process's standard input, read by a thread of its own, on demand.
//!
//! A read asks the reader thread for one chunk (at most [`STDIN_CHUNK`] bytes) and waits; the
//! thread makes one blocking `read(2)` on fd 0, leaves the chunk in a shared slot and wakes
//! the task. Reads then take from the slot until it is empty, and only then ask again: the
//! thread never reads ahead of what the program wants, so a child process that shares stdin
//! loses nothing to it.
//!
//! It is a detached thread, not the blocking pool, for the reason given for stdout: a read
//! that waits for a terminal that never types would otherwise hold up the runtime's exit.

use std::fmt;
use std::io::{self, Read as _};
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_io::AsyncRead;

/// The most bytes the reader thread reads from fd 0 at a time: the memory one `Stdin` needs.
pub const STDIN_CHUNK: usize = 8 * 1024;

struct Input {
    state: Mutex<InputState>,
    /// Signalled when a task asks for a chunk.
    asked: Condvar,
}

#[derive(Default)]
struct InputState {
    /// What the thread read and no task has taken yet: bytes from `pos` on, an empty chunk
    /// for end of input, or an error.
    chunk: Option<io::Result<Vec<u8>>>,
    pos: usize,
    /// A task wants a chunk and `chunk` is empty: the thread reads one, and clears this when it
    /// delivers it.
    wanted: bool,
    /// The task waiting for the chunk.
    waker: Option<Waker>,
    /// Whether the reader thread was started.
    started: bool,
}

impl Input {
    fn get() -> &'static Input {
        static INPUT: OnceLock<Input> = OnceLock::new();
        INPUT.get_or_init(|| Input {
            state: Mutex::default(),
            asked: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, InputState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn poll_read(&'static self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut state = self.lock();
        match state.chunk.take() {
            Some(Ok(chunk)) => {
                let rest = &chunk[state.pos..];
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                state.pos += n;
                if state.pos < chunk.len() {
                    state.chunk = Some(Ok(chunk));
                } else {
                    state.pos = 0;
                }
                return Poll::Ready(Ok(n)); // 0 for an empty chunk: end of input
            }
            Some(Err(e)) => return Poll::Ready(Err(e)),
            None => {}
        }
        if !state.started {
            state.started = true;
            let spawned = std::thread::Builder::new()
                .name("minirt-stdin".into())
                .spawn(move || self.read_forever());
            if let Err(e) = spawned {
                state.started = false;
                return Poll::Ready(Err(e));
            }
        }
        // Under the lock: the thread cannot deliver between the check above and this store.
        state.wanted = true;
        let replaced = state.waker.replace(cx.waker().clone());
        drop(state);
        drop(replaced);
        self.asked.notify_one();
        Poll::Pending
    }

    /// The reader thread: wait to be asked, read once, deliver, wake.
    fn read_forever(&self) {
        loop {
            let mut state = self.lock();
            // `wanted` stays set while the read runs, so that a task asking again meanwhile
            // (its first read was cancelled) does not make the thread read a second chunk
            // over the first.
            while !state.wanted || state.chunk.is_some() {
                state = self
                    .asked
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            drop(state);
            let mut chunk = vec![0; STDIN_CHUNK];
            let result = loop {
                match io::stdin().lock().read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    result => break result,
                }
            };
            let mut state = self.lock();
            state.chunk = Some(result.map(|n| {
                chunk.truncate(n);
                chunk
            }));
            state.pos = 0;
            state.wanted = false;
            let waker = state.waker.take();
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// The process's standard input, read without blocking the loop: asyncio's
/// `connect_read_pipe(sys.stdin)` made simple.
///
/// Wrap it in a [`BufReader`](crate::io::BufReader) to read lines. Every `Stdin` shares one
/// reader thread and its one chunk (see [`STDIN_CHUNK`]), so only one task should read at a
/// time: as with a socket, a second waiting reader replaces the first, which then waits until
/// something else wakes it.
///
/// # Cancellation safety
///
/// Reading is safe to cancel: a chunk read for a dropped future waits for the next read.
///
/// # Example
///
/// ```no_run
/// use minirt::io::BufReader;
///
/// minirt::run(async {
///     let mut lines = BufReader::new(minirt::io::stdin());
///     let mut out = minirt::io::stdout();
///     let mut line = String::new();
///     while lines.read_line(&mut line).await? > 0 {
///         out.write_line(&line.trim_end().to_uppercase()).await?;
///         line.clear();
///     }
///     out.flush().await
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "sys.stdin")]
#[doc(alias = "connect_read_pipe")]
pub struct Stdin {
    input: &'static Input,
}

/// The process's standard input for async code; see [`Stdin`].
///
/// # Example
///
/// ```no_run
/// minirt::run(async {
///     let mut input = minirt::io::stdin();
///     let mut buf = [0; 1024];
///     let n = input.read(&mut buf).await?;
///     println!("{n} bytes");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "sys.stdin")]
pub fn stdin() -> Stdin {
    Stdin {
        input: Input::get(),
    }
}

impl Stdin {
    /// Reads some bytes into `buf` and returns how many; 0 means end of input. See
    /// [`crate::io::read`].
    ///
    /// # Errors
    /// What `read(2)` on fd 0 reports, or that the reader thread cannot start.
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let mut buf = [0; 64];
    ///     let n = minirt::io::stdin().read(&mut buf).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> crate::io::Read<'a, Stdin> {
        crate::io::read(self, buf)
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin").finish_non_exhaustive()
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.input.poll_read(cx, buf)
    }
}
