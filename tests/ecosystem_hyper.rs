//! hyper 1.x on minirt, server and client, HTTP/1.1 and HTTP/2, through `minirt::hyper`'s
//! `Executor`, `Timer` and `Io` and nothing else: this file has no glue of its own (no
//! executor, timer or I/O adapter written here). The services hold `Rc`s: hyper's tasks need
//! not be `Send` on minirt.
mod ecosystem_support;
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::io::AsyncReadExt as _;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::{Read as _, ReadBuf, Timer as _};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Version};
use minirt::hyper::{Executor, Io, Timer};
use minirt::net::{TcpListener, TcpStream};

/// What the servers answer: `N METHOD PATH` for the Nth request of the server, or the body of
/// a `POST /echo`. `served` is shared by every connection, and is `!Send`.
async fn answer(
    served: Rc<Cell<u32>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    served.set(served.get() + 1);
    let head = format!(
        "{} {} {}",
        served.get(),
        request.method(),
        request.uri().path()
    );
    let body = if request.uri().path() == "/echo" {
        request.into_body().collect().await.unwrap().to_bytes()
    } else {
        Bytes::from(head)
    };
    Ok(Response::new(Full::new(body)))
}

/// Serves every connection of `listener`, HTTP/1.1 or HTTP/2, with a header timeout.
async fn serve(listener: TcpListener, h2: bool, served: Rc<Cell<u32>>) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let served = served.clone();
        let service = service_fn(move |request| answer(served.clone(), request));
        drop(minirt::spawn(async move {
            let io = Io::new(stream).vectored(true);
            if h2 {
                let _ = hyper::server::conn::http2::Builder::new(Executor::new())
                    .timer(Timer::new())
                    .serve_connection(io, service)
                    .await;
            } else {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(Timer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(io, service)
                    .await;
            }
        }));
    }
}

