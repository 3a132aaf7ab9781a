//! hyper 1.x on minirt through `minirt::hyper` (cargo feature `hyper`): HTTP/1.1 and HTTP/2
//! on one port, in the clear (h2c, "prior knowledge") or over TLS (futures-rustls, ALPN), with
//! no glue of its own: `Executor::new()`, `Timer::new()` and `Io::new(stream)` are all hyper
//! needs.
//!
//! ```text
//! cargo run --features hyper --example hyper_server                    # 127.0.0.1:8080
//! cargo run --features hyper --example hyper_server -- --addr 127.0.0.1:0 --tls cert.pem key.pem
//! cargo run --release --features hyper --example hyper_server -- --header-timeout-secs 0
//!
//! curl http://127.0.0.1:8080/                              # HTTP/1.1
//! curl --http2-prior-knowledge http://127.0.0.1:8080/      # h2c
//! curl -k https://127.0.0.1:8080/                          # with --tls: h2 by ALPN
//! curl --data-binary @file http://127.0.0.1:8080/echo      # the body back
//! ```
//!
//! Routes: `GET /` answers `Hello, World` (the answer of `examples/web_server`'s `GET /`, and
//! of the benchmark's tokio twin, `benches/http_hyper_tokio.rs`); `POST /echo` answers the
//! request's body (at most 1 MiB: 413 past that); anything else is 404.
//!
//! hyper-util's `auto::Builder` tells the protocols apart: a connection that opens with
//! HTTP/2's preface is served as HTTP/2, any other as HTTP/1.1. Over TLS, the certificate and
//! key are PEM files (`tests/example_hyper_server.rs` makes a self-signed pair with rcgen),
//! and ALPN offers `h2` and `http/1.1`.
//!
//! Deadlines, so that no client holds a connection for nothing:
//! - `--header-timeout-secs` (10 by default, 0 for none) to send each request's head on
//!   HTTP/1.1, which covers a keep-alive connection idle between requests (hyper's
//!   `header_read_timeout`, on minirt's timer wheel through `Timer`), and to send the first
//!   bytes of a connection, by which the protocol is told (the builder's own sniffing has no
//!   deadline: see `first_bytes`);
//! - on HTTP/2, a ping every 20 s when the connection is quiet, and the connection closed if
//!   the answer takes 10 s;
//! - `--handshake-timeout-secs` (10) for a TLS handshake;
//! - `--max-connections` (512) open at once: past that, new clients wait in the backlog.
//!
//! Prints `listening on ADDR` once it accepts; stops on Ctrl-C.

use std::convert::Infallible;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite};

use futures_rustls::TlsAcceptor;
use futures_rustls::rustls::ServerConfig;
use futures_rustls::rustls::pki_types::pem::PemObject;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::server::conn::auto;
use minirt::hyper::{Executor, Io, Timer};
use minirt::net::{TcpListener, TcpStream};
use minirt::sync::Semaphore;

const USAGE: &str = "usage: hyper_server [--addr ADDR] [--tls CERT_PEM KEY_PEM] \
                     [--header-timeout-secs N] [--handshake-timeout-secs N] [--max-connections N]";

/// The largest body `POST /echo` takes.
const MAX_ECHO: usize = 1 << 20;
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);

