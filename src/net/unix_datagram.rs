//! [`UnixDatagram`]: datagrams over a Unix domain socket, each sent and received whole.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use super::datagram::{RecvConnected, RecvFrom, SendConnected, SendTo};
use super::sys::BoundPath;
use crate::reactor::Registration;

/// A Unix domain datagram socket: the local twin of [`UdpSocket`](super::UdpSocket), and
/// asyncio's `create_unix_datagram_endpoint` without the protocol class.
///
/// Every call takes `&self`. Unlike UDP, a Unix datagram is never lost in transit and never
/// reordered; when the receiver's queue is full, the sender waits. A datagram larger than the
/// buffer given to a receive is cut to fit.
///
/// [`bind`](Self::bind) creates a socket file, which dropping the socket removes (if it is
/// still the file `bind` made). It belongs to the runtime that created it and is not `Send`.
///
/// # Example
///
/// ```no_run
/// use minirt::net::UnixDatagram;
///
/// minirt::run(async {
///     let socket = UnixDatagram::bind("/tmp/echo.dgram")?;
///     let mut buf = [0; 1500];
///     loop {
///         let (n, from) = socket.recv_from(&mut buf).await?;
///         if let Some(path) = from.as_pathname() {
///             socket.send_to(&buf[..n], path).await?; // echo it back
///         }
///     }
/// # #[allow(unreachable_code)] std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "create_unix_datagram_endpoint")]
#[derive(Debug)]
pub struct UnixDatagram {
    io: Registration<std::os::unix::net::UnixDatagram>,
    /// Removes the socket file on drop, if `bind` made one; declared after `io`.
    _path: Option<BoundPath>,
}

impl UnixDatagram {
    /// Creates a socket bound to the file `path`. Never waits.
    ///
    /// # Errors
    /// Outside a runtime; `AddrInUse` when a file is already at `path`; as for
    /// [`UnixListener::bind`](super::UnixListener::bind).
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let socket = minirt::net::UnixDatagram::bind("/tmp/echo.dgram")?;
    ///     println!("bound to {:?}", socket.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let path = path.as_ref();
        let socket = std::os::unix::net::UnixDatagram::bind(path)?;
        let bound = BoundPath::new(path);
        UnixDatagram::from_std(socket, Some(bound))
    }

    /// Creates a socket bound to no file: it can send, and receive answers only over a
    /// [`connect`](Self::connect)ed or paired socket.
    ///
    /// # Errors
    /// Outside a runtime, or when the OS refuses the socket.
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let socket = minirt::net::UnixDatagram::unbound()?;
    ///     socket.send_to(b"ping", "/tmp/echo.dgram").await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::unbound()?, None)
    }

    /// Two sockets connected to each other, with no file.
    ///
    /// # Errors
    /// Outside a runtime, or when the OS refuses the sockets.
    ///
    /// # Example
    ///
    /// ```
    /// minirt::run(async {
    ///     let (a, b) = minirt::net::UnixDatagram::pair()?;
    ///     a.send(b"one").await?;
    ///     a.send(b"two").await?;
    ///     let mut buf = [0; 16];
    ///     let n = b.recv(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"one"); // whole datagrams, in order
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "socketpair")]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((
            UnixDatagram::from_std(a, None)?,
            UnixDatagram::from_std(b, None)?,
        ))
    }

    fn from_std(
        socket: std::os::unix::net::UnixDatagram,
        path: Option<BoundPath>,
    ) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram {
            io: Registration::new(socket)?,
            _path: path,
        })
    }

    /// Sets the default peer: [`send`](Self::send) goes there, and only its datagrams are
    /// received. Never waits.
    ///
    /// # Errors
    /// `NotFound` or `ConnectionRefused` when no socket is bound at `path`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let socket = minirt::net::UnixDatagram::unbound()?;
    /// socket.connect("/tmp/echo.dgram")?;
    /// socket.send(b"ping").await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// The address the socket is bound to: a path, or unnamed.
    ///
    /// # Errors
    /// When the OS reports one (rare).
    ///
    /// # Example
    ///
    /// ```
    /// # minirt::run(async {
    /// let socket = minirt::net::UnixDatagram::unbound()?;
    /// assert!(socket.local_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The address of the peer set by [`connect`](Self::connect) (or the other end of a
    /// [`pair`](Self::pair)).
    ///
    /// # Errors
    /// `NotConnected` when there is none.
    ///
    /// # Example
    ///
    /// ```
    /// # minirt::run(async {
    /// let (a, _b) = minirt::net::UnixDatagram::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed());
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sends `buf` as one datagram to the socket bound at `target`, waiting while its queue
    /// is full, and returns its length.
    ///
    /// # Errors
    /// `NotFound` or `ConnectionRefused` when nothing is bound at `target`; `EMSGSIZE` for a
    /// datagram too large.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let socket = minirt::net::UnixDatagram::unbound()?;
    /// socket.send_to(b"ping", "/tmp/echo.dgram").await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        target: &'a (impl AsRef<Path> + ?Sized),
    ) -> SendTo<'a, std::os::unix::net::UnixDatagram> {
        SendTo::new(&self.io, buf, target.as_ref())
    }

    /// Waits for a datagram, copies it into `buf`, and returns its length and sender.
    ///
    /// # Errors
    /// OS errors.
    ///
    /// # Cancellation safety
    /// Safe: a datagram is taken only in the poll that returns it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let socket = minirt::net::UnixDatagram::bind("/tmp/echo.dgram")?;
    /// let mut buf = [0; 1500];
    /// let (n, from) = socket.recv_from(&mut buf).await?;
    /// println!("{n} bytes from {from:?}");
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn recv_from<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> RecvFrom<'a, std::os::unix::net::UnixDatagram> {
        RecvFrom::new(&self.io, buf)
    }

    /// Sends `buf` as one datagram to the connected peer, waiting while its queue is full.
    ///
    /// # Errors
    /// `NotConnected` before [`connect`](Self::connect); otherwise as for
    /// [`send_to`](Self::send_to).
    ///
    /// # Example
    ///
    /// ```
    /// # minirt::run(async {
    /// let (a, _b) = minirt::net::UnixDatagram::pair()?;
    /// assert_eq!(a.send(b"ping").await?, 4);
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn send<'a>(
        &'a self,
        buf: &'a [u8],
    ) -> SendConnected<'a, std::os::unix::net::UnixDatagram> {
        SendConnected::new(&self.io, buf)
    }

    /// Waits for a datagram from the connected peer, and copies it into `buf`.
    ///
    /// # Errors
    /// OS errors.
    ///
    /// # Cancellation safety
    /// Safe, as for [`recv_from`](Self::recv_from).
    ///
    /// # Example
    ///
    /// ```
    /// # minirt::run(async {
    /// let (a, b) = minirt::net::UnixDatagram::pair()?;
    /// a.send(b"ping").await?;
    /// let mut buf = [0; 16];
    /// assert_eq!(b.recv(&mut buf).await?, 4);
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn recv<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> RecvConnected<'a, std::os::unix::net::UnixDatagram> {
        RecvConnected::new(&self.io, buf)
    }
}

/// Lends the socket's fd, for options minirt does not wrap. Do not close it, or change its
/// blocking mode: the runtime relies on both.
impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}
