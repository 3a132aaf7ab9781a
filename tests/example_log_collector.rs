//! Runs `examples/log_collector` with real TCP clients (and once on standard input), stops it
//! as a user would, and counts in the database that every line answered `ok` was stored.
//!
//! The PostgreSQL test needs a server: `.ci/postgres` starts one and prints the URL that
//! `.ci/run` puts in `MINIRT_TEST_PG_URL`. Without that variable the test says so and passes.
mod example_support;

#[allow(dead_code)] // the line-splitting half is the fuzz targets'
#[path = "../examples/log_collector/record.rs"]
mod record;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
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
    assert_eq!(numbers["lost"], 0, "{numbers:?}");

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

/// Runs the collector with `--stdin` and `args`, feeds it `input`, and waits for it to exit.
fn run_on_stdin(args: &[&str], input: Vec<u8>) -> std::process::Output {
    let path = example_support::example_path("log_collector");
    let mut child = Command::new(path)
        .arg("--stdin")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
    output.unwrap()
}

#[test]
fn standard_input_mode_stores_every_line_and_ends_with_its_input() {
    let dir = TempDir::new("stdin");
    let db = dir.db();
    let mut input: Vec<u8> = (0..1000)
        .flat_map(|i| format!("{} stdin line {i}\n", LEVELS[i % 4]).into_bytes())
        .collect();
    input.extend_from_slice(format!("{}\n", "z".repeat(65)).as_bytes());
    input.extend_from_slice(b"the last line has no newline");
    let output = run_on_stdin(&["--db", &db, "--max-line", "64"], input);
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
    let cases: [(&[&str], i32, &str); 11] = [
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
        // Each worker would get its own private database, gone at exit.
        (&["--db", ":memory:"], 2, "in-memory SQLite database"),
        (&["--db", ""], 2, "in-memory SQLite database"),
        (
            &["--db", "file:logs?mode=memory&cache=shared"],
            2,
            "in-memory SQLite database",
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
    let dir = TempDir::new("postgres");
    let journal = dir.0.join("journal");
    let journal = journal.to_str().unwrap();
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--db",
        &url,
        "--workers",
        "3",
        "--journal",
        journal,
    ];
    let (server, addr) = example_support::start_server("log_collector", &args);
    // A line PostgreSQL refuses (SQLSTATE 23514, a check violation) is set aside, and the
    // others go in. The trigger comes after the start, which makes the table.
    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    pg.batch_execute(
        "CREATE OR REPLACE FUNCTION minirt_no_poison() RETURNS trigger AS $$ BEGIN
             IF NEW.message LIKE '%pg-poison%' THEN
                 RAISE EXCEPTION 'no poison here' USING ERRCODE = 'check_violation';
             END IF;
             RETURN NEW;
         END $$ LANGUAGE plpgsql;
         DROP TRIGGER IF EXISTS minirt_no_poison ON logs;
         CREATE TRIGGER minirt_no_poison BEFORE INSERT ON logs
             FOR EACH ROW EXECUTE FUNCTION minirt_no_poison();",
    )
    .unwrap();
    send_from_many_clients(addr, 10, 100, &marker);
    let mut client = connect(addr);
    let nul = format!("ERROR {marker} nul\0byte\n");
    assert_eq!(send(&mut client, nul.as_bytes()), "ok\n");
    let poison = format!("{marker} pg-poison\n");
    assert_eq!(send(&mut client, poison.as_bytes()), "ok\n");
    let numbers = stop(server);
    pg.batch_execute("DROP TRIGGER IF EXISTS minirt_no_poison ON logs")
        .unwrap();
    assert_eq!(numbers["accepted"], 1002, "{numbers:?}");
    assert_eq!(numbers["stored"], 1001, "{numbers:?}");
    assert_eq!(numbers["set_aside"], 1, "{numbers:?}");
    assert_eq!(numbers["lossy"], 1, "{numbers:?}");
    let rejected = std::fs::read_to_string(format!("{journal}.rejected")).unwrap();
    assert!(rejected.contains("pg-poison"), "{rejected}");

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

// ---- The database write-locked by another process, shutdown, and the journal. ----

/// Another process's write transaction on the collector's database, held until dropped.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(db: &str) -> WriteLock {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        WriteLock(conn)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("COMMIT");
    }
}

