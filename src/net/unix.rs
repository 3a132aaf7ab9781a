//! [`UnixStream`]: a Unix domain stream socket, the local twin of [`TcpStream`](super::TcpStream).
//! What the two share is in `stream.rs`.

use std::io;
use std::path::Path;

use super::stream::Stream;
use super::sys;

/// A connection over a Unix domain socket: asyncio's `open_unix_connection`, reader and writer
/// in one.
///
/// A [`Stream`] over std's `UnixStream`, as [`TcpStream`](super::TcpStream) is over TCP:
/// reading, writing, splitting and the addresses are [`Stream`]'s. Addresses are paths
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
pub type UnixStream = Stream<std::os::unix::net::UnixStream>;

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
        Stream::connected(sys::start_connect_unix(path.as_ref())?).await
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
}
