//! Runs `examples/log_collector` with real TCP clients (and once on standard input), stops it
//! as a user would, and counts in the database that every line answered `ok` was stored.
//!
//! The PostgreSQL test needs a server: `.ci/postgres` starts one and prints the URL that
//! `.ci/run` puts in `MINIRT_TEST_PG_URL`. Without that variable the test says so and passes.
mod example_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
const LEVELS: [&str; 4] = ["DEBUG", "INFO", "WARN", "ERROR"];

/// A fresh directory for one test's database, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "minirt-log-collector-{test}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn db(&self) -> String {
        self.0.join("logs.db").to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The numbers on the summary line `accepted: 7 stored: 7 rejected: 2 lossy: 1 failed: 0 ...`.
fn summary(stdout: &str) -> HashMap<&str, u64> {
    example_support::summary(stdout, "accepted: ")
}

/// Starts the collector on a free port with a fresh SQLite file, and `extra` arguments.
/// Returns the directory (keep it until the end), the file, the server and its address.
fn start_on_sqlite(
    test: &str,
    extra: &[&str],
) -> (TempDir, String, example_support::Running, SocketAddr) {
    let dir = TempDir::new(test);
    let db = dir.db();
    let mut args = vec!["--addr", "127.0.0.1:0", "--db", &db];
    args.extend_from_slice(extra);
    let (server, addr) = example_support::start_server("log_collector", &args);
    (dir, db, server, addr)
}

/// A connected client: a line reader and a writer over one socket, with bounded reads.
fn connect(addr: SocketAddr) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (BufReader::new(stream.try_clone().unwrap()), stream)
}

fn reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("a reply in time");
    line
}

/// Sends one line and returns the reply to it.
fn send(client: &mut (BufReader<TcpStream>, TcpStream), line: &[u8]) -> String {
    client.1.write_all(line).unwrap();
    reply(&mut client.0)
}

