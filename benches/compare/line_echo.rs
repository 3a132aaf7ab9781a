//! The line echo that issue 14 measured from outside the process, shared by the suite's
//! `echo_64_threads` row and by the standalone tools (`benches/echo_server.rs`,
//! `benches/echo_load.rs`, driven by `benches/echo_latency.sh`).
//!
//! The server side is one handler per connection, written the same way on every runtime:
//! `BufReader::read_line`, then `write_all` of the line on the reader's inner stream, no
//! printing, until the client closes its side. The client side is a plain OS thread with a
//! blocking std socket, as an outside load generator's would be: it writes a 128-byte line,
//! reads the echo back with `BufReader::read_line`, and times each round trip.
//!
//! Each bench target that includes this file uses only part of it.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The bytes of one line, newline included.
pub const LINE_LEN: usize = 128;

/// The line every client sends: `LINE_LEN - 1` bytes of text and a newline.
pub fn line() -> Vec<u8> {
    let mut line: Vec<u8> = (0..LINE_LEN - 1).map(|i| b'a' + (i % 26) as u8).collect();
    line.push(b'\n');
    line
}

/// When a client stops.
#[derive(Clone, Copy)]
pub enum Until {
    /// After this many round trips.
    RoundTrips(usize),
    /// At the first round trip that ends after this instant.
    Deadline(Instant),
}

/// Ping-pongs [`line`] over `stream` until `until`, then closes it. Returns the time of each
/// round trip, from just before the write to just after the whole line came back.
pub fn ping_pong(stream: TcpStream, until: Until) -> io::Result<Vec<Duration>> {
    stream.set_nodelay(true)?;
    let sent = line();
    let mut reader = BufReader::new(&stream);
    let mut writer = &stream;
    let mut back = String::with_capacity(LINE_LEN);
    let mut times = Vec::with_capacity(match until {
        Until::RoundTrips(n) => n,
        Until::Deadline(_) => 1 << 16,
    });
    loop {
        match until {
            Until::RoundTrips(n) if times.len() >= n => break,
            Until::Deadline(end) if Instant::now() >= end => break,
            _ => {}
        }
        back.clear();
        let start = Instant::now();
        writer.write_all(&sent)?;
        reader.read_line(&mut back)?;
        times.push(start.elapsed());
        if back.as_bytes() != sent {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the echo sent back {} bytes, not the line", back.len()),
            ));
        }
    }
    Ok(times)
}

/// The `q` quantile of sorted `times` (nearest rank), or zero if there are none.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The body of every runtime's handler, so that it is the same code on each: reads a line
/// from `$reader` (a `BufReader` around the connection), writes it back on the inner stream,
/// until end of input; then returns how many lines it echoed.
macro_rules! echo_lines {
    ($reader:ident) => {{
        let mut line = String::new();
        let mut lines = 0;
        loop {
            line.clear();
            if $reader.read_line(&mut line).await? == 0 {
                return Ok(lines);
            }
            $reader.get_mut().write_all(line.as_bytes()).await?;
            lines += 1;
        }
    }};
}

/// The server's handler on minirt: echoes lines until the client closes; returns how many.
pub async fn serve_minirt(stream: minirt::net::TcpStream) -> io::Result<u64> {
    stream.set_nodelay(true)?;
    let mut reader = minirt::io::BufReader::new(stream);
    echo_lines!(reader)
}

/// The same handler on tokio.
pub async fn serve_tokio(stream: tokio::net::TcpStream) -> io::Result<u64> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    stream.set_nodelay(true)?;
    let mut reader = tokio::io::BufReader::new(stream);
    echo_lines!(reader)
}

/// The same handler on smol (`async-io` sockets, `futures-lite`'s `BufReader`).
pub async fn serve_smol(stream: async_io::Async<TcpStream>) -> io::Result<u64> {
    use futures_lite::{AsyncBufReadExt, AsyncWriteExt};
    stream.get_ref().set_nodelay(true)?;
    let mut reader = futures_lite::io::BufReader::new(stream);
    echo_lines!(reader)
}
