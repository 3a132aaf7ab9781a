//! Buffered reading with a line-length limit, and small write helpers.
//!
//! # Why buffer a socket?
//!
//! A socket hands you whatever bytes have arrived, in whatever pieces the network chose. A line
//! protocol wants whole lines. [`BufReader`] sits between the two: it asks the socket for a big
//! chunk at a time (one system call instead of one per byte), keeps the bytes in its own buffer,
//! and hands them out a line (or any number of bytes) at a time. Bytes read but not yet handed
//! out stay in the buffer for the next call; [`BufReader::buffer`] shows them.
//!
//! # Why a limit?
//!
//! A server that reads "until the newline" lets the client decide how much memory it uses: a
//! client that never sends `\n` would make the buffer grow until the process dies. So every
//! `BufReader` has a line limit ([`DEFAULT_LINE_LIMIT`] unless you choose another). A line longer
//! than the limit is an [`InvalidData`](std::io::ErrorKind::InvalidData) error, found as soon as the
//! buffer holds one byte more than the limit, so the buffer never grows past that. The next read
//! then throws away the rest of that line, through its newline, so a server can reply "line too
//! long" and carry on with the next line.
//!
//! # Cancellation
//!
//! In async Rust, cancelling means dropping a future before it finishes. Whether that loses data
//! depends on where the data was kept:
//!
//! - [`read_line`](BufReader::read_line) and [`read_until`](BufReader::read_until) are
//!   **cancellation-safe**. A half-read line stays in the `BufReader`'s own buffer, not in the
//!   future, and nothing is consumed until the whole line is there. Drop the future (say, because
//!   a timeout fired) and call again: you get the whole line.
//! - [`read_exact`](BufReader::read_exact) and [`write_all`] are **not**: bytes already copied
//!   into your slice, or already written to the socket, are gone, and the future that counted
//!   them is gone too.
//! - [`read`], [`write()`] and [`flush`] are cancellation-safe: they do their work in one step,
//!   when they return `Ready`.
//!
//! # Pinning
//!
//! Everything here asks for `Unpin` readers and writers (`R: Unpin`). Sockets, `&[u8]` and
//! `Vec<u8>` are all `Unpin`, and it lets the code use `Pin::new(&mut inner)` with no unsafe
//! code and no pin projection. To use a `!Unpin` reader, box it: `Box::pin(reader)` is `Unpin`.
//!
//! The examples drive futures with a tiny hidden `block_on` that polls once. That is enough
//! because a `&[u8]` reader is always ready; real code awaits inside minirt's runtime.

mod buf_reader;
mod ops;

pub use buf_reader::{BufReader, DEFAULT_LINE_LIMIT, ReadExact, ReadLine, ReadUntil};
pub use ops::{Flush, Read, Write, WriteAll, flush, read, write, write_all};