/// A collector on a fresh SQLite file (stderr read too), the file write-locked by another
/// connection, and `count` lines `{prefix} N` answered `ok` meanwhile.
fn acknowledged_while_locked(
    test: &str,
    shutdown_timeout_secs: &str,
    prefix: &str,
    count: usize,
) -> (TempDir, String, example_support::Running, WriteLock) {
    let dir = TempDir::new(test);
    let db = dir.db();
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--db",
        &db,
        "--shutdown-timeout-secs",
        shutdown_timeout_secs,
    ];
    let (server, addr) = example_support::start_server_with_stderr("log_collector", &args);
    let lock = WriteLock::take(&db);
    send_acknowledged(addr, prefix, count);
    (dir, db, server, lock)
}

/// Sends `count` lines `{prefix} N` on one connection and checks that each is answered `ok`.
fn send_acknowledged(addr: SocketAddr, prefix: &str, count: usize) {
    let mut client = connect(addr);
    let lines: String = (0..count).map(|i| format!("{prefix} {i}\n")).collect();
    client.1.write_all(lines.as_bytes()).unwrap();
    for i in 0..count {
        assert_eq!(reply(&mut client.0), "ok\n", "line {i}");
    }
}

/// Starts the collector on `db` again, stops it, and returns its summary: it replays the
/// journal first.
fn restart_and_stop(db: &str) -> HashMap<String, u64> {
    let args = ["--addr", "127.0.0.1:0", "--db", db];
    let (server, _addr) = example_support::start_server("log_collector", &args);
    stop(server)
}

#[test]
fn a_write_lock_held_past_the_busy_timeout_loses_no_acknowledged_line() {
    let (_dir, db, mut server, lock) =
        acknowledged_while_locked("locked", "10", "while locked", 100);
    // An attempt failed once its busy timeout ran out, and the worker goes on trying.
    server.wait_for_line("retrying in", Duration::from_secs(20));
    drop(lock);
    let numbers = stop(server);
    assert_eq!(numbers["accepted"], 100, "{numbers:?}");
    assert_eq!(numbers["stored"], 100, "{numbers:?}");
    assert_eq!(numbers["kept"], 0, "{numbers:?}");
    assert_eq!(sqlite_count(&db, "message LIKE 'while locked %'"), 100);
}

#[test]
fn lines_still_unstored_at_the_shutdown_timeout_are_kept_and_the_next_start_stores_them() {
    let (_dir, db, server, lock) = acknowledged_while_locked("kept", "1", "kept", 100);
    let journal = format!("{db}.journal");
    server.interrupt();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(
        rest.contains(&format!("accepted line(s) stay in the journal {journal}")),
        "{rest}"
    );
    let numbers = summary(&rest);
    assert_eq!(numbers["accepted"], 100, "{rest}");
    assert_eq!(numbers["stored"], 0, "{rest}");
    assert_eq!(numbers["kept"], 100, "{rest}");
    assert_eq!(numbers["lost"], 0, "{rest}");
    assert!(!segments(&journal).is_empty(), "the journal keeps them");

    drop(lock);
    let numbers = restart_and_stop(&db);
    assert_eq!(numbers["replayed"], 100, "{numbers:?}");
    assert!(segments(&journal).is_empty(), "the journal is emptied");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: std::collections::BTreeSet<String> = conn
        .prepare("SELECT message FROM logs")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: std::collections::BTreeSet<String> =
        (0..100).map(|i| format!("kept {i}")).collect();
    assert_eq!(stored, expected);
    assert_eq!(sqlite_count(&db, "1"), 100, "each line once");
}

