//! `BufReader`: a buffer and a line-length limit over any `AsyncRead` (see the module docs of
//! [`minirt::io`](crate::io) for the why).

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

/// The line limit that [`BufReader::new`] uses: 64 KiB, counting the newline.
pub const DEFAULT_LINE_LIMIT: usize = 64 * 1024;

/// How many bytes the buffer starts with, and so the most one read from the inner reader asks
/// for until a long line makes the buffer grow (up to the line limit).
const INITIAL_CAPACITY: usize = 8 * 1024;

/// Adds a buffer and a line-length limit to an [`AsyncRead`]er.
///
/// See the [module docs](crate::io) for why, and for the cancellation story.
///
/// # Example
///
/// ```
/// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `&[u8]` is always ready
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
/// use minirt::io::BufReader;
///
/// # block_on(async {
/// let mut reader = BufReader::new(&b"GET / HTTP/1.1\r\nHost: x\r\n"[..]);
/// let mut line = String::new();
/// reader.read_line(&mut line).await?;
/// assert_eq!(line, "GET / HTTP/1.1\r\n");
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
#[doc(alias = "StreamReader")]
pub struct BufReader<R> {
    inner: R,
    /// Storage. Its length (not just its capacity) is the most one read can fill. It starts at
    /// `INITIAL_CAPACITY` and only grows for a long line, to at most `limit + 1` bytes.
    buf: Vec<u8>,
    /// # Invariant: `pos <= filled <= buf.len()`. `buf[pos..filled]` is read but not consumed.
    pos: usize,
    filled: usize,
    /// The most bytes one line may have, counting its delimiter. Never 0.
    limit: usize,
    /// `Some(delim)` after an over-long line: the next read first throws away bytes up to and
    /// including `delim` (or up to EOF).
    skip: Option<u8>,
}