fn listen() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn pattern(len: usize) -> Vec<u8> {
    ecosystem_support::pattern(0x9e37_79b9, len)
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

async fn body_of(response: Response<Incoming>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

#[test]
fn http1_server_and_client_keep_alive_and_a_large_body() {
    minirt::run(async {
        let (listener, addr) = listen();
        let served = Rc::new(Cell::new(0));
        let _server = minirt::spawn(serve(listener, false, served.clone()));

        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(Io::new(stream))
            .await
            .unwrap();
        let _connection = minirt::spawn(connection);
        for path in ["/a", "/b"] {
            let response = sender.send_request(get(path)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.version(), Version::HTTP_11);
            let expected = format!("{} GET {path}", served.get());
            assert_eq!(body_of(response).await, expected.as_bytes());
        }
        // 300 KB each way: many reads of at most 64 KiB each through `Io`.
        let big = pattern(300_000);
        let request = Request::post("/echo")
            .header("host", "localhost")
            .body(Full::new(Bytes::from(big.clone())))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(body_of(response).await, big);
        assert_eq!(
            served.get(),
            3,
            "one connection, kept alive, served all three"
        );
    });
}

#[test]
fn http2_server_and_client_with_concurrent_streams() {
    minirt::run(async {
        let (listener, addr) = listen();
        let served = Rc::new(Cell::new(0));
        let _server = minirt::spawn(serve(listener, true, served.clone()));

        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = hyper::client::conn::http2::Builder::new(Executor::new())
            .timer(Timer::new())
            .handshake(Io::new(stream))
            .await
            .unwrap();
        let _connection = minirt::spawn(connection);
        // 20 streams at once on one connection; each server stream is a task on `Executor`.
        let requests = (0..20).map(|i| {
            let mut sender = sender.clone();
            async move {
                let request = if i % 2 == 0 {
                    get(&format!("/{i}"))
                } else {
                    Request::post("/echo")
                        .body(Full::new(Bytes::from(pattern(10_000 + i))))
                        .unwrap()
                };
                let response = sender.send_request(request).await.unwrap();
                assert_eq!(response.version(), Version::HTTP_2);
                (i, body_of(response).await)
            }
        });
        let mut numbers = Vec::new();
        for (i, body) in minirt::join_all(requests).await {
            if i % 2 == 0 {
                let text = String::from_utf8(body.to_vec()).unwrap();
                let (n, rest) = text.split_once(' ').unwrap();
                assert_eq!(rest, format!("GET /{i}"));
                numbers.push(n.parse::<u32>().unwrap());
            } else {
                assert_eq!(body, pattern(10_000 + i));
            }
        }
        numbers.sort();
        assert_eq!(served.get(), 20);
        assert_eq!(numbers.len(), 10);
        numbers.dedup();
        assert_eq!(numbers.len(), 10, "each request was counted once");
    });
}

/// A client that sends half a request head, then nothing: hyper's `header_read_timeout`, on
/// minirt's wheel through `Timer`, closes the connection when the runtime's clock says 30 s
/// have passed. The clock is paused, so that happens in virtual time: the test takes
/// milliseconds, and proves that hyper's deadline is read from and fired by minirt's clock
/// (with `Instant::now()` and a real timer, it would take 30 real seconds).
#[test]
fn the_header_timeout_is_fired_by_the_runtime_clock() {
    let rt = minirt::Runtime::builder()
        .start_paused(true)
        .build()
        .unwrap();
    let real = Instant::now();
    let (waited, reply) = rt.block_on(async {
        let (listener, addr) = listen();
        let _server = minirt::spawn(serve(listener, false, Rc::default()));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        futures::io::AsyncWriteExt::write_all(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let start = minirt::time::now();
        let mut reply = Vec::new();
        // Ends when the server closes the connection.
        let _ = stream.read_to_end(&mut reply).await;
        (minirt::time::now() - start, reply)
    });
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "the server closed after {waited:?} of the runtime's time"
    );
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "a timed-out head gets no answer but a 408: {reply:?}"
    );
    assert!(
        real.elapsed() < Duration::from_secs(20),
        "it did not wait in real time"
    );
}

/// A head that arrives in pieces, all before the deadline, is answered: the timer is armed
/// while the head is incomplete, and disarmed (not fired) once it is whole.
#[test]
fn a_head_sent_in_pieces_before_the_deadline_is_answered() {
    let rt = minirt::Runtime::builder()
        .start_paused(true)
        .build()
        .unwrap();
    let reply = rt.block_on(async {
        let (listener, addr) = listen();
        let _server = minirt::spawn(serve(listener, false, Rc::default()));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        for piece in [
            "GET /slow HTTP/1.1\r\n",
            "Host: x\r\n",
            "Connection: close\r\n\r\n",
        ] {
            futures::io::AsyncWriteExt::write_all(&mut stream, piece.as_bytes())
                .await
                .unwrap();
            minirt::time::advance(Duration::from_secs(9)).await;
        }
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        reply
    });
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply:?}");
    assert!(reply.ends_with("1 GET /slow"), "{reply:?}");
}

/// `Timer::reset` moves the sleep it made (the same allocation, its wheel entry moved)
/// instead of boxing a new one, and the moved sleep fires at its new deadline.
#[test]
fn timer_reset_moves_its_own_sleep_and_replaces_a_foreign_one() {
    let rt = minirt::Runtime::builder()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let timer = Timer::new();
        let start = timer.now();
        assert_eq!(
            start,
            minirt::time::now(),
            "the timer reads the runtime's clock"
        );
        let mut sleep = timer.sleep(Duration::from_secs(3600));
        // Armed in the wheel by a first poll.
        assert!(futures::poll!(sleep.as_mut()).is_pending());
        let before = &*sleep as *const dyn hyper::rt::Sleep as *const ();
        timer.reset(&mut sleep, start + Duration::from_secs(2));
        let after = &*sleep as *const dyn hyper::rt::Sleep as *const ();
        assert_eq!(
            before, after,
            "reset moved the sleep instead of replacing it"
        );
        sleep.await;
        assert_eq!(minirt::time::now(), start + Duration::from_secs(2));

        // A sleep of another timer is replaced by one of ours.
        let mut foreign: Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(Foreign);
        timer.reset(&mut foreign, start + Duration::from_secs(5));
        assert!(foreign.is::<minirt::Sleep>());
        foreign.await;
        assert_eq!(minirt::time::now(), start + Duration::from_secs(5));
    });
}

