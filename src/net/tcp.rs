//! [`TcpStream`]: a TCP connection, made by connecting out or by a listener's accept. What it
//! shares with [`UnixStream`](super::UnixStream) is in `stream.rs`.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use super::stream::Stream;
use super::sys;

/// A TCP connection: asyncio's `StreamReader` and `StreamWriter` in one. A [`Stream`] over
/// std's `TcpStream`: reading, writing, splitting and the addresses are [`Stream`]'s; making
/// a connection and Nagle's algorithm are TCP's own (below).
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
pub type TcpStream = Stream<std::net::TcpStream>;

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
        Stream::from_std(stream)
    }

    async fn connect_to(addr: SocketAddr) -> io::Result<TcpStream> {
        Stream::connected(sys::start_connect(addr)?).await
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
        self.socket().set_nodelay(nodelay)
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
        self.socket().nodelay()
    }
}