/// Sends `lines` lines from each of `clients` threads, in bursts of 20 before reading the 20
/// replies, and checks that every reply is `ok`. Line `i` of client `c` is
/// `LEVEL {prefix} client {c} line {i}`, with the levels in turn.
fn send_from_many_clients(addr: SocketAddr, clients: usize, lines: usize, prefix: &str) {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let prefix = prefix.to_owned();
            std::thread::spawn(move || {
                let (mut reader, mut writer) = connect(addr);
                for burst in (0..lines).collect::<Vec<_>>().chunks(20) {
                    let text: String = burst
                        .iter()
                        .map(|i| format!("{} {prefix} client {c} line {i}\n", LEVELS[i % 4]))
                        .collect();
                    writer.write_all(text.as_bytes()).unwrap();
                    for i in burst {
                        assert_eq!(reply(&mut reader), "ok\n", "client {c} line {i}");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a client thread failed");
    }
}

/// Stops the server with Ctrl-C and returns its summary.
fn stop(server: example_support::Running) -> HashMap<String, u64> {
    server.interrupt();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "exit status {status:?}\n{rest}");
    assert!(rest.contains("stopping"), "{rest}");
    let numbers = summary(&rest).into_iter();
    numbers.map(|(name, n)| (name.to_owned(), n)).collect()
}

fn sqlite_count(db: &str, condition: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    let sql = format!("SELECT count(*) FROM logs WHERE {condition}");
    conn.query_row(&sql, [], |row| row.get(0)).unwrap()
}

#[test]
fn ten_thousand_lines_from_fifty_clients_all_reach_sqlite() {
    let (_dir, db, server, addr) = start_on_sqlite("many", &[]);
    send_from_many_clients(addr, 50, 200, "msg");
    let numbers = stop(server);
    assert_eq!(numbers["accepted"], 10_000, "{numbers:?}");
    assert_eq!(numbers["stored"], 10_000, "{numbers:?}");
    assert_eq!(numbers["failed"], 0, "{numbers:?}");

    assert_eq!(sqlite_count(&db, "1"), 10_000);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let distinct: i64 = conn
        .query_row("SELECT count(DISTINCT message) FROM logs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(distinct, 10_000, "every line once");
    for level in LEVELS {
        let condition = format!("level = '{level}' AND message LIKE 'msg client %'");
        assert_eq!(sqlite_count(&db, &condition), 2_500, "{level}");
    }
    // `created_at` is a UTC time of day, as text: 2026-11-21 05:30:54.149
    assert_eq!(
        sqlite_count(&db, "created_at LIKE '____-__-__ __:__:__.___'"),
        10_000
    );
}

#[test]
fn ctrl_c_with_lines_in_flight_loses_no_acknowledged_line() {
    // A small queue and small batches, so that Ctrl-C comes while lines are still waiting.
    let (_dir, db, server, addr) = start_on_sqlite("in-flight", &["--queue", "8", "--batch", "4"]);
    let (mut reader, mut writer) = connect(addr);
    let lines: String = (0..5000).map(|i| format!("in flight {i}\n")).collect();
    writer.write_all(lines.as_bytes()).unwrap(); // no reply read yet
    server.interrupt();
    let mut replies = String::new();
    let _ = reader.read_to_string(&mut replies); // until the server closes (or resets)
    let acknowledged = replies.lines().take_while(|&r| r == "ok").count();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "exit status {status:?}\n{rest}");
    let numbers = summary(&rest);
    assert!(
        numbers["accepted"] >= acknowledged as u64,
        "{acknowledged} {numbers:?}"
    );
    assert_eq!(numbers["stored"], numbers["accepted"], "{numbers:?}");

    // Replies come in order, so the acknowledged lines are the first ones: all stored.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut query = conn.prepare("SELECT message FROM logs").unwrap();
    let stored: std::collections::HashSet<String> = query
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len() as u64, numbers["stored"]);
    for i in 0..acknowledged {
        assert!(
            stored.contains(&format!("in flight {i}")),
            "line {i} was lost"
        );
    }
}

#[test]
fn bad_lines_get_an_error_reply_and_the_connection_goes_on() {
    let (_dir, db, server, addr) = start_on_sqlite("bad-lines", &["--max-line", "100"]);
    let mut client = connect(addr);
    let long = format!("{}\n", "x".repeat(101));
    assert_eq!(send(&mut client, long.as_bytes()), "error: line too long\n");
    let just_fits = format!("{}\n", "y".repeat(100));
    assert_eq!(send(&mut client, just_fits.as_bytes()), "ok\n");
    assert_eq!(send(&mut client, b"bad \xff\xfe bytes\n"), "ok\n");
    assert_eq!(send(&mut client, b"  \n"), "error: empty line\n");
    assert_eq!(send(&mut client, b"ERROR disk on fire\r\n"), "ok\n");
    assert_eq!(send(&mut client, b"WARN\n"), "ok\n"); // a level with no message is a message
    let numbers = stop(server);
    assert_eq!(numbers["accepted"], 4, "{numbers:?}");
    assert_eq!(numbers["stored"], 4, "{numbers:?}");
    assert_eq!(numbers["rejected"], 2, "{numbers:?}");
    assert_eq!(numbers["lossy"], 1, "{numbers:?}");

    assert_eq!(sqlite_count(&db, "1"), 4);
    let y100 = format!("level = 'INFO' AND message = '{}'", "y".repeat(100));
    assert_eq!(sqlite_count(&db, &y100), 1);
    let lossy = "level = 'INFO' AND message = 'bad \u{FFFD}\u{FFFD} bytes'";
    assert_eq!(sqlite_count(&db, lossy), 1);
    assert_eq!(
        sqlite_count(&db, "level = 'ERROR' AND message = 'disk on fire'"),
        1
    );
    assert_eq!(sqlite_count(&db, "level = 'INFO' AND message = 'WARN'"), 1);
}

#[test]
fn an_idle_client_is_told_and_disconnected() {
    let (_dir, _db, server, addr) = start_on_sqlite("idle", &["--idle-timeout-secs", "1"]);
    let mut idle = connect(addr);
    let mut busy = connect(addr);
    assert_eq!(send(&mut busy, b"still talking\n"), "ok\n");
    assert_eq!(reply(&mut idle.0), "error: idle timeout\n");
    let mut rest = Vec::new();
    idle.0.read_to_end(&mut rest).expect("end of input in time");
    assert!(rest.is_empty(), "{rest:?}");
    let numbers = stop(server);
    assert_eq!(numbers["stored"], 1, "{numbers:?}");
}

#[test]
fn standard_input_mode_stores_every_line_and_ends_with_its_input() {
    let dir = TempDir::new("stdin");
    let db = dir.db();
    let path = example_support::example_path("log_collector");
    let mut child = Command::new(path)
        .args(["--stdin", "--db", &db, "--max-line", "64"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input: Vec<u8> = (0..1000)
        .flat_map(|i| format!("{} stdin line {i}\n", LEVELS[i % 4]).into_bytes())
        .collect();
    input.extend_from_slice(format!("{}\n", "z".repeat(65)).as_bytes());
    input.extend_from_slice(b"the last line has no newline");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input)); // then closes stdin
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let output = rx.recv_timeout(EXIT_TIMEOUT).unwrap_or_else(|_| {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("log_collector --stdin did not exit at the end of its input");
    });
    writer.join().unwrap().unwrap();
    let output = output.unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("end of input"), "{stdout}");
    let numbers = summary(&stdout);
    assert_eq!(numbers["accepted"], 1001, "{stdout}");
    assert_eq!(numbers["stored"], 1001, "{stdout}");
    assert_eq!(numbers["rejected"], 1, "{stdout}");

    assert_eq!(sqlite_count(&db, "message LIKE 'stdin line %'"), 1000);
    assert_eq!(sqlite_count(&db, "level = 'WARN'"), 250);
    assert_eq!(
        sqlite_count(&db, "message = 'the last line has no newline'"),
        1
    );
}

