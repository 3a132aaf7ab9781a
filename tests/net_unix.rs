//! Unix domain sockets over real socket files in the temp dir: the listener, streams and their
//! halves, datagrams, the socket file's life, errors, and cancellation at every await point.

use std::future::Future;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use minirt::io::BufReader;
use minirt::net::{UnixDatagram, UnixListener, UnixStream};

/// A fresh path in the temp dir, unique to this process and call.
fn temp_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("minirt-{}-{n}-{name}", std::process::id()))
}

#[test]
fn a_listener_serves_lines_to_several_clients() {
    let path = temp_path("echo.sock");
    minirt::run(async {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let server = minirt::spawn(async move {
            for _ in 0..3 {
                let (stream, peer) = listener.accept().await.unwrap();
                assert!(peer.is_unnamed(), "clients do not bind");
                drop(minirt::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut line = String::new();
                    while reader.read_line(&mut line).await.unwrap() > 0 {
                        reader.get_mut().write_all(line.as_bytes()).await.unwrap();
                        line.clear();
                    }
                }));
            }
        });
        let clients: Vec<_> = (0..3)
            .map(|c| {
                let path = path.clone();
                minirt::spawn(async move {
                    let stream = UnixStream::connect(&path).await.unwrap();
                    assert_eq!(
                        stream.peer_addr().unwrap().as_pathname(),
                        Some(path.as_path())
                    );
                    let mut reader = BufReader::new(stream);
                    for i in 0..50 {
                        let sent = format!("client {c} line {i}\n");
                        reader.get_mut().write_all(sent.as_bytes()).await.unwrap();
                        let mut back = String::new();
                        reader.read_line(&mut back).await.unwrap();
                        assert_eq!(back, sent);
                    }
                })
            })
            .collect();
        for c in minirt::join_all(clients).await {
            c.unwrap();
        }
        server.await.unwrap();
    });
    assert!(!path.exists(), "the listener removed its socket file");
}

#[test]
fn the_socket_file_is_removed_on_drop_only_if_it_is_still_ours() {
    let path = temp_path("mine.sock");
    minirt::run(async {
        let listener = UnixListener::bind(&path).unwrap();
        assert!(path.exists());
        drop(listener);
        assert!(!path.exists(), "removed on drop");

        // Someone replaced the file: it is theirs, and stays.
        let listener = UnixListener::bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"not a socket").unwrap();
        drop(listener);
        assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");

        // Binding over an existing file fails, and leaves the file alone.
        let error = UnixListener::bind(&path).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrInUse);
        let error = UnixDatagram::bind(&path).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrInUse);
        assert!(path.exists());
        std::fs::remove_file(&path).unwrap();

        let dgram_path = temp_path("mine.dgram");
        let socket = UnixDatagram::bind(&dgram_path).unwrap();
        assert!(dgram_path.exists());
        drop(socket);
        assert!(
            !dgram_path.exists(),
            "a datagram socket removes its file too"
        );
    });
}

#[test]
fn connect_reports_missing_refused_and_bad_paths() {
    let path = temp_path("gone.sock");
    minirt::run(async {
        let error = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        // A socket file with nobody listening (std does not remove its file).
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let error = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
        std::fs::remove_file(&path).unwrap();
        let long = std::env::temp_dir().join("x".repeat(120));
        let error = UnixStream::connect(&long).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        let error = UnixStream::connect("/tmp/nul\0byte").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn split_halves_read_and_write_in_two_tasks_and_half_close() {
    minirt::run(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (mut reader, mut writer) = a.into_split();
        // The read half waits while the write half writes, in another task.
        let reading = minirt::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0; 4096];
            loop {
                let n = reader.read(&mut buf).await.unwrap();
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
            }
        });
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let expected = data.clone();
        let writing = minirt::spawn(async move {
            writer.write_all(&data).await.unwrap();
            writer.as_ref().shutdown(std::net::Shutdown::Write).unwrap();
        });
        // `b` echoes everything back, then half-closes when `a` has.
        let mut buf = [0; 8192];
        loop {
            let n = b.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            b.write_all(&buf[..n]).await.unwrap();
        }
        b.shutdown(std::net::Shutdown::Write).unwrap();
        writing.await.unwrap();
        assert_eq!(reading.await.unwrap(), expected);
    });
}

