//! [`UnixListener`]: binds a path, listens, and accepts [`UnixStream`]s.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::UnixStream;
use super::sys::BoundPath;
use crate::reactor::{Direction, Registration};

/// A Unix domain socket that listens for connections: asyncio's `start_unix_server`, one
/// accept at a time.
///
/// [`bind`](Self::bind) creates the socket file, and dropping the listener removes it (if it
/// is still the file `bind` made). It belongs to the runtime that created it and is not
/// `Send`.
///
/// # Porting from asyncio
///
/// `start_unix_server(handler, path)` calls `handler` for each client; here you write the
/// accept loop and spawn a task per connection, as with [`TcpListener`](super::TcpListener).
/// asyncio (3.13) removes the file on close too; it also removes a stale file before binding,
/// which minirt does not: `bind` fails with `AddrInUse`, and the program decides.
///
/// # Example
///
/// ```no_run
/// use minirt::net::UnixListener;
///
/// minirt::run(async {
///     let listener = UnixListener::bind("/tmp/echo.sock")?;
///     loop {
///         let (mut stream, _) = listener.accept().await?;
///         drop(minirt::spawn(async move {
///             let _ = stream.write_all(b"hello\n").await;
///         }));
///     }
/// # #[allow(unreachable_code)] std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "start_unix_server")]
#[derive(Debug)]
pub struct UnixListener {
    io: Registration<std::os::unix::net::UnixListener>,
    /// Removes the socket file on drop; declared after `io`, so the socket closes first.
    _path: BoundPath,
}

impl UnixListener {
    /// Creates the socket file at `path` and starts listening. Like std's, this never waits
    /// (it makes the file and one `stat` of it, both quick local calls).
    ///
    /// # Errors
    /// Outside a runtime; `AddrInUse` when a file is already at `path` (a listener left
    /// behind by a crash, say: remove it first if you know it is stale); `NotFound` or
    /// `PermissionDenied` for the directory; `InvalidInput` for a path of 108 bytes or more.
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let listener = minirt::net::UnixListener::bind("/tmp/echo.sock")?;
    ///     println!("listening on {:?}", listener.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        let bound = BoundPath::new(path);
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            io: Registration::new(listener)?,
            _path: bound,
        })
    }

    /// Waits for the next connection, and returns it with the client's address (usually
    /// unnamed: clients rarely bind).
    ///
    /// # Errors
    /// What `accept(2)` reports; as for [`TcpListener::accept`](super::TcpListener::accept),
    /// running out of file descriptors leaves the listener usable.
    ///
    /// # Cancellation safety
    /// Safe: a connection is taken from the backlog only in the poll that returns it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let listener = minirt::net::UnixListener::bind("/tmp/echo.sock")?;
    ///     let (mut stream, _) = listener.accept().await?;
    ///     stream.write_all(b"welcome\n").await
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn accept(&self) -> UnixAccept<'_> {
        UnixAccept { listener: self }
    }

    /// The address the listener is bound to: its path.
    ///
    /// # Errors
    /// When the OS reports one (rare).
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let listener = minirt::net::UnixListener::bind("/tmp/echo.sock")?;
    ///     assert_eq!(listener.local_addr()?.as_pathname(), Some("/tmp/echo.sock".as_ref()));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

/// Lends the socket's fd, for options minirt does not wrap. Do not close it, or change its
/// blocking mode: the runtime relies on both.
impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

/// The future of [`UnixListener::accept`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct UnixAccept<'a> {
    listener: &'a UnixListener,
}

impl Future for UnixAccept<'_> {
    type Output = io::Result<(UnixStream, SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let io = &self.listener.io;
        let (stream, peer) = ready!(io.poll_io(cx, Direction::Read, |l| l.accept()))?;
        Poll::Ready(Ok((UnixStream::from_std(stream)?, peer)))
    }
}
