//! The two halves of a [`TcpStream`] or a [`UnixStream`](super::UnixStream), for a reading
//! task and a writing task.
//!
//! A socket keeps one waiting reader and one waiting writer (see the reactor), so a read and a
//! write can wait at the same time in two tasks. The halves share the stream through an `Rc`:
//! no lock is needed, because both tasks run on the runtime's one thread.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::TcpStream;

pub(super) fn split<S>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let stream = Rc::new(stream);
    (
        OwnedReadHalf {
            stream: stream.clone(),
        },
        OwnedWriteHalf { stream },
    )
}

/// The reading half of a [`TcpStream`], from [`TcpStream::into_split`], or of a
/// [`UnixStream`](super::UnixStream) (then it is an `OwnedReadHalf<UnixStream>`).
///
/// `as_ref()` lends the whole stream, for its addresses and options.
///
/// # Example
///
/// ```no_run
/// # minirt::run(async {
/// let stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
/// let (mut reader, _writer) = stream.into_split();
/// let mut buf = [0; 1024];
/// let n = reader.read(&mut buf).await?;
/// println!("{n} bytes from {}", reader.as_ref().peer_addr()?);
/// # std::io::Result::Ok(()) })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct OwnedReadHalf<S = TcpStream> {
    stream: Rc<S>,
}

impl<S> OwnedReadHalf<S>
where
    for<'s> &'s S: AsyncRead,
{
    /// Reads some bytes into `buf`, as [`TcpStream::read`] does.
    ///
    /// # Errors
    /// As for [`TcpStream::read`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// # let (mut reader, _w) = minirt::net::TcpStream::connect("127.0.0.1:8888").await?.into_split();
    /// let mut buf = [0; 1024];
    /// let n = reader.read(&mut buf).await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> crate::io::Read<'a, OwnedReadHalf<S>> {
        crate::io::read(self, buf)
    }
}

/// The writing half of a [`TcpStream`], from [`TcpStream::into_split`], or of a
/// [`UnixStream`](super::UnixStream) (then it is an `OwnedWriteHalf<UnixStream>`).
///
/// Closing it (`poll_close`) shuts down the stream's writing side. `as_ref()` lends the whole
/// stream, for its addresses and options.
///
/// # Example
///
/// ```no_run
/// # minirt::run(async {
/// let stream = minirt::net::TcpStream::connect("127.0.0.1:8888").await?;
/// let (_reader, mut writer) = stream.into_split();
/// writer.write_all(b"hello\n").await?;
/// writer.as_ref().shutdown(std::net::Shutdown::Write)?;
/// # std::io::Result::Ok(()) })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct OwnedWriteHalf<S = TcpStream> {
    stream: Rc<S>,
}

impl<S> OwnedWriteHalf<S>
where
    for<'s> &'s S: AsyncWrite,
{
    /// Writes some of `buf`, as [`TcpStream::write`] does.
    ///
    /// # Errors
    /// As for [`TcpStream::write`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// # let (_r, mut writer) = minirt::net::TcpStream::connect("127.0.0.1:8888").await?.into_split();
    /// let n = writer.write(b"ping\n").await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn write<'a>(&'a mut self, buf: &'a [u8]) -> crate::io::Write<'a, OwnedWriteHalf<S>> {
        crate::io::write(self, buf)
    }

    /// Writes all of `buf`, as [`TcpStream::write_all`] does.
    ///
    /// # Errors
    /// As for [`TcpStream::write`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// # minirt::run(async {
    /// # let (_r, mut writer) = minirt::net::TcpStream::connect("127.0.0.1:8888").await?.into_split();
    /// writer.write_all(b"hello\n").await?;
    /// # std::io::Result::Ok(()) })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn write_all<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> crate::io::WriteAll<'a, OwnedWriteHalf<S>> {
        crate::io::write_all(self, buf)
    }
}

impl<S> AsRef<S> for OwnedReadHalf<S> {
    fn as_ref(&self) -> &S {
        &self.stream
    }
}

impl<S> AsRef<S> for OwnedWriteHalf<S> {
    fn as_ref(&self) -> &S {
        &self.stream
    }
}

impl<S> AsyncRead for OwnedReadHalf<S>
where
    for<'s> &'s S: AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.stream).poll_read(cx, buf)
    }
}

impl<S> AsyncWrite for OwnedWriteHalf<S>
where
    for<'s> &'s S: AsyncWrite,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.stream).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.stream).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.stream).poll_close(cx)
    }
}