impl<R: AsyncRead + Unpin> BufReader<R> {
    /// Wraps `inner` with the [`DEFAULT_LINE_LIMIT`] of 64 KiB.
    ///
    /// # Example
    ///
    /// ```
    /// let reader = minirt::io::BufReader::new(&b"hello\n"[..]);
    /// assert!(reader.buffer().is_empty()); // nothing is read until you ask
    /// ```
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, DEFAULT_LINE_LIMIT)
    }

    /// Wraps `inner`; lines (counting their delimiter) may be at most `limit` bytes long.
    ///
    /// The buffer grows to at most `limit + 1` bytes (or 8 KiB, if that is more). `usize::MAX`
    /// means "no limit", which is only safe when you trust the other side.
    ///
    /// # Panics
    ///
    /// If `limit` is 0: no line, not even an empty one ending in `\n`, would fit.
    ///
    /// # Example
    ///
    /// ```
    /// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `&[u8]` is always ready
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
    /// use std::io::ErrorKind;
    /// use minirt::io::BufReader;
    ///
    /// # block_on(async {
    /// let mut reader = BufReader::with_limit(&b"ok\nfar too long\nok\n"[..], 4);
    /// let mut line = String::new();
    /// reader.read_line(&mut line).await?;
    /// let err = reader.read_line(&mut line).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidData);
    /// reader.read_line(&mut line).await?; // the long line was skipped
    /// assert_eq!(line, "ok\nok\n");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn with_limit(inner: R, limit: usize) -> Self {
        assert!(limit > 0, "BufReader line limit must be at least 1 byte");
        BufReader {
            inner,
            buf: vec![0; INITIAL_CAPACITY],
            pos: 0,
            filled: 0,
            limit,
            skip: None,
        }
    }

    /// Reads one line into `buf`, appending it, newline included (like `std`).
    ///
    /// Returns the number of bytes appended; 0 means end of input. A last line with no `\n`
    /// before the end of input is returned as it is.
    ///
    /// # Errors
    ///
    /// - [`InvalidData`](io::ErrorKind::InvalidData) if the line is longer than the limit. `buf`
    ///   is unchanged, and the next read skips the rest of that line, through its `\n`.
    /// - [`InvalidData`](io::ErrorKind::InvalidData) if the line is not UTF-8. The line is
    ///   consumed (the next call reads the next line) and `buf` is unchanged.
    /// - Any error from the inner reader. Nothing is consumed.
    ///
    /// # Cancellation safety
    ///
    /// Safe. Until the whole line has arrived it stays in the `BufReader`, and `buf` is only
    /// touched on success. Drop the future and call again to get the whole line.
    ///
    /// # Example
    ///
    /// ```
    /// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `&[u8]` is always ready
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
    /// # block_on(async {
    /// let mut reader = minirt::io::BufReader::new(&b"one\ntwo"[..]);
    /// let mut line = String::new();
    /// assert_eq!(reader.read_line(&mut line).await?, 4);
    /// assert_eq!(reader.read_line(&mut line).await?, 3); // no newline at the end: as is
    /// assert_eq!(reader.read_line(&mut line).await?, 0); // end of input
    /// assert_eq!(line, "one\ntwo");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    #[doc(alias = "readline")]
    pub fn read_line<'a>(&'a mut self, buf: &'a mut String) -> ReadLine<'a, R> {
        ReadLine {
            reader: self,
            out: buf,
            scanned: 0,
        }
    }

    /// Reads up to and including the byte `delim`, appending to `buf`.
    ///
    /// The same as [`read_line`](Self::read_line) with any delimiter and any bytes: the limit
    /// counts `delim`, a last piece with no `delim` is returned as is, 0 means end of input.
    ///
    /// # Errors
    ///
    /// [`InvalidData`](io::ErrorKind::InvalidData) if the piece is longer than the limit (the
    /// next read skips the rest of it, through `delim`), and any error from the inner reader.
    /// `buf` is unchanged on error.
    ///
    /// # Cancellation safety
    ///
    /// Safe, as for `read_line`.
    ///
    /// # Example
    ///
    /// ```
    /// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `&[u8]` is always ready
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
    /// # block_on(async {
    /// let mut reader = minirt::io::BufReader::new(&b"a;b"[..]);
    /// let mut piece = Vec::new();
    /// reader.read_until(b';', &mut piece).await?;
    /// assert_eq!(piece, b"a;");
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    #[doc(alias = "readuntil")]
    pub fn read_until<'a>(&'a mut self, delim: u8, buf: &'a mut Vec<u8>) -> ReadUntil<'a, R> {
        ReadUntil {
            reader: self,
            delim,
            out: buf,
            scanned: 0,
        }
    }

    /// Reads exactly `buf.len()` bytes.
    ///
    /// # Errors
    ///
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) if the input ends first, and any error
    /// from the inner reader. Either way the bytes read so far are consumed and `buf` holds
    /// them at its start.
    ///
    /// # Cancellation safety
    ///
    /// **Not safe.** Bytes already copied into `buf` are consumed from the reader, and dropping
    /// the future forgets how many there were.
    ///
    /// # Example
    ///
    /// ```
    /// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `&[u8]` is always ready
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
    /// # block_on(async {
    /// let mut reader = minirt::io::BufReader::new(&b"\x00\x03abc"[..]);
    /// let mut header = [0; 2];
    /// reader.read_exact(&mut header).await?;
    /// assert_eq!(header, [0, 3]);
    /// let mut too_much = [0; 10];
    /// let err = reader.read_exact(&mut too_much).await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    #[doc(alias = "readexactly")]
    pub fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadExact<'a, R> {
        ReadExact {
            reader: self,
            out: buf,
            done: 0,
        }
    }

    /// Waits until the buffer holds a whole piece ending in `delim`, or the rest of the input.
    ///
    /// Returns the piece's length (0 at end of input); the piece is `buf[pos..pos + len]` and
    /// is *not* consumed, so a caller that is dropped now loses nothing. `scanned` remembers
    /// how far we have looked, so a long line is not searched again on every poll.
    fn poll_piece(
        &mut self,
        cx: &mut Context<'_>,
        delim: u8,
        scanned: &mut usize,
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_skip(cx))?;
        loop {
            let avail = &self.buf[self.pos..self.filled];
            // A piece may be `limit` bytes long, so its delimiter is among the first `limit`.
            let window = &avail[..avail.len().min(self.limit)];
            if let Some(i) = window[*scanned..].iter().position(|&b| b == delim) {
                return Poll::Ready(Ok(*scanned + i + 1));
            }
            *scanned = window.len();
            if avail.len() > self.limit {
                self.skip = Some(delim);
                self.skip_buffered();
                let msg = format!("line longer than the limit of {} bytes", self.limit);
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, msg)));
            }
            if ready!(self.poll_fill_more(cx))? == 0 {
                return Poll::Ready(Ok(self.filled - self.pos)); // end of input: the rest, as is
            }
        }
    }

    /// Reads once from the inner reader, adding to the end of the buffer. Makes room first:
    /// start again at 0 if empty, move the unconsumed bytes to the front if we reached the end,
    /// and grow (towards `limit + 1`) only if the buffer is full of one unfinished line.
    /// Returns how many bytes were added; 0 means end of input.
    fn poll_fill_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.pos == self.filled {
            (self.pos, self.filled) = (0, 0);
        } else if self.filled == self.buf.len() && self.pos > 0 {
            self.buf.copy_within(self.pos..self.filled, 0);
            (self.pos, self.filled) = (0, self.filled - self.pos);
        } else if self.filled == self.buf.len() {
            let len = self.buf.len();
            let new_len = len.saturating_mul(2).min(self.limit.saturating_add(1));
            // reserve_exact: plain `resize` may round the allocation up past the limit.
            self.buf.reserve_exact(new_len - len);
            self.buf.resize(new_len, 0);
        }
        debug_assert!(
            self.filled < self.buf.len(),
            "no room: pos {} filled {} len {} limit {}",
            self.pos,
            self.filled,
            self.buf.len(),
            self.limit
        );
        let n = ready!(Pin::new(&mut self.inner).poll_read(cx, &mut self.buf[self.filled..]))?;
        self.filled += n;
        Poll::Ready(Ok(n))
    }

    /// After an over-long line: throws bytes away through the delimiter, or to end of input.
    fn poll_skip(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.skip.is_some() && !self.skip_buffered() {
            if ready!(self.poll_fill_more(cx))? == 0 {
                self.skip = None;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Skips within the buffer. Returns true if the delimiter was found (skipping is over).
    fn skip_buffered(&mut self) -> bool {
        let Some(delim) = self.skip else { return true };
        match self.buf[self.pos..self.filled]
            .iter()
            .position(|&b| b == delim)
        {
            Some(i) => {
                self.pos += i + 1;
                self.skip = None;
                true
            }
            None => {
                self.pos = self.filled;
                false
            }
        }
    }

    /// What `poll_fill_buf` does, without needing a `Pin`.
    fn fill_buf_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        ready!(self.poll_skip(cx))?;
        if self.pos == self.filled {
            ready!(self.poll_fill_more(cx))?;
        }
        Poll::Ready(Ok(&self.buf[self.pos..self.filled]))
    }
}

impl<R> BufReader<R> {
    /// The inner reader.
    ///
    /// # Example
    ///
    /// ```
    /// let reader = minirt::io::BufReader::new(&b"abc"[..]);
    /// assert_eq!(*reader.get_ref(), b"abc");
    /// ```
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader, mutably. Reading from it directly skips the buffered bytes, which is
    /// rarely what you want; writing to it (for a socket) is fine.
    ///
    /// # Example
    ///
    /// ```
    /// let mut reader = minirt::io::BufReader::new(&b"abc"[..]);
    /// *reader.get_mut() = &b"xyz"[..];
    /// ```
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Unwraps the inner reader. Bytes still in the buffer are lost: look at
    /// [`buffer`](Self::buffer) first if they matter.
    ///
    /// # Example
    ///
    /// ```
    /// let reader = minirt::io::BufReader::new(&b"abc"[..]);
    /// let inner: &[u8] = reader.into_inner();
    /// assert_eq!(inner, b"abc");
    /// ```
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The bytes read from the inner reader but not yet handed out.
    ///
    /// Right after an over-long line this may still hold the end of that line, which the next
    /// read will skip.
    ///
    /// # Example
    ///
    /// ```
    /// # fn block_on<F: Future>(f: F) -> F::Output { // one poll: `&[u8]` is always ready
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     let std::task::Poll::Ready(v) = std::pin::pin!(f).poll(&mut cx) else { panic!() }; v }
    /// # block_on(async {
    /// let mut reader = minirt::io::BufReader::new(&b"one\ntwo\n"[..]);
    /// reader.read_line(&mut String::new()).await?;
    /// assert_eq!(reader.buffer(), b"two\n"); // read in the same chunk as "one\n"
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// The buffer's allocation, for the memory-bound test.
    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

impl<R: fmt::Debug> fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.filled - self.pos))
            .field("limit", &self.limit)
            .field("skipping", &self.skip.is_some())
            .finish()
    }
}

