//! Tests for `minirt::io`, through its public API only.
//!
//! minirt's executor is not used here: each future is polled by hand with a waker that records
//! whether it was woken, so a test also checks that every `Pending` came with a wake-up.

use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use futures_task::ArcWake;
use minirt::io::{self as mio, BufReader, DEFAULT_LINE_LIMIT};
use proptest::prelude::*;

/// A reader that hands out `data` in pieces of the scripted sizes, and before some reads says
/// `Pending` (waking the waker at once, as a socket that becomes ready would). Never two
/// `Pending`s in a row, so it always makes progress. The scripts repeat.
struct Scripted {
    data: Vec<u8>,
    pos: usize,
    chunks: Vec<usize>,
    pendings: Vec<bool>,
    reads: usize,
    pended: bool,
    /// What was written through `AsyncWrite`, at most `write_chunk` bytes per write.
    written: Vec<u8>,
    write_chunk: usize,
}

impl Scripted {
    fn new(data: &[u8], chunks: &[usize], pendings: &[bool]) -> Self {
        Scripted {
            data: data.to_vec(),
            pos: 0,
            chunks: chunks.iter().map(|&c| c.max(1)).collect(),
            pendings: pendings.to_vec(),
            reads: 0,
            pended: false,
            written: Vec::new(),
            write_chunk: usize::MAX,
        }
    }

    /// Every read is ready and hands out up to `chunk` bytes.
    fn chunked(data: &[u8], chunk: usize) -> Self {
        Self::new(data, &[chunk], &[false])
    }

    /// Returns `Pending` now if the script says so.
    fn maybe_pend(&mut self, cx: &mut Context<'_>) -> bool {
        let step = self.reads;
        self.reads += 1;
        if !self.pended && self.pendings[step % self.pendings.len()] {
            self.pended = true;
            cx.waker().wake_by_ref();
            return true;
        }
        self.pended = false;
        false
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.maybe_pend(cx) {
            return Poll::Pending;
        }
        let chunk = self.chunks[self.reads % self.chunks.len()];
        let n = out.len().min(chunk).min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.maybe_pend(cx) {
            return Poll::Pending;
        }
        let n = buf.len().min(self.write_chunk);
        self.written.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A waker that remembers being woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl ArcWake for Flag {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls once. A `Pending` must have woken the waker.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let flag = Arc::new(Flag::default());
    let waker = futures_task::waker(flag.clone());
    let poll = Pin::new(fut).poll(&mut Context::from_waker(&waker));
    if poll.is_pending() {
        assert!(
            flag.0.load(Ordering::SeqCst),
            "Pending without a wake-up: this would hang"
        );
    }
    poll
}

/// Polls until ready.
fn drive<F: Future + Unpin>(mut fut: F) -> F::Output {
    loop {
        if let Poll::Ready(out) = poll_once(&mut fut) {
            return out;
        }
    }
}

fn line(reader: &mut BufReader<Scripted>) -> io::Result<String> {
    let mut s = String::new();
    drive(reader.read_line(&mut s)).map(|_| s)
}

// ---- the model test: random input, chunking, Pendings and cancellations ----

/// What one `read_line`/`read_until` call gives, in a form the reference can predict.
#[derive(Debug, PartialEq)]
enum Got {
    Piece(Vec<u8>),
    Eof,
    InvalidData,
}

/// The reference: split the whole input after each `\n`. A piece longer than `limit` is one
/// `InvalidData` (and is skipped whole); so is a line that is not UTF-8, for `read_line`.
fn expected(input: &[u8], limit: usize, as_line: impl Fn(usize) -> bool) -> Vec<Got> {
    let mut out: Vec<Got> = input
        .split_inclusive(|&b| b == b'\n')
        .enumerate()
        .map(|(i, piece)| {
            if piece.len() > limit || (as_line(i) && std::str::from_utf8(piece).is_err()) {
                Got::InvalidData
            } else {
                Got::Piece(piece.to_vec())
            }
        })
        .collect();
    out.extend([Got::Eof, Got::Eof]);
    out
}

/// Runs the calls against `Scripted`, dropping a future after a `Pending` when `cancels`
/// says so, and checks each result against the reference.
fn check(
    input: &[u8],
    limit: usize,
    chunks: &[usize],
    pendings: &[bool],
    lines: &[bool],
    cancels: &[bool],
) {
    let as_line = |i: usize| lines[i % lines.len()];
    let mut reader = BufReader::with_limit(Scripted::new(input, chunks, pendings), limit);
    let mut cancel_step = 0;
    let mut cancel = || {
        cancel_step += 1;
        cancels[cancel_step % cancels.len()]
    };
    for (i, want) in expected(input, limit, as_line).into_iter().enumerate() {
        let got = if as_line(i) {
            let mut s = String::from("old");
            let result = loop {
                let mut fut = reader.read_line(&mut s);
                match poll_once(&mut fut) {
                    Poll::Ready(r) => break r,
                    Poll::Pending if cancel() => drop(fut), // and call again
                    Poll::Pending => break drive(fut),
                }
            };
            match result {
                Ok(0) => Got::Eof,
                Ok(n) => {
                    assert_eq!(n, s.len() - 3);
                    Got::Piece(s.as_bytes()[3..].to_vec())
                }
                Err(e) => {
                    assert_eq!(s, "old", "buf must be unchanged on error");
                    assert_eq!(e.kind(), ErrorKind::InvalidData);
                    Got::InvalidData
                }
            }
        } else {
            let mut v = Vec::new();
            let result = loop {
                let mut fut = reader.read_until(b'\n', &mut v);
                match poll_once(&mut fut) {
                    Poll::Ready(r) => break r,
                    Poll::Pending if cancel() => drop(fut),
                    Poll::Pending => break drive(fut),
                }
            };
            match result {
                Ok(0) => Got::Eof,
                Ok(n) => {
                    assert_eq!(n, v.len());
                    Got::Piece(v)
                }
                Err(e) => {
                    assert!(v.is_empty());
                    assert_eq!(e.kind(), ErrorKind::InvalidData);
                    Got::InvalidData
                }
            }
        };
        assert_eq!(got, want, "call {i}");
        assert!(reader.buffer().len() <= limit.max(8192) + 1);
    }
}

/// Input bytes: plain, newline, the two bytes of "é", and a byte that is never UTF-8.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'a', b'\n', 0xC3, 0xA9, 0xFF]),
        0..max,
    )
}

