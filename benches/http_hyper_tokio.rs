//! The tokio twin of `examples/hyper_server`, for `benches/http.sh`: the same hyper (the one
//! in Cargo.lock), the same hyper-util `auto::Builder` (HTTP/1.1 and h2c on one port), the
//! same `GET /` answer, the same header timeout (`--header-timeout-secs`, 10 by default, 0
//! for none), HTTP/2 pings and cap on open connections, on tokio's current_thread runtime with
//! hyper-util's `TokioExecutor`, `TokioTimer` and `TokioIo`: hyper as a tokio user runs it.
//!
//! ```text
//! cargo bench --bench http_hyper_tokio -- --serve --addr 127.0.0.1:0   # "listening on ADDR"
//! cargo bench --bench http_hyper_tokio -- --serve --header-timeout-secs 0
//! ```
//!
//! Without `--serve` it exits at once, so that a plain `cargo bench` does not start a server.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The example's default cap on open connections.
const MAX_CONNECTIONS: usize = 512;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--serve") {
        println!("http_hyper_tokio: the tokio server for benches/http.sh; pass --serve to run it");
        return;
    }
    let value = |flag: &str| {
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1).cloned()
    };
    let addr = value("--addr").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let secs: u64 = value("--header-timeout-secs").map_or(10, |s| s.parse().expect("seconds"));
    let header_timeout = (secs > 0).then(|| Duration::from_secs(secs));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(accept_loop(addr, header_timeout));
}

async fn accept_loop(addr: String, header_timeout: Option<Duration>) {
    let listener = TcpListener::bind(&addr).await.expect("bind");
    println!("listening on {}", listener.local_addr().unwrap());
    let mut http = auto::Builder::new(TokioExecutor::new());
    // Answers gathered into one buffer and one `write`, as `minirt::hyper::Io::new` has hyper
    // do for `hyper_server` (TokioIo would have it queue them for a `writev`, which costs more
    // for answers this small): the same work on both sides.
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .writev(false);
    http.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10));
    let http = Arc::new(http);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots.clone().acquire_owned().await.unwrap();
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let http = http.clone();
                tokio::spawn(async move {
                    let io = TokioIo::new(stream);
                    let _ = http.serve_connection(io, service_fn(answer)).await;
                    drop(slot);
                });
            }
            Err(e) => {
                eprintln!("http_hyper_tokio: accept failed: {e}; retrying in 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `examples/hyper_server`'s answer to `GET /`, byte for byte; anything else is 404.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => (StatusCode::OK, "Hello, World\n"),
        _ => (StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}
