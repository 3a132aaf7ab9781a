//! The web server and the log collector fed random and malformed bytes: each bad client gets
//! an error reply or a clean close, the server keeps serving, and its memory stays bounded.
mod example_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const CLIENTS: u64 = 200;

/// A fixed-seed xorshift: the same garbage on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Random bytes, sometimes with HTTP-ish or line-ish pieces mixed in.
    fn garbage(&mut self) -> Vec<u8> {
        let len = (self.next() % 20_000) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
        match self.next() % 4 {
            0 => bytes.splice(0..0, b"GET /".iter().copied()).for_each(drop),
            1 => bytes
                .splice(
                    0..0,
                    b"POST /db HTTP/1.1\r\nContent-Length: 99999999\r\n"
                        .iter()
                        .copied(),
                )
                .for_each(drop),
            2 => bytes.extend_from_slice(b"\r\n\r\n"),
            _ => bytes.push(b'\n'),
        }
        bytes
    }
}

/// Sends `bytes`, closes the write side, and reads whatever comes back until the server
/// closes (bounded by a read timeout). Returns the reply.
fn throw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The server may close before reading everything: a reset on write is a clean refusal.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

/// The child's resident memory, in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_web_server_survives_garbage() {
    let (server, addr) = example_support::start_server("web_server", &["--addr", "127.0.0.1:0"]);
    let pid = server.child.id();
    let before = rss_kib(pid);
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    for _ in 0..CLIENTS {
        let reply = throw(addr, &rng.garbage());
        // Either nothing (a clean close) or an HTTP error status, never a 2xx or a 5xx.
        if !reply.is_empty() {
            let head = String::from_utf8_lossy(&reply[..reply.len().min(12)]).to_string();
            assert!(head.starts_with("HTTP/1.1 4"), "unexpected reply {head:?}");
        }
    }
    // Still serving.
    let reply = throw(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(String::from_utf8_lossy(&reply).contains("Hello, World"));
    let after = rss_kib(pid);
    println!("RSS {before} KiB before {CLIENTS} garbage clients, {after} KiB after");
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn the_log_collector_survives_garbage() {
    let dir = std::env::temp_dir().join(format!("minirt-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("logs.db");
    let (server, addr) = example_support::start_server(
        "log_collector",
        &["--addr", "127.0.0.1:0", "--db", db.to_str().unwrap()],
    );
    let pid = server.child.id();
    let before = rss_kib(pid);
    let mut rng = Rng(0x5eed_cafe_f00d_0002);
    for _ in 0..CLIENTS {
        let reply = throw(addr, &rng.garbage());
        for line in String::from_utf8_lossy(&reply).lines() {
            assert!(
                line == "ok" || line.starts_with("error:"),
                "unexpected reply {line:?}"
            );
        }
    }
    // Still serving.
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    (&stream).write_all(b"INFO still here\n").unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "ok\n");
    let after = rss_kib(pid);
    println!("RSS {before} KiB before {CLIENTS} garbage clients, {after} KiB after");
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
