//! Runs `examples/web_server` and talks HTTP/1.1 to it over plain TCP, as `nc` or a load tester
//! would: keep-alive, pipelining, many clients at once, `POST /db`, bad requests, idle clients.
mod example_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Long enough for a slow CI machine; a test that waits this long has failed anyway.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Tests that keep the server's readers busy computing take turns: one that floods them would
/// otherwise slow another's query past its 2 s deadline on a small machine.
static CPU_HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn cpu_heavy() -> std::sync::MutexGuard<'static, ()> {
    CPU_HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A response as the test sees it.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, value)| value.as_str())
    }
}

/// One client connection.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the server");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, raw: &[u8]) {
        self.reader
            .get_mut()
            .write_all(raw)
            .expect("send a request");
    }

    /// Reads one response: status line, headers, and a `Content-Length` body.
    fn read_response(&mut self) -> Response {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .expect("read a status line");
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("HTTP/1.1"), "status line {line:?}");
        let status = words.next().and_then(|s| s.parse().ok()).expect("a status");
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("read a header");
            let Some((name, value)) = line.trim_end().split_once(':') else {
                assert_eq!(line, "\r\n", "a header or the blank line");
                break;
            };
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: String::new(),
        };
        let length: usize = response.header("content-length").unwrap().parse().unwrap();
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("read the body");
        response.body = String::from_utf8(body).unwrap();
        response
    }

    fn request(&mut self, raw: &[u8]) -> Response {
        self.send(raw);
        self.read_response()
    }

    /// True if the server has closed the connection: the next read finds the end of input.
    fn is_closed_by_server(&mut self) -> bool {
        matches!(self.reader.read(&mut [0; 1]), Ok(0))
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

fn post_db(body: &str) -> Vec<u8> {
    let head = format!(
        "POST /db HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body.as_bytes()].concat()
}

fn assert_hello(response: &Response) {
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, "Hello, World\n", "{response:?}");
}

/// The number on the summary line `stopping: N requests on M connections, ...`.
fn requests_served(summary: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.starts_with("stopping: "))
        .expect(summary);
    line["stopping: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn get_with_keep_alive_pipelining_and_many_clients() {
    let (server, addr) = example_support::start_server("web_server", &["--addr", "127.0.0.1:0"]);

    // Several requests, one after another, on one connection.
    let mut client = Client::connect(addr);
    for _ in 0..5 {
        let response = client.request(&get("/"));
        assert_hello(&response);
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }
    // Three pipelined requests in one write: three answers, in order.
    client.send(&[get("/"), get("/missing"), get("/?name=x")].concat());
    assert_hello(&client.read_response());
    assert_eq!(client.read_response().status, 404);
    assert_hello(&client.read_response());
    // `Connection: close` is honoured: one answer, then the server closes.
    let response = client.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_hello(&response);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(client.is_closed_by_server());
    // HTTP/1.0 closes by default.
    let mut client = Client::connect(addr);
    assert_hello(&client.request(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(client.is_closed_by_server());

    // 20 clients at once, 50 requests each on its own keep-alive connection.
    let started = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                for _ in 0..50 {
                    assert_hello(&client.request(&get("/")));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a client thread failed");
    }
    println!("1,000 requests from 20 clients in {:?}", started.elapsed());

    server.interrupt();
    let (status, summary) = server.wait_exit(IO_TIMEOUT);
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(requests_served(&summary), 5 + 3 + 1 + 1 + 1000, "{summary}");
    assert!(summary.contains("404 Not Found"), "{summary}");
}

#[test]
fn db_runs_queries_concurrently_and_answers_in_input_order() {
    let _turn = cpu_heavy();
    let (server, addr) = example_support::start_server("web_server", &["--addr", "127.0.0.1:0"]);
    let mut client = Client::connect(addr);
    // The first query is the slowest, so results in completion order would differ.
    let slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) \
                SELECT count(*) FROM n";
    let body = json!({ "queries": [slow, "SELECT * FROM nowhere", "SELECT name, age FROM users WHERE id <= 2"] });
    let response = client.request(&post_db(&body.to_string()));
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let results: Value = serde_json::from_str(&response.body).unwrap();
    let expected = json!([
        [[300000]],
        { "error": "no such table: nowhere" },
        [["Ada", 36], ["Grace", 45]],
    ]);
    assert_eq!(results, expected);

    // Writes are refused, one by one, and the database is unchanged.
    let body = json!({ "queries": ["DELETE FROM users", "SELECT count(*) FROM users"] });
    let results: Value =
        serde_json::from_str(&client.request(&post_db(&body.to_string())).body).unwrap();
    assert_eq!(
        results,
        json!([{ "error": "only statements that read are allowed" }, [[8]]])
    );

    server.interrupt();
    let (status, _) = server.wait_exit(IO_TIMEOUT);
    assert!(status.success());
}

#[test]
fn db_file_is_created_with_sample_data() {
    let file = std::env::temp_dir().join(format!("web_server_test_{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let path = file.to_str().unwrap();
    let (server, addr) =
        example_support::start_server("web_server", &["--addr", "127.0.0.1:0", "--db", path]);
    let body = json!({ "queries": ["SELECT city FROM users WHERE name = 'Ada'"] }).to_string();
    let response = Client::connect(addr).request(&post_db(&body));
    assert_eq!(
        serde_json::from_str::<Value>(&response.body).unwrap(),
        json!([[["London"]]])
    );
    server.interrupt();
    assert!(server.wait_exit(IO_TIMEOUT).0.success());
    let db = rusqlite::Connection::open(&file).unwrap();
    let users: i64 = db
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 8);
    drop(db);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_start_waits_out_a_locked_database_and_a_query_meeting_a_lock_is_told_so() {
    let file = std::env::temp_dir().join(format!("web_server_locked_{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let path = file.to_str().unwrap();
    // A fresh file another process holds the write lock of: the table cannot be made yet.
    let lock = rusqlite::Connection::open(&file).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let args = ["--addr", "127.0.0.1:0", "--db", path];
    let mut server = example_support::start_with_stderr("web_server", &args);
    // Before, it failed here: "cannot open the database: database is locked", exit 1.
    server.wait_for_line("waiting for it", IO_TIMEOUT);
    lock.execute_batch("COMMIT").unwrap();
    // (Not "the database is available" first: stderr's lines and stdout's may come in
    // either order.)
    let line = server.wait_for_line("listening on ", IO_TIMEOUT);
    let addr = line["listening on ".len()..].trim().parse().unwrap();
    let mut client = Client::connect(addr);
    let body = json!({ "queries": ["SELECT count(*) FROM users"] }).to_string();
    assert_eq!(client.request(&post_db(&body)).body, "[[[8]]]\n");
    // A lock that keeps readers out: the query says so (before: "stopped after 2s:
    // interrupted", as if the query itself had been too slow, its reader held 5 s).
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let response = client.request(&post_db(&body));
    assert!(response.body.contains("database is locked"), "{response:?}");
    lock.execute_batch("COMMIT").unwrap();
    assert_eq!(client.request(&post_db(&body)).body, "[[[8]]]\n");
    server.interrupt();
    assert!(server.wait_exit(IO_TIMEOUT).0.success());
    let _ = std::fs::remove_file(&file);
}

#[test]
fn each_bad_request_gets_its_4xx_and_the_server_goes_on() {
    let args = ["--addr", "127.0.0.1:0", "--max-body", "1000"];
    let (server, addr) = example_support::start_server("web_server", &args);
    let too_many = json!({ "queries": vec!["SELECT 1"; 17] }).to_string();
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let raw = |text: &str| text.as_bytes().to_vec();
    // Each case: the status and a piece of the message it should get, and what is sent.
    let cases: Vec<(u16, &str, Vec<u8>)> = vec![
        (400, "malformed request", raw("GARBAGE\r\n\r\n")),
        (
            400,
            "Content-Length",
            raw("POST /db HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n"),
        ),
        // Over --max-body: refused on the head alone, before the body arrives.
        (
            413,
            "over the limit",
            raw("POST /db HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n{"),
        ),
        (
            501,
            "only the chunked transfer coding",
            raw("POST /db HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
        ),
        (
            400,
            "ambiguous framing",
            raw(
                "POST /db HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            ),
        ),
        (431, "request head over", huge_header.into_bytes()),
        (400, "invalid JSON", post_db("{oops")),
        (
            400,
            "expected {\"queries\"",
            post_db(r#"{"queries": "SELECT 1"}"#),
        ),
        (400, "expected {\"queries\"", post_db(r#"{"queries": [1]}"#)),
        (400, "at most 16 queries", post_db(&too_many)),
        (404, "no such path", get("/nowhere")),
        (405, "only GET", raw("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n")),
        (405, "only POST", get("/db")),
    ];
    for (status, message, request) in &cases {
        let response = Client::connect(addr).request(request);
        assert_eq!(response.status, *status, "{message}: {response:?}");
        assert!(response.body.contains(message), "{message}: {response:?}");
        assert!(response.body.len() < 200, "{message}: a short text body");
        if *status == 405 {
            assert!(
                response.header("allow").is_some(),
                "{message}: {response:?}"
            );
        }
        // The server goes on: a good request on a new connection works.
        assert_hello(&Client::connect(addr).request(&get("/")));
    }
    server.interrupt();
    let (status, summary) = server.wait_exit(IO_TIMEOUT);
    assert!(status.success());
    assert_eq!(
        requests_served(&summary),
        2 * cases.len() as u64,
        "{summary}"
    );
    assert!(summary.contains("413 Content Too Large"), "{summary}");
}

#[test]
fn silent_and_slow_clients_are_closed_after_the_idle_timeout() {
    let args = ["--addr", "127.0.0.1:0", "--idle-timeout-secs", "1"];
    let (server, addr) = example_support::start_server("web_server", &args);
    let started = Instant::now();
    let mut silent = Client::connect(addr);
    let mut slow = Client::connect(addr);
    slow.send(b"GET / HTTP/1.1\r\n"); // and never the rest of the head
    // Meanwhile other clients are served at once.
    assert_hello(&Client::connect(addr).request(&get("/")));

    assert!(silent.is_closed_by_server());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let response = slow.read_response();
    assert_eq!(response.status, 408, "{response:?}");
    assert!(slow.is_closed_by_server());
    server.interrupt();
    let (_, summary) = server.wait_exit(IO_TIMEOUT);
    assert!(summary.contains("1 closed after idling"), "{summary}");
}

#[test]
fn bad_arguments_exit_2_and_runtime_failures_exit_1() {
    let cases: [(&[&str], &str); 5] = [
        (&["--idle-timeout-secs", "0"], "must be at least 1"),
        (&["--max-body", "lots"], "--max-body wants a whole number"),
        (&["--delay-ms", "-5"], "--delay-ms wants a whole number"),
        (&["--verbose", "yes"], "unexpected argument \"--verbose\""),
        (&["--addr"], "unexpected argument \"--addr\""),
    ];
    for (args, message) in cases {
        let output = example_support::run("web_server", args, IO_TIMEOUT);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: web_server"), "{args:?}: {stderr}");
    }
    let failures: [(&[&str], &str); 2] = [
        (&["--addr", "not an address"], "cannot listen on"),
        (
            &["--db", "/nonexistent/dir/web.db"],
            "cannot open the database",
        ),
    ];
    for (args, message) in failures {
        let output = example_support::run("web_server", args, IO_TIMEOUT);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

// ---- POST /db under attack: state changes, costly queries, one client hogging the readers. ----

/// Sends one `POST /db` with `queries` and returns its JSON answer.
fn db_answer(client: &mut Client, queries: &[&str]) -> Value {
    let body = json!({ "queries": queries }).to_string();
    let response = client.request(&post_db(&body));
    assert_eq!(response.status, 200, "{response:?}");
    serde_json::from_str(&response.body).unwrap()
}

/// Sends `pragma` (16 times in one request, so that every pooled reader gets it), checks that
/// each is refused, then that `check` (16 times, so on every reader) still answers `expected`.
fn assert_pragma_denied_and_harmless(pragma: &str, check: &str, expected: Value) {
    let (server, addr) = example_support::start_server("web_server", &["--addr", "127.0.0.1:0"]);
    let mut client = Client::connect(addr);
    let refused = json!({ "error": "only statements that read are allowed" });
    let answers = db_answer(&mut client, &[pragma; 16]);
    assert_eq!(answers, Value::Array(vec![refused; 16]), "{pragma}");
    let answers = db_answer(&mut Client::connect(addr), &[check; 16]);
    assert_eq!(
        answers,
        Value::Array(vec![expected; 16]),
        "{pragma}, then {check}"
    );
    server.interrupt();
    assert!(server.wait_exit(IO_TIMEOUT).0.success());
}

#[test]
fn pragma_hard_heap_limit_is_denied() {
    // Allowed, it made every later query in the process fail with "out of memory".
    let check = "SELECT count(*), length(group_concat(name || city)) FROM users";
    assert_pragma_denied_and_harmless("PRAGMA hard_heap_limit=200000", check, json!([[8, 109]]));
}

#[test]
fn pragma_case_sensitive_like_is_denied() {
    let check = "SELECT 'a' LIKE 'A'";
    assert_pragma_denied_and_harmless("PRAGMA case_sensitive_like=ON", check, json!([[1]]));
}

#[test]
fn pragma_reverse_unordered_selects_is_denied() {
    let check = "SELECT name FROM users WHERE id <= 3";
    let expected = json!([["Ada"], ["Grace"], ["Alan"]]);
    assert_pragma_denied_and_harmless("PRAGMA reverse_unordered_selects=ON", check, expected);
}

#[test]
fn transactions_and_attach_are_denied_too() {
    let (server, addr) = example_support::start_server("web_server", &["--addr", "127.0.0.1:0"]);
    let refused = json!({ "error": "only statements that read are allowed" });
    let statements = [
        "BEGIN",
        "SAVEPOINT s",
        "ATTACH ':memory:' AS other",
        "PRAGMA user_version",
    ];
    let answers = db_answer(&mut Client::connect(addr), &statements);
    assert_eq!(answers, Value::Array(vec![refused; 4]));
    server.interrupt();
    assert!(server.wait_exit(IO_TIMEOUT).0.success());
}

#[test]
fn one_querys_cost_is_bounded_and_it_answers_by_its_deadline() {
    let _turn = cpu_heavy();
    let (server, addr) = example_support::start_server("web_server", &["--addr", "127.0.0.1:0"]);
    let mut client = Client::connect(addr);
    // A LIKE costs its string's length times its pattern's, in one uninterruptible step.
    let long_pattern =
        "SELECT printf('%.*c', 60000, 'a') LIKE '%' || printf('%.*c', 30000, 'a') || 'b'";
    let long_value = "SELECT length(printf('%.*c', 100000, 'x'))";
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                   SELECT count(*) FROM n";
    let answers = db_answer(
        &mut client,
        &[long_pattern, long_value, endless, "SELECT 1"],
    );
    let error = |i: usize| answers[i]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error(0).contains("pattern too complex"), "{answers}");
    assert!(error(1).contains("too big"), "{answers}");
    assert!(error(2).starts_with("stopped after 2s"), "{answers}");
    assert_eq!(answers[3], json!([[1]]));
    server.interrupt();
    assert!(server.wait_exit(IO_TIMEOUT).0.success());
}

#[test]
fn a_client_flooding_the_readers_does_not_hold_up_another_clients_query() {
    let _turn = cpu_heavy();
    let (server, addr) = example_support::start_server("web_server", &["--addr", "127.0.0.1:0"]);
    // Four clients, 16 endless queries each: 64 queries of 2 s for 4 readers, 32 s in all.
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                   SELECT count(*) FROM n";
    let (done, finished) = std::sync::mpsc::channel();
    let hogs: Vec<_> = (0..4)
        .map(|hog| {
            let done = done.clone();
            let mut client = Client::connect(addr);
            client.send(&post_db(
                &json!({ "queries": vec![endless; 16] }).to_string(),
            ));
            std::thread::spawn(move || {
                // The server may stop before this answer: then there is none.
                let answered = client.reader.read(&mut [0; 1]).is_ok_and(|n| n > 0);
                let _ = done.send(format!("hog {hog} answered: {answered}"));
            })
        })
        .collect();
    // Let the hogs' queries take every reader and queue up behind them.
    std::thread::sleep(Duration::from_millis(300));
    let mut victim = Client::connect(addr);
    let answer = db_answer(&mut victim, &["SELECT 1"]);
    let _ = done.send("victim".to_owned());
    assert_eq!(answer, json!([[[1]]]));
    // A free reader went to the victim, who held none, before any hog got all its answers.
    assert_eq!(finished.recv().unwrap(), "victim");
    server.interrupt();
    assert!(server.wait_exit(IO_TIMEOUT).0.success());
    for hog in hogs {
        hog.join().unwrap();
    }
}

// ---- More clients than --max-connections. ----

/// A server that keeps at most 2 connections, and would leave an idle one open for a minute.
fn start_with_two_connections_at_most() -> (example_support::Running, SocketAddr) {
    let args = ["--addr", "127.0.0.1:0", "--max-connections", "2"];
    example_support::start_server(
        "web_server",
        &[&args[..], &["--idle-timeout-secs", "60"]].concat(),
    )
}

#[test]
fn past_max_connections_the_oldest_idle_keep_alive_connection_makes_room() {
    let (server, addr) = start_with_two_connections_at_most();
    let mut oldest = Client::connect(addr);
    assert_hello(&oldest.request(&get("/")));
    let mut other = Client::connect(addr);
    assert_hello(&other.request(&get("/")));
    // Both are open and idle: a third client is served at once, not after the idle timeout.
    let mut newcomer = Client::connect(addr);
    assert_hello(&newcomer.request(&get("/")));
    assert!(
        oldest.is_closed_by_server(),
        "the oldest idle connection was closed"
    );
    assert_hello(&newcomer.request(&get("/")));
    server.interrupt();
    let (status, summary) = server.wait_exit(IO_TIMEOUT);
    assert!(status.success());
    assert!(
        summary.contains("1 idle ones closed to make room"),
        "{summary}"
    );
    drop(other);
}

#[test]
fn past_max_connections_with_none_idle_a_new_client_gets_503_at_once() {
    let (server, addr) = start_with_two_connections_at_most();
    // Two clients in the middle of a request: busy, not idle.
    let mut slow: Vec<Client> = (0..2).map(|_| Client::connect(addr)).collect();
    for client in &mut slow {
        client.send(b"GET / HTTP/1.1\r\n");
    }
    let mut newcomer = Client::connect(addr);
    let response = newcomer.request(&get("/"));
    assert_eq!(response.status, 503, "{response:?}");
    assert_eq!(response.header("connection"), Some("close"));
    assert!(newcomer.is_closed_by_server());
    // The two slow clients are still served.
    for client in &mut slow {
        client.send(b"Host: test\r\n\r\n");
        assert_hello(&client.read_response());
    }
    server.interrupt();
    let (status, summary) = server.wait_exit(IO_TIMEOUT);
    assert!(status.success());
    assert!(summary.contains("503 Service Unavailable"), "{summary}");
}

#[test]
fn db_memory_is_the_shared_in_memory_database() {
    for db in [":memory:", ""] {
        let args = ["--addr", "127.0.0.1:0", "--db", db];
        let (server, addr) = example_support::start_server("web_server", &args);
        let answers = db_answer(
            &mut Client::connect(addr),
            &["SELECT count(*) FROM users"; 8],
        );
        assert_eq!(answers, Value::Array(vec![json!([[8]]); 8]), "--db {db:?}");
        server.interrupt();
        assert!(server.wait_exit(IO_TIMEOUT).0.success());
    }
}

/// The summary line of thread `i`, with `--threads`: `stopping: N requests ... [thread i]`.
fn thread_summary(summary: &str, i: usize) -> &str {
    let tag = format!("[thread {i}]");
    summary
        .lines()
        .find(|l| l.starts_with("stopping: ") && l.ends_with(&tag))
        .unwrap_or_else(|| panic!("no summary for thread {i}: {summary}"))
}

#[test]
fn with_two_threads_both_accept_and_serve_and_ctrl_c_stops_both() {
    const CONNECTIONS: u64 = 40;
    let (server, addr) =
        example_support::start_server("web_server", &["--addr", "127.0.0.1:0", "--threads", "2"]);
    // A new connection each time: the kernel spreads them over the two listeners by a hash of
    // their addresses, so 40 all landing on one thread has a chance of 2^-39.
    for _ in 0..CONNECTIONS {
        let mut client = Client::connect(addr);
        assert_hello(&client.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    }
    // Each thread's database pool sees the one shared database, sample data put in once.
    for _ in 0..4 {
        let mut client = Client::connect(addr);
        let body = json!({ "queries": ["SELECT count(*) FROM users"] });
        let response = client.request(&post_db(&body.to_string()));
        let results: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(results, json!([[[8]]]), "{response:?}");
    }

    server.interrupt();
    let (status, summary) = server.wait_exit(IO_TIMEOUT);
    assert!(status.success(), "exit status {status:?}: {summary}");
    let served: Vec<u64> = (0..2)
        .map(|i| requests_served(thread_summary(&summary, i)))
        .collect();
    assert_eq!(served.iter().sum::<u64>(), CONNECTIONS + 4, "{summary}");
    assert!(
        served.iter().all(|&n| n > 0),
        "both threads served: {summary}"
    );
}

#[test]
fn with_threads_a_second_server_on_the_same_address_is_refused() {
    let (first, addr) =
        example_support::start_server("web_server", &["--addr", "127.0.0.1:0", "--threads", "2"]);
    // Before, SO_REUSEPORT let it listen there too, and take a share of the clients.
    let args = ["--addr", &addr.to_string(), "--threads", "2"];
    let output = example_support::run("web_server", &args, IO_TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Address already in use"), "{stderr}");
    first.interrupt();
    assert!(first.wait_exit(IO_TIMEOUT).0.success());
}

#[test]
fn host_is_required_and_a_nul_in_a_query_is_refused() {
    let (server, addr) = example_support::start_server("web_server", &["--addr", "127.0.0.1:0"]);
    // RFC 9112, 3.2: an HTTP/1.1 request with no Host, or with two, is 400.
    for request in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        let mut client = Client::connect(addr);
        let response = client.request(request);
        assert_eq!(response.status, 400, "{response:?}");
        assert!(response.body.contains("Host"), "{response:?}");
        assert!(client.is_closed_by_server());
    }
    // HTTP/1.0 had no Host header.
    let response = Client::connect(addr).request(b"GET / HTTP/1.0\r\n\r\n");
    assert_hello(&response);

    // Issue 24: this answered [[1]], SQLite ending the statement at the NUL.
    let response =
        Client::connect(addr).request(&post_db(r#"{"queries": ["SELECT 1\u0000 garbage"]}"#));
    assert_eq!(response.status, 400, "{response:?}");
    assert!(response.body.contains("NUL byte"), "{response:?}");
    let response = Client::connect(addr).request(&post_db(r#"{"queries": ["SELECT 1"]}"#));
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, "[[[1]]]\n");
    server.interrupt();
    let (status, _) = server.wait_exit(IO_TIMEOUT);
    assert!(status.success());
}

#[test]
fn chunked_bodies_are_decoded_within_the_limit() {
    let args = ["--addr", "127.0.0.1:0", "--max-body", "100"];
    let (server, addr) = example_support::start_server("web_server", &args);
    let chunked = |chunks: &[&str], extra: &str| {
        let mut request =
            String::from("POST /db HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        for chunk in chunks {
            request += &format!("{:x};ext=1\r\n{chunk}\r\n", chunk.len());
        }
        request + "0\r\n" + extra + "\r\n"
    };
    // A body in three chunks, with a trailer, then a pipelined GET on the same connection.
    let body = [r#"{"queries": "#, r#"["SELECT 40 + 2"]"#, "}"];
    let mut client = Client::connect(addr);
    let pipelined = chunked(&body, "X-Trailer: yes\r\n") + "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    client.send(pipelined.as_bytes());
    let response = client.read_response();
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, "[[[42]]]\n");
    assert_hello(&client.read_response());

    let big = "x".repeat(60);
    let cases: [(String, u16, &str); 4] = [
        (chunked(&[&big, &big], ""), 413, "over the limit"),
        (
            "POST /db HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_owned(),
            400,
            "invalid chunk size",
        ),
        (
            "POST /db HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n".to_owned(),
            400,
            "bare LF",
        ),
        (
            "POST /db HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n".to_owned(),
            400,
            "invalid chunk size",
        ),
    ];
    for (request, status, message) in cases {
        let mut client = Client::connect(addr);
        let response = client.request(request.as_bytes());
        assert_eq!(response.status, status, "{request:?}: {response:?}");
        assert!(response.body.contains(message), "{request:?}: {response:?}");
        assert!(client.is_closed_by_server());
    }
    server.interrupt();
    let (status, _) = server.wait_exit(IO_TIMEOUT);
    assert!(status.success());
}
