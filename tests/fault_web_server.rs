//! The fault matrix of `examples/web_server`: the real program against real faults. SIGKILL
//! at seeded random points (start-up included) then a restart on the same database; a full
//! disk under the database (a small tmpfs, when run as root); poison requests of every shape;
//! peers that never read or never send; stdout and stderr closed, full or `/dev/full` at every
//! exit path. A failure prints its seed: `MINIRT_FAULT_SEED=N` replays it.
mod example_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use example_support::faults::{self, ExitPath, Outcome, Seed, Sink, Tmpfs};

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("minirt-fault-web-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends `request`, closes the write side, and returns all the server answered.
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = faults::connect_when_up(addr, Duration::from_secs(20)).expect("connect");
    let _ = stream.write_all(request);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn post_db(body: &str) -> Vec<u8> {
    format!(
        "POST /db HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const HELLO: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[test]
fn sigkill_at_seeded_random_points_then_restart_serves_the_same_data() {
    let seed = Seed::new("web_sigkill");
    let mut rng = seed.rng();
    let dir = TempDir::new("sigkill");
    let db = dir.path("web.db");
    let program = example_support::example_path("web_server");
    for _ in 0..5 {
        // Killed at a random point: while it creates the database, or while it serves.
        let addr = faults::free_addr();
        let mut child = std::process::Command::new(&program)
            .args(["--addr", &addr.to_string(), "--db", &db])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_millis(rng.between(0..300));
        while std::time::Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(addr) {
                let _ =
                    stream.write_all(&post_db(r#"{"queries": ["SELECT count(*) FROM users"]}"#));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        faults::kill9(&mut child);
    }
    let (server, addr) =
        example_support::start_server("web_server", &["--addr", "127.0.0.1:0", "--db", &db]);
    let answer = exchange(
        addr,
        &post_db(r#"{"queries": ["SELECT count(*) FROM users"]}"#),
    );
    assert!(
        answer.ends_with("[[[8]]]\n"),
        "seed {}: the sample data, once: {answer}",
        seed.seed
    );
    server.interrupt();
    let (status, _) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "seed {}", seed.seed);
}

#[test]
fn a_full_disk_at_start_is_an_error_not_a_panic() {
    let Some(disk) = Tmpfs::mount("web-full", 64 * 1024) else {
        return;
    };
    let db = disk.dir.join("web.db");
    let db = db.to_str().unwrap();
    let filler = disk.fill();
    let output = example_support::run(
        "web_server",
        &["--addr", "127.0.0.1:0", "--db", db],
        EXIT_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Room again: it starts.
    std::fs::remove_file(filler).unwrap();
    let _ = std::fs::remove_file(db);
    let (server, addr) =
        example_support::start_server("web_server", &["--addr", "127.0.0.1:0", "--db", db]);
    assert!(exchange(addr, HELLO).ends_with("Hello, World\n"));
    server.interrupt();
    let (status, _) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success());
}

#[test]
fn poison_requests_of_every_shape_are_answered_and_the_server_goes_on() {
    let seed = Seed::new("web_poison");
    let mut rng = seed.rng();
    let args = ["--addr", "127.0.0.1:0", "--max-body", "1000"];
    let (server, addr) = example_support::start_server("web_server", &args);
    let head = |extra: &str| format!("POST /db HTTP/1.1\r\nHost: x\r\n{extra}\r\n").into_bytes();
    let mut shapes: Vec<Vec<u8>> = vec![
        b"\0\0\0\0\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(),
        head("Transfer-Encoding: chunked, gzip\r\n"),
        head("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        [
            head("Transfer-Encoding: chunked\r\n"),
            b"-1\r\n\r\n".to_vec(),
        ]
        .concat(),
        [
            head("Transfer-Encoding: chunked\r\n"),
            b"5\r\nab\r\n".to_vec(),
        ]
        .concat(),
        [
            head("Transfer-Encoding: chunked\r\n"),
            format!("1;{}\r\na\r\n0\r\n\r\n", "e".repeat(5000)).into_bytes(),
        ]
        .concat(),
        [
            head("Transfer-Encoding: chunked\r\n"),
            b"1\r\nx\r\n".repeat(2000),
        ]
        .concat(),
        post_db(r#"{"queries": ["SELECT 1\u0000; DROP TABLE users"]}"#),
        post_db(r#"{"queries": [["nested"]]}"#),
        post_db(&format!("{}1{}", "[".repeat(200), "]".repeat(200))),
        post_db(r#"{"queries": ["SELECT 1; SELECT 2"]}"#),
        post_db("\u{feff}{}"),
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20_000)).into_bytes(),
        format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(100)).into_bytes(),
    ];
    for _ in 0..20 {
        let len = rng.between(1..2000) as usize;
        let mut bytes = rng.bytes(len);
        if rng.next() % 2 == 0 {
            bytes.splice(0..0, b"POST /db HTTP/1.1\r\nHost: x\r\n".iter().copied());
        }
        bytes.extend_from_slice(b"\r\n\r\n");
        shapes.push(bytes);
    }
    for shape in &shapes {
        let answer = exchange(addr, shape);
        let status: u16 = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!(
            answer.is_empty() || (200..600).contains(&status),
            "seed {}: {:?} got {answer:?}",
            seed.seed,
            String::from_utf8_lossy(shape)
        );
        // The server goes on.
        assert!(
            exchange(addr, HELLO).ends_with("Hello, World\n"),
            "seed {}: after {:?}",
            seed.seed,
            String::from_utf8_lossy(shape)
        );
    }
    server.interrupt();
    let (status, summary) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "seed {}: {summary}", seed.seed);
}

#[test]
fn peers_that_never_read_or_never_send_are_cut_and_others_served() {
    let args = ["--addr", "127.0.0.1:0", "--idle-timeout-secs", "1"];
    let (server, addr) = example_support::start_server("web_server", &args);
    let silent = TcpStream::connect(addr).unwrap();
    let deaf = TcpStream::connect(addr).unwrap();
    deaf.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let flood = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(50_000);
    let writer = std::thread::spawn(move || {
        let _ = (&deaf).write_all(flood.as_bytes());
        deaf
    });
    assert!(exchange(addr, HELLO).ends_with("Hello, World\n"));
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut rest = Vec::new();
    (&silent).read_to_end(&mut rest).expect("closed in time");
    assert!(rest.is_empty(), "{rest:?}");
    let _deaf = writer.join().unwrap();
    server.interrupt();
    let (status, summary) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{summary}");
    assert!(summary.contains("closed after idling"), "{summary}");
}

fn run_to_exit(
    args: &[&str],
    out: Sink,
    err: Sink,
    drive: impl FnOnce(&mut faults::Faulty),
) -> Outcome {
    faults::run_to_exit("web_server", args, out, err, drive)
}

/// Serves one `GET /` on a server started on port 0, then Ctrl-C.
fn serve_then_stop(args: &[&str], out: Sink, err: Sink) -> Outcome {
    let mut served = false;
    let outcome = run_to_exit(args, out, err, |child| {
        let addr = faults::listening_addr(child.child.id(), Duration::from_secs(20));
        served = addr.is_some_and(|addr| exchange(addr, HELLO).ends_with("Hello, World\n"));
        faults::interrupt(&child.child);
    })?;
    if !served {
        return Err("GET / was not served".to_owned());
    }
    Ok(outcome)
}

#[test]
fn stdout_and_stderr_closed_full_or_unread_at_every_exit_path() {
    let paths = vec![
        ExitPath {
            name: "--help",
            code: 0,
            run: |_, o, e| run_to_exit(&["--help"], o, e, |_| {}),
        },
        ExitPath {
            name: "bad arguments",
            code: 2,
            run: |_, o, e| run_to_exit(&["--threads", "0"], o, e, |_| {}),
        },
        ExitPath {
            name: "cannot open the database",
            code: 1,
            run: |dir, o, e| {
                let db = dir.join("no/such/dir/web.db");
                run_to_exit(&["--db", db.to_str().unwrap()], o, e, |_| {})
            },
        },
        ExitPath {
            name: "cannot listen",
            code: 1,
            run: |_, o, e| run_to_exit(&["--addr", "not an address"], o, e, |_| {}),
        },
        ExitPath {
            name: "Ctrl-C after serving",
            code: 0,
            run: |_, o, e| serve_then_stop(&["--addr", "127.0.0.1:0"], o, e),
        },
        ExitPath {
            name: "Ctrl-C with --threads 2",
            code: 0,
            run: |_, o, e| serve_then_stop(&["--addr", "127.0.0.1:0", "--threads", "2"], o, e),
        },
    ];
    let failures = faults::check_exit_paths("web", paths);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
