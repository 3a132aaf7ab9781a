//! `BufReader`'s line limit over a real socket: an over-long line, invalid UTF-8, and a last
//! line with no newline. (The logic itself is unit-tested in `src/io/buf_reader.rs`.)
mod common;

use std::time::Duration;

use minirt::io::BufReader;
use minirt::net::{TcpListener, TcpStream};

const LIMIT: usize = 32;

#[test]
fn a_line_server_survives_long_lines_and_bad_bytes() {
    let _watchdog = common::watchdog(Duration::from_secs(120));
    let replies = minirt::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Answers each line with "ok <line>" or "error <what>", until end of input.
        let server = minirt::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut reader = BufReader::with_limit(stream, LIMIT);
            let mut line = String::new();
            loop {
                line.clear();
                let reply = match reader.read_line(&mut line).await {
                    Ok(0) => break,
                    Ok(_) => format!("ok {}\n", line.trim_end()),
                    Err(e) if e.to_string().contains("limit") => "error too long\n".into(),
                    Err(_) => "error not utf-8\n".into(),
                };
                reader.get_mut().write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let (mut from, mut to) = TcpStream::connect(addr).await.unwrap().into_split();
        // A separate task sends, so that the 4 MiB line can be written while replies come.
        let sender = minirt::spawn(async move {
            to.write_all(b"first\n").await.unwrap();
            let long = vec![b'x'; 4 << 20];
            to.write_all(&long).await.unwrap();
            to.write_all(b"\nafter the long one\n").await.unwrap();
            to.write_all(b"\xff\xfe\n").await.unwrap();
            to.write_all(b"no newline").await.unwrap();
            to.as_ref().shutdown(std::net::Shutdown::Write).unwrap();
        });
        let replies = common::read_to_end(&mut from).await;
        sender.await.unwrap();
        server.await.unwrap();
        String::from_utf8(replies).unwrap()
    });
    assert_eq!(
        replies,
        "ok first\nerror too long\nok after the long one\nerror not utf-8\nok no newline\n"
    );
}