/// Some other timer's sleep, which never fires.
struct Foreign;

impl Future for Foreign {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl hyper::rt::Sleep for Foreign {}

/// A futures-io reader that hands out `data` at most `chunk` bytes a read, and fails the
/// test if the slice it is given has been zeroed.
struct Chunks {
    data: Vec<u8>,
    at: usize,
    chunk: usize,
    largest_slice: usize,
}

impl futures::io::AsyncRead for Chunks {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.largest_slice = self.largest_slice.max(buf.len());
        let n = buf.len().min(self.chunk).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Poll::Ready(Ok(n))
    }
}

/// hyper's side of `Io`: a read fills only what arrived, and leaves the rest of hyper's
/// buffer as it was. An adapter that zero-fills the unfilled part first (as `smol-hyper` does)
/// writes zeros over it. The buffer is handed over as uninitialized, as hyper's own are, but
/// its bytes hold 0xAA, so the test can see whether they were written.
#[test]
fn io_reads_without_writing_over_the_unfilled_buffer() {
    let mut io = Io::new(Chunks {
        data: b"hello".to_vec(),
        at: 0,
        chunk: 3,
        largest_slice: 0,
    });
    let mut storage = [MaybeUninit::new(0xAA_u8); 16];
    let mut buf = ReadBuf::uninit(&mut storage);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(
        Pin::new(&mut io)
            .poll_read(&mut cx, buf.unfilled())
            .is_ready()
    );
    assert_eq!(buf.filled(), b"hel");
    assert!(
        Pin::new(&mut io)
            .poll_read(&mut cx, buf.unfilled())
            .is_ready()
    );
    assert_eq!(buf.filled(), b"hello");
    // SAFETY: every byte was initialized (to 0xAA) when `storage` was made; reads only ever
    // write initialized bytes over them.
    let storage: [u8; 16] = unsafe { std::mem::transmute(storage) };
    assert_eq!(storage[..5], *b"hello");
    assert_eq!(
        storage[5..],
        [0xAA; 11],
        "the unfilled part was not touched"
    );
}

/// Reads `io` to its end through hyper's `Read`, each read into a fresh uninitialized buffer
/// of `offered` bytes, as hyper's HTTP/1 reads are.
fn read_all<T: hyper::rt::Read + Unpin>(io: &mut T, offered: usize) -> Vec<u8> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut got = Vec::new();
    let mut storage = vec![MaybeUninit::<u8>::uninit(); offered];
    loop {
        let mut buf = ReadBuf::uninit(&mut storage);
        let poll = Pin::new(&mut *io).poll_read(&mut cx, buf.unfilled());
        assert!(matches!(poll, Poll::Ready(Ok(()))), "{poll:?}");
        if buf.filled().is_empty() {
            return got;
        }
        got.extend_from_slice(buf.filled());
    }
}

/// Reads into hyper's uninitialized buffers, large ones too: every byte arrives, in reads of at
/// most 64 KiB (the scratch buffer), whatever hyper offers.
#[test]
fn io_reads_into_uninitialized_buffers() {
    let data = pattern(200_000);
    let mut io = Io::new(Chunks {
        data: data.clone(),
        at: 0,
        chunk: usize::MAX,
        largest_slice: 0,
    });
    assert_eq!(read_all(&mut io, 150_000), data);
    assert_eq!(io.inner().largest_slice, 64 * 1024);
}

/// A futures-io stream that itself reads through an `Io` (hyper's `Read`): the outer read
/// holds the thread's scratch buffer while the inner one runs, so the inner one makes its own.
struct Nested(Io<Chunks>);

impl futures::io::AsyncRead for Nested {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut inner = ReadBuf::new(buf);
        match Pin::new(&mut self.0).poll_read(cx, inner.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(inner.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[test]
fn io_reads_nested_in_another_io_read() {
    let data = pattern(150_000);
    let mut io = Io::new(Nested(Io::new(Chunks {
        data: data.clone(),
        at: 0,
        chunk: 50_000,
        largest_slice: 0,
    })));
    let got = read_all(&mut io, 100_000);
    assert!(got == data, "every byte came through both reads, in order");
}