/// The segment files in journal folder `journal`.
fn segments(journal: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(journal) else {
        return Vec::new();
    };
    let paths = entries.map(|e| e.unwrap().path());
    paths
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect()
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_keeps_what_is_unstored() {
    // A graceful stop would retry for ten minutes: far longer than the test waits.
    let (_dir, db, mut server, lock) =
        acknowledged_while_locked("second-ctrl-c", "600", "unsaved", 50);
    server.interrupt();
    server.wait_for_line("stopping", EXIT_TIMEOUT);
    server.interrupt();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("second Ctrl-C"), "{rest}");
    assert!(
        rest.contains("50 accepted line(s) stay in the journal"),
        "{rest}"
    );

    drop(lock);
    let numbers = restart_and_stop(&db);
    assert_eq!(numbers["replayed"], 50, "{numbers:?}");
    assert_eq!(sqlite_count(&db, "message LIKE 'unsaved %'"), 50);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let distinct: i64 = conn
        .query_row("SELECT count(DISTINCT message) FROM logs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(distinct, 50);
}

#[test]
fn ctrl_c_does_not_wait_for_a_client_that_reads_no_replies() {
    // A client would have an hour before the idle timeout cuts it.
    let args = ["--idle-timeout-secs", "3600"];
    let (_dir, _db, server, addr) = start_on_sqlite("no-reader", &args);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // Empty lines: one byte each way in, 18 bytes of `error: empty line` out, and nothing for
    // the database. Write until the server stops reading, because its replies fill every
    // buffer on the way back to us.
    let chunk = vec![b'\n'; 64 * 1024];
    let mut sent = 0;
    loop {
        match stream.write(&chunk) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 256 << 20, "the server never stopped reading");
    }
    server.interrupt();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{rest}");
    assert!(rest.contains("not reading its replies"), "{rest}");
    drop(stream);
}

/// What the collector answers (`ok` lines, other lines) for `input` on one connection.
fn counts_over_tcp(addr: SocketAddr, input: &[u8]) -> (u64, u64) {
    let (mut reader, mut writer) = connect(addr);
    writer.write_all(input).unwrap();
    writer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut replies = String::new();
    reader.read_to_string(&mut replies).unwrap();
    let ok = replies.lines().filter(|&r| r == "ok").count() as u64;
    (ok, replies.lines().count() as u64 - ok)
}

/// What the collector accepts and rejects of `input` on standard input.
fn counts_on_stdin(db: &str, max_line: &str, input: &[u8]) -> (u64, u64) {
    let output = run_on_stdin(&["--db", db, "--max-line", max_line], input.to_vec());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let numbers = summary(&stdout);
    (numbers["accepted"], numbers["rejected"])
}

#[test]
fn the_line_limit_counts_no_line_ending_and_tcp_and_stdin_agree() {
    let (dir, _db, server, addr) = start_on_sqlite("limit", &["--max-line", "10"]);
    let stdin_db = dir.0.join("stdin.db");
    let stdin_db = stdin_db.to_str().unwrap();
    // (input, accepted, rejected) at --max-line 10.
    let cases: [(&[u8], u64, u64); 7] = [
        (b"0123456789\n", 1, 0),
        (b"0123456789\r\n", 1, 0), // the \r is part of the ending, not of the line
        (b"0123456789", 1, 0),     // a last line with no ending
        (b"0123456789X\n", 0, 1),
        (b"0123456789X\r\n", 0, 1),
        (b"0123456789X", 0, 1), // too long, with or without an ending
        (b"0123456789X\nshort\r\nlast", 2, 1),
    ];
    for (input, accepted, rejected) in cases {
        let what = String::from_utf8_lossy(input);
        assert_eq!(
            counts_over_tcp(addr, input),
            (accepted, rejected),
            "TCP: {what:?}"
        );
        let on_stdin = counts_on_stdin(stdin_db, "10", input);
        assert_eq!(on_stdin, (accepted, rejected), "stdin: {what:?}");
    }
    let numbers = stop(server);
    assert_eq!(numbers["accepted"], 5, "{numbers:?}");
}

// ---- Durability: `ok` survives kill -9; the journal is replayed once; damage and poison. ----

