//! I/O workloads over loopback: a 1 MiB TCP transfer, connect+accept churn, 64 connections of
//! 1 KiB echo ping-pong with the client on its own thread and runtime, 64 blocking client
//! threads against a line echo server (the load an outside client makes), and UDP round trips.
//!
//! The echo and UDP workloads time every round trip on the client side, and report the p50,
//! p99 and p99.9 of them beside their throughput: a runtime can serve most clients at once
//! and still make a few wait long, which a total time hides.
//!
//! Sockets that live across runs are made once, on a peer's first run (so that a process
//! running one peer opens only that peer's). smol's twins use `async_io::Async` around std's
//! sockets and `futures-lite`'s read/write helpers.
//!
//! The two rows with a separate load generator (`echo_64`'s client thread, `echo_64_threads`'
//! 64 client threads) pin the server's thread and the load generator's threads to two
//! different CPUs for the run (`pin.rs`); the other rows run client and server as tasks of one
//! runtime on one thread, and their rows say so.

use std::cell::LazyCell;
use std::net::{
    SocketAddr, TcpListener as StdListener, TcpStream as StdStream, UdpSocket as StdUdp,
};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::Async;
use futures_lite::future::zip;

use super::harness::{
    Group, Workload, deferred, peer, peer_round_trips, with_round_trips, workload,
};
use super::line_echo::{self, Until};
use super::peers::{LocalRt, Runtimes, Smol, Spawn, Tokio, TokioSpawn};
use super::pin;

/// `tcp_1mib`: one run writes `BULK` bytes with `write_all` on one end of a connection and
/// reads them with `read_exact` on the other, both in the runtime being measured.
const BULK: usize = 1 << 20;
/// `tcp_connect_accept`: `CHURN` connections per run, each connected, accepted and dropped.
const CHURN: u64 = 100;
/// `echo_64`: `ECHO_CONNECTIONS` connections each send an `ECHO_SIZE` message and wait for it
/// to come back, `ECHO_ROUNDS` times. The server runs on the runtime being measured; the
/// client runs on its own thread, with its own runtime of the same kind and the same code.
/// Each run connects afresh.
const ECHO_CONNECTIONS: usize = 64;
const ECHO_ROUNDS: usize = 100;
const ECHO_SIZE: usize = 1024;
const ECHO_MESSAGES: u64 = (ECHO_CONNECTIONS * ECHO_ROUNDS) as u64;
/// `echo_64_threads`: `THREAD_CLIENTS` plain OS threads, each with a blocking std socket,
/// ping-pong a 128-byte line `THREAD_ROUNDS` times against a line echo server
/// (`BufReader::read_line` + `write_all`, see `line_echo.rs`) on the runtime being measured.
/// Each run connects afresh. Its targets are issue 14's for the same test made from another
/// process: throughput at least 0.95x tokio's, percentiles within 1.25x of tokio's.
const THREAD_CLIENTS: usize = 64;
const THREAD_ROUNDS: usize = 100;
const THREAD_LINES: u64 = (THREAD_CLIENTS * THREAD_ROUNDS) as u64;
/// `udp_rtt`: `UDP_ROUND_TRIPS` datagrams of `ECHO_SIZE` bytes sent to an echoing task on a
/// second socket, each awaited before the next.
const UDP_ROUND_TRIPS: u64 = 1_000;

const LOOPBACK: &str = "127.0.0.1:0";

/// The note of the rows whose client and server are tasks of one runtime on one thread.
const ONE_THREAD: &str = "client and server share one runtime on one thread: nothing to pin apart";

