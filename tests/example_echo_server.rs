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

/// `clients` clients each send `lines` lines, one at a time, and check every echo.
fn echo_from_clients(addr: std::net::SocketAddr, clients: usize, lines: usize) {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || {
                let (mut reader, mut writer) = connect(addr);
                let mut back = String::new();
                for i in 0..lines {
                    let sent = format!("client {c} says line {i} of a long conversation\n");
                    writer.write_all(sent.as_bytes()).unwrap();
                    back.clear();
                    reader.read_line(&mut back).unwrap();
                    assert_eq!(back, sent);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("every echo came back");
    }
}

/// Issue 17, item 8: with `println!` the server froze after about 1,000 lines once its stdout
/// pipe was full. 8 clients × 3,000 lines log 24,000 lines, more than the pipe (64 KiB),
/// minirt's buffer (64 KiB) and the example's log queue (16,384 lines) hold together, so lines
/// are dropped; every echo must still come back.
#[test]
fn echo_server_keeps_echoing_when_nobody_reads_its_stdout() {
    use std::io::Read;
    let (child, mut stdout, addr) =
        example_support::start_with_unread_stdout("echo_server", &["127.0.0.1:0"]);
    echo_from_clients(addr, 8, 3000);
    // Memory stays bounded: the log queue, the stdout buffer and the writer thread's chunk
    // hold a few MiB at most, whatever the clients send.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    eprintln!("echo_server with stdout unread: VmRSS {rss_kib} KiB after 24,000 lines");
    assert!(rss_kib < 64 * 1024, "VmRSS {rss_kib} KiB");
    let (status, stderr) = example_support::interrupt_and_wait(child);
    assert!(status.success(), "exit status {status:?}, stderr: {stderr}");
    // Now read what the pipe held: far less than the whole log, so the pipe really was full.
    let mut log = String::new();
    stdout.read_to_string(&mut log).unwrap();
    let received = log.matches("received").count();
    assert!(received < 24_000, "the log was not cut: {received} lines");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Issue 17, item 8: with stdout's read end closed, every client got a reset and Ctrl-C
/// exited 101 (a `println!` panicked). Now the log is silenced and nothing else changes.
#[test]
fn echo_server_serves_and_exits_zero_with_stdout_closed() {
    let (child, stdout, addr) =
        example_support::start_with_unread_stdout("echo_server", &["127.0.0.1:0"]);
    drop(stdout);
    echo_from_clients(addr, 4, 300);
    let (status, stderr) = example_support::interrupt_and_wait(child);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn echo_server_quiet_logs_no_lines_but_echoes() {
    let (server, addr) = example_support::start_server("echo_server", &["--quiet", "127.0.0.1:0"]);
    echo_from_clients(addr, 2, 10);
    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    assert!(status.success());
    assert!(rest.contains("stopping"), "{rest}");
    assert!(!rest.contains("received"), "--quiet still logged: {rest}");
}

#[test]
fn echo_server_with_two_threads_echoes_and_stops_on_ctrl_c() {
    let (server, addr) =
        example_support::start_server("echo_server", &["127.0.0.1:0", "--threads", "2"]);
    echo_from_clients(addr, 16, 10);
    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}: {rest}");
    assert!(rest.contains("stopping"), "{rest}");
    // The threads' logs (one each) reach stdout.
    assert!(rest.contains("received"), "{rest}");
    let output = example_support::run(
        "echo_server",
        &["127.0.0.1:0", "--threads", "0"],
        Duration::from_secs(20),
    );
    assert_eq!(output.status.code(), Some(2));
}

/// `--quiet` and `--threads` together: no thread logs a line, every echo comes back.
#[test]
fn echo_server_quiet_with_two_threads_logs_no_lines_but_echoes() {
    let (server, addr) =
        example_support::start_server("echo_server", &["--quiet", "--threads", "2", "127.0.0.1:0"]);
    echo_from_clients(addr, 8, 10);
    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}: {rest}");
    assert!(rest.contains("stopping"), "{rest}");
    assert!(!rest.contains("received"), "--quiet still logged: {rest}");
}

/// With `--threads 2` and stdout's read end closed, every thread's log is silenced and Ctrl-C
/// still exits 0.
#[test]
fn echo_server_with_two_threads_serves_and_exits_zero_with_stdout_closed() {
    let (child, stdout, addr) = example_support::start_with_unread_stdout(
        "echo_server",
        &["127.0.0.1:0", "--threads", "2"],
    );
    drop(stdout);
    echo_from_clients(addr, 8, 100);
    let (status, stderr) = example_support::interrupt_and_wait(child);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `echo_server --help >/dev/full` exited 101: its `println!` panicked. So did a usage error
/// with stderr on `/dev/full`.
#[test]
fn help_and_usage_errors_survive_a_full_stdout_and_stderr() {
    use std::process::{Command, Stdio};
    let program = example_support::example_path("echo_server");
    let full = || {
        Stdio::from(
            std::fs::File::options()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
    };
    let cases: [(&[&str], i32); 3] = [(&["--help"], 0), (&["--bogus"], 2), (&["--threads"], 2)];
    for (args, code) in cases {
        let output = Command::new(&program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(full())
            .stderr(full())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}");
    }
}

/// Silent clients, more than the server has file descriptors for, then one that talks. Before,
/// the silent ones held their connections for ever, so the server could accept no one else:
/// the last client sat in the kernel's backlog, never echoed. Now each is cut after the idle
/// timeout, and the server, having descriptors again, serves the last one.
#[test]
fn silent_clients_are_cut_and_a_server_out_of_file_descriptors_serves_again() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let program = example_support::example_path("echo_server");
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -n 48 && exec \"$0\" \"$@\""])
        .arg(program)
        .args(["--quiet", "--idle-timeout-secs", "1", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line.trim()["listening on ".len()..].parse().unwrap();
    // More than 48 descriptors' worth: the server runs out, and stops accepting.
    let silent: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let (mut reader, mut writer) = connect(addr);
    writer.write_all(b"let me in\n").unwrap();
    let mut back = String::new();
    reader
        .read_line(&mut back)
        .expect("an echo once the silent ones are cut");
    assert_eq!(back, "let me in\n");
    // The first silent ones were accepted, then cut: they read the end of the connection.
    let mut first = &silent[0];
    first
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(first.read(&mut [0; 1]).unwrap(), 0);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn with_threads_a_second_server_on_the_same_address_is_refused() {
    let (first, addr) =
        example_support::start_server("echo_server", &["--threads", "2", "127.0.0.1:0"]);
    // Before, SO_REUSEPORT let it listen there too, and take a share of the clients.
    let args = ["--threads", "2", &addr.to_string()];
    let output = example_support::run("echo_server", &args, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Address already in use"), "{stderr}");
    first.interrupt();
    assert!(first.wait_exit(Duration::from_secs(20)).0.success());
}