#[test]
fn acknowledged_lines_survive_kill_9_with_the_database_locked() {
    // The reproduction of issue 24's defect 7: before the journal, 0 of these 300 were stored.
    let (_dir, db, mut server, lock) = acknowledged_while_locked("kill-9", "10", "durable", 300);
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    drop(lock);
    let (numbers, output) = restart_and_stop_with_stderr(&db);
    assert_eq!(numbers["replayed"], 300, "{output}");
    assert_eq!(sqlite_count(&db, "message LIKE 'durable %'"), 300);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let distinct: i64 = conn
        .query_row("SELECT count(DISTINCT message) FROM logs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(distinct, 300, "each line once");
}

/// Starts the collector on `db` again with nothing to read (`--stdin` at its end), and
/// returns its summary and all it said (stdout, then stderr): it replays the journal first.
fn restart_and_stop_with_stderr(db: &str) -> (HashMap<String, u64>, String) {
    let output = example_support::run("log_collector", &["--stdin", "--db", db], EXIT_TIMEOUT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all = format!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "exit status {:?}\n{all}",
        output.status
    );
    let numbers = summary(&stdout).into_iter();
    let numbers = numbers.map(|(name, n)| (name.to_owned(), n)).collect();
    (numbers, all)
}

/// A record of run `run`, number `seq`, with message `message`, accepted now.
fn journal_record(run: u64, seq: u64, message: &str) -> record::Record {
    let accepted_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    record::Record {
        run,
        seq,
        entry: record::Entry {
            level: "WARN",
            message: message.to_owned(),
            accepted_at: accepted_at.as_secs_f64(),
        },
    }
}

/// Writes `bytes` as a segment of the journal of `db`, as a run that died would leave it.
fn write_segment(db: &str, name: &str, bytes: &[u8]) {
    let dir = PathBuf::from(format!("{db}.journal"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.seg")), bytes).unwrap();
}

fn encoded(records: &[record::Record]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for r in records {
        record::encode(r, &mut bytes);
    }
    bytes
}

#[test]
fn replaying_a_journal_already_stored_stores_nothing_twice() {
    let dir = TempDir::new("replay-twice");
    let db = dir.db();
    let records: Vec<_> = (1..=50)
        .map(|seq| journal_record(0x5eed, seq, &format!("once {seq}")))
        .collect();
    write_segment(&db, "0000000000005eed-000001", &encoded(&records));
    let (numbers, output) = restart_and_stop_with_stderr(&db);
    assert_eq!(numbers["replayed"], 50, "{output}");
    assert!(segments(&format!("{db}.journal")).is_empty(), "{output}");

    // A crash between the commit and the segment's deletion leaves it behind: the next start
    // finds its records stored already.
    write_segment(&db, "0000000000005eed-000001", &encoded(&records));
    let (numbers, output) = restart_and_stop_with_stderr(&db);
    assert_eq!(numbers["replayed"], 0, "{output}");
    assert!(
        output.contains("50 record(s) of the journal were stored already"),
        "{output}"
    );
    assert_eq!(
        sqlite_count(&db, "message LIKE 'once %'"),
        50,
        "each line once"
    );
}

#[test]
fn a_torn_journal_tail_is_dropped_and_the_rest_stored() {
    let dir = TempDir::new("torn");
    let db = dir.db();
    let records: Vec<_> = (1..=11)
        .map(|seq| journal_record(7, seq, &format!("whole {seq}")))
        .collect();
    let mut bytes = encoded(&records);
    let last = encoded(&records[10..]).len();
    bytes.truncate(bytes.len() - last / 2); // the 11th record, cut in the middle
    write_segment(&db, "0000000000000007-000001", &bytes);
    // Issue 24's hand-made spill file: a text line cut short is no record, and is not stored.
    write_segment(
        &db,
        "0000000000000008-000001",
        b"1700000000.0\tINFO\tcut sh",
    );

    let (numbers, output) = restart_and_stop_with_stderr(&db);
    assert_eq!(numbers["replayed"], 10, "{output}");
    assert!(output.contains("dropped a torn record"), "{output}");
    assert_eq!(sqlite_count(&db, "1"), 10, "{output}");
    assert_eq!(sqlite_count(&db, "message = 'whole 11'"), 0);
    assert_eq!(sqlite_count(&db, "message LIKE '%cut sh%'"), 0);
    assert!(segments(&format!("{db}.journal")).is_empty(), "{output}");
}

#[test]
fn a_record_that_cannot_be_stored_is_set_aside_and_blocks_nothing() {
    // Issue 24's defect 8: one `NaN` time made every start fail, with 100 good lines behind it.
    let dir = TempDir::new("nan");
    let db = dir.db();
    let mut poison = journal_record(9, 1, "not a time");
    poison.entry.accepted_at = f64::NAN;
    let mut records = vec![poison];
    records.extend((2..=101).map(|seq| journal_record(9, seq, &format!("good {seq}"))));
    let mut bytes = encoded(&records);
    // And damage in the middle: bytes that are no record, between two good records.
    let at = encoded(&records[..50]).len();
    bytes.splice(at..at, b"garbage!".iter().copied());
    write_segment(&db, "0000000000000009-000001", &bytes);

    let (numbers, output) = restart_and_stop_with_stderr(&db);
    assert_eq!(numbers["replayed"], 100, "{output}");
    assert_eq!(numbers["set_aside"], 2, "{output}");
    assert_eq!(sqlite_count(&db, "message LIKE 'good %'"), 100);
    let rejected = std::fs::read_to_string(format!("{db}.journal.rejected")).unwrap();
    assert_eq!(rejected.lines().count(), 2, "{rejected}");
    assert!(
        rejected.contains("accepted_at NaN is not a time"),
        "{rejected}"
    );
    assert!(rejected.contains("8 unreadable byte(s)"), "{rejected}");
    assert!(segments(&format!("{db}.journal")).is_empty(), "{output}");
}

#[test]
fn a_line_the_database_refuses_is_set_aside_and_the_others_stored() {
    let dir = TempDir::new("refused");
    let db = dir.db();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE logs (id INTEGER PRIMARY KEY, level TEXT NOT NULL, message TEXT NOT NULL,
             created_at TEXT NOT NULL, run_id INTEGER, seq INTEGER);
         CREATE TRIGGER no_poison BEFORE INSERT ON logs WHEN NEW.message = 'poison'
             BEGIN SELECT RAISE(ABORT, 'no poison here'); END;",
    )
    .unwrap();
    drop(conn);
    let args = ["--addr", "127.0.0.1:0", "--db", &db];
    let (server, addr) = example_support::start_server_with_stderr("log_collector", &args);
    let mut client = connect(addr);
    let lines: String = (0..10)
        .map(|i| {
            if i == 4 {
                "poison\n".to_owned()
            } else {
                format!("fine {i}\n")
            }
        })
        .collect();
    client.1.write_all(lines.as_bytes()).unwrap();
    for i in 0..10 {
        assert_eq!(reply(&mut client.0), "ok\n", "line {i}");
    }
    server.interrupt();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{rest}");
    let numbers = summary(&rest);
    assert_eq!(numbers["accepted"], 10, "{rest}");
    assert_eq!(numbers["stored"], 9, "{rest}");
    assert_eq!(numbers["set_aside"], 1, "{rest}");
    assert_eq!(sqlite_count(&db, "message LIKE 'fine %'"), 9);
    let rejected = std::fs::read_to_string(format!("{db}.journal.rejected")).unwrap();
    assert!(rejected.contains("no poison here"), "{rejected}");
    assert!(rejected.contains("\"message\":\"poison\""), "{rejected}");
    assert!(segments(&format!("{db}.journal")).is_empty(), "{rest}");
}

// ---- Throughput: the journal beside `ok` after the queue. ----

/// Sends `lines` lines from each of `clients` threads, in bursts of `burst` before reading
/// their replies, and returns the acknowledged lines per second.
fn acked_per_second(addr: SocketAddr, clients: usize, lines: usize, burst: usize) -> f64 {
    let start = std::time::Instant::now();
    send_from_many_clients_in_bursts(addr, clients, lines, burst);
    (clients * lines) as f64 / start.elapsed().as_secs_f64()
}

fn send_from_many_clients_in_bursts(addr: SocketAddr, clients: usize, lines: usize, burst: usize) {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || {
                let (mut reader, mut writer) = connect(addr);
                for first in (0..lines).step_by(burst) {
                    let text: String = (first..lines.min(first + burst))
                        .map(|i| format!("INFO client {c} line {i} of the throughput run\n"))
                        .collect();
                    writer.write_all(text.as_bytes()).unwrap();
                    for i in first..lines.min(first + burst) {
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

/// Not run by `cargo test`: a measurement. With the release build, in one interleaved run:
///
/// ```text
/// cargo build --release --example log_collector
/// MINIRT_OLD_LOG_COLLECTOR=/path/to/the/collector/before/the/journal \
///   cargo test --release --test example_log_collector -- --ignored --nocapture throughput
/// ```
///
/// prints the lines acknowledged per second at 8 clients with the journal, with
/// `--no-journal` (`ok` once queued, as before), and with the old binary if given: clients
/// that send bursts of 100 lines before reading the replies (as a log shipper does), and
/// clients that wait for each `ok` before sending the next line (`MINIRT_BURST=1`).
#[test]
#[ignore = "a measurement, run by hand (see its doc)"]
fn throughput_with_the_journal_beside_ok_after_the_queue() {
    let old = std::env::var("MINIRT_OLD_LOG_COLLECTOR").ok();
    let mut kinds: Vec<(&str, Option<&str>, Vec<&str>)> = vec![
        ("journal", None, vec![]),
        ("no-journal", None, vec!["--no-journal"]),
    ];
    if let Some(old) = &old {
        kinds.push(("before (old binary)", Some(old.as_str()), vec![]));
    }
    let burst: usize = std::env::var("MINIRT_BURST").map_or(100, |b| b.parse().unwrap());
    let lines = if burst == 1 { 2000 } else { 20_000 };
    let (clients, rounds) = (8, 5);
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for round in 0..rounds {
        for (k, (name, binary, extra)) in kinds.iter().enumerate() {
            let dir = TempDir::new(&format!("throughput-{round}-{k}"));
            let db = dir.db();
            let mut args = vec!["--addr", "127.0.0.1:0", "--db", &db];
            args.extend(extra.iter().copied());
            let mut command = match binary {
                Some(path) => Command::new(path),
                None => Command::new(example_support::example_path("log_collector")),
            };
            let mut child = command
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            while !line.contains("listening on ") {
                line.clear();
                assert!(
                    stdout.read_line(&mut line).unwrap() > 0,
                    "{name}: no address"
                );
            }
            let addr = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
            let rate = acked_per_second(addr, clients, lines, burst);
            results[k].push(rate);
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            let _ = child.wait();
            let _ = std::io::stderr()
                .write_all(format!("round {round} {name}: {rate:.0} lines/s\n").as_bytes());
        }
    }
    let mut report = format!(
        "{clients} clients x {lines} lines, bursts of {burst}, {rounds} interleaved rounds (median):\n"
    );
    for (k, (name, _, _)) in kinds.iter().enumerate() {
        let mut rates = results[k].clone();
        rates.sort_by(f64::total_cmp);
        report += &format!("  {name:<20} {:>9.0} lines/s\n", rates[rates.len() / 2]);
    }
    let _ = std::io::stderr().write_all(report.as_bytes());
}

#[test]
fn a_table_made_before_the_journal_gets_its_record_columns_and_keeps_its_rows() {
    let dir = TempDir::new("old-table");
    let db = dir.db();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE logs (id INTEGER PRIMARY KEY, level TEXT NOT NULL, message TEXT NOT NULL,
             created_at TEXT NOT NULL);
         INSERT INTO logs (level, message, created_at) VALUES ('INFO', 'old row', '2026-01-01');",
    )
    .unwrap();
    drop(conn);
    let args = ["--addr", "127.0.0.1:0", "--db", &db];
    let (server, addr) = example_support::start_server("log_collector", &args);
    let mut client = connect(addr);
    assert_eq!(send(&mut client, b"new row\n"), "ok\n");
    let numbers = stop(server);
    assert_eq!(numbers["stored"], 1, "{numbers:?}");
    assert_eq!(sqlite_count(&db, "message = 'old row' AND seq IS NULL"), 1);
    assert_eq!(
        sqlite_count(&db, "message = 'new row' AND seq = 1 AND run_id > 0"),
        1
    );
}

#[test]
fn without_the_journal_lines_unstored_at_the_shutdown_timeout_are_written_to_it_at_exit() {
    // `--no-journal`, the behaviour before the journal, kept for comparison: `ok` once queued,
    // and the journal written only at exit, for what the database did not take.
    let dir = TempDir::new("no-journal");
    let db = dir.db();
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--db",
        &db,
        "--shutdown-timeout-secs",
        "1",
        "--no-journal",
    ];
    let (server, addr) = example_support::start_server_with_stderr("log_collector", &args);
    let lock = WriteLock::take(&db);
    send_acknowledged(addr, "spilled", 40);
    assert!(
        segments(&format!("{db}.journal")).is_empty(),
        "nothing written yet"
    );
    server.interrupt();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("accepted line(s) to the journal"), "{rest}");
    assert_eq!(summary(&rest)["kept"], 40, "{rest}");
    drop(lock);
    let (numbers, output) = restart_and_stop_with_stderr(&db);
    assert_eq!(numbers["replayed"], 40, "{output}");
    assert_eq!(sqlite_count(&db, "message LIKE 'spilled %'"), 40);
}

#[test]
fn a_second_collector_on_the_same_journal_is_refused() {
    // It would replay, and delete, the segments the first one is still writing.
    let (_dir, db, server, _addr) = start_on_sqlite("second-collector", &[]);
    let output = example_support::run(
        "log_collector",
        &["--addr", "127.0.0.1:0", "--db", &db],
        EXIT_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another log_collector is using the journal"),
        "{stderr}"
    );
    let numbers = stop(server);
    assert_eq!(numbers["lost"], 0, "{numbers:?}");
}

/// A collector started on `db`, whose journal holds 5 records of an earlier run, while
/// another process holds the database's write lock: it says it waits (stderr read too).
fn start_while_locked(db: &str) -> (example_support::Running, WriteLock) {
    let records: Vec<_> = (1..=5)
        .map(|seq| journal_record(0xab, seq, &format!("waiting {seq}")))
        .collect();
    write_segment(db, "00000000000000ab-000001", &encoded(&records));
    let lock = WriteLock::take(db);
    let args = ["--addr", "127.0.0.1:0", "--db", db];
    let mut server = example_support::start_with_stderr("log_collector", &args);
    // Before the fix, it failed at once here: "cannot open the database: database is locked".
    server.wait_for_line("waiting for it", Duration::from_secs(20));
    (server, lock)
}

#[test]
fn a_start_waits_out_a_write_lock_then_stores_the_journal_first() {
    let dir = TempDir::new("start-locked");
    let db = dir.db();
    let (mut server, lock) = start_while_locked(&db);
    assert_eq!(segments(&format!("{db}.journal")).len(), 1);
    drop(lock);
    // (Not "the database is available" first: stderr's lines and stdout's may come in
    // either order.)
    let line = server.wait_for_line("listening on ", Duration::from_secs(20));
    let addr = line["listening on ".len()..].trim().parse().unwrap();
    send_acknowledged(addr, "after the wait", 10);
    let numbers = stop(server);
    assert_eq!(numbers["replayed"], 5, "{numbers:?}");
    assert_eq!(numbers["stored"], 10, "{numbers:?}");
    assert_eq!(sqlite_count(&db, "message LIKE 'waiting %'"), 5);
    assert_eq!(sqlite_count(&db, "message LIKE 'after the wait %'"), 10);
    assert!(segments(&format!("{db}.journal")).is_empty());
}

#[test]
fn ctrl_c_while_a_start_waits_for_the_database_keeps_the_journal() {
    let dir = TempDir::new("start-locked-ctrl-c");
    let db = dir.db();
    let (server, lock) = start_while_locked(&db);
    server.interrupt();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("stopped before starting"), "{rest}");
    assert_eq!(segments(&format!("{db}.journal")).len(), 1);
    drop(lock);
    let (numbers, output) = restart_and_stop_with_stderr(&db);
    assert_eq!(numbers["replayed"], 5, "{output}");
    assert!(segments(&format!("{db}.journal")).is_empty(), "{output}");
}

#[test]
fn a_spill_file_from_before_the_journal_is_imported_and_its_cut_line_set_aside() {
    // Issue 24's defect 8, in the old format: a `NaN` time blocked every start, and a line cut
    // short by a full disk was stored as a line.
    let dir = TempDir::new("old-spill");
    let db = dir.db();
    let mut spill: String = (0..100)
        .map(|i| format!("1700000000.{i:06}\tWARN\tspilled before {i}\n"))
        .collect();
    spill.insert_str(0, "NaN\tINFO\tnot a time\n");
    spill.push_str("1700000001.000000\tINFO\tcut sh");
    std::fs::write(format!("{db}.spill"), &spill).unwrap();

    let (numbers, output) = restart_and_stop_with_stderr(&db);
    assert_eq!(numbers["replayed"], 100, "{output}");
    assert_eq!(numbers["set_aside"], 2, "{output}");
    assert!(!Path::new(&format!("{db}.spill")).exists(), "{output}");
    assert_eq!(sqlite_count(&db, "message LIKE 'spilled before %'"), 100);
    assert_eq!(
        sqlite_count(&db, "1"),
        100,
        "neither the NaN line nor the cut one"
    );
    let rejected = std::fs::read_to_string(format!("{db}.journal.rejected")).unwrap();
    assert_eq!(rejected.lines().count(), 2, "{rejected}");
}