pub fn workloads(rts: &Runtimes) -> Vec<Workload<'_>> {
    let (rt, tk, smol) = (&rts.minirt_io, &rts.tokio_io, rts.smol);
    let io = |name, peers| workload(name, Group::Io, peers);
    // Each listener is bound on first use, so that a process running one peer binds only its
    // own (see `peers.rs`).
    let minirt_listener = Rc::new(LazyCell::new(move || {
        rt.block_on(async { minirt::net::TcpListener::bind(LOOPBACK) })
            .unwrap()
    }));
    let tokio_listener = Rc::new(LazyCell::new(move || {
        tk.rt
            .block_on(tokio::net::TcpListener::bind(LOOPBACK))
            .unwrap()
    }));
    // A `LocalRuntime` has its own I/O driver: a socket registered with `tk.rt`'s would never
    // wake there.
    let localrt_listener = Rc::new(LazyCell::new(move || {
        tk.localrt
            .block_on(tokio::net::TcpListener::bind(LOOPBACK))
            .unwrap()
    }));
    let smol_listener = Rc::new(LazyCell::new(|| {
        Async::<StdListener>::bind(LOOPBACK.parse::<SocketAddr>().unwrap()).unwrap()
    }));
    let bulk = |name, peers| Workload {
        items: Some((1, "MiB")),
        note: Some(ONE_THREAD.into()),
        ..io(name, peers)
    };
    let split = pin::describe_split();
    vec![
        bulk(
            "tcp_1mib_write_all_read_exact",
            vec![
                peer("minirt", {
                    let l = minirt_listener.clone();
                    deferred(move || bulk_minirt(rt, &l))
                }),
                peer("tokio", {
                    let l = tokio_listener.clone();
                    deferred(move || bulk_tokio(tk, &l))
                }),
                peer("smol", {
                    let l = smol_listener.clone();
                    deferred(move || bulk_smol(smol, &l))
                }),
            ],
        ),
        Workload {
            note: Some(ONE_THREAD.into()),
            ..io(
                "tcp_connect_accept_100",
                vec![
                    peer("minirt", {
                        let l = minirt_listener.clone();
                        move || churn_minirt(rt, &l)
                    }),
                    peer("tokio", {
                        let l = tokio_listener.clone();
                        move || churn_tokio(tk, &l)
                    }),
                    peer("smol", {
                        let l = smol_listener.clone();
                        move || churn_smol(smol, &l)
                    }),
                ],
            )
        },
        Workload {
            items: Some((ECHO_MESSAGES, "msgs")),
            show: with_round_trips(),
            note: Some(split.clone()),
            ..io(
                "echo_64",
                vec![
                    peer_round_trips("minirt", {
                        let l = minirt_listener.clone();
                        move || echo_minirt(rt, &l)
                    }),
                    peer_round_trips("tokio", {
                        let l = tokio_listener.clone();
                        move || echo_tokio(tk, &l)
                    }),
                    peer_round_trips("smol", {
                        let l = smol_listener.clone();
                        move || echo_smol(smol, &l)
                    }),
                ],
            )
        },
        Workload {
            items: Some((THREAD_LINES, "round trips")),
            show: with_round_trips(),
            note: Some(split),
            target: Some(0.95),
            round_trip_target: Some(0.8),
            ..io(
                "echo_64_threads",
                vec![
                    peer_round_trips("minirt", {
                        let l = minirt_listener.clone();
                        move || echo_threads_minirt(rt, &l)
                    }),
                    peer_round_trips("tokio", {
                        let l = tokio_listener.clone();
                        move || echo_threads_tokio::<Spawn>(tk, &l)
                    }),
                    peer_round_trips("tokio-localrt", {
                        let l = localrt_listener.clone();
                        move || echo_threads_tokio::<LocalRt>(tk, &l)
                    }),
                    peer_round_trips("smol", {
                        let l = smol_listener.clone();
                        move || echo_threads_smol(smol, &l)
                    }),
                ],
            )
        },
        Workload {
            items: Some((UDP_ROUND_TRIPS, "round trips")),
            show: with_round_trips(),
            note: Some(ONE_THREAD.into()),
            ..io(
                "udp_rtt_1kib_1k",
                vec![
                    peer_round_trips("minirt", deferred(move || udp_minirt(rt))),
                    peer_round_trips("tokio", deferred(move || udp_tokio(tk))),
                    peer_round_trips("smol", deferred(move || udp_smol(smol))),
                ],
            )
        },
    ]
}

/// The bytes `tcp_1mib` sends, and the checksum of a received copy.
fn bulk_data() -> Vec<u8> {
    (0..BULK).map(|i| (i % 251) as u8).collect()
}

fn bulk_sum(buf: &[u8]) -> u64 {
    buf.len() as u64 + u64::from(buf[1]) + u64::from(buf[BULK - 1])
}

