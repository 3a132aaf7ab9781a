//! [`Stream`]: a connected byte stream, written once for TCP and Unix domain sockets.
//!
//! [`TcpStream`](super::TcpStream) and [`UnixStream`](super::UnixStream) are this type over
//! std's `TcpStream` and `UnixStream`: a [`Registration`] of the socket, in non-blocking mode.
//! What they share is here: the addresses, `shutdown`, reading and writing (the `futures_io`
//! traits, on the stream and on a shared reference to it), splitting, and finishing a
//! connection that was started without blocking. How a connection is made (an address to
//! resolve, a path, a pair, an accepted socket) is in `tcp.rs` and `unix.rs`.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::split::{OwnedReadHalf, OwnedWriteHalf};
use crate::reactor::{Direction, Registration};

/// A connection over a stream socket: asyncio's `StreamReader` and `StreamWriter` in one.
/// Use it by its names, [`TcpStream`](super::TcpStream) and
/// [`UnixStream`](super::UnixStream), which say how to make one.
///
/// Read with [`read`](Self::read), or wrap it in a [`BufReader`](crate::io::BufReader) to read
/// lines; write with [`write_all`](Self::write_all). It implements `futures_io`'s
/// [`AsyncRead`] and [`AsyncWrite`] too, and so does `&Stream`: reads and writes need only a
/// shared reference. Dropping the stream closes the connection.
///
/// One task may read while another writes: see [`into_split`](Self::into_split). Two tasks
/// reading at once (or two writing) is a mistake: the socket keeps one waiting reader and one
/// waiting writer, and the later one replaces the earlier, which then waits until something
/// else wakes it.
///
/// A stream belongs to the runtime that created it, and is not `Send`.
pub struct Stream<S: StreamSocket> {
    io: Registration<S>,
}

/// The std stream sockets that [`Stream`] wraps: `std::net::TcpStream` and
/// `std::os::unix::net::UnixStream`. Sealed: its hidden methods are the system calls a
/// `Stream` makes.
pub trait StreamSocket: AsFd + fmt::Debug + Unpin + sealed::Sealed {
    /// The address of either end: a socket address, or a Unix socket's path (or unnamed).
    type Addr;

    #[doc(hidden)]
    fn peer(&self) -> io::Result<Self::Addr>;
    #[doc(hidden)]
    fn local(&self) -> io::Result<Self::Addr>;
    #[doc(hidden)]
    fn shut(&self, how: Shutdown) -> io::Result<()>;
    #[doc(hidden)]
    fn error(&self) -> io::Result<Option<io::Error>>;
    #[doc(hidden)]
    fn nonblocking(&self) -> io::Result<()>;
    #[doc(hidden)]
    fn read_some(&self, buf: &mut [u8]) -> io::Result<usize>;
    #[doc(hidden)]
    fn write_some(&self, buf: &[u8]) -> io::Result<usize>;
    #[doc(hidden)]
    fn write_some_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::TcpStream {}
    impl Sealed for std::os::unix::net::UnixStream {}
}

/// Each method is std's own, by the name the trait gives it; the two impls differ only in
/// their types.
macro_rules! forward_to_std {
    ($socket:ty, $addr:ty) => {
        impl StreamSocket for $socket {
            type Addr = $addr;

            fn peer(&self) -> io::Result<$addr> {
                self.peer_addr()
            }
            fn local(&self) -> io::Result<$addr> {
                self.local_addr()
            }
            fn shut(&self, how: Shutdown) -> io::Result<()> {
                self.shutdown(how)
            }
            fn error(&self) -> io::Result<Option<io::Error>> {
                self.take_error()
            }
            fn nonblocking(&self) -> io::Result<()> {
                self.set_nonblocking(true)
            }
            fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
                Read::read(&mut &*self, buf)
            }
            fn write_some(&self, buf: &[u8]) -> io::Result<usize> {
                Write::write(&mut &*self, buf)
            }
            fn write_some_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                Write::write_vectored(&mut &*self, bufs)
            }
        }
    };
}

