//! When the other end is not there, or goes away: clean errors, never a hang.
mod common;

use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use minirt::net::{TcpListener, TcpStream};

#[test]
fn connecting_to_a_closed_port_is_refused() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    // Take a free port from the OS, then close it again.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = minirt::run(TcpStream::connect(addr)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
}

#[test]
fn a_peer_reset_wakes_the_blocked_reader_with_an_error() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The peer waits for our bytes and for our task to wait on the socket, then closes
        // without reading them: that is a reset.
        let (tell_fd, fd) = std::sync::mpsc::channel();
        let peer = std::thread::spawn(move || {
            let peer = std::net::TcpStream::connect(addr).unwrap();
            peer.peek(&mut [0]).unwrap();
            common::wait_until_armed_for_read(fd.recv().unwrap());
            drop(peer);
        });
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"you will not read this").await.unwrap();
        tell_fd.send(stream.as_fd().as_raw_fd()).unwrap();
        let mut buf = [0; 64];
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
        peer.join().unwrap();
    });
}

#[test]
fn a_vanished_peer_reads_as_end_of_input_and_fails_writes() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            peer.write_all(b"last words").unwrap();
        }); // and gone
        let (mut stream, _) = listener.accept().await.unwrap();
        assert_eq!(common::read_to_end(&mut stream).await, b"last words");
        peer.join().unwrap();
        // The first write may still be accepted (the peer answers it with a reset); after
        // that, writing fails. Bounded: the reset comes back at once on loopback.
        let mut error = None;
        for _ in 0..100 {
            if let Err(e) = stream.write(b"anyone there?").await {
                error = Some(e);
                break;
            }
            minirt::yield_now().await;
        }
        let error = error.expect("writes to a closed peer fail");
        assert!(
            matches!(
                error.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{error}"
        );
    });
}