// tcp_1mib: a connection made once; each run is one `write_all` of 1 MiB raced with one
// `read_exact` of 1 MiB, joined with `futures_lite::future::zip` on every peer.

fn bulk_minirt<'a>(
    rt: &'a minirt::Runtime,
    listener: &minirt::net::TcpListener,
) -> impl FnMut() -> u64 + use<'a> {
    let addr = listener.local_addr().unwrap();
    let (mut client, server) = rt.block_on(async {
        let (client, accepted) =
            zip(minirt::net::TcpStream::connect(addr), listener.accept()).await;
        (client.unwrap(), accepted.unwrap().0)
    });
    let mut reader = minirt::io::BufReader::new(server);
    let (data, mut buf) = (bulk_data(), vec![0; BULK]);
    move || {
        rt.block_on(async {
            let (w, r) = zip(client.write_all(&data), reader.read_exact(&mut buf)).await;
            w.unwrap();
            r.unwrap();
        });
        bulk_sum(&buf)
    }
}

fn bulk_tokio<'a>(
    tk: &'a Tokio,
    listener: &tokio::net::TcpListener,
) -> impl FnMut() -> u64 + use<'a> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = listener.local_addr().unwrap();
    let (mut client, mut server) = tk.rt.block_on(async {
        let (client, accepted) = zip(tokio::net::TcpStream::connect(addr), listener.accept()).await;
        (client.unwrap(), accepted.unwrap().0)
    });
    let (data, mut buf) = (bulk_data(), vec![0; BULK]);
    move || {
        tk.rt.block_on(async {
            let (w, r) = zip(client.write_all(&data), server.read_exact(&mut buf)).await;
            w.unwrap();
            r.unwrap();
        });
        bulk_sum(&buf)
    }
}

fn bulk_smol(smol: Smol, listener: &Async<StdListener>) -> impl FnMut() -> u64 + use<> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let addr = listener.get_ref().local_addr().unwrap();
    let (mut client, mut server) = smol.block_on(async {
        let (client, accepted) = zip(Async::<StdStream>::connect(addr), listener.accept()).await;
        (client.unwrap(), accepted.unwrap().0)
    });
    let (data, mut buf) = (bulk_data(), vec![0; BULK]);
    move || {
        smol.block_on(async {
            let (w, r) = zip(client.write_all(&data), server.read_exact(&mut buf)).await;
            w.unwrap();
            r.unwrap();
        });
        bulk_sum(&buf)
    }
}

// tcp_connect_accept: connect and accept, joined; the accepted end is dropped first.

fn churn_minirt(rt: &minirt::Runtime, listener: &minirt::net::TcpListener) -> u64 {
    let addr = listener.local_addr().unwrap();
    rt.block_on(async {
        let mut n = 0;
        for _ in 0..CHURN {
            let (client, accepted) =
                zip(minirt::net::TcpStream::connect(addr), listener.accept()).await;
            drop(accepted.unwrap());
            drop(client.unwrap());
            n += 1;
        }
        n
    })
}

fn churn_tokio(tk: &Tokio, listener: &tokio::net::TcpListener) -> u64 {
    let addr = listener.local_addr().unwrap();
    tk.rt.block_on(async {
        let mut n = 0;
        for _ in 0..CHURN {
            let (client, accepted) =
                zip(tokio::net::TcpStream::connect(addr), listener.accept()).await;
            drop(accepted.unwrap());
            drop(client.unwrap());
            n += 1;
        }
        n
    })
}

fn churn_smol(smol: Smol, listener: &Async<StdListener>) -> u64 {
    let addr = listener.get_ref().local_addr().unwrap();
    smol.block_on(async {
        let mut n = 0;
        for _ in 0..CHURN {
            let (client, accepted) =
                zip(Async::<StdStream>::connect(addr), listener.accept()).await;
            drop(accepted.unwrap());
            drop(client.unwrap());
            n += 1;
        }
        n
    })
}

// echo_64: see `ECHO_CONNECTIONS`.

