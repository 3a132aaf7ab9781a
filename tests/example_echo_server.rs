//! Runs `examples/echo_server` and talks to it as `nc` or Python's `socket` would.
mod example_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A blocking client: a line reader and a writer on one connection, with a read timeout so
/// that a broken server fails the test instead of hanging it.
fn connect(addr: std::net::SocketAddr) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (BufReader::new(stream.try_clone().unwrap()), stream)
}

#[test]
fn echo_server_echoes_lines_and_stops_on_ctrl_c() {
    let (server, addr) = example_support::start_server("echo_server", &["127.0.0.1:0"]);
    let clients: Vec<_> = (0..8)
        .map(|c| {
            std::thread::spawn(move || {
                let (mut reader, mut writer) = connect(addr);
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

#[test]
fn a_trace_of_the_echo_server_under_load_shows_tasks_parks_and_io_wakes() {
    let path = std::env::temp_dir().join(format!("minirt-echo-trace-{}.json", std::process::id()));
    let trace = path.to_str().unwrap();
    let (server, addr) = example_support::start_server_with_env(
        "echo_server",
        &["127.0.0.1:0"],
        &[("MINIRT_TRACE", trace)],
    );
    for c in 0..4 {
        let (mut reader, mut writer) = connect(addr);
        for i in 0..10 {
            writer.write_all(format!("{c}-{i}\n").as_bytes()).unwrap();
            let mut back = String::new();
            reader.read_line(&mut back).unwrap();
        }
    }
    server.interrupt();
    let (status, _) = server.wait_exit(Duration::from_secs(20));
    assert!(status.success());
    let text = std::fs::read_to_string(&path).expect("the trace file was written at exit");
    let _ = std::fs::remove_file(&path);
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let events = json["traceEvents"].as_array().unwrap();
    let has = |pred: &dyn Fn(&serde_json::Value) -> bool| events.iter().any(pred);
    assert!(has(&|e| e["name"] == "thread_name"
        && e["args"]["name"]
            .as_str()
            .unwrap()
            .contains("examples/echo_server.rs")));
    assert!(has(
        &|e| e["name"] == "park" && e["args"]["events"].as_u64() > Some(0)
    ));
    assert!(has(&|e| e["name"] == "wake" && e["args"]["source"] == "io"));
    assert!(has(&|e| e["name"] == "poll" && e["ph"] == "B"));
}

#[test]
fn echo_server_with_two_threads_echoes_and_stops_on_ctrl_c() {
    let (server, addr) =
        example_support::start_server("echo_server", &["127.0.0.1:0", "--threads", "2"]);
    let clients: Vec<_> = (0..16)
        .map(|c| {
            std::thread::spawn(move || {
                let (mut reader, mut writer) = connect(addr);
                for i in 0..10 {
                    let sent = format!("client {c} line {i}\n");
                    writer.write_all(sent.as_bytes()).unwrap();
                    let mut back = String::new();
                    reader.read_line(&mut back).unwrap();
                    assert_eq!(back, sent);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}: {rest}");
    assert!(rest.contains("stopping"), "{rest}");
    let output = example_support::run(
        "echo_server",
        &["127.0.0.1:0", "--threads", "0"],
        Duration::from_secs(20),
    );
    assert_eq!(output.status.code(), Some(2));
}