proptest! {
    #[test]
    fn short_lines_match_the_reference(
        input in bytes(300),
        limit in 1usize..20,
        chunks in prop::collection::vec(1usize..16, 1..8),
        pendings in prop::collection::vec(any::<bool>(), 1..8),
        lines in prop::collection::vec(any::<bool>(), 1..8),
        cancels in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        check(&input, limit, &chunks, &pendings, &lines, &cancels);
    }

    /// Lines around the 8 KiB starting buffer, so it has to move and grow.
    #[test]
    fn long_lines_match_the_reference(
        lens in prop::collection::vec((0usize..24_000, any::<bool>()), 0..6),
        limit in 6_000usize..20_000,
        chunks in prop::collection::vec(1usize..9_000, 1..4),
        pendings in prop::collection::vec(any::<bool>(), 1..4),
        cancels in prop::collection::vec(any::<bool>(), 1..4),
    ) {
        let mut input = Vec::new();
        for (len, newline) in lens {
            input.extend(std::iter::repeat_n(b'a', len));
            if newline {
                input.push(b'\n');
            }
        }
        check(&input, limit, &chunks, &pendings, &[true, false], &cancels);
    }
}

// ---- the cases, one by one ----

#[test]
fn an_over_long_line_is_an_error_and_the_next_line_reads_fine() {
    let mut reader =
        BufReader::with_limit(Scripted::chunked(b"short\nmuch too long\nnext\n", 3), 8);
    assert_eq!(line(&mut reader).unwrap(), "short\n");
    assert_eq!(
        line(&mut reader).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    assert_eq!(line(&mut reader).unwrap(), "next\n");
    assert_eq!(line(&mut reader).unwrap(), "");
}

#[test]
fn after_an_over_long_line_read_exact_also_skips_its_rest() {
    let mut reader = BufReader::with_limit(Scripted::chunked(b"much too long\nab", 4), 8);
    assert!(line(&mut reader).is_err());
    let mut two = [0; 2];
    drive(reader.read_exact(&mut two)).unwrap();
    assert_eq!(&two, b"ab");
}

#[test]
fn a_line_exactly_at_the_limit_is_fine_one_more_byte_is_not() {
    let mut reader = BufReader::with_limit(Scripted::chunked(b"1234\n12345\n1234\n12345", 2), 5);
    assert_eq!(line(&mut reader).unwrap(), "1234\n");
    assert!(line(&mut reader).is_err());
    assert_eq!(line(&mut reader).unwrap(), "1234\n");
    assert_eq!(line(&mut reader).unwrap(), "12345"); // 5 bytes at end of input: fits
    assert_eq!(line(&mut reader).unwrap(), "");
}

#[test]
fn a_last_line_without_newline_is_returned_as_is() {
    let mut reader = BufReader::new(Scripted::chunked(b"a\nno newline", 4));
    assert_eq!(line(&mut reader).unwrap(), "a\n");
    assert_eq!(line(&mut reader).unwrap(), "no newline");
    assert_eq!(line(&mut reader).unwrap(), "");
}

#[test]
fn empty_input_is_end_of_input_at_once_and_again() {
    let mut reader = BufReader::new(Scripted::chunked(b"", 4));
    assert_eq!(line(&mut reader).unwrap(), "");
    let mut v = Vec::new();
    assert_eq!(drive(reader.read_until(b'\n', &mut v)).unwrap(), 0);
    assert_eq!(line(&mut reader).unwrap(), "");
}

#[test]
fn invalid_utf8_is_an_error_that_consumes_the_line_and_leaves_buf_alone() {
    let mut reader = BufReader::new(Scripted::chunked(b"ok\n\xff\xfe\nafter\n", 5));
    let mut s = String::new();
    drive(reader.read_line(&mut s)).unwrap();
    let err = drive(reader.read_line(&mut s)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert_eq!(s, "ok\n");
    drive(reader.read_line(&mut s)).unwrap();
    assert_eq!(s, "ok\nafter\n");
}

#[test]
fn a_cancelled_read_line_loses_nothing() {
    // First read: "hel". Then Pending. Then the rest.
    let input = b"hello\nworld\n";
    let mut reader = BufReader::new(Scripted::new(input, &[3], &[false, true]));
    let mut s = String::new();
    let mut fut = reader.read_line(&mut s);
    assert!(poll_once(&mut fut).is_pending());
    drop(fut); // cancelled mid-line, like a timeout firing
    assert!(s.is_empty());
    assert_eq!(reader.buffer(), b"hel"); // the partial line waits in the reader
    assert_eq!(drive(reader.read_line(&mut s)).unwrap(), 6);
    assert_eq!(s, "hello\n");
}

#[test]
fn a_cancelled_read_until_loses_nothing() {
    let mut reader = BufReader::new(Scripted::new(b"ab;cd;", &[1], &[false, true]));
    let mut v = Vec::new();
    let mut fut = reader.read_until(b';', &mut v);
    assert!(poll_once(&mut fut).is_pending());
    drop(fut);
    drive(reader.read_until(b';', &mut v)).unwrap();
    assert_eq!(v, b"ab;");
}

#[test]
fn read_exact_reads_across_chunks_and_reports_short_input() {
    let mut reader = BufReader::new(Scripted::new(b"0123456789", &[3], &[true, false]));
    let mut seven = [0; 7];
    drive(reader.read_exact(&mut seven)).unwrap();
    assert_eq!(&seven, b"0123456");
    let mut five = [0; 5];
    let err = drive(reader.read_exact(&mut five)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    assert_eq!(&five[..3], b"789");
}

#[test]
fn read_exact_of_nothing_is_ok_even_at_end_of_input() {
    let mut reader = BufReader::new(Scripted::chunked(b"", 1));
    drive(reader.read_exact(&mut [])).unwrap();
}

#[test]
fn the_async_read_and_buf_read_impls_see_the_same_bytes() {
    let mut reader = BufReader::new(Scripted::chunked(b"line\nrest of it", 100));
    assert_eq!(line(&mut reader).unwrap(), "line\n");
    // Poll the trait methods by hand, through the `read` helper and a little future.
    let mut buf = [0; 4];
    assert_eq!(drive(mio::read(&mut reader, &mut buf)).unwrap(), 4);
    assert_eq!(&buf, b"rest");
    let mut fill = std::future::poll_fn(|cx| {
        Pin::new(&mut reader)
            .poll_fill_buf(cx)
            .map_ok(|b| b.to_vec())
    });
    assert_eq!(drive(&mut fill).unwrap(), b" of it");
    Pin::new(&mut reader).consume(4);
    assert_eq!(reader.buffer(), b"it");
    // A big read with an empty buffer goes straight to the inner reader.
    let mut reader = BufReader::new(Scripted::chunked(b"direct", 100));
    let mut big = vec![0; 10_000];
    assert_eq!(drive(mio::read(&mut reader, &mut big)).unwrap(), 6);
    assert!(reader.buffer().is_empty());
}

#[test]
fn writes_pass_through_a_buf_reader() {
    let mut inner = Scripted::new(b"ping\n", &[100], &[true, false]);
    inner.write_chunk = 2; // a writer that takes 2 bytes at a time, after Pendings
    let mut stream = BufReader::new(inner);
    assert_eq!(line(&mut stream).unwrap(), "ping\n");
    drive(mio::write_all(&mut stream, b"pong\n")).unwrap();
    drive(mio::flush(&mut stream)).unwrap();
    assert_eq!(stream.get_ref().written, b"pong\n");
    assert_eq!(stream.into_inner().written, b"pong\n");
}

#[test]
fn write_all_to_a_full_writer_is_write_zero() {
    let mut full = Scripted::chunked(b"", 1);
    full.write_chunk = 0; // accepts nothing: it can take no more
    let err = drive(mio::write_all(&mut full, b"x")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WriteZero);
}

#[test]
fn default_limit_is_64_kib() {
    assert_eq!(DEFAULT_LINE_LIMIT, 64 * 1024);
    let long = [
        b"x".repeat(DEFAULT_LINE_LIMIT - 1),
        b"\n".to_vec(),
        b"x".repeat(DEFAULT_LINE_LIMIT),
        b"\n".to_vec(),
    ];
    let mut reader = BufReader::new(Scripted::chunked(&long.concat(), 5000));
    assert_eq!(line(&mut reader).unwrap().len(), DEFAULT_LINE_LIMIT);
    assert!(line(&mut reader).is_err());
    assert_eq!(line(&mut reader).unwrap(), "");
}

#[test]
#[should_panic(expected = "at least 1 byte")]
fn a_limit_of_zero_is_rejected() {
    let _ = BufReader::with_limit(&b""[..], 0);
}