fn echo_minirt(rt: &minirt::Runtime, listener: &minirt::net::TcpListener) -> (u64, Vec<Duration>) {
    let addr = listener.local_addr().unwrap();
    let _server = pin::Server::pin();
    let client = std::thread::spawn(move || {
        pin::client();
        minirt::run(echo_client_minirt(addr))
    });
    let served = rt.block_on(async {
        let mut handlers = Vec::new();
        for _ in 0..ECHO_CONNECTIONS {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            handlers.push(minirt::spawn(async move {
                let mut buf = [0; ECHO_SIZE];
                let mut total = 0;
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return total;
                    }
                    stream.write_all(&buf[..n]).await.unwrap();
                    total += n as u64;
                }
            }));
        }
        let mut total = 0;
        for h in handlers {
            total += h.await.unwrap();
        }
        total
    });
    let times = client.join().unwrap();
    assert_eq!((times.len() * ECHO_SIZE) as u64, served);
    (served, times)
}

async fn echo_client_minirt(addr: SocketAddr) -> Vec<Duration> {
    let clients: Vec<_> = (0..ECHO_CONNECTIONS)
        .map(|_| {
            minirt::spawn(async move {
                let mut stream = minirt::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let message = [7u8; ECHO_SIZE];
                let mut back = [0; ECHO_SIZE];
                let mut times = Vec::with_capacity(ECHO_ROUNDS);
                for _ in 0..ECHO_ROUNDS {
                    let start = Instant::now();
                    stream.write_all(&message).await.unwrap();
                    let mut got = 0;
                    while got < ECHO_SIZE {
                        got += stream.read(&mut back[got..]).await.unwrap();
                    }
                    times.push(start.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times = Vec::with_capacity(ECHO_MESSAGES as usize);
    for c in clients {
        times.extend(c.await.unwrap());
    }
    times
}

fn echo_tokio(tk: &Tokio, listener: &tokio::net::TcpListener) -> (u64, Vec<Duration>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = listener.local_addr().unwrap();
    let _server = pin::Server::pin();
    let client = std::thread::spawn(move || {
        pin::client();
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap()
            .block_on(echo_client_tokio(addr))
    });
    let served = tk.rt.block_on(async {
        let mut handlers = Vec::new();
        for _ in 0..ECHO_CONNECTIONS {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            handlers.push(tokio::spawn(async move {
                let mut buf = [0; ECHO_SIZE];
                let mut total = 0;
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return total;
                    }
                    stream.write_all(&buf[..n]).await.unwrap();
                    total += n as u64;
                }
            }));
        }
        let mut total = 0;
        for h in handlers {
            total += h.await.unwrap();
        }
        total
    });
    let times = client.join().unwrap();
    assert_eq!((times.len() * ECHO_SIZE) as u64, served);
    (served, times)
}

async fn echo_client_tokio(addr: SocketAddr) -> Vec<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let clients: Vec<_> = (0..ECHO_CONNECTIONS)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let message = [7u8; ECHO_SIZE];
                let mut back = [0; ECHO_SIZE];
                let mut times = Vec::with_capacity(ECHO_ROUNDS);
                for _ in 0..ECHO_ROUNDS {
                    let start = Instant::now();
                    stream.write_all(&message).await.unwrap();
                    let mut got = 0;
                    while got < ECHO_SIZE {
                        got += stream.read(&mut back[got..]).await.unwrap();
                    }
                    times.push(start.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times = Vec::with_capacity(ECHO_MESSAGES as usize);
    for c in clients {
        times.extend(c.await.unwrap());
    }
    times
}

fn echo_smol(smol: Smol, listener: &Async<StdListener>) -> (u64, Vec<Duration>) {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let addr = listener.get_ref().local_addr().unwrap();
    let _server = pin::Server::pin();
    let client = std::thread::spawn(move || {
        pin::client();
        let client = Smol::new();
        client.block_on(echo_client_smol(client, addr))
    });
    let served = smol.block_on(async {
        let mut handlers = Vec::new();
        for _ in 0..ECHO_CONNECTIONS {
            let (mut stream, _) = listener.accept().await.unwrap();
            stream.get_ref().set_nodelay(true).unwrap();
            handlers.push(smol.ex.spawn(async move {
                let mut buf = [0; ECHO_SIZE];
                let mut total = 0;
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return total;
                    }
                    stream.write_all(&buf[..n]).await.unwrap();
                    total += n as u64;
                }
            }));
        }
        let mut total = 0;
        for h in handlers {
            total += h.await;
        }
        total
    });
    let times = client.join().unwrap();
    assert_eq!((times.len() * ECHO_SIZE) as u64, served);
    (served, times)
}

async fn echo_client_smol(smol: Smol, addr: SocketAddr) -> Vec<Duration> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let clients: Vec<_> = (0..ECHO_CONNECTIONS)
        .map(|_| {
            smol.ex.spawn(async move {
                let mut stream = Async::<StdStream>::connect(addr).await.unwrap();
                stream.get_ref().set_nodelay(true).unwrap();
                let message = [7u8; ECHO_SIZE];
                let mut back = [0; ECHO_SIZE];
                let mut times = Vec::with_capacity(ECHO_ROUNDS);
                for _ in 0..ECHO_ROUNDS {
                    let start = Instant::now();
                    stream.write_all(&message).await.unwrap();
                    let mut got = 0;
                    while got < ECHO_SIZE {
                        got += stream.read(&mut back[got..]).await.unwrap();
                    }
                    times.push(start.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times = Vec::with_capacity(ECHO_MESSAGES as usize);
    for c in clients {
        times.extend(c.await);
    }
    times
}

// echo_64_threads: see `THREAD_CLIENTS`. The client threads start first and connect while
// the server accepts; the server returns once every client has closed its connection.

/// Starts the client threads against `addr`, runs `serve` (which accepts `THREAD_CLIENTS`
/// connections and returns how many lines it echoed), and returns that count with every
/// round trip's time.
fn echo_threads(addr: SocketAddr, serve: impl FnOnce() -> u64) -> (u64, Vec<Duration>) {
    let _server = pin::Server::pin();
    let clients: Vec<_> = (0..THREAD_CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                pin::client();
                let stream = StdStream::connect(addr)?;
                line_echo::ping_pong(stream, Until::RoundTrips(THREAD_ROUNDS))
            })
        })
        .collect();
    let served = serve();
    let mut times = Vec::with_capacity(THREAD_LINES as usize);
    for c in clients {
        times.extend(c.join().unwrap().unwrap());
    }
    assert_eq!(times.len() as u64, served);
    (served, times)
}

fn echo_threads_minirt(
    rt: &minirt::Runtime,
    listener: &minirt::net::TcpListener,
) -> (u64, Vec<Duration>) {
    echo_threads(listener.local_addr().unwrap(), || {
        rt.block_on(async {
            let mut handlers = Vec::new();
            for _ in 0..THREAD_CLIENTS {
                let (stream, _) = listener.accept().await.unwrap();
                handlers.push(minirt::spawn(line_echo::serve_minirt(stream)));
            }
            let mut lines = 0;
            for h in handlers {
                lines += h.await.unwrap().unwrap();
            }
            lines
        })
    })
}

fn echo_threads_tokio<S: TokioSpawn>(
    tk: &Tokio,
    listener: &tokio::net::TcpListener,
) -> (u64, Vec<Duration>) {
    echo_threads(listener.local_addr().unwrap(), || {
        tk.block_on::<S, _>(async {
            let mut handlers = Vec::new();
            for _ in 0..THREAD_CLIENTS {
                let (stream, _) = listener.accept().await.unwrap();
                handlers.push(S::spawn(line_echo::serve_tokio(stream)));
            }
            let mut lines = 0;
            for h in handlers {
                lines += h.await.unwrap().unwrap();
            }
            lines
        })
    })
}

fn echo_threads_smol(smol: Smol, listener: &Async<StdListener>) -> (u64, Vec<Duration>) {
    echo_threads(listener.get_ref().local_addr().unwrap(), || {
        smol.block_on(async {
            let mut handlers = Vec::new();
            for _ in 0..THREAD_CLIENTS {
                let (stream, _) = listener.accept().await.unwrap();
                handlers.push(smol.ex.spawn(line_echo::serve_smol(stream)));
            }
            let mut lines = 0;
            for h in handlers {
                lines += h.await.unwrap();
            }
            lines
        })
    })
}

// udp_rtt: sockets made once; each run spawns the echoing task, then does its round trips.

fn udp_minirt(rt: &minirt::Runtime) -> impl FnMut() -> (u64, Vec<Duration>) + '_ {
    use minirt::net::UdpSocket;
    let (a, b) = rt.block_on(async {
        let a = UdpSocket::bind(LOOPBACK).unwrap();
        let b = Rc::new(UdpSocket::bind(LOOPBACK).unwrap());
        (a, b)
    });
    let b_addr = b.local_addr().unwrap();
    move || {
        rt.block_on(async {
            let echo = minirt::spawn({
                let b = b.clone();
                async move {
                    let mut buf = [0; ECHO_SIZE];
                    for _ in 0..UDP_ROUND_TRIPS {
                        let (n, from) = b.recv_from(&mut buf).await.unwrap();
                        b.send_to(&buf[..n], from).await.unwrap();
                    }
                }
            });
            let (message, mut back) = ([7u8; ECHO_SIZE], [0; ECHO_SIZE]);
            let mut total = 0;
            let mut times = Vec::with_capacity(UDP_ROUND_TRIPS as usize);
            for _ in 0..UDP_ROUND_TRIPS {
                let start = Instant::now();
                a.send_to(&message, b_addr).await.unwrap();
                total += a.recv_from(&mut back).await.unwrap().0 as u64;
                times.push(start.elapsed());
            }
            echo.await.unwrap();
            (total, times)
        })
    }
}

fn udp_tokio(tk: &Tokio) -> impl FnMut() -> (u64, Vec<Duration>) + '_ {
    use tokio::net::UdpSocket;
    let (a, b) = tk.rt.block_on(async {
        let a = UdpSocket::bind(LOOPBACK).await.unwrap();
        let b = Arc::new(UdpSocket::bind(LOOPBACK).await.unwrap());
        (a, b)
    });
    let b_addr = b.local_addr().unwrap();
    move || {
        tk.rt.block_on(async {
            let echo = tokio::spawn({
                let b = b.clone();
                async move {
                    let mut buf = [0; ECHO_SIZE];
                    for _ in 0..UDP_ROUND_TRIPS {
                        let (n, from) = b.recv_from(&mut buf).await.unwrap();
                        b.send_to(&buf[..n], from).await.unwrap();
                    }
                }
            });
            let (message, mut back) = ([7u8; ECHO_SIZE], [0; ECHO_SIZE]);
            let mut total = 0;
            let mut times = Vec::with_capacity(UDP_ROUND_TRIPS as usize);
            for _ in 0..UDP_ROUND_TRIPS {
                let start = Instant::now();
                a.send_to(&message, b_addr).await.unwrap();
                total += a.recv_from(&mut back).await.unwrap().0 as u64;
                times.push(start.elapsed());
            }
            echo.await.unwrap();
            (total, times)
        })
    }
}

fn udp_smol(smol: Smol) -> impl FnMut() -> (u64, Vec<Duration>) {
    let a = Async::<StdUdp>::bind(LOOPBACK.parse::<SocketAddr>().unwrap()).unwrap();
    let b = Rc::new(Async::<StdUdp>::bind(LOOPBACK.parse::<SocketAddr>().unwrap()).unwrap());
    let b_addr = b.get_ref().local_addr().unwrap();
    move || {
        smol.block_on(async {
            let echo = smol.ex.spawn({
                let b = b.clone();
                async move {
                    let mut buf = [0; ECHO_SIZE];
                    for _ in 0..UDP_ROUND_TRIPS {
                        let (n, from) = b.recv_from(&mut buf).await.unwrap();
                        b.send_to(&buf[..n], from).await.unwrap();
                    }
                }
            });
            let (message, mut back) = ([7u8; ECHO_SIZE], [0; ECHO_SIZE]);
            let mut total = 0;
            let mut times = Vec::with_capacity(UDP_ROUND_TRIPS as usize);
            for _ in 0..UDP_ROUND_TRIPS {
                let start = Instant::now();
                a.send_to(&message, b_addr).await.unwrap();
                total += a.recv_from(&mut back).await.unwrap().0 as u64;
                times.push(start.elapsed());
            }
            echo.await;
            (total, times)
        })
    }
}
