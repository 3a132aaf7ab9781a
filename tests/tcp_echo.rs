//! Echo over loopback: many connections at once, many messages each, every byte checked.
mod common;

use std::time::Duration;

use minirt::io::BufReader;
use minirt::net::{TcpListener, TcpStream};

const CONNECTIONS: usize = 64;
const MESSAGES: usize = 50;

/// Message `m` of connection `c`: its length and bytes differ from one to the next.
fn message(c: usize, m: usize) -> Vec<u8> {
    let len = 1 + (c * 131 + m * 977) % 3000;
    (0..len).map(|i| (i * 7 + c + m) as u8).collect()
}

#[test]
fn sixty_four_connections_echo_every_byte() {
    let _watchdog = common::watchdog(Duration::from_secs(120));
    let echoed = minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = minirt::spawn(async move {
            let mut handlers = Vec::new();
            for _ in 0..CONNECTIONS {
                let (mut stream, _) = listener.accept().await.unwrap();
                handlers.push(minirt::spawn(async move {
                    let mut buf = vec![0; 4096];
                    let mut total = 0;
                    loop {
                        let n = stream.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return total; // the client is done
                        }
                        stream.write_all(&buf[..n]).await.unwrap();
                        total += n;
                    }
                }));
            }
            let mut total = 0;
            for h in handlers {
                total += h.await.unwrap();
            }
            total
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                minirt::spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    let mut stream = BufReader::new(stream);
                    let mut sent = 0;
                    for m in 0..MESSAGES {
                        let msg = message(c, m);
                        stream.get_mut().write_all(&msg).await.unwrap();
                        let mut back = vec![0; msg.len()];
                        stream.read_exact(&mut back).await.unwrap();
                        assert!(back == msg, "connection {c}, message {m}: bytes differ");
                        sent += msg.len();
                    }
                    stream
                        .get_ref()
                        .shutdown(std::net::Shutdown::Write)
                        .unwrap();
                    let mut rest = [0; 1];
                    assert_eq!(
                        stream.read_exact(&mut rest).await.unwrap_err().kind(),
                        std::io::ErrorKind::UnexpectedEof
                    );
                    sent
                })
            })
            .collect();
        let mut sent = 0;
        for c in clients {
            sent += c.await.unwrap();
        }
        assert_eq!(server.await.unwrap(), sent);
        sent
    });
    let expected: usize = (0..CONNECTIONS)
        .flat_map(|c| (0..MESSAGES).map(move |m| message(c, m).len()))
        .sum();
    assert_eq!(echoed, expected);
}
