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
macro_rules! stream_io {
    ($stream:ty) => {
        #[doc = concat!("Reads need only `&", stringify!($stream), "`: the socket's waiting reader lives in the reactor.")]
        impl futures_io::AsyncRead for &$stream {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Read as _;
                let len = buf.len();
                self.io.poll_bytes(cx, $crate::reactor::Direction::Read, len, |mut s| {
                    s.read(&mut *buf)
                })
            }
        }

        #[doc = concat!("Writes need only `&", stringify!($stream), "`. There is no buffer to flush; closing shuts")]
        /// down the writing side (a half-close), as `shutdown(Shutdown::Write)` does.
        impl futures_io::AsyncWrite for &$stream {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Write as _;
                self.io
                    .poll_bytes(cx, $crate::reactor::Direction::Write, buf.len(), |mut s| {
                        s.write(buf)
                    })
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                use std::io::Write as _;
                // `poll_io`, not `poll_bytes`: std may pass only the first `IOV_MAX` buffers
                // to the OS, so a short result need not mean a full send buffer.
                self.io.poll_io(cx, $crate::reactor::Direction::Write, |mut s| {
                    s.write_vectored(bufs)
                })
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }

        impl futures_io::AsyncRead for $stream {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_read(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $stream {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut &*self).poll_flush(cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut &*self).poll_close(cx)
            }
        }
    };
}
use stream_io;

mod listener;
mod split;
mod sys;
mod tcp;
mod udp;
mod unix;
mod unix_datagram;
mod unix_listener;

pub use listener::{Accept, TcpListener};
pub use split::{OwnedReadHalf, OwnedWriteHalf};
pub use tcp::TcpStream;
pub use udp::{RecvConnected, RecvFrom, SendConnected, SendTo, UdpSocket};
pub use unix::UnixStream;
pub use unix_datagram::{UnixDatagram, UnixRecv, UnixRecvFrom, UnixSend, UnixSendTo};
pub use unix_listener::{UnixAccept, UnixListener};
