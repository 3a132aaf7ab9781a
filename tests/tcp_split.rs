//! A read half and a write half, owned by two tasks, waiting at the same time.
mod common;

use std::time::Duration;

use minirt::net::{TcpListener, TcpStream};

const TOTAL: usize = 8 << 20; // far more than the socket buffers: both halves must wait
const CHUNK: usize = 64 * 1024;

fn byte(i: usize) -> u8 {
    (i % 251) as u8
}

#[test]
fn halves_in_two_tasks_move_eight_mib_through_an_echo() {
    let _watchdog = common::watchdog(Duration::from_secs(120));
    minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The echo server splits too: it is the same pattern on the other side.
        let server = minirt::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (mut from, mut to) = stream.into_split();
            let mut buf = vec![0; CHUNK];
            loop {
                let n = from.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                to.write_all(&buf[..n]).await.unwrap();
            }
        });
        let (mut reader, mut writer) = TcpStream::connect(addr).await.unwrap().into_split();
        assert_eq!(reader.as_ref().peer_addr().unwrap(), addr);
        let writing = minirt::spawn(async move {
            let data: Vec<u8> = (0..TOTAL).map(byte).collect();
            for chunk in data.chunks(CHUNK) {
                writer.write_all(chunk).await.unwrap();
            }
            writer
        });
        let reading = minirt::spawn(async move {
            let mut buf = vec![0; CHUNK];
            let mut seen = 0;
            while seen < TOTAL {
                let n = reader.read(&mut buf).await.unwrap();
                assert_ne!(n, 0, "end of input after {seen} bytes");
                for (i, &b) in buf[..n].iter().enumerate() {
                    assert_eq!(b, byte(seen + i), "byte {}", seen + i);
                }
                seen += n;
            }
            seen
        });
        let writer = writing.await.unwrap();
        assert_eq!(reading.await.unwrap(), TOTAL);
        writer.as_ref().shutdown(std::net::Shutdown::Write).unwrap();
        server.await.unwrap();
    });
}
