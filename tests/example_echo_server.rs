//! Runs `examples/echo_server` and talks to it as `nc` or Python's `socket` would.
mod example_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn echo_server_echoes_lines_and_stops_on_ctrl_c() {
    let (server, addr) = example_support::start_server("echo_server", &["127.0.0.1:0"]);
    let clients: Vec<_> = (0..8)
        .map(|c| {
            std::thread::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                for i in 0..20 {
                    let sent = format!("client {c} line {i}\n");
                    writer.write_all(sent.as_bytes()).unwrap();
                    let mut back = String::new();
                    reader.read_line(&mut back).unwrap();
                    assert_eq!(back, sent);
                }
                // An invalid UTF-8 line gets an error line back, and the connection goes on.
                writer.write_all(b"\xff\xfe\n").unwrap();
                let mut back = String::new();
                reader.read_line(&mut back).unwrap();
                assert!(back.starts_with("error:"), "{back:?}");
                writer.write_all(b"still here\n").unwrap();
                back.clear();
                reader.read_line(&mut back).unwrap();
                assert_eq!(back, "still here\n");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    assert!(rest.contains("stopping"), "{rest}");
}

#[test]
fn echo_server_rejects_bad_arguments_clearly() {
    let output = example_support::run("echo_server", &["--port"], Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("usage: echo_server"), "{stderr}");
    let output = example_support::run("echo_server", &["not an address"], Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        !String::from_utf8(output.stderr)
            .unwrap()
            .contains("panicked")
    );
}
