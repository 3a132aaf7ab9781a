//! hyper 1.x on minirt, with no glue: [`Executor`], [`Timer`] and [`Io`] (cargo feature
//! `hyper`, off by default).
//!
//! hyper brings no runtime of its own. It asks for three things through the traits of
//! [`hyper::rt`], and this module gives each, named and made like hyper-util's Tokio trio
//! (`TokioExecutor::new()`, `TokioTimer::new()`, `TokioIo::new(stream)`):
//!
//! - [`Executor`]: where hyper puts the tasks it starts by itself (an HTTP/2 connection's
//!   streams, a client connection's background half). It spawns them on the current runtime
//!   with [`minirt::spawn`](crate::spawn), so they need not be `Send`: a service may hold an
//!   `Rc`, a minirt socket, a `RefCell` shared by every connection of the thread.
//! - [`Timer`]: hyper's timeouts (`header_read_timeout`, HTTP/2 keep-alive pings) as
//!   [`minirt::Sleep`](crate::Sleep)s in the current runtime's wheel, reading the runtime's
//!   clock, so a runtime built with `start_paused(true)` drives hyper's timeouts in virtual
//!   time. hyper wants `Send + Sync` sleeps; minirt's are (see `src/time/sleep.rs`), and one
//!   made and polled on its runtime's thread costs no lock and no job, only a place in the
//!   wheel. Its [`reset`](::hyper::rt::Timer::reset) moves that place instead of making a new
//!   sleep.
//! - [`Io`]: any [`futures_io`] stream (a [`TcpStream`](crate::net::TcpStream), a
//!   `UnixStream`, a futures-rustls TLS stream, ...) as [`hyper::rt::Read`] and
//!   [`hyper::rt::Write`].
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//! use hyper::service::service_fn;
//! use hyper::{Request, Response};
//!
//! minirt::run(async {
//!     let listener = minirt::net::TcpListener::bind("127.0.0.1:8080")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         let service = service_fn(|_: Request<hyper::body::Incoming>| async {
//!             Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello\n"))))
//!         });
//!         drop(minirt::spawn(async move {
//!             let _ = hyper::server::conn::http1::Builder::new()
//!                 .timer(minirt::hyper::Timer::new())
//!                 .header_read_timeout(Duration::from_secs(10))
//!                 .serve_connection(minirt::hyper::Io::new(stream), service)
//!                 .await;
//!         }));
//!     }
//! #   #[allow(unreachable_code)]
//! #   std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # Reads without zero-filling
//!
//! hyper hands a read a buffer that may be uninitialized (`ReadBufCursor`), so that a reader
//! which only writes into it need not clear it first. A futures-io reader takes `&mut [u8]`,
//! which must be initialized: `AsyncRead` is a safe trait, and any implementation may read
//! the slice it is given, so passing it uninitialized memory would be undefined behaviour for
//! some stream somewhere. The usual way out (the `smol-hyper` crate's) writes zeros over the
//! whole unfilled part before each read: hyper's HTTP/1 buffer offers 8 KiB or more, for
//! requests of a hundred bytes. [`Io`] reads instead into a buffer that was zeroed once, when
//! the thread first read through an `Io`, and kept for the thread (64 KiB), then copies what
//! arrived into hyper's: the cost is proportional to the bytes read, not to the space offered,
//! and there is no `unsafe` here at all. (A read nested in another, through an `Io` over a
//! stream that itself reads through an `Io`, finds that buffer taken and makes one of its
//! own.)
//!
//! # Writes
//!
//! futures-io has no `is_write_vectored`: a stream's `poll_write_vectored` may write only the
//! first buffer. So [`Io::new`] tells hyper it does not write vectored, and hyper gathers the
//! head and body of an answer into one buffer before writing. For a stream whose vectored
//! write is a real `writev` (minirt's `TcpStream` and `UnixStream`) and answers with large
//! bodies, say so with [`Io::vectored`].
//!
//! # What does not fit
//!
//! Parts of hyper and crates on it that require `Send` I/O cannot take a minirt socket, which
//! is `!Send` by design: hyper's upgrades (`with_upgrades`, `hyper::upgrade::on`: websockets
//! and `CONNECT` through hyper), hyper-util's pooled `Client`, reqwest. `docs/ecosystem.md`
//! says what to do instead.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use ::hyper::rt::ReadBufCursor;
use futures_io::{AsyncRead, AsyncWrite};

