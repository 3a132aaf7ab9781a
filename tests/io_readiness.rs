//! The reactor's readiness flags (`src/reactor.rs`, "Readiness"): a short read goes back to the
//! poller before the socket is read again, and that never loses data or an end of file.
mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use minirt::net::TcpListener;

/// The poller reports the arrival of the data and of the peer's FIN as one event, then a read
/// returns the data short (it stops at the FIN). Nothing more will come from the kernel: the
/// end of file must still be seen. A reactor that waited for the next edge after a short
/// read hung here; one that defers the next read to the next poller turn does not.
#[test]
fn data_and_end_of_file_reported_together_are_both_read() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    for _ in 0..20 {
        minirt::run(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let armed = Arc::new(AtomicBool::new(false));
            let sent = Arc::new(AtomicBool::new(false));
            let (client_armed, client_sent) = (armed.clone(), sent.clone());
            let client = std::thread::spawn(move || {
                let mut out = std::net::TcpStream::connect(addr).unwrap();
                // Send only once the server's read has found nothing and waits.
                while !client_armed.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                out.write_all(b"hello").unwrap();
                drop(out); // the FIN follows the data at once
                client_sent.store(true, Ordering::SeqCst);
            });
            let (mut stream, _) = listener.accept().await.unwrap();
            // Keep the loop busy (no poller wait but the periodic non-blocking one) until the
            // data and the FIN are both queued, so that one event reports both. The task first
            // runs after the main future's first read has met `WouldBlock` (the loop polls the
            // main future first), and only then lets the client send.
            let busy = minirt::spawn(async move {
                armed.store(true, Ordering::SeqCst);
                while !sent.load(Ordering::SeqCst) {
                    minirt::yield_now().await;
                }
            });
            let mut got = Vec::new();
            let mut buf = [0; 64];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"hello");
            busy.await.unwrap();
            client.join().unwrap();
        });
    }
}
