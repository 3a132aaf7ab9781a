//! Networking: TCP, UDP and Unix domain sockets that wait by yielding to the runtime, not by
//! blocking.
//!
//! Each socket is a std socket in non-blocking mode, registered with the runtime's
//! [reactor](crate#a-tasks-life) when it is made. An operation tries the system call at once;
//! only when the OS says "would block" does the task leave its waker with the reactor and
//! return `Pending`, to be woken when the socket is ready.
//!
//! - [`TcpListener`] accepts connections; [`TcpStream`] connects, reads and writes, and splits
//!   into an [`OwnedReadHalf`] and an [`OwnedWriteHalf`] for two tasks.
//! - [`UdpSocket`] sends and receives datagrams.
//! - [`UnixListener`], [`UnixStream`] and [`UnixDatagram`] are the same over Unix domain
//!   sockets: addressed by a path instead of an IP address and port. `bind` creates the socket
//!   file, and dropping the socket removes it (only if it is still the file `bind` made).
//!   [`UnixStream::into_split`] gives an `OwnedReadHalf<UnixStream>` and an
//!   `OwnedWriteHalf<UnixStream>`.
//!
//! Each mechanism is written once: [`TcpStream`] and [`UnixStream`] are one type, [`Stream`],
//! over two std sockets (`stream.rs`; `tcp.rs` and `unix.rs` hold only how each connects),
//! and both datagram sockets send and receive with the same four futures (`datagram.rs`).
//!
//! # One runtime, one thread
//!
//! Sockets must be created inside a runtime (in code run by [`run`](crate::run) or
//! [`Runtime::block_on`](crate::Runtime::block_on)); elsewhere they return an error. They
//! belong to that runtime: they are not `Send`, and waiting on one from another runtime is an
//! error. A socket may outlive its runtime (it is dropped cleanly later), but it can no longer
//! wait for anything.
//!
//! # Fairness
//!
//! Every ready operation spends one unit of the task's I/O budget (128 per poll). When it runs
//! out, the operation returns `Pending` after re-queueing the task, so a task reading from a
//! socket that is always ready still lets the others run.
//!
//! # Example: an echo server
//!
//! ```no_run
//! use minirt::io::BufReader;
//! use minirt::net::TcpListener;
//!
//! minirt::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:8888")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         drop(minirt::spawn(async move {
//!             let mut reader = BufReader::new(stream);
//!             let mut line = String::new();
//!             while let Ok(1..) = reader.read_line(&mut line).await {
//!                 if reader.get_mut().write_all(line.as_bytes()).await.is_err() {
//!                     break;
//!                 }
//!                 line.clear();
//!             }
//!         }));
//!     }
//! # #[allow(unreachable_code)] std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```

/// Implements `futures_io`'s `AsyncRead` and `AsyncWrite` for a stream type (`TcpStream`,
/// `UnixStream`) that has an `io: Registration<_>` field and a `shutdown(Shutdown)` method,
/// and for a shared reference to it: the waiting reader and writer live in the reactor, so
/// reads and writes need only `&self`. There is no buffer to flush; closing shuts down the
/// writing side (a half-close).
mod datagram;
mod listener;
mod split;
mod stream;
mod sys;
mod tcp;
mod udp;
mod unix;
mod unix_datagram;
mod unix_listener;

pub use datagram::{DatagramSocket, RecvConnected, RecvFrom, SendConnected, SendTo};
pub use listener::{Accept, TcpListener};
pub use split::{OwnedReadHalf, OwnedWriteHalf};
pub use stream::{Stream, StreamSocket};
pub use tcp::TcpStream;
pub use udp::UdpSocket;
pub use unix::UnixStream;
pub use unix_datagram::UnixDatagram;
pub use unix_listener::{UnixAccept, UnixListener};
