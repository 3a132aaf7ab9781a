//! Signals: [`ctrl_c`] waits for Ctrl-C (`SIGINT`).
//!
//! # How a signal reaches a task
//!
//! A signal handler may run on any thread, between any two instructions of the program. So it
//! may do almost nothing: no lock, no allocation, no waking of tasks. Ours writes one byte to a
//! non-blocking socket, the write end of a [`UnixStream::pair`] (a "self-pipe"). The read end
//! is registered with the reactor like any socket, so the byte wakes the loop out of
//! `poller.wait`, and the reactor wakes the task.
//!
//! Each [`CtrlC`] has its own pair, and its own action in `signal-hook-registry`, which runs
//! every action registered for a signal: several tasks, even in runtimes on several threads,
//! can all wait for the same Ctrl-C.
//!
//! # Ctrl-C no longer ends the program
//!
//! From the first call to [`ctrl_c`] on, a Ctrl-C no longer stops the process, even once no
//! `CtrlC` is left: `signal-hook-registry` keeps its handler installed, and with no action it
//! does nothing. A program that stops listening should exit by itself.

use std::future::Future;
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use signal_hook_registry::SigId;

use crate::reactor::{Direction, Registration};

/// Waits for Ctrl-C: resolves when the process receives `SIGINT`. This is asyncio's
/// `loop.add_signal_handler(signal.SIGINT, ...)`.
///
/// It starts listening at once, when it is called, so a Ctrl-C that comes between this call
/// and the first `.await` is not lost. See the [module docs](self) for how it works, and for
/// what it changes in the process.
///
/// # Example
///
/// ```no_run
/// minirt::run(async {
///     println!("press Ctrl-C to stop");
///     minirt::signal::ctrl_c().await?;
///     println!("bye");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "add_signal_handler")]
#[doc(alias = "SIGINT")]
pub fn ctrl_c() -> CtrlC {
    CtrlC {
        listener: Listener::new().map_err(Some),
    }
}

/// The future of [`ctrl_c`].
///
/// # Errors
/// Outside a runtime, or when the OS refuses the self-pipe or the handler.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct CtrlC {
    /// The listener, or the error met setting it up, handed out by the first poll.
    listener: Result<Listener, Option<io::Error>>,
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().listener {
            Ok(listener) => listener.poll(cx),
            Err(error) => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| io::Error::other("minirt: CtrlC polled after it failed")))),
        }
    }
}

/// A `SIGINT` action and the self-pipe it writes to.
#[derive(Debug)]
struct Listener {
    /// The action; it owns the pipe's write end. Unregistered when the listener drops.
    action: SigId,
    /// The pipe's read end, registered with the reactor.
    pipe: Registration<UnixStream>,
}

impl Listener {
    fn new() -> io::Result<Listener> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        // Non-blocking, so that a full pipe (a Ctrl-C already pending) never blocks the handler.
        write.set_nonblocking(true)?;
        // First, so that outside a runtime nothing is installed.
        let pipe = Registration::new(read)?;
        let write = OwnedFd::from(write);
        let on_sigint = move || {
            let byte = 1u8;
            // SAFETY: a pointer to one live byte, and its length. A failed write (the pipe is
            // full) is fine: a byte is already waiting to be read.
            let _ = unsafe { libc::write(write.as_raw_fd(), (&raw const byte).cast(), 1) };
        };
        // SAFETY: `register` runs `on_sigint` inside a signal handler, so it must be
        // async-signal-safe. It is: it only calls `write(2)`, which POSIX lists as
        // async-signal-safe, on a non-blocking fd, so it never blocks; it does not allocate,
        // lock, panic or touch any other data. `signal-hook-registry` saves and restores `errno`
        // around it. The fd is open whenever it runs: the closure owns it, and the registry
        // drops an unregistered closure only once no handler is still running it.
        let action = unsafe { signal_hook_registry::register(libc::SIGINT, on_sigint) }?;
        Ok(Listener { action, pipe })
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Several Ctrl-Cs before we look count as one.
        let mut bytes = [0u8; 64];
        let read = |mut s: &UnixStream| s.read(&mut bytes);
        match ready!(self.pipe.poll_io(cx, Direction::Read, read))? {
            0 => Poll::Ready(Err(io::Error::other("minirt: the signal pipe was closed"))),
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Then `pipe` drops, which deregisters the read end and closes it.
        signal_hook_registry::unregister(self.action);
    }
}
