//! Buffered reading with a line-length limit, small write helpers, and the process's stdin,
//! stdout and stderr for async code.
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
//! # Stdin, stdout and stderr
//!
//! [`stdout()`] and [`stderr()`] give handles that write into a bounded buffer (at most
//! [`BUFFER_CAPACITY`] bytes) which a writer thread of their own empties; [`stdin()`] reads
//! through a reader thread, one chunk on demand. A task waits for them as it waits for a
//! socket, and the loop goes on. Memory is bounded: when the buffer is full a write waits (or
//! [`Stdout::try_write_all`] returns `WouldBlock`, for logs that may drop a line); it never
//! grows. Why threads, and not the reactor or the blocking pool: see [`Stdout`]'s source,
//! `src/io/stdout.rs`. Call [`Stdout::flush`] before `main` returns (or [`flush_stdio`] once
//! the runtime has stopped), or the end of the output may be lost.
//!
//! # Never block the loop
//!
//! minirt runs every task on one thread. A call that blocks that thread stops *every* task,
//! every timer and every socket until it returns. The usual culprits, and what to use instead:
//!
//! | blocks the loop | use instead |
//! |---|---|
//! | `println!`, `print!`, `eprintln!` (a reader of stdout that is slow, or stopped, freezes the whole program) | [`stdout()`]`.write_line(..).await`, [`stderr()`], or [`Stdout::try_write_all`] for logs |
//! | `std::fs` (a slow disk, a network file system) | [`spawn_blocking`](crate::spawn_blocking)`(move \|\| std::fs::read(path))` |
//! | DNS lookups: `ToSocketAddrs` with a host name, `TcpStream::connect("example.com:80")` | resolve once in [`spawn_blocking`](crate::spawn_blocking), then connect to the IP address |
//! | `std::thread::sleep` | [`sleep`](crate::sleep)`(d).await` |
//! | `std::io::stdin().read_line` | [`BufReader`]`::new(`[`stdin()`]`).read_line(..).await` |
//! | a blocking database driver, a CPU-heavy loop | [`spawn_blocking`](crate::spawn_blocking) |
//!
//! `println!` before [`run`](crate::run) starts, or after it returns, is fine: no task waits
//! then. Slow polls show up in the slow-poll warnings (`MINIRT_SLOW_POLL_MS`).
//!
//! The examples drive futures with a tiny hidden `block_on` that polls once. That is enough
//! because a `&[u8]` reader is always ready; real code awaits inside minirt's runtime.

mod buf_reader;
mod ops;
mod stdin;
mod stdout;

pub use buf_reader::{BufReader, DEFAULT_LINE_LIMIT, ReadExact, ReadLine, ReadUntil};
pub use ops::{Flush, Read, Write, WriteAll, flush, read, write, write_all};
pub use stdin::{STDIN_CHUNK, Stdin, stdin};
pub use stdout::{
    BUFFER_CAPACITY, FlushStd, StdWriter, Stderr, Stdout, WriteLine, flush_stdio, stderr, stdout,
};
