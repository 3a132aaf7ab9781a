//! [`UnixStream`]: a Unix domain stream socket, the local twin of [`TcpStream`](super::TcpStream).

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::split::{OwnedReadHalf, OwnedWriteHalf};
use super::sys;
use crate::reactor::{Direction, Registration};

/// A connection over a Unix domain socket: asyncio's `open_unix_connection`, reader and writer
/// in one.
///
/// It has the shape of [`TcpStream`](super::TcpStream): [`read`](Self::read),
/// [`write_all`](Self::write_all), a [`BufReader`](crate::io::BufReader) for lines,
/// [`into_split`](Self::into_split) for a reading and a writing task, and `futures_io`'s
/// `AsyncRead` and `AsyncWrite` for `UnixStream` and `&UnixStream`. Addresses are paths
/// ([`std::os::unix::net::SocketAddr`]), not IP addresses, and there is no Nagle to turn off.
///
/// A stream belongs to the runtime that created it, and is not `Send`:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<minirt::net::UnixStream>();
/// ```
///
/// # Porting from asyncio
///
/// `open_unix_connection(path)` returns a reader and a writer; here `connect` returns one
/// stream, and [`into_split`](Self::into_split) gives the two halves.
///
/// # Example
///
/// ```no_run
/// use minirt::net::UnixStream;
///
/// minirt::run(async {
///     let mut stream = UnixStream::connect("/tmp/echo.sock").await?;
///     stream.write_all(b"hello\n").await?;
///     let mut buf = [0; 1024];
///     let n = stream.read(&mut buf).await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "open_unix_connection")]
#[derive(Debug)]
pub struct UnixStream {
    io: Registration<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    /// Outside a runtime; `NotFound` when there is no socket at `path`; `ConnectionRefused`
    /// when nothing listens on it; `WouldBlock` when the listener's backlog is full (Linux
    /// says so at once rather than waiting); `InvalidInput` for a path of 108 bytes or more.
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let stream = minirt::net::UnixStream::connect("/tmp/echo.sock").await?;
    ///     println!("connected to {:?}", stream.peer_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "open_unix_connection")]
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let stream = UnixStream {
            io: Registration::new(sys::start_connect_unix(path.as_ref())?)?,
        };
        poll_fn(|cx| stream.io.poll_io(cx, Direction::Write, finish_connect)).await?;
        Ok(stream)
    }

    /// Two streams connected to each other, with no file: asyncio's `socket.socketpair()`
    /// handed to `open_connection(sock=...)`. Handy for tests, and for talking to a child
    /// process.
    ///
    /// # Errors
    /// Outside a runtime, or when the OS refuses the sockets.
    ///
    /// # Example
    ///
    /// ```
    /// minirt::run(async {
    ///     let (mut a, mut b) = minirt::net::UnixStream::pair()?;
    ///     a.write_all(b"ping").await?;
    ///     let mut buf = [0; 4];
    ///     let n = b.read(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"ping");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "socketpair")]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a stream that a listener accepted, or one half of a pair.
    pub(super) fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream {
            io: Registration::new(stream)?,
        })
    }

    /// The address of the other end: its path, or unnamed (a client that did not bind, or
    /// one end of a [`pair`](Self::pair)).
    ///
    /// # Errors
    /// When the OS reports one (rare).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let stream = minirt::net::UnixStream::connect("/tmp/echo.sock").await?;
    /// assert_eq!(stream.peer_addr()?.as_pathname(), Some("/tmp/echo.sock".as_ref()));
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The address of this end; unnamed for a client, which does not bind.
    ///
    /// # Errors
    /// When the OS reports one (rare).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let stream = minirt::net::UnixStream::connect("/tmp/echo.sock").await?;
    /// assert!(stream.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Shuts down the reading side, the writing side, or both, as
    /// [`TcpStream::shutdown`](super::TcpStream::shutdown) does. This never waits.
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
    ///     a.write_all(b"all of it").await?;
    ///     a.shutdown(Shutdown::Write)?;
    ///     let mut buf = [0; 64];
    ///     let n = b.read(&mut buf).await?;
    ///     assert_eq!(b.read(&mut buf[n..]).await?, 0); // end of input
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Reads some bytes into `buf` and returns how many; 0 means the peer has closed its side
    /// (or `buf` is empty). See [`crate::io::read`], which this is.
    ///
    /// # Errors
    /// `ConnectionReset` when the peer went away with unread data, and other OS errors.
    ///
    /// # Example
    ///
    /// ```
    /// minirt::run(async {
    ///     let (mut a, mut b) = minirt::net::UnixStream::pair()?;
    ///     drop(a);
    ///     let mut buf = [0; 16];
    ///     assert_eq!(b.read(&mut buf).await?, 0);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> crate::io::Read<'a, UnixStream> {
        crate::io::read(self, buf)
    }

    /// Writes some of `buf` and returns how many bytes the OS took. See [`crate::io::write()`].
    ///
    /// # Errors
    /// `BrokenPipe` when the peer has gone, and other OS errors.
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
    pub fn write<'a>(&'a mut self, buf: &'a [u8]) -> crate::io::Write<'a, UnixStream> {
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
    /// ```
    /// minirt::run(async {
    ///     let (mut a, _b) = minirt::net::UnixStream::pair()?;
    ///     a.write_all(b"hello\n").await
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "drain")]
    pub fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> crate::io::WriteAll<'a, UnixStream> {
        crate::io::write_all(self, buf)
    }

    /// Splits the stream into a read half and a write half that two tasks can own, as
    /// [`TcpStream::into_split`](super::TcpStream::into_split) does.
    ///
    /// # Example
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
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        super::split::split(self)
    }
}

/// Lends the socket's fd, for options minirt does not wrap (`SO_PEERCRED` through `libc`,
/// say). Do not close it, or change its blocking mode: the runtime relies on both.
impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

/// The `op` that finishes a connection: `WouldBlock` until it is made, then its outcome.
fn finish_connect(stream: &std::os::unix::net::UnixStream) -> io::Result<()> {
    if let Some(error) = stream.take_error()? {
        return Err(error);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

super::stream_io!(UnixStream);
