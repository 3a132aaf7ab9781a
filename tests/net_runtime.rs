//! Sockets and runtimes: made outside one (an error), outliving one, used in another.
mod common;

use std::io::ErrorKind;
use std::time::Duration;

use minirt::net::{TcpListener, TcpStream, UdpSocket};

#[test]
fn a_socket_made_outside_a_runtime_is_a_clear_error() {
    let error = TcpListener::bind("127.0.0.1:0").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Other);
    assert!(
        error.to_string().contains("inside a runtime"),
        "the message says what to do: {error}"
    );
    assert!(UdpSocket::bind("127.0.0.1:0").is_err());
    let connect = TcpStream::connect("127.0.0.1:9");
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let std::task::Poll::Ready(Err(e)) = std::pin::pin!(connect).poll(&mut cx) else {
        panic!("connect outside a runtime fails at once");
    };
    assert!(e.to_string().contains("inside a runtime"), "{e}");
}

#[test]
fn sockets_outlive_their_runtime_and_drop_cleanly() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    let rt = minirt::Runtime::new().unwrap();
    let (listener, client, blocked) = rt.block_on(async {
        let (listener, mut client, mut server) = common::connected_pair().await;
        // A task blocked reading `server` when the runtime goes.
        let blocked = minirt::spawn(async move { server.read(&mut [0; 8]).await });
        // And a waker left behind in the reactor for `client`, which leaves the runtime.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(
            std::pin::pin!(client.read(&mut [0; 8]))
                .poll(&mut cx)
                .is_pending()
        );
        minirt::yield_now().await; // `blocked` runs and waits
        (listener, client, blocked)
    });
    // The runtime's shutdown drops the blocked task's future, and the socket in it.
    drop(rt);
    assert!(blocked.is_finished());
    // These are dropped after their runtime: they deregister without touching freed memory
    // (valgrind runs this test too).
    drop(client);
    drop(listener);
}

#[test]
fn waiting_on_a_socket_from_another_runtime_is_an_error() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    let first = minirt::Runtime::new().unwrap();
    let second = minirt::Runtime::new().unwrap();
    let socket = first
        .block_on(async { UdpSocket::bind("127.0.0.1:0") })
        .unwrap();
    let error = second
        .block_on(async {
            let mut buf = [0; 8];
            socket.recv_from(&mut buf).await
        })
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("outside the runtime that created it"),
        "{error}"
    );
    // After its own runtime is gone, too.
    drop(first);
    let error = second
        .block_on(async { socket.recv(&mut [0; 8]).await })
        .unwrap_err();
    assert!(error.to_string().contains("outside the runtime"), "{error}");
}
