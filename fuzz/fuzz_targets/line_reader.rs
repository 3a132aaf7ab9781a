//! Fuzzes `minirt::io::BufReader::read_line`, the line reader every example puts in front of
//! its sockets, against a reference model written the obvious way.
//!
//! The input's first two bytes choose the line limit (1 to 256 bytes) and how the rest
//! arrives (in pieces of 1 to 16 bytes, a `Pending` between some of them): the reader must
//! give the same lines and the same errors whatever the cut.

#![no_main]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;

/// Hands out `data` in pieces of at most `piece` bytes, returning `Pending` (after waking
/// itself) before every other piece.
struct Chunked<'a> {
    data: &'a [u8],
    piece: usize,
    stall: bool,
}

impl futures_io::AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.stall {
            self.stall = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.stall = true;
        let n = self.data.len().min(self.piece).min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(n))
    }
}

/// What `read_line` should return for each call: a line, or an error kind, until end of input.
fn model(data: &[u8], limit: usize) -> Vec<Result<String, io::ErrorKind>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        rest = &rest[end..];
        if line.len() > limit {
            out.push(Err(io::ErrorKind::InvalidData));
        } else {
            match std::str::from_utf8(line) {
                Ok(text) => out.push(Ok(text.to_owned())),
                Err(_) => out.push(Err(io::ErrorKind::InvalidData)),
            }
        }
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let [limit, piece, data @ ..] = input else { return };
    let limit = usize::from(*limit) + 1;
    let piece = usize::from(*piece % 16) + 1;
    let expected = model(data, limit);

    let mut reader = minirt::io::BufReader::with_limit(
        Chunked { data, piece, stall: false },
        limit,
    );
    let mut cx = Context::from_waker(Waker::noop());
    let mut got = Vec::new();
    loop {
        let mut line = String::new();
        let result = loop {
            let mut read = std::pin::pin!(reader.read_line(&mut line));
            // `Chunked` wakes itself before every `Pending`, so polling again is the loop.
            if let Poll::Ready(result) = read.as_mut().poll(&mut cx) {
                break result;
            }
        };
        match result {
            Ok(0) => break,
            Ok(n) => {
                assert_eq!(n, line.len());
                got.push(Ok(line));
            }
            Err(e) => {
                assert!(line.is_empty(), "an error leaves the buffer unchanged");
                got.push(Err(e.kind()));
            }
        }
        assert!(got.len() <= data.len() + 1, "more lines than bytes");
    }
    assert_eq!(got, expected, "limit {limit}, pieces of {piece}");
});
