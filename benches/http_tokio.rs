//! The tokio twin of `examples/web_server`'s `GET /`, for `benches/http.sh`: the same HTTP/1.1
//! connection loop (keep-alive, pipelined answers gathered and written before the next read,
//! an idle timeout on every read and write, a cap on open connections), the same `httparse`
//! head parsing and the same answer bytes, on tokio's current_thread runtime. Only `GET /` is
//! served (anything else is 404): the database route is not part of the benchmark.
//!
//! ```text
//! cargo bench --bench http_tokio -- --serve --addr 127.0.0.1:0    # prints "listening on ADDR"
//! cargo bench --bench http_tokio -- --serve --workers 2    # tokio's multi-thread runtime
//! ```
//!
//! With `--workers N` it runs on tokio's work-stealing multi-thread runtime with N workers
//! (`tokio::spawn`), the peer of `web_server --threads N`; without, on current_thread with a
//! `LocalSet` (`spawn_local`).
//!
//! Without `--serve` it exits at once, so that a plain `cargo bench` does not start a server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The example's defaults and limits.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
const READ_CHUNK: usize = 8 * 1024;
const FLUSH_AT: usize = 64 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 512;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--serve") {
        println!("http_tokio: the tokio server for benches/http.sh; pass --serve to run it");
        return;
    }
    let addr = args
        .iter()
        .position(|a| a == "--addr")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let workers: Option<usize> = args.iter().position(|a| a == "--workers").map(|i| {
        args.get(i + 1)
            .and_then(|n| n.parse().ok())
            .expect("--workers N")
    });
    if let Some(workers) = workers {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("tokio runtime");
        return rt.block_on(accept_loop(addr, true));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, accept_loop(addr, false));
}

/// Accepts connections forever, one task each: `tokio::spawn` on the multi-thread runtime
/// (`shared`), `spawn_local` on current_thread.
async fn accept_loop(addr: String, shared: bool) {
    let listener = TcpListener::bind(&addr).await.expect("bind");
    println!("listening on {}", listener.local_addr().unwrap());
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots.clone().acquire_owned().await.unwrap();
        match listener.accept().await {
            Ok((stream, _)) => {
                let task = async move {
                    serve_client(stream).await;
                    drop(slot);
                };
                if shared {
                    tokio::spawn(task);
                } else {
                    tokio::task::spawn_local(task);
                }
            }
            Err(e) => {
                eprintln!("http_tokio: accept failed: {e}; retrying in 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Answers requests in order until the client closes, or asks to.
async fn serve_client(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut input, mut output) = (Vec::new(), Vec::new());
    let mut scratch = vec![0; READ_CHUNK];
    loop {
        let deadline = Instant::now() + IDLE_TIMEOUT;
        let head = loop {
            match parse_head(&input) {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(()) => {
                    write_response(&mut output, 400, "malformed request", false);
                    let _ = stream.write_all(&output).await;
                    return;
                }
            }
            if !output.is_empty() {
                let write = stream.write_all(&output);
                if !matches!(tokio::time::timeout(IDLE_TIMEOUT, write).await, Ok(Ok(()))) {
                    return;
                }
                output.clear();
            }
            let read = stream.read(&mut scratch);
            match tokio::time::timeout_at(deadline.into(), read).await {
                Ok(Ok(n @ 1..)) => input.extend_from_slice(&scratch[..n]),
                _ => return,
            }
        };
        let (status, body) = if head.path.split('?').next() == Some("/") && head.method == "GET" {
            (200, "Hello, World")
        } else {
            (404, "not found")
        };
        write_response(&mut output, status, body, head.keep_alive);
        input.drain(..head.len);
        if !head.keep_alive {
            let _ = stream.write_all(&output).await;
            return;
        }
        if output.len() >= FLUSH_AT {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
    }
}

struct Head {
    method: String,
    path: String,
    len: usize,
    keep_alive: bool,
}

/// `Ok(None)` while the head is incomplete. Bodies are not expected on `GET /`.
fn parse_head(input: &[u8]) -> Result<Option<Head>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let window = &input[..input.len().min(MAX_HEAD)];
    let len = match request.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if window.len() < MAX_HEAD => return Ok(None),
        _ => return Err(()),
    };
    let (mut close, mut keep_alive) = (false, false);
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(header.value);
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    Ok(Some(Head {
        method: request.method.unwrap_or_default().to_owned(),
        path: request.path.unwrap_or_default().to_owned(),
        len,
        keep_alive: !close && (request.version == Some(1) || keep_alive),
    }))
}

/// The example's answer, byte for byte.
fn write_response(out: &mut Vec<u8>, status: u16, text: &str, keep_alive: bool) {
    use std::io::Write as _;
    let reason = if status == 200 { "OK" } else { "Not Found" };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let _ = write!(out, "HTTP/1.1 {status} {reason}\r\n");
    let _ = write!(out, "Content-Type: text/plain; charset=utf-8\r\n");
    let _ = write!(out, "Content-Length: {}\r\n", text.len() + 1);
    let _ = write!(out, "Connection: {connection}\r\n\r\n{text}\n");
}
