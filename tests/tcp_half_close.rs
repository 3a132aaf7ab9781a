//! Half-close: after `shutdown(Write)` the peer reads end-of-input, and can still answer.
mod common;

use std::io::ErrorKind;
use std::net::Shutdown;
use std::pin::Pin;
use std::time::Duration;

use common::read_to_end;
use futures_io::AsyncWrite;

#[test]
fn a_half_closed_stream_still_gets_its_answer() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    minirt::run(async {
        let (_listener, mut client, mut server) = common::connected_pair().await;
        let server = minirt::spawn(async move {
            let request = read_to_end(&mut server).await; // ends at the client's half-close
            let answer = format!("got {} bytes", request.len());
            server.write_all(answer.as_bytes()).await.unwrap();
        });
        let request = vec![b'q'; 300_000]; // more than the socket buffers hold
        client.write_all(&request).await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        assert_eq!(
            client.write(b"more").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe,
            "no writing after a write shutdown"
        );
        assert_eq!(read_to_end(&mut client).await, b"got 300000 bytes");
        server.await.unwrap();
    });
}

#[test]
fn closing_the_async_write_side_is_a_half_close() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    minirt::run(async {
        let (_listener, mut client, mut server) = common::connected_pair().await;
        client.write_all(b"ping").await.unwrap();
        std::future::poll_fn(|cx| Pin::new(&mut client).poll_close(cx))
            .await
            .unwrap();
        let request = read_to_end(&mut server).await;
        server.write_all(&request).await.unwrap();
        drop(server);
        assert_eq!(read_to_end(&mut client).await, b"ping");
    });
}