forward_to_std!(std::net::TcpStream, std::net::SocketAddr);
forward_to_std!(
    std::os::unix::net::UnixStream,
    std::os::unix::net::SocketAddr
);

impl<S: StreamSocket> Stream<S> {
    /// Wraps a connected socket: one a listener accepted, or one end of a pair. Linux does
    /// not pass `O_NONBLOCK` on to accepted sockets, so this sets it.
    pub(super) fn from_std(socket: S) -> io::Result<Stream<S>> {
        socket.nonblocking()?;
        Ok(Stream {
            io: Registration::new(socket)?,
        })
    }

    /// Registers a socket whose connection was started without blocking (`sys.rs`), and waits
    /// until it is writable, which is when the connection has been made or has failed.
    pub(super) async fn connected(socket: S) -> io::Result<Stream<S>> {
        let stream = Stream {
            io: Registration::new(socket)?,
        };
        poll_fn(|cx| stream.io.poll_io(cx, Direction::Write, finish_connect)).await?;
        Ok(stream)
    }

    /// The socket, for what only one kind of stream has (`set_nodelay`).
    pub(super) fn socket(&self) -> &S {
        self.io.get_ref()
    }

    /// The address of the other end: a socket address for TCP; for a Unix socket its path, or
    /// unnamed (a client that did not bind, or one end of a [`pair`](super::UnixStream::pair)).
    ///
    /// # Errors
    /// `NotConnected` once the connection is gone (reset by the peer, for example).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let tcp = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// assert_eq!(tcp.peer_addr()?.port(), 8888);
    /// let unix = minirt::net::UnixStream::connect("/tmp/echo.sock").await?;
    /// assert_eq!(unix.peer_addr()?.as_pathname(), Some("/tmp/echo.sock".as_ref()));
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<S::Addr> {
        self.io.get_ref().peer()
    }

