//! [`TcpListener`]: binds, listens, and accepts [`TcpStream`]s.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::TcpStream;
use crate::reactor::{Direction, Registration};

/// A TCP socket that listens for connections: asyncio's `start_server`, one accept at a time.
///
/// It belongs to the runtime that created it and is not `Send`.
///
/// # Example
///
/// A server that greets each client, one task per connection:
///
/// ```no_run
/// use minirt::net::TcpListener;
///
/// minirt::run(async {
///     let listener = TcpListener::bind("127.0.0.1:8888")?;
///     loop {
///         let (mut stream, peer) = listener.accept().await?;
///         drop(minirt::spawn(async move {
///             let _ = stream.write_all(format!("hello, {peer}\n").as_bytes()).await;
///         }));
///     }
/// # #[allow(unreachable_code)] std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[doc(alias = "start_server")]
#[derive(Debug)]
pub struct TcpListener {
    io: Registration<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` and starts listening. `addr` is anything std's `bind` takes: a
    /// `"host:port"` string, a `SocketAddr`, ... Port 0 asks the OS for a free port (see
    /// [`local_addr`](Self::local_addr)).
    ///
    /// Binding never waits for the network, so this is a plain function, as in std. (A host
    /// name, though, is resolved with the OS's blocking resolver: pass an IP address in a
    /// program that must not stall.)
    ///
    /// # Errors
    /// Outside a runtime; when the address is in use, or cannot be resolved; when the OS
    /// refuses the socket.
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let listener = minirt::net::TcpListener::bind("127.0.0.1:0")?;
    ///     println!("listening on {}", listener.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            io: Registration::new(listener)?,
        })
    }

    /// Binds to `addr` with `SO_REUSEPORT`, so that several listeners (one per thread, each
    /// on its own runtime) can listen on the same address at once. The kernel then spreads
    /// incoming connections over them, by a hash of each connection's addresses: this is how
    /// a [`ThreadPerCore`](crate::ThreadPerCore) server gives every thread its own accept loop
    /// with no lock between them. Every listener on the port must be bound this way, by the
    /// same user.
    ///
    /// Unlike [`bind`](Self::bind), it takes one address, resolved already.
    ///
    /// # Errors
    /// Outside a runtime; when the address is in use by a socket without `SO_REUSEPORT`; when
    /// the OS refuses the socket or an option.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    /// use minirt::net::TcpListener;
    ///
    /// let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    /// minirt::ThreadPerCore::new(2).run(|_shard| async move {
    ///     let listener = TcpListener::bind_reuse_port(addr)?;
    ///     loop {
    ///         let (stream, _) = listener.accept().await?;
    ///         drop(minirt::spawn(async move { drop(stream) }));
    ///     }
    /// #   #[allow(unreachable_code)] std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[doc(alias = "reuse_port")]
    pub fn bind_reuse_port(addr: SocketAddr) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: Registration::new(super::sys::bind_reuse_port(addr)?)?,
        })
    }

    /// Waits for the next connection, and returns it with the client's address.
    ///
    /// # Errors
    /// What `accept(2)` reports. In particular, when the process is out of file descriptors
    /// (`EMFILE`, or `ENFILE` for the whole system) the error comes here and the listener stays
    /// usable: the connection waits in the backlog, and a later `accept` takes it once
    /// descriptors are free again. A server loop should log the error and go on, pausing a
    /// little first: retrying at once would spin, since the backlog stays ready.
    ///
    /// # Cancellation safety
    /// Safe: a connection is taken from the backlog only in the poll that returns it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let listener = minirt::net::TcpListener::bind("127.0.0.1:8888")?;
    ///     let (stream, peer) = listener.accept().await?;
    ///     println!("{peer} connected from port {}", stream.peer_addr()?.port());
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn accept(&self) -> Accept<'_> {
        Accept { listener: self }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// When the OS reports one (rare).
    ///
    /// # Example
    ///
    /// ```no_run
    /// minirt::run(async {
    ///     let listener = minirt::net::TcpListener::bind("127.0.0.1:0")?;
    ///     assert_ne!(listener.local_addr()?.port(), 0);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

/// Lends the socket's fd, for options minirt does not wrap (through `libc`, say). Do not close
/// it, or change its blocking mode: the runtime relies on both.
impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

/// The future of [`TcpListener::accept`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Accept<'a> {
    listener: &'a TcpListener,
}

impl Future for Accept<'_> {
    type Output = io::Result<(TcpStream, SocketAddr)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let io = &self.listener.io;
        let (stream, peer) = ready!(io.poll_io(cx, Direction::Read, |l| l.accept()))?;
        Poll::Ready(Ok((TcpStream::from_accepted(stream)?, peer)))
    }
}