/// Reads through the buffer. A large read into an empty buffer goes straight to the inner reader.
impl<R: AsyncRead + Unpin> AsyncRead for BufReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.skip.is_none() && this.pos == this.filled && out.len() >= this.buf.len() {
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        let avail = ready!(this.fill_buf_inner(cx))?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

/// Lends out the buffer. No line limit applies here: at most one buffer's worth is returned.
impl<R: AsyncRead + Unpin> AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().fill_buf_inner(cx)
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

/// Writes go straight to the inner writer, so a `BufReader` over a socket can still answer.
impl<R: AsyncWrite + Unpin> AsyncWrite for BufReader<R> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// The future of [`BufReader::read_line`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct ReadLine<'a, R> {
    reader: &'a mut BufReader<R>,
    out: &'a mut String,
    /// How many bytes of the unfinished line we have already searched. A hint only.
    scanned: usize,
}

impl<R: AsyncRead + Unpin> Future for ReadLine<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let reader = &mut *this.reader;
        let n = ready!(reader.poll_piece(cx, b'\n', &mut this.scanned))?;
        let line = std::str::from_utf8(&reader.buf[reader.pos..reader.pos + n]);
        let result = match line {
            Ok(line) => {
                this.out.push_str(line);
                Ok(n)
            }
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        reader.pos += n; // consumed either way
        Poll::Ready(result)
    }
}