struct Config {
    addr: String,
    tls: Option<(String, String)>,
    header_timeout: Option<Duration>,
    handshake_timeout: Duration,
    max_connections: usize,
}

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "hyper_server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Read before the runtime starts: file reads would block its loop.
    let tls = match &config.tls {
        Some((cert, key)) => match tls_acceptor(cert, key) {
            Ok(acceptor) => Some(acceptor),
            Err(message) => {
                let _ = writeln!(std::io::stderr(), "hyper_server: {message}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let runtime = match minirt::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "hyper_server: cannot start the runtime: {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(config, tls));
    drop(runtime);
    // The last warnings may still be on their way out of minirt's async stderr.
    minirt::io::flush_stdio(Duration::from_secs(1));
    code
}

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut config = Config {
        addr: "127.0.0.1:8080".to_owned(),
        tls: None,
        header_timeout: Some(Duration::from_secs(10)),
        handshake_timeout: Duration::from_secs(10),
        max_connections: 512,
    };
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let mut value = || args.next().ok_or(format!("{flag} wants a value"));
        let number = |value: String, max: u64| match value.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!(
                "{flag} wants a whole number up to {max}, not {value:?}"
            )),
        };
        match flag.as_str() {
            "--addr" => config.addr = value()?,
            "--tls" => config.tls = Some((value()?, value()?)),
            "--header-timeout-secs" => {
                let secs = number(value()?, 3600)?;
                config.header_timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "--handshake-timeout-secs" => {
                config.handshake_timeout = Duration::from_secs(number(value()?, 3600)?.max(1));
            }
            "--max-connections" => {
                config.max_connections = number(value()?, 1 << 20)?.max(1) as usize;
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(config))
}

/// The TLS configuration from a PEM certificate chain and a PEM private key, offering h2 and
/// http/1.1 by ALPN.
fn tls_acceptor(cert: &str, key: &str) -> Result<TlsAcceptor, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the certificate {cert:?}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {key:?}: {e}"))?;
    // rustls's provider is the one its cargo features name (`ring` here).
    let mut server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS: the certificate and key do not fit: {e}"))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

async fn run(config: Config, tls: Option<TlsAcceptor>) -> ExitCode {
    // Listen for Ctrl-C before saying we are up, so that one sent on seeing that line counts.
    let ctrl_c = minirt::signal::ctrl_c();
    let listener = match TcpListener::bind(&config.addr) {
        Ok(listener) => listener,
        Err(e) => return fail(format!("cannot listen on {:?}: {e}", config.addr)),
    };
    match listener.local_addr() {
        Ok(addr) => say(&format!("listening on {addr}")).await,
        Err(e) => return fail(format!("listening, but on what address? {e}")),
    }
    // One builder for every connection: hyper's whole runtime is these three values.
    let mut http = auto::Builder::new(Executor::new());
    http.http1()
        .timer(Timer::new())
        .header_read_timeout(config.header_timeout);
    http.http2()
        .timer(Timer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let server = Rc::new(Server {
        http,
        tls,
        header_timeout: config.header_timeout,
        handshake_timeout: config.handshake_timeout,
        slots: Semaphore::new(config.max_connections),
    });
    let _accepting = minirt::spawn(accept_loop(listener, server));
    if let Err(e) = ctrl_c.await {
        return fail(format!("cannot watch for Ctrl-C ({e}); stopping"));
    }
    // Returning ends the runtime, which drops every connection's task and its socket.
    ExitCode::SUCCESS
}

struct Server {
    http: auto::Builder<Executor>,
    tls: Option<TlsAcceptor>,
    header_timeout: Option<Duration>,
    handshake_timeout: Duration,
    slots: Semaphore,
}

/// A connection's place under the cap, given back when its task ends: normally, by a panic
/// in the service, or by the runtime's shutdown.
struct Slot(Rc<Server>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.slots.add_permits(1);
    }
}

async fn accept_loop(listener: TcpListener, server: Rc<Server>) {
    loop {
        // A free slot first: past the cap, clients wait in the kernel's backlog.
        let slot = server.slots.acquire().await;
        slot.forget();
        match listener.accept().await {
            Ok((stream, peer)) => {
                drop(minirt::spawn(serve(stream, peer, Slot(server.clone()))));
            }
            Err(e) => {
                server.slots.add_permits(1);
                // Out of file descriptors, say: pause rather than spin on a ready listener.
                let warning = format!("hyper_server: accept failed: {e}; retrying in 100 ms\n");
                let _ = minirt::io::stderr().try_write_all(warning.as_bytes());
                minirt::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one connection to its end; dropping `slot` then gives its place back.
async fn serve(stream: TcpStream, peer: SocketAddr, slot: Slot) {
    let server = &slot.0;
    let _ = stream.set_nodelay(true);
    match &server.tls {
        // Not `.vectored(true)` on the `Io`s: for answers this small, hyper's gathering them
        // into one buffer and one `write` costs less than its queue of buffers and a `writev`.
        None => match first_bytes(stream, server.header_timeout).await {
            Some(stream) => {
                let _ = server
                    .http
                    .serve_connection(Io::new(stream), service_fn(answer))
                    .await;
            }
            None => note(&format!("{peer} sent no request in time")),
        },
        Some(acceptor) => {
            let tls = match minirt::timeout(server.handshake_timeout, acceptor.accept(stream)).await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return note(&format!("TLS handshake with {peer} failed: {e}")),
                Err(_) => return note(&format!("TLS handshake with {peer} timed out")),
            };
            match first_bytes(tls, server.header_timeout).await {
                Some(tls) => {
                    let _ = server
                        .http
                        .serve_connection(Io::new(tls), service_fn(answer))
                        .await;
                }
                None => note(&format!("{peer} sent no request in time")),
            }
        }
    }
}

/// HTTP/2's connection preface: what hyper-util's `auto::Builder` looks for.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads, within `deadline`, what hyper-util's `auto::Builder` reads to tell HTTP/2 from
/// HTTP/1.1 (the preface, or the first byte that differs from it), and gives the stream back
/// with those bytes to be read again. `None` if the client is closed, fails or is silent past
/// the deadline. The builder's own reading has no deadline: hyper's `header_read_timeout`
/// starts only after it, so without this a client that connects and sends nothing (or the
/// first bytes of the preface) would hold its place for ever.
async fn first_bytes<S>(mut stream: S, deadline: Option<Duration>) -> Option<Replay<S>>
where
    S: AsyncRead + Unpin,
{
    let Some(deadline) = deadline else {
        // No header timeout asked for: nothing to bound.
        return Some(Replay::new(Vec::new(), stream));
    };
    let mut head = Vec::with_capacity(H2_PREFACE.len());
    let read = async {
        let mut chunk = [0; 24];
        while head.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(&head) {
            let want = H2_PREFACE.len() - head.len();
            match futures::io::AsyncReadExt::read(&mut stream, &mut chunk[..want]).await {
                Ok(n @ 1..) => head.extend_from_slice(&chunk[..n]),
                _ => return false,
            }
        }
        true
    };
    match minirt::timeout(deadline, read).await {
        Ok(true) => Some(Replay::new(head, stream)),
        _ => None,
    }
}

/// A stream whose first bytes were already read: they are read again first.
struct Replay<S> {
    head: Vec<u8>,
    at: usize,
    stream: S,
}

impl<S> Replay<S> {
    fn new(head: Vec<u8>, stream: S) -> Replay<S> {
        Replay {
            head,
            at: 0,
            stream,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.at < this.head.len() {
            let n = buf.len().min(this.head.len() - this.at);
            buf[..n].copy_from_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_close(cx)
    }
}

/// The service: one request, one answer.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, body: Bytes| {
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    };
    Ok(match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => reply(StatusCode::OK, Bytes::from_static(b"Hello, World\n")),
        (&Method::POST, "/echo") => {
            match Limited::new(request.into_body(), MAX_ECHO).collect().await {
                Ok(body) => reply(StatusCode::OK, body.to_bytes()),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Bytes::from(format!("at most {MAX_ECHO} bytes\n")),
                ),
                // The client went away mid-body: nobody reads this.
                Err(_) => reply(StatusCode::BAD_REQUEST, Bytes::new()),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    })
}

/// Writes `line` to minirt's async stdout, for a second at most: a reader of stdout that has
/// stopped must not stall the loop.
async fn say(line: &str) {
    let out = minirt::io::stdout();
    let _ = minirt::timeout(Duration::from_secs(1), async {
        out.write_line(line).await?;
        out.flush().await
    })
    .await;
}

/// A warning on the async stderr, dropped if it is full: the loop must not block.
fn note(message: &str) {
    let line = format!("hyper_server: {message}\n");
    let _ = minirt::io::stderr().try_write_all(line.as_bytes());
}

fn fail(message: String) -> ExitCode {
    note(&message);
    ExitCode::FAILURE
}
