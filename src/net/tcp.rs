//! [`TcpStream`]: a TCP connection, made by connecting out or by a listener's accept.

use std::future::poll_fn;
use std::io::{self, IoSlice, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::split::{OwnedReadHalf, OwnedWriteHalf};
use super::sys;
use crate::reactor::{Direction, Registration};

/// A TCP connection: asyncio's `StreamReader` and `StreamWriter` in one.
///
/// Read with [`read`](Self::read), or wrap it in a [`BufReader`](crate::io::BufReader) to read
/// lines; write with [`write_all`](Self::write_all). It implements `futures_io`'s [`AsyncRead`]
/// and [`AsyncWrite`] too, and so does `&TcpStream`: reads and writes need only a shared
/// reference. Dropping the stream closes the connection.
///
/// One task may read while another writes: see [`into_split`](Self::into_split). Two tasks
/// reading at once (or two writing) is a mistake: the socket keeps one waiting reader and one
/// waiting writer, and the later one replaces the earlier, which then waits until something
/// else wakes it.
///
/// A stream belongs to the runtime that created it, and is not `Send`:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<minirt::net::TcpStream>();
/// ```
///
/// # Example
///
/// ```no_run
/// use minirt::net::TcpStream;
///
/// minirt::run(async {
///     let mut stream = TcpStream::connect("127.0.0.1:8888").await?;
///     stream.write_all(b"hello\n").await?;
///     let mut buf = [0; 1024];
///     let n = stream.read(&mut buf).await?;
///     println!("got {:?}", String::from_utf8_lossy(&buf[..n]));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "open_connection")]
#[doc(alias = "StreamWriter")]
#[derive(Debug)]
pub struct TcpStream {
    io: Registration<std::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn.
    ///
    /// The connection is started without blocking and the task waits until the socket is
    /// writable, which is when the handshake has finished or failed. (A host name is resolved
    /// with the OS's blocking resolver, as in std: pass an IP address to avoid it.)
    ///
    /// # Errors
    /// Outside a runtime. Otherwise the last address's error: `ConnectionRefused` when
    /// nothing listens there, `TimedOut` when the OS gives up on the handshake, ...; and
    /// `InvalidInput` when `addr` resolves to no address at all.
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    ///     println!("connected from {}", stream.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last_error = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_to(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any address",
            )
        }))
    }

    /// Wraps a stream that a listener accepted.
    pub(super) fn from_accepted(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        // Linux does not pass O_NONBLOCK on to accepted sockets.
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            io: Registration::new(stream)?,
        })
    }

    async fn connect_to(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream {
            io: Registration::new(sys::start_connect(addr)?)?,
        };
        poll_fn(|cx| stream.io.poll_io(cx, Direction::Write, finish_connect)).await?;
        Ok(stream)
    }

    /// The address of the other end.
    ///
    /// # Errors
    /// `NotConnected` once the connection is gone (reset by the peer, for example).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// # let stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// assert_eq!(stream.peer_addr()?.port(), 8888);
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The address of this end.
    ///
    /// # Errors
    /// When the OS reports one (rare).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// # let stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// println!("talking from {}", stream.local_addr()?);
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Turns Nagle's algorithm off (`true`) or on. Off, small writes go out at once instead of
    /// waiting to be merged: lower latency for request-response protocols, more packets.
    ///
    /// # Errors
    /// When the OS refuses the option.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// # let stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// stream.set_nodelay(true)?;
    /// assert!(stream.nodelay()?);
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off; see [`set_nodelay`](Self::set_nodelay).
    ///
    /// # Errors
    /// When the OS reports one (rare).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// # let stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// assert!(!stream.nodelay()?); // on by default
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
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
    /// ```no_run
    /// use std::net::Shutdown;
    ///
    /// # minirt::run(async {
    /// let mut stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// stream.write_all(b"the whole request").await?;
    /// stream.shutdown(Shutdown::Write)?; // "that was all"
    /// let mut reply = Vec::new();
    /// let mut buf = [0; 4096];
    /// loop {
    ///     let n = stream.read(&mut buf).await?;
    ///     if n == 0 { break; }
    ///     reply.extend_from_slice(&buf[..n]);
    /// }
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Reads some bytes into `buf` and returns how many; 0 means the peer has closed its side
    /// (or `buf` is empty). See [`crate::io::read`], which this is.
    ///
    /// # Errors
    /// `ConnectionReset` when the peer reset the connection, and other OS errors.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// # let mut stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// let mut buf = [0; 1024];
    /// let n = stream.read(&mut buf).await?;
    /// if n == 0 {
    ///     println!("the peer closed the connection");
    /// }
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> crate::io::Read<'a, TcpStream> {
        crate::io::read(self, buf)
    }

    /// Writes some of `buf` and returns how many bytes the OS took. See [`crate::io::write()`].
    ///
    /// # Errors
    /// `BrokenPipe` or `ConnectionReset` when the peer has gone, and other OS errors.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// # let mut stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// let n = stream.write(b"ping\n").await?;
    /// println!("sent {n} bytes");
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn write<'a>(&'a mut self, buf: &'a [u8]) -> crate::io::Write<'a, TcpStream> {
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
    /// # let mut stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// stream.write_all(b"hello\n").await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "drain")]
    pub fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> crate::io::WriteAll<'a, TcpStream> {
        crate::io::write_all(self, buf)
    }

    /// Splits the stream into a read half and a write half that two tasks can own.
    ///
    /// The halves share the socket (through an `Rc`); it closes when both are dropped.
    ///
    /// # Example
    ///
    /// One task copies what arrives to stdout while the other sends:
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
    /// let (mut reader, mut writer) = stream.into_split();
    /// let printer = minirt::spawn(async move {
    ///     let mut buf = [0; 1024];
    ///     while let Ok(n @ 1..) = reader.read(&mut buf).await {
    ///         print!("{}", String::from_utf8_lossy(&buf[..n]));
    ///     }
    /// });
    /// writer.write_all(b"one\ntwo\n").await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        super::split::split(self)
    }
}

/// Lends the socket's fd, for options minirt does not wrap (through `libc`, say). Do not close
/// it, or change its blocking mode: the runtime relies on both.
impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

/// The `op` that finishes a connection: `WouldBlock` until the handshake is over, then its
/// outcome. `take_error` comes first: a failed connection is "not connected" too.
fn finish_connect(stream: &std::net::TcpStream) -> io::Result<()> {
    if let Some(error) = stream.take_error()? {
        return Err(error);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

/// Reads need only `&TcpStream`: the socket's waiting reader lives in the reactor.
impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.io
            .poll_bytes(cx, Direction::Read, len, |mut s| s.read(&mut *buf))
    }
}

/// Writes need only `&TcpStream`. There is no buffer to flush; closing shuts down the
/// writing side (a half-close), as [`TcpStream::shutdown`] with `Shutdown::Write` does.
impl AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_bytes(cx, Direction::Write, buf.len(), |mut s| s.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // `poll_io`, not `poll_bytes`: std may pass only the first `IOV_MAX` buffers to the
        // OS, so a short result need not mean a full send buffer.
        self.io
            .poll_io(cx, Direction::Write, |mut s| s.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
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
