//! Small named futures over any `AsyncRead`/`AsyncWrite`: `write_all`, `write`, `flush`,
//! `read`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};

/// Writes all of `buf` to `writer`.
///
/// # Errors
///
/// [`WriteZero`](io::ErrorKind::WriteZero) if the writer accepts 0 bytes (it can take no more),
/// and any error from the writer.
///
/// # Cancellation safety
///
/// **Not safe.** If dropped, some prefix of `buf` may already have been written, and there is
/// no way to learn how much.
///
/// # Example
///
/// ```
/// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `&[u8]` is always ready
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
/// use minirt::io;
///
/// # block_on(async {
/// let mut out = Vec::new(); // any AsyncWrite: a TcpStream, a BufReader over one, ...
/// io::write_all(&mut out, b"ok\n").await?;
/// io::flush(&mut out).await?;
/// assert_eq!(out, b"ok\n");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[doc(alias = "write")]
pub fn write_all<'a, W: AsyncWrite + Unpin + ?Sized>(
    writer: &'a mut W,
    buf: &'a [u8],
) -> WriteAll<'a, W> {
    WriteAll { writer, buf }
}

/// The future of [`write_all`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct WriteAll<'a, W: ?Sized> {
    writer: &'a mut W,
    /// What is left to write.
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteAll<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while !this.buf.is_empty() {
            let n = ready!(Pin::new(&mut *this.writer).poll_write(cx, this.buf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.buf = &this.buf[n..];
        }
        Poll::Ready(Ok(()))
    }
}

/// Writes some of `buf` to `writer`, returning how many bytes it took (at least 1 unless `buf`
/// is empty or the writer can take no more). Use [`write_all`] to write everything.
///
/// # Errors
///
/// Any error from the writer.
///
/// # Cancellation safety
///
/// Safe: bytes are only handed to the writer in the poll that returns their count.
///
/// # Example
///
/// ```
/// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `Vec<u8>` is always ready
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
/// # block_on(async {
/// let mut out = Vec::new();
/// let n = minirt::io::write(&mut out, b"hi").await?;
/// assert_eq!(&out[..n], b"hi");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn write<'a, W: AsyncWrite + Unpin + ?Sized>(writer: &'a mut W, buf: &'a [u8]) -> Write<'a, W> {
    Write { writer, buf }
}

/// The future of [`write()`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Write<'a, W: ?Sized> {
    writer: &'a mut W,
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Write<'_, W> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut *this.writer).poll_write(cx, this.buf)
    }
}

/// Flushes `writer`: waits until everything written has been handed on.
///
/// # Errors
///
/// Any error from the writer.
///
/// # Cancellation safety
///
/// Safe: flushing again later does the same job.
///
/// # Example
///
/// ```
/// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `&[u8]` is always ready
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
/// # block_on(async {
/// let mut out = Vec::new();
/// minirt::io::flush(&mut out).await?;
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[doc(alias = "drain")]
pub fn flush<W: AsyncWrite + Unpin + ?Sized>(writer: &mut W) -> Flush<'_, W> {
    Flush { writer }
}

/// The future of [`flush`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Flush<'a, W: ?Sized> {
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Flush<'_, W> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.get_mut().writer).poll_flush(cx)
    }
}

/// Reads some bytes into `buf`, returning how many; 0 means end of input (or an empty `buf`).
///
/// # Errors
///
/// Any error from the reader.
///
/// # Cancellation safety
///
/// Safe: bytes are only taken from the reader in the poll that returns them.
///
/// # Example
///
/// ```
/// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `&[u8]` is always ready
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
/// # block_on(async {
/// let mut input = &b"hi"[..];
/// let mut buf = [0; 8];
/// let n = minirt::io::read(&mut input, &mut buf).await?;
/// assert_eq!(&buf[..n], b"hi");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub fn read<'a, R: AsyncRead + Unpin + ?Sized>(
    reader: &'a mut R,
    buf: &'a mut [u8],
) -> Read<'a, R> {
    Read { reader, buf }
}

/// The future of [`read`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Read<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut [u8],
}

impl<R: AsyncRead + Unpin + ?Sized> Future for Read<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut *this.reader).poll_read(cx, this.buf)
    }
}