/// Spawns hyper's background tasks on the current runtime: hyper-util's `TokioExecutor`,
/// without the `Send` bound.
///
/// It is a zero-sized handle on "the runtime this code runs on", so one `Executor` (it is
/// `Copy`, `Send` and `Sync`) serves every runtime of a [`ThreadPerCore`](crate::ThreadPerCore)
/// server: each task goes to the runtime of the connection that starts it. The tasks are
/// detached: hyper keeps track of them itself.
///
/// # Panics
/// `execute` panics when no runtime runs on the calling thread, as
/// [`minirt::spawn`](crate::spawn) does. hyper calls it from the connection it drives, which
/// runs on a runtime.
///
/// ```no_run
/// # async fn serve(stream: minirt::net::TcpStream) {
/// use std::convert::Infallible;
///
/// use http_body_util::Full;
/// use hyper::body::Bytes;
/// use hyper::service::service_fn;
///
/// // An HTTP/2 server spawns a task per stream through the executor.
/// let service = service_fn(|_| async {
///     Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("h2\n"))))
/// });
/// let _ = hyper::server::conn::http2::Builder::new(minirt::hyper::Executor::new())
///     .serve_connection(minirt::hyper::Io::new(stream), service)
///     .await;
/// # }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Executor(());

impl Executor {
    /// An executor that spawns on the runtime running the code that calls
    /// [`execute`](::hyper::rt::Executor::execute).
    pub fn new() -> Executor {
        Executor(())
    }
}

impl<F> ::hyper::rt::Executor<F> for Executor
where
    F: Future + 'static,
    F::Output: 'static,
{
    #[track_caller]
    fn execute(&self, future: F) {
        // Dropping the `JoinHandle` detaches the task.
        drop(crate::spawn(future));
    }
}

/// hyper's timeouts on the current runtime's timer wheel: hyper-util's `TokioTimer`.
///
/// Each sleep is a [`minirt::Sleep`](crate::Sleep) of the runtime that first polls it, and
/// [`now`](::hyper::rt::Timer::now) is that runtime's clock ([`time::now`](crate::time::now)),
/// so a paused runtime moves hyper's deadlines too. Like [`Executor`], one `Timer` serves
/// every runtime of a thread-per-core server.
///
/// # Panics
/// A sleep panics if it is first polled outside a runtime, as `minirt::sleep` does.
///
/// ```
/// use std::time::Duration;
///
/// use ::hyper::rt::Timer as _;
///
/// let rt = minirt::Runtime::builder().start_paused(true).build()?;
/// rt.block_on(async {
///     let timer = minirt::hyper::Timer::new();
///     let start = timer.now();
///     timer.sleep(Duration::from_secs(30)).await; // virtual time: no real wait
///     assert!(timer.now() >= start + Duration::from_secs(30));
/// });
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Timer(());

impl Timer {
    /// A timer on the runtime running the code that makes its sleeps.
    pub fn new() -> Timer {
        Timer(())
    }
}

/// hyper may hold its sleeps behind `Pin<Box<dyn hyper::rt::Sleep>>`, which is `Send + Sync`.
impl ::hyper::rt::Sleep for crate::Sleep {}

