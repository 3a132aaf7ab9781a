//! The futures that send and receive datagrams, written once for both datagram sockets:
//! [`UdpSocket`](super::UdpSocket) and [`UnixDatagram`](super::UnixDatagram) are each a
//! [`Registration`] of a std socket, and differ only in how a peer is addressed. A datagram
//! is sent or received whole, in one system call, so each future is one `poll_io`: try the
//! call, and wait on the reactor when the OS says "would block".

use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::reactor::{Direction, Registration};

/// The std datagram sockets that minirt's datagram sockets wrap: `std::net::UdpSocket`
/// (addressed by IP address and port) and `std::os::unix::net::UnixDatagram` (by path). The
/// futures [`SendTo`], [`RecvFrom`], [`SendConnected`] and [`RecvConnected`] are generic over
/// it. Sealed: its hidden methods are the system calls the futures make.
pub trait DatagramSocket: AsFd + fmt::Debug + sealed::Sealed {
    /// Where a received datagram came from.
    type Addr;
    /// Where `send_to` sends a datagram: a socket address, or the path of a bound socket.
    type Target<'a>: Copy + fmt::Debug;

    #[doc(hidden)]
    fn send_datagram(&self, buf: &[u8]) -> io::Result<usize>;
    #[doc(hidden)]
    fn recv_datagram(&self, buf: &mut [u8]) -> io::Result<usize>;
    #[doc(hidden)]
    fn send_datagram_to(&self, buf: &[u8], target: Self::Target<'_>) -> io::Result<usize>;
    #[doc(hidden)]
    fn recv_datagram_from(&self, buf: &mut [u8]) -> io::Result<(usize, Self::Addr)>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::UdpSocket {}
    impl Sealed for std::os::unix::net::UnixDatagram {}
}

impl DatagramSocket for std::net::UdpSocket {
    type Addr = std::net::SocketAddr;
    type Target<'a> = std::net::SocketAddr;

    fn send_datagram(&self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)
    }
    fn recv_datagram(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf)
    }
    fn send_datagram_to(&self, buf: &[u8], target: std::net::SocketAddr) -> io::Result<usize> {
        self.send_to(buf, target)
    }
    fn recv_datagram_from(&self, buf: &mut [u8]) -> io::Result<(usize, std::net::SocketAddr)> {
        self.recv_from(buf)
    }
}

impl DatagramSocket for std::os::unix::net::UnixDatagram {
    type Addr = std::os::unix::net::SocketAddr;
    type Target<'a> = &'a Path;

    fn send_datagram(&self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)
    }
    fn recv_datagram(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf)
    }
    fn send_datagram_to(&self, buf: &[u8], target: &Path) -> io::Result<usize> {
        self.send_to(buf, target)
    }
    fn recv_datagram_from(
        &self,
        buf: &mut [u8],
    ) -> io::Result<(usize, std::os::unix::net::SocketAddr)> {
        self.recv_from(buf)
    }
}

/// The future of `send_to` ([`UdpSocket::send_to`](super::UdpSocket::send_to),
/// [`UnixDatagram::send_to`](super::UnixDatagram::send_to)): sends one datagram to `target`,
/// and resolves to its length.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct SendTo<'a, S: DatagramSocket> {
    io: &'a Registration<S>,
    buf: &'a [u8],
    target: S::Target<'a>,
}

impl<'a, S: DatagramSocket> SendTo<'a, S> {
    pub(super) fn new(io: &'a Registration<S>, buf: &'a [u8], target: S::Target<'a>) -> Self {
        SendTo { io, buf, target }
    }
}

impl<S: DatagramSocket> Future for SendTo<'_, S> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let SendTo { io, buf, target } = *self;
        io.poll_io(cx, Direction::Write, |s| s.send_datagram_to(buf, target))
    }
}

/// The future of `recv_from` ([`UdpSocket::recv_from`](super::UdpSocket::recv_from),
/// [`UnixDatagram::recv_from`](super::UnixDatagram::recv_from)): waits for a datagram, copies
/// it into the buffer, and resolves to its length and sender.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct RecvFrom<'a, S: DatagramSocket> {
    io: &'a Registration<S>,
    buf: &'a mut [u8],
}

impl<'a, S: DatagramSocket> RecvFrom<'a, S> {
    pub(super) fn new(io: &'a Registration<S>, buf: &'a mut [u8]) -> Self {
        RecvFrom { io, buf }
    }
}

impl<S: DatagramSocket> Future for RecvFrom<'_, S> {
    type Output = io::Result<(usize, S::Addr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let buf = &mut *this.buf;
        this.io
            .poll_io(cx, Direction::Read, |s| s.recv_datagram_from(buf))
    }
}

/// The future of `send` ([`UdpSocket::send`](super::UdpSocket::send),
/// [`UnixDatagram::send`](super::UnixDatagram::send)): sends one datagram to the connected
/// peer, and resolves to its length.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct SendConnected<'a, S: DatagramSocket> {
    io: &'a Registration<S>,
    buf: &'a [u8],
}

impl<'a, S: DatagramSocket> SendConnected<'a, S> {
    pub(super) fn new(io: &'a Registration<S>, buf: &'a [u8]) -> Self {
        SendConnected { io, buf }
    }
}

impl<S: DatagramSocket> Future for SendConnected<'_, S> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let SendConnected { io, buf } = *self;
        io.poll_io(cx, Direction::Write, |s| s.send_datagram(buf))
    }
}

/// The future of `recv` ([`UdpSocket::recv`](super::UdpSocket::recv),
/// [`UnixDatagram::recv`](super::UnixDatagram::recv)): waits for a datagram from the connected
/// peer, copies it into the buffer, and resolves to its length.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct RecvConnected<'a, S: DatagramSocket> {
    io: &'a Registration<S>,
    buf: &'a mut [u8],
}

impl<'a, S: DatagramSocket> RecvConnected<'a, S> {
    pub(super) fn new(io: &'a Registration<S>, buf: &'a mut [u8]) -> Self {
        RecvConnected { io, buf }
    }
}

impl<S: DatagramSocket> Future for RecvConnected<'_, S> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let buf = &mut *this.buf;
        this.io
            .poll_io(cx, Direction::Read, |s| s.recv_datagram(buf))
    }
}