#[test]
fn streams_implement_the_futures_io_traits_by_reference_too() {
    fn is_io<T: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin>(_: &T) {}
    minirt::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        is_io(&a);
        is_io(&&a);
        let (r, w) = b.into_split();
        fn is_read<T: futures_io::AsyncRead>(_: &T) {}
        fn is_write<T: futures_io::AsyncWrite>(_: &T) {}
        is_read(&r);
        is_write(&w);
        minirt::io::write_all(&mut &a, b"by ref").await.unwrap();
        let mut buf = [0; 6];
        let mut r = r;
        minirt::io::read(&mut r, &mut buf).await.unwrap();
        assert_eq!(&buf, b"by ref");
    });
}

#[test]
fn datagrams_go_whole_and_in_order_between_bound_and_unbound_sockets() {
    let server_path = temp_path("server.dgram");
    let client_path = temp_path("client.dgram");
    minirt::run(async {
        let server = UnixDatagram::bind(&server_path).unwrap();
        let client = UnixDatagram::bind(&client_path).unwrap();
        for i in 0..10u8 {
            client.send_to(&[i; 100], &server_path).await.unwrap();
        }
        let mut buf = [0; 1000];
        for i in 0..10u8 {
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &[i; 100][..]);
            assert_eq!(from.as_pathname(), Some(client_path.as_path()));
            server
                .send_to(&buf[..n], from.as_pathname().unwrap())
                .await
                .unwrap();
        }
        client.connect(&server_path).unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(server_path.as_path())
        );
        for i in 0..10u8 {
            let n = client.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &[i; 100][..]);
        }
        client.send(b"connected").await.unwrap();
        let (n, _) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"connected");

        let unbound = UnixDatagram::unbound().unwrap();
        assert!(unbound.local_addr().unwrap().is_unnamed());
        unbound.send_to(b"anonymous", &server_path).await.unwrap();
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from.is_unnamed()), (&b"anonymous"[..], true));
        let error = unbound
            .send_to(b"x", &temp_path("nobody"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
    });
    assert!(!server_path.exists() && !client_path.exists());
}

// ---- Cancellation at every await point ----------------------------------------------------

/// A waker that records that it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, Debug)]
enum How {
    /// Dropped while it waits, before the point is made ready.
    DropWaiting,
    /// Dropped after the point was made ready and its waker fired, before it was polled again.
    DropWoken,
}

const BOTH: [How; 2] = [How::DropWaiting, How::DropWoken];

/// Polls `fut` once (it must wait), then cancels it the way `how` says, with `make_ready`
/// run before the drop (`DropWoken`) or after it (`DropWaiting`).
async fn cancel<F: Future, R: Future<Output = ()>>(
    how: How,
    fut: F,
    make_ready: impl FnOnce() -> R,
) {
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    let mut fut = Box::pin(fut);
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending(),
        "it waits"
    );
    match how {
        How::DropWaiting => {
            drop(fut);
            make_ready().await;
        }
        How::DropWoken => {
            make_ready().await;
            let woken = async {
                while !flag.0.load(Ordering::SeqCst) {
                    minirt::sleep(Duration::from_millis(1)).await;
                }
            };
            minirt::timeout(Duration::from_secs(10), woken)
                .await
                .expect("the waker fired");
            drop(fut); // woken, never polled again
        }
    }
}

#[test]
fn a_cancelled_accept_loses_no_connection() {
    for how in BOTH {
        let path = temp_path("accept.sock");
        minirt::run(async {
            let listener = UnixListener::bind(&path).unwrap();
            let mut client = None;
            cancel(how, listener.accept(), || async {
                client = Some(UnixStream::connect(&path).await.unwrap());
            })
            .await;
            let (mut served, _) = listener.accept().await.expect("the connection waited");
            client.unwrap().write_all(b"hi").await.unwrap();
            let mut buf = [0; 2];
            served.read(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hi", "{how:?}");
        });
    }
}

#[test]
fn a_cancelled_read_loses_no_bytes() {
    for how in BOTH {
        minirt::run(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let mut buf = [0; 16];
            cancel(how, a.read(&mut buf), || async {
                b.write_all(b"kept").await.unwrap();
            })
            .await;
            let n = a.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"kept", "{how:?}");
        });
    }
}