impl ::hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(crate::sleep(duration))
    }

    /// hyper computes its deadlines from [`now`](::hyper::rt::Timer::now) just before, so
    /// this does not read the clock again to see whether `deadline` has passed (as
    /// `time::sleep_until` does): one that has is armed like any other, and fires on the
    /// loop's next turn.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(crate::Sleep::idle(deadline, false, None))
    }

    fn now(&self) -> Instant {
        crate::time::now()
    }

    /// Moves a sleep this timer made (its wheel entry, if it has one) instead of replacing it
    /// with a new one; a sleep of another timer is replaced.
    fn reset(&self, sleep: &mut Pin<Box<dyn ::hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<crate::Sleep>() {
            // `Sleep` is `Unpin`: nothing it holds is pinned.
            Some(ours) => Pin::into_inner(ours).reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A [`futures_io`] stream as hyper's [`Read`](::hyper::rt::Read) and
/// [`Write`](::hyper::rt::Write): hyper-util's `TokioIo`.
///
/// Reads into hyper's buffers copy from a thread's scratch buffer instead of zero-filling them
/// (the module docs say why). `T` must be `Unpin`, as hyper requires of its I/O anyway; pin a
/// stream that is not with `Box::pin`.
///
/// ```no_run
/// # async fn client() -> Result<(), Box<dyn std::error::Error>> {
/// use http_body_util::{BodyExt, Empty};
/// use hyper::body::Bytes;
///
/// let stream = minirt::net::TcpStream::connect("127.0.0.1:8080").await?;
/// let (mut sender, connection) =
///     hyper::client::conn::http1::handshake(minirt::hyper::Io::new(stream)).await?;
/// drop(minirt::spawn(connection));
/// let request = hyper::Request::get("/")
///     .header("host", "127.0.0.1")
///     .body(Empty::<Bytes>::new())?;
/// let response = sender.send_request(request).await?;
/// let body = response.into_body().collect().await?.to_bytes();
/// # drop(body);
/// # Ok(())
/// # }
/// ```
pub struct Io<T> {
    inner: T,
    vectored: bool,
}

impl<T> Io<T> {
    /// Wraps `inner`. hyper is told that its writes are not vectored (see [`Io::vectored`]).
    pub fn new(inner: T) -> Io<T> {
        Io {
            inner,
            vectored: false,
        }
    }

    /// Tells hyper whether `inner`'s `poll_write_vectored` writes all its buffers at once (a
    /// `writev`), as minirt's sockets' does; then hyper queues an answer's head and body and
    /// writes them without first copying them into one buffer, which can pay off for large bodies.
    /// For small answers the copy is cheaper than the queue (`examples/hyper_server.rs` does
    /// not turn this on). futures-io's default `poll_write_vectored` writes only the first
    /// buffer: correct, but a system call per buffer.
    ///
    /// ```no_run
    /// # async fn f(stream: minirt::net::TcpStream) {
    /// let io = minirt::hyper::Io::new(stream).vectored(true);
    /// # drop(io);
    /// # }
    /// ```
    pub fn vectored(mut self, vectored: bool) -> Io<T> {
        self.vectored = vectored;
        self
    }

    /// The wrapped stream.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for Io<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("inner", &self.inner)
            .field("vectored", &self.vectored)
            .finish()
    }
}

/// The size of a thread's scratch buffer, and so the most one read through an [`Io`] takes.
const SCRATCH_LEN: usize = 64 * 1024;

thread_local! {
    /// The thread's scratch buffer: zeroed once, then only ever overwritten by reads. `None`
    /// before the first read, and while a read holds it.
    static SCRATCH: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

/// Runs `read` on an initialized slice of at most `len` bytes: the thread's scratch buffer,
/// taken out for the call and put back after it. A read that finds it taken (one nested in
/// another) or lost (to a panic in `read`) makes a new one, as the first read does.
fn with_scratch<R>(len: usize, read: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut scratch = SCRATCH
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![0; SCRATCH_LEN].into_boxed_slice());
    let out = read(&mut scratch[..len.min(SCRATCH_LEN)]);
    // Fails only while the thread's locals are being destroyed: then the buffer just goes.
    let _ = SCRATCH.try_with(|slot| slot.set(Some(scratch)));
    out
}

impl<T: AsyncRead + Unpin> ::hyper::rt::Read for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let inner = &mut self.get_mut().inner;
        with_scratch(buf.remaining(), |scratch| {
            let n = ready!(Pin::new(inner).poll_read(cx, scratch))?;
            buf.put_slice(&scratch[..n]);
            Poll::Ready(Ok(()))
        })
    }
}

impl<T: AsyncWrite + Unpin> ::hyper::rt::Write for Io<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