    /// The address of this end; unnamed for a Unix client, which does not bind.
    ///
    /// # Errors
    /// When the OS reports one (rare).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let tcp = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// println!("talking from {}", tcp.local_addr()?);
    /// let unix = minirt::net::UnixStream::connect("/tmp/echo.sock").await?;
    /// assert!(unix.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<S::Addr> {
        self.io.get_ref().local()
    }

    /// Shuts down the reading side, the writing side, or both. `Shutdown::Write` is a
    /// half-close: the peer reads end-of-input once it has read everything sent so far, and it
    /// can still answer. This never waits.
    ///
    /// # Errors
    /// `NotConnected` when the connection is already gone.
    ///
    /// # Example
    ///
    /// ```
    /// use std::net::Shutdown;
    ///
    /// minirt::run(async {
    ///     let (mut a, mut b) = minirt::net::UnixStream::pair()?;
    ///     a.write_all(b"the whole request").await?;
    ///     a.shutdown(Shutdown::Write)?; // "that was all"
    ///     let mut request = Vec::new();
    ///     let mut buf = [0; 64];
    ///     loop {
    ///         let n = b.read(&mut buf).await?;
    ///         if n == 0 { break; } // end of input
    ///         request.extend_from_slice(&buf[..n]);
    ///     }
    ///     b.write_all(b"the answer").await?; // the other side is still open
    ///     assert_eq!(request, b"the whole request");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shut(how)
    }

    /// Reads some bytes into `buf` and returns how many; 0 means the peer has closed its side
    /// (or `buf` is empty). See [`crate::io::read`], which this is.
    ///
    /// # Errors
    /// `ConnectionReset` when the peer reset the connection (or a Unix peer went away with
    /// unread data), and other OS errors.
    ///
    /// # Example
    ///
    /// ```
    /// minirt::run(async {
    ///     let (mut a, mut b) = minirt::net::UnixStream::pair()?;
    ///     a.write_all(b"ping").await?;
    ///     drop(a);
    ///     let mut buf = [0; 16];
    ///     assert_eq!(b.read(&mut buf).await?, 4);
    ///     assert_eq!(b.read(&mut buf).await?, 0, "the peer has closed");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> crate::io::Read<'a, Stream<S>> {
        crate::io::read(self, buf)
    }

    /// Writes some of `buf` and returns how many bytes the OS took. See [`crate::io::write()`].
    ///
    /// # Errors
    /// `BrokenPipe` or `ConnectionReset` when the peer has gone, and other OS errors.
    ///
    /// # Example
    ///
    /// ```
    /// minirt::run(async {
    ///     let (mut a, _b) = minirt::net::UnixStream::pair()?;
    ///     assert_eq!(a.write(b"ping").await?, 4);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn write<'a>(&'a mut self, buf: &'a [u8]) -> crate::io::Write<'a, Stream<S>> {
        crate::io::write(self, buf)
    }

    /// Writes all of `buf`, waiting for room as needed: asyncio's `write` plus `drain`. See
    /// [`crate::io::write_all`], which this is (and which is not cancellation-safe).
    ///
    /// # Errors
    /// As for [`write`](Self::write).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let mut stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// stream.write_all(b"hello\n").await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "drain")]
    pub fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> crate::io::WriteAll<'a, Stream<S>> {
        crate::io::write_all(self, buf)
    }

    /// Splits the stream into a read half and a write half that two tasks can own.
    ///
    /// The halves share the socket (through an `Rc`); it closes when both are dropped.
    ///
    /// # Example
    ///
    /// One task echoes what arrives while the other sends:
    ///
    /// ```
    /// minirt::run(async {
    ///     let (a, mut b) = minirt::net::UnixStream::pair()?;
    ///     let (mut reader, mut writer) = a.into_split();
    ///     let echo = minirt::spawn(async move {
    ///         let mut buf = [0; 64];
    ///         let n = reader.read(&mut buf).await?;
    ///         writer.write_all(&buf[..n]).await
    ///     });
    ///     b.write_all(b"hi").await?;
    ///     let mut buf = [0; 2];
    ///     b.read(&mut buf).await?;
    ///     assert_eq!(&buf, b"hi");
    ///     echo.await.unwrap()
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf<Stream<S>>, OwnedWriteHalf<Stream<S>>) {
        super::split::split(self)
    }
}

/// The `op` that finishes a connection: `WouldBlock` until the handshake is over, then its
/// outcome. `take_error` comes first: a failed connection is "not connected" too.
fn finish_connect<S: StreamSocket>(socket: &S) -> io::Result<()> {
    if let Some(error) = socket.error()? {
        return Err(error);
    }
    match socket.peer() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

/// Lends the socket's fd, for options minirt does not wrap (through `libc`, say:
/// `SO_PEERCRED` on a Unix socket). Do not close it, or change its blocking mode: the runtime
/// relies on both.
impl<S: StreamSocket> AsFd for Stream<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl<S: StreamSocket> fmt::Debug for Stream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream").field("io", &self.io).finish()
    }
}

/// Reads need only `&Stream`: the socket's waiting reader lives in the reactor.
impl<S: StreamSocket> AsyncRead for &Stream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.io
            .poll_bytes(cx, Direction::Read, len, |s| s.read_some(&mut *buf))
    }
}

/// Writes need only `&Stream`. There is no buffer to flush; closing shuts down the writing
/// side (a half-close), as `shutdown(Shutdown::Write)` does.
impl<S: StreamSocket> AsyncWrite for &Stream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_bytes(cx, Direction::Write, buf.len(), |s| s.write_some(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // `poll_io`, not `poll_bytes`: std may pass only the first `IOV_MAX` buffers to the
        // OS, so a short result need not mean a full send buffer.
        self.io
            .poll_io(cx, Direction::Write, |s| s.write_some_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl<S: StreamSocket> AsyncRead for Stream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl<S: StreamSocket> AsyncWrite for Stream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}
