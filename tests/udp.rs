//! UDP: datagrams between several sockets, addressed and connected.
mod common;

use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use minirt::net::UdpSocket;

const SOCKETS: usize = 4;

#[test]
fn every_socket_hears_from_every_other() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    minirt::run(async {
        let sockets: Vec<Rc<UdpSocket>> = (0..SOCKETS)
            .map(|_| Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap()))
            .collect();
        let addrs: Vec<_> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
        // Receivers first: they wait before anything is sent.
        let receivers: Vec<_> = sockets
            .iter()
            .map(|socket| {
                let socket = socket.clone();
                minirt::spawn(async move {
                    let mut heard = BTreeSet::new();
                    let mut buf = [0; 64];
                    for _ in 0..SOCKETS - 1 {
                        let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                        let text = String::from_utf8(buf[..n].to_vec()).unwrap();
                        heard.insert((text, from));
                    }
                    heard
                })
            })
            .collect();
        minirt::yield_now().await;
        for (i, socket) in sockets.iter().enumerate() {
            for (j, &to) in addrs.iter().enumerate() {
                if i != j {
                    let msg = format!("from {i} to {j}");
                    assert_eq!(socket.send_to(msg.as_bytes(), to).await.unwrap(), msg.len());
                }
            }
        }
        for (j, receiver) in receivers.into_iter().enumerate() {
            let expected: BTreeSet<_> = (0..SOCKETS)
                .filter(|&i| i != j)
                .map(|i| (format!("from {i} to {j}"), addrs[i]))
                .collect();
            assert_eq!(receiver.await.unwrap(), expected);
        }
    });
}

#[test]
fn connected_sockets_send_and_recv() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    minirt::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        let b2 = b.clone();
        let pong = minirt::spawn(async move {
            let mut buf = [0; 16];
            let n = b2.recv(&mut buf).await.unwrap();
            b2.send(&buf[..n]).await.unwrap();
        });
        a.send(b"ping").await.unwrap();
        let mut buf = [0; 16];
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        pong.await.unwrap();
    });
}