#[test]
fn a_cancelled_write_all_on_a_full_socket_writes_nothing_more_and_the_stream_goes_on() {
    for how in BOTH {
        minirt::run(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let filled = fill(|cx| pin!(a.write(&[7; 4096])).poll(cx));
            assert!(filled > 0);
            let mut buf = vec![0; filled + 64];
            let mut drained = 0;
            cancel(how, a.write_all(b"tail"), || async {
                drained = b.read(&mut buf).await.unwrap(); // room again: a writable edge
            })
            .await;
            a.write_all(b"end").await.unwrap();
            a.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            loop {
                let n = b.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                rest.extend_from_slice(&buf[..n]);
            }
            assert_eq!(
                drained + rest.len(),
                filled + 3,
                "{how:?}: nothing of \"tail\""
            );
            assert!(rest.ends_with(b"end"));
            assert!(!rest.windows(4).any(|w| w == b"tail"));
        });
    }
}

/// Calls `op` (a write that may wait) until it would wait; returns the bytes it took.
fn fill(mut op: impl FnMut(&mut Context<'_>) -> Poll<std::io::Result<usize>>) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut total = 0;
    // A socket buffer is a few hundred KiB at most: bounded.
    for _ in 0..100_000 {
        match op(&mut cx) {
            Poll::Ready(n) => total += n.unwrap(),
            Poll::Pending => return total,
        }
    }
    panic!("the socket never filled");
}

#[test]
fn a_cancelled_recv_and_recv_from_lose_no_datagram() {
    for how in BOTH {
        minirt::run(async {
            let (a, b) = UnixDatagram::pair().unwrap();
            let mut buf = [0; 16];
            cancel(how, b.recv(&mut buf), || async {
                a.send(b"one").await.unwrap();
            })
            .await;
            let n = b.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"one", "{how:?}");
            cancel(how, b.recv_from(&mut buf), || async {
                a.send(b"two").await.unwrap();
            })
            .await;
            let (n, _) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"two", "{how:?}");
        });
    }
}

#[test]
fn a_cancelled_send_and_send_to_on_a_full_queue_send_nothing() {
    for how in BOTH {
        let path = temp_path("full.dgram");
        minirt::run(async {
            let server = UnixDatagram::bind(&path).unwrap();
            let (a, b) = UnixDatagram::pair().unwrap();
            let sent = fill(|cx| pin!(a.send(b"d")).poll(cx));
            let mut buf = [0; 16];
            cancel(how, a.send(b"cancelled"), || async {
                b.recv(&mut buf).await.unwrap(); // room for one
            })
            .await;
            a.send(b"last").await.unwrap();
            let mut got = 0;
            loop {
                let n = b.recv(&mut buf).await.unwrap();
                if &buf[..n] == b"last" {
                    break;
                }
                assert_eq!(&buf[..n], b"d", "{how:?}: no cancelled datagram");
                got += 1;
            }
            assert_eq!(got, sent - 1, "{how:?}");

            let client = UnixDatagram::unbound().unwrap();
            let sent = fill(|cx| pin!(client.send_to(b"d", &path)).poll(cx));
            cancel(how, client.send_to(b"cancelled", &path), || async {
                server.recv(&mut buf).await.unwrap();
            })
            .await;
            client.send_to(b"last", &path).await.unwrap();
            let mut got = 0;
            loop {
                let n = server.recv(&mut buf).await.unwrap();
                if &buf[..n] == b"last" {
                    break;
                }
                assert_eq!(&buf[..n], b"d", "{how:?}: no cancelled datagram");
                got += 1;
            }
            assert_eq!(got, sent - 1, "{how:?}");
        });
    }
}
