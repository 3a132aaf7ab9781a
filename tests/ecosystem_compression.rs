//! async-compression on minirt's split socket halves: gzip both ways. The client writes 1 MiB
//! through a gzip encoder on its write half while it reads the server's gzip answer through a
//! decoder on its read half; the server does the same with the bytes it decoded, turned to
//! upper case. Every byte is checked, and the wire is checked to carry gzip (smaller than the
//! text, and starting with gzip's magic number).
use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use async_compression::futures::bufread::GzipDecoder;
use async_compression::futures::write::GzipEncoder;
use futures::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use minirt::io::BufReader;
use minirt::net::{TcpListener, TcpStream};

/// Text that compresses well, and is not one repeated line.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!("line {i}: the quick brown fox, {}\n", i * i % 977).as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

/// Counts the bytes read through it, and keeps the first two.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<usize>>,
    head: Rc<Cell<[u8; 2]>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            let before = self.count.get();
            for (i, byte) in buf[..n].iter().enumerate() {
                if before + i < 2 {
                    let mut head = self.head.get();
                    head[before + i] = *byte;
                    self.head.set(head);
                }
            }
            self.count.set(before + n);
        }
        poll
    }
}

#[test]
fn gzip_both_ways_over_split_halves() {
    let sent = text(1 << 20);
    let expected = sent.to_ascii_uppercase();
    let (back, wire_in, head) = minirt::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The server: decode from its read half, answer upper case through an encoder on its
        // write half, as it goes.
        let server = minirt::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (reader, writer) = stream.into_split();
            let mut decoder = GzipDecoder::new(BufReader::new(reader));
            let mut encoder = GzipEncoder::new(writer);
            let mut chunk = vec![0; 16 * 1024];
            let mut total = 0;
            loop {
                let n = decoder.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                total += n;
                encoder
                    .write_all(&chunk[..n].to_ascii_uppercase())
                    .await
                    .unwrap();
            }
            encoder.close().await.unwrap();
            total
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (reader, writer) = stream.into_split();
        let writing = minirt::spawn(async move {
            let mut encoder = GzipEncoder::new(writer);
            encoder.write_all(&sent).await.unwrap();
            encoder.close().await.unwrap(); // the gzip trailer, then a half-close
        });
        let (count, head) = (Rc::new(Cell::new(0)), Rc::new(Cell::new([0; 2])));
        let counted = Counted {
            inner: reader,
            count: count.clone(),
            head: head.clone(),
        };
        let mut back = Vec::new();
        GzipDecoder::new(BufReader::new(counted))
            .read_to_end(&mut back)
            .await
            .unwrap();
        writing.await.unwrap();
        assert_eq!(
            server.await.unwrap(),
            1 << 20,
            "the server decoded every byte"
        );
        (back, count.get(), head.get())
    });
    assert!(
        back == expected,
        "the answer decoded to the upper-cased text"
    );
    assert_eq!(head, [0x1f, 0x8b], "the answer on the wire is gzip");
    assert!(
        wire_in < (1 << 20) / 4,
        "1 MiB of text came compressed to {wire_in} bytes"
    );
}