/// The future of [`BufReader::read_until`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct ReadUntil<'a, R> {
    reader: &'a mut BufReader<R>,
    delim: u8,
    out: &'a mut Vec<u8>,
    /// As in [`ReadLine`].
    scanned: usize,
}

impl<R: AsyncRead + Unpin> Future for ReadUntil<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let reader = &mut *this.reader;
        let n = ready!(reader.poll_piece(cx, this.delim, &mut this.scanned))?;
        this.out
            .extend_from_slice(&reader.buf[reader.pos..reader.pos + n]);
        reader.pos += n;
        Poll::Ready(Ok(n))
    }
}

/// The future of [`BufReader::read_exact`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct ReadExact<'a, R> {
    reader: &'a mut BufReader<R>,
    out: &'a mut [u8],
    /// How many bytes of `out` are filled. This count is why the future is not cancel-safe.
    done: usize,
}

impl<R: AsyncRead + Unpin> Future for ReadExact<'_, R> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.done < this.out.len() {
            let n = ready!(Pin::new(&mut *this.reader).poll_read(cx, &mut this.out[this.done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            this.done += n;
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endless line with no newline, handed out `CHUNK` bytes per read.
    struct Endless {
        left: usize,
    }

    const CHUNK: usize = 4096;

    impl AsyncRead for Endless {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            out: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let n = out.len().min(CHUNK).min(self.left);
            out[..n].fill(b'x');
            self.left -= n;
            Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn a_ten_mib_line_never_grows_the_buffer_past_the_limit() {
        let mut reader = BufReader::new(Endless { left: 10 << 20 });
        let mut line = String::new();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut fut = reader.read_line(&mut line);
        let err = match Pin::new(&mut fut).poll(&mut cx) {
            Poll::Ready(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // The next call skips the other 10 MiB and finds the end of input.
        let mut fut = reader.read_line(&mut line);
        assert!(matches!(
            Pin::new(&mut fut).poll(&mut cx),
            Poll::Ready(Ok(0))
        ));
        assert!(line.is_empty());
        // The buffer only ever grows, so its size now is the most it ever had.
        let cap = reader.buffer_capacity();
        assert!(
            cap <= DEFAULT_LINE_LIMIT + CHUNK,
            "buffer grew to {cap} bytes"
        );
    }
}