#[test]
fn bad_arguments_exit_2_and_runtime_failures_exit_1() {
    let dir = TempDir::new("args");
    let db = dir.db();
    let no_dir = format!("{}/no/such/dir/logs.db", dir.0.display());
    let cases: [(&[&str], i32, &str); 8] = [
        (
            &["--workers", "0"],
            2,
            "--workers wants a whole number from 1 to 64",
        ),
        (&["--max-line", "big"], 2, "--max-line wants a whole number"),
        (&["--db"], 2, "\"--db\", or it needs a value"),
        (
            &["--verbose", "yes"],
            2,
            "unexpected argument \"--verbose\"",
        ),
        (
            &["--stdin", "--addr", "127.0.0.1:0"],
            2,
            "do not go together",
        ),
        (
            &["--db", "postgres://u@h:port/db"],
            2,
            "not a usable PostgreSQL URL",
        ),
        (&["--db", &no_dir], 1, "cannot open the database"),
        (
            &["--db", &db, "--addr", "not an address"],
            1,
            "cannot listen on",
        ),
    ];
    for (args, code, message) in cases {
        let output = example_support::run("log_collector", args, EXIT_TIMEOUT);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        let usage = stderr.contains("usage: log_collector");
        assert_eq!(
            usage,
            code == 2,
            "usage only for bad arguments: {args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn postgres_stores_every_line() {
    let url = std::env::var("MINIRT_TEST_PG_URL").unwrap_or_default();
    if url.is_empty() {
        // Written to stderr directly, past the test harness's capture, so that it shows.
        let reason = "postgres_stores_every_line: skipped: MINIRT_TEST_PG_URL is not set, so \
                      there is no PostgreSQL server to test against (`.ci/postgres` starts one)\n";
        let _ = std::io::stderr().write_all(reason.as_bytes());
        return;
    }
    // The database outlives the test: this run's rows are the ones with its marker.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let marker = format!("run-{}-{}", std::process::id(), nanos.as_nanos());
    let args = ["--addr", "127.0.0.1:0", "--db", &url, "--workers", "3"];
    let (server, addr) = example_support::start_server("log_collector", &args);
    send_from_many_clients(addr, 10, 100, &marker);
    let mut client = connect(addr);
    let nul = format!("ERROR {marker} nul\0byte\n");
    assert_eq!(send(&mut client, nul.as_bytes()), "ok\n");
    let numbers = stop(server);
    assert_eq!(numbers["accepted"], 1001, "{numbers:?}");
    assert_eq!(numbers["stored"], 1001, "{numbers:?}");
    assert_eq!(numbers["lossy"], 1, "{numbers:?}");

    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut count = |condition: &str| -> i64 {
        let sql = format!("SELECT count(*) FROM logs WHERE message LIKE $1 AND {condition}");
        pg.query_one(&sql, &[&format!("{marker} %")])
            .unwrap()
            .get(0)
    };
    assert_eq!(count("true"), 1001);
    assert_eq!(count("level = 'WARN'"), 250);
    assert_eq!(count("created_at > now() - interval '10 minutes'"), 1001);
    let nul_stored = format!("message = '{marker} nul\u{FFFD}byte' AND level = 'ERROR'");
    assert_eq!(count(&nul_stored), 1);
}
