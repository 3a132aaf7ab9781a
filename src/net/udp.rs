//! UDP: datagrams, each sent and received whole.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};

use super::datagram::{RecvConnected, RecvFrom, SendConnected, SendTo};
use crate::reactor::Registration;

/// A UDP socket: asyncio's `create_datagram_endpoint`, without the protocol class.
///
/// Every call takes `&self`, so several tasks may share one socket (in an `Rc`), though only
/// one of them can wait to receive at a time, and one to send. A datagram larger than the
/// buffer given to a receive is cut to fit, and the rest of it is lost.
///
/// A socket belongs to the runtime that created it and is not `Send`.
///
/// # Example
///
/// ```no_run
/// use minirt::net::UdpSocket;
///
/// minirt::run(async {
///     let socket = UdpSocket::bind("127.0.0.1:9999")?;
///     let mut buf = [0; 1500];
///     loop {
///         let (n, from) = socket.recv_from(&mut buf).await?;
///         socket.send_to(&buf[..n], from).await?; // echo it back
///     }
/// # #[allow(unreachable_code)] std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "create_datagram_endpoint")]
#[derive(Debug)]
pub struct UdpSocket {
    io: Registration<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr`. Port 0 asks the OS for a free port. Like std's, and like
    /// [`TcpListener::bind`](super::TcpListener::bind), this never waits for the network.
    ///
    /// # Errors
    /// Outside a runtime; when the address is in use or cannot be resolved; when the OS
    /// refuses the socket.
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let socket = minirt::net::UdpSocket::bind("127.0.0.1:0")?;
    ///     println!("bound to {}", socket.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            io: Registration::new(socket)?,
        })
    }

    /// Sets the default peer: [`send`](Self::send) goes there, and [`recv`](Self::recv) (and
    /// the OS) accept datagrams only from there. UDP has no handshake, so this never waits.
    ///
    /// # Errors
    /// When `addr` cannot be resolved, or the OS refuses it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let socket = minirt::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.connect("127.0.0.1:9999")?;
    /// socket.send(b"ping").await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        self.io.get_ref().connect(addr)
    }

    /// The address the socket is bound to.
    ///
    /// # Errors
    /// When the OS reports one (rare).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let socket = minirt::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_ne!(socket.local_addr()?.port(), 0);
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sends `buf` as one datagram to `target`, and returns its length.
    ///
    /// # Errors
    /// When the OS refuses the datagram: too large (`EMSGSIZE`), no route, ...
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let socket = minirt::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.send_to(b"ping", "127.0.0.1:9999".parse().unwrap()).await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn send_to<'a>(
        &'a self,
        buf: &'a [u8],
        target: SocketAddr,
    ) -> SendTo<'a, std::net::UdpSocket> {
        SendTo::new(&self.io, buf, target)
    }

    /// Waits for a datagram, copies it into `buf`, and returns its length and sender.
    ///
    /// # Errors
    /// OS errors; on a connected socket, `ConnectionRefused` when an earlier datagram was
    /// refused by the peer.
    ///
    /// # Cancellation safety
    /// Safe: a datagram is taken only in the poll that returns it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let socket = minirt::net::UdpSocket::bind("127.0.0.1:9999")?;
    /// let mut buf = [0; 1500];
    /// let (n, from) = socket.recv_from(&mut buf).await?;
    /// println!("{n} bytes from {from}");
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> RecvFrom<'a, std::net::UdpSocket> {
        RecvFrom::new(&self.io, buf)
    }

    /// Sends `buf` as one datagram to the peer set by [`connect`](Self::connect).
    ///
    /// # Errors
    /// `NotConnected` before `connect`; otherwise as for [`send_to`](Self::send_to).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let socket = minirt::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.connect("127.0.0.1:9999")?;
    /// socket.send(b"ping").await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn send<'a>(&'a self, buf: &'a [u8]) -> SendConnected<'a, std::net::UdpSocket> {
        SendConnected::new(&self.io, buf)
    }

    /// Waits for a datagram from the peer set by [`connect`](Self::connect), and copies it
    /// into `buf`.
    ///
    /// # Errors
    /// As for [`recv_from`](Self::recv_from).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// let socket = minirt::net::UdpSocket::bind("127.0.0.1:0")?;
    /// socket.connect("127.0.0.1:9999")?;
    /// socket.send(b"ping").await?;
    /// let mut buf = [0; 1500];
    /// let n = socket.recv(&mut buf).await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn recv<'a>(&'a self, buf: &'a mut [u8]) -> RecvConnected<'a, std::net::UdpSocket> {
        RecvConnected::new(&self.io, buf)
    }
}

/// Lends the socket's fd, for options minirt does not wrap (through `libc`, say). Do not close
/// it, or change its blocking mode: the runtime relies on both.
impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}
