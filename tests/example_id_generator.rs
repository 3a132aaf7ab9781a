//! Tests `examples/id_generator`: first its generator directly (the example file is included
//! as a module), with the real clock and with a clock the test turns by hand; then the real
//! program over TCP, and the SQLite file it leaves.
mod example_support;

#[allow(dead_code)] // the server's half of the file is not used here
#[path = "../examples/id_generator.rs"]
mod id_generator;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use id_generator::snowflake::{
    EPOCH_UNIX_MS, IDS_PER_MS, IdError, IdGenerator, MAX_CLOCK_BEHIND_MS, MAX_NODE, MAX_TIMESTAMP,
    Parts, compose, system_clock,
};

// ---- The generator alone. ----

fn assert_strictly_increasing(ids: &[u64], what: &str) {
    if let Some(i) = ids.windows(2).position(|w| w[0] >= w[1]) {
        panic!("{what}: {} then {} at {i}", ids[i], ids[i + 1]);
    }
}

#[test]
fn a_hundred_tasks_get_100_000_unique_increasing_ids() {
    const TASKS: usize = 100;
    const PER_TASK: usize = 1000;
    let started = system_clock();
    let (per_task, issue_order, issued) = minirt::run(async {
        let generator = Rc::new(IdGenerator::new(42, Box::new(system_clock)));
        // (task, id) in the order the IDs were issued: pushed right after `next_id` returns,
        // with no `.await` in between, so no other task can be issued one meanwhile.
        let log = Rc::new(RefCell::new(Vec::with_capacity(TASKS * PER_TASK)));
        let tasks = (0..TASKS).map(|task| {
            let (generator, log) = (generator.clone(), log.clone());
            minirt::spawn(async move {
                let mut mine = Vec::with_capacity(PER_TASK);
                for i in 0..PER_TASK {
                    let id = generator.next_id().await.unwrap();
                    log.borrow_mut().push((task, id));
                    mine.push(id);
                    if i % 4 == 0 {
                        minirt::yield_now().await; // let the other tasks in
                    }
                }
                mine
            })
        });
        let all = minirt::timeout(Duration::from_secs(30), minirt::join_all(tasks)).await;
        let per_task: Vec<Vec<u64>> = all
            .expect("in time")
            .into_iter()
            .map(Result::unwrap)
            .collect();
        (per_task, log.take(), generator.issued())
    });
    let finished = system_clock();

    assert_eq!(issued, (TASKS * PER_TASK) as u64);
    for (task, ids) in per_task.iter().enumerate() {
        assert_eq!(ids.len(), PER_TASK);
        assert_strictly_increasing(ids, &format!("task {task}"));
    }
    let in_order: Vec<u64> = issue_order.iter().map(|&(_, id)| id).collect();
    assert_strictly_increasing(&in_order, "issue order");
    let unique: HashSet<u64> = per_task.iter().flatten().copied().collect();
    assert_eq!(unique.len(), TASKS * PER_TASK);
    // The tasks really took turns, rather than one running to the end before the next.
    let switches = issue_order.windows(2).filter(|w| w[0].0 != w[1].0).count();
    assert!(switches > TASKS * PER_TASK / 10, "{switches} switches");
    // Each ID carries the node and a timestamp from the run; at most 4,096 share a ms, so
    // 100,000 need at least 25 ms.
    let mut millis = HashSet::new();
    for &id in &in_order {
        let parts = Parts::of(id);
        assert_eq!(parts.node, 42);
        let unix_ms = EPOCH_UNIX_MS + parts.timestamp_ms;
        assert!(
            (started..=finished).contains(&unix_ms),
            "{unix_ms} not in the run"
        );
        millis.insert(parts.timestamp_ms);
    }
    assert!(millis.len() >= 25, "{} ms", millis.len());
}

/// A generator for `node` on a clock the test sets by hand, starting at `unix_ms`.
fn generator_on_manual_clock(unix_ms: u64, node: u16) -> (Rc<Cell<u64>>, Rc<IdGenerator>) {
    let clock = Rc::new(Cell::new(unix_ms));
    let reader = clock.clone();
    let generator = IdGenerator::new(node, Box::new(move || reader.get()));
    (clock, Rc::new(generator))
}

const T0: u64 = EPOCH_UNIX_MS + 1_000_000;

type Waiting = minirt::JoinHandle<Result<Range<u64>, IdError>>;

/// Asks for `count` IDs in a task of its own, and shows that the request is still waiting
/// after the loop has gone round a few times and slept through some timer ticks.
async fn spawn_waiting(generator: &Rc<IdGenerator>, count: u64) -> Waiting {
    let generator = generator.clone();
    let handle = minirt::spawn(async move { generator.next_ids(count).await });
    minirt::sleep(Duration::from_millis(15)).await;
    assert!(
        !handle.is_finished(),
        "issued IDs before the clock moved on"
    );
    handle
}

async fn finish(handle: Waiting) -> Range<u64> {
    let done = minirt::timeout(Duration::from_secs(10), handle).await;
    done.expect("in time").unwrap().unwrap()
}

/// Every ID a test got, in the order it got them: increasing, and all counted.
fn assert_issued_in_order(generator: &IdGenerator, ids: &[u64], expected: usize) {
    assert_eq!(ids.len(), expected);
    assert_strictly_increasing(ids, "ids");
    assert_eq!(generator.issued(), expected as u64);
}

fn parts(unix_ms: u64, node: u16, sequence: u64) -> Parts {
    Parts {
        timestamp_ms: unix_ms - EPOCH_UNIX_MS,
        node,
        sequence,
    }
}

#[test]
fn using_up_a_millisecond_waits_for_the_next_one() {
    minirt::run(async {
        let (clock, generator) = generator_on_manual_clock(T0, 5);
        let mut ids = Vec::new();
        for _ in 0..IDS_PER_MS {
            ids.push(generator.next_id().await.unwrap());
        }
        assert_eq!(Parts::of(ids[4095]), parts(T0, 5, 4095));

        let waiting = spawn_waiting(&generator, 1).await;
        clock.set(T0 + 1);
        ids.push(finish(waiting).await.start);
        assert_eq!(Parts::of(ids[4096]), parts(T0 + 1, 5, 0));

        // A batch is issued whole from one ms: 4,000 fit, then 200 do not (95 are left), so
        // those wait for the next ms and the 95 are skipped.
        ids.extend(generator.next_ids(4000).await.unwrap());
        let batch = spawn_waiting(&generator, 200).await;
        clock.set(T0 + 2);
        let batch = finish(batch).await;
        assert_eq!(Parts::of(batch.start), parts(T0 + 2, 5, 0));
        assert_eq!(batch.end - batch.start, 200);
        ids.extend(batch);

        assert_issued_in_order(&generator, &ids, 4096 + 1 + 4000 + 200);
    });
}

#[test]
fn a_clock_going_backwards_never_gives_a_smaller_or_repeated_id() {
    minirt::run(async {
        let (clock, generator) = generator_on_manual_clock(T0, 3);
        let mut ids = Vec::new();
        for _ in 0..10 {
            ids.push(generator.next_id().await.unwrap());
        }
        // 10 ms back: the generator carries on in T0, with its unused sequence numbers.
        clock.set(T0 - 10);
        for _ in 0..10 {
            ids.push(generator.next_id().await.unwrap());
        }
        assert_eq!(Parts::of(ids[19]), parts(T0, 3, 19));
        ids.extend(generator.next_ids(IDS_PER_MS - 20).await.unwrap());

        // T0 is used up and the clock is behind it: wait, even as the clock creeps closer.
        let waiting = spawn_waiting(&generator, 1).await;
        clock.set(T0 - 1);
        minirt::sleep(Duration::from_millis(15)).await;
        assert!(!waiting.is_finished());
        clock.set(T0 + 1);
        ids.push(finish(waiting).await.start);
        assert_eq!(Parts::of(*ids.last().unwrap()), parts(T0 + 1, 3, 0));

        // Too far behind: refused at once, rather than a wait of minutes.
        clock.set(T0 + 1 - MAX_CLOCK_BEHIND_MS - 1);
        let refused = generator.next_id().await;
        let by_ms = MAX_CLOCK_BEHIND_MS + 1;
        assert_eq!(refused, Err(IdError::ClockBehind { by_ms }));
        clock.set(T0 + 2);
        ids.push(generator.next_id().await.unwrap());

        assert_issued_in_order(&generator, &ids, 4096 + 2);
    });
}

#[test]
fn resumes_after_an_id_from_an_earlier_run_and_refuses_a_clock_out_of_range() {
    minirt::run(async {
        let (clock, generator) = generator_on_manual_clock(T0, MAX_NODE);
        // An earlier run, with its clock 50 ms ahead, stored this one.
        generator.resume_after(compose(T0 + 50 - EPOCH_UNIX_MS, MAX_NODE, 7));
        let id = generator.next_id().await.unwrap();
        assert_eq!(Parts::of(id), parts(T0 + 50, MAX_NODE, 8));

        clock.set(EPOCH_UNIX_MS - 1);
        let unix_ms = EPOCH_UNIX_MS - 1;
        let refused = generator.next_id().await;
        assert_eq!(refused, Err(IdError::ClockOutOfRange { unix_ms }));
        generator.stop();
        assert_eq!(generator.next_id().await, Err(IdError::Stopped));
    });
    // The largest ID still leaves the sign bit alone: it fits SQLite's signed integers.
    let largest = Parts {
        timestamp_ms: MAX_TIMESTAMP,
        node: MAX_NODE,
        sequence: IDS_PER_MS - 1,
    };
    let id = compose(largest.timestamp_ms, largest.node, largest.sequence);
    assert_eq!(id, i64::MAX as u64);
    assert_eq!(Parts::of(id), largest);
}

// ---- The real program. ----

/// A fresh database path in the temporary directory, removed when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        let file = format!("minirt-id-generator-{}-{name}.db", std::process::id());
        let path = std::env::temp_dir().join(file);
        let _ = std::fs::remove_file(&path);
        TempDb(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn ids(&self) -> Vec<(u64, u16, String, u64)> {
        let conn = rusqlite::Connection::open(&self.0).unwrap();
        let mut statement = conn
            .prepare("SELECT id, node, peer, created_at FROM ids ORDER BY id")
            .unwrap();
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)? as u64,
                row.get(1)?,
                row.get(2)?,
                row.get::<_, i64>(3)? as u64,
            ))
        });
        rows.unwrap().map(Result::unwrap).collect()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        // The generators' node locks, `DB.node-N.lock`.
        let name = self.0.file_name().unwrap().to_string_lossy().into_owned();
        let dir = std::fs::read_dir(std::env::temp_dir())
            .into_iter()
            .flatten();
        for entry in dir.flatten() {
            let entry_name = entry.file_name().to_string_lossy().into_owned();
            if entry_name.starts_with(&format!("{name}.node-")) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// A client, as Python's `socket.makefile` would be.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    /// Sends `request` and reads `n` IDs back.
    fn ids(&mut self, request: &str, n: usize) -> Vec<u64> {
        self.send(request);
        (0..n)
            .map(|_| {
                let line = self.line();
                line.trim_end()
                    .parse()
                    .unwrap_or_else(|_| panic!("{line:?}"))
            })
            .collect()
    }
}

/// The numbers of the summary line `issued: N stored: N database: PATH`.
fn summary(stdout: &str) -> (u64, u64) {
    let line = stdout.lines().find(|l| l.starts_with("issued: "));
    let line = line.unwrap_or_else(|| panic!("no summary in:\n{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[1].parse().unwrap(), words[3].parse().unwrap())
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn the_server_issues_unique_ids_over_tcp_and_records_exactly_those() {
    let db = TempDb::new("tcp");
    let started = unix_ms_now();
    let args = ["--addr", "127.0.0.1:0", "--node", "7", "--db", db.arg()];
    let (server, addr) = example_support::start_server("id_generator", &args);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut ids = Vec::new();
                for i in 0..100 {
                    match i % 10 {
                        0 => ids.extend(client.ids("next 100\n", 100)),
                        _ => ids.extend(client.ids("next\n", 1)),
                    }
                }
                // Several requests in one write: each answered, in order.
                ids.extend(client.ids("next\nnext 3\nnext\n", 5));
                // A bad request gets an error line, and the connection goes on.
                client.send("next 5000\n");
                assert_eq!(
                    client.line(),
                    "error: batch size must be 1 to 1000, not \"5000\"\n"
                );
                ids.extend(client.ids("next 2\n", 2));
                assert_strictly_increasing(&ids, "one connection's IDs");
                ids
            })
        })
        .collect();
    let mut issued: Vec<u64> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let per_client = 9 * 10 + 10 * 100 + 5 + 2;
    assert_eq!(issued.len(), 8 * per_client);
    issued.sort_unstable();
    issued.dedup();
    assert_eq!(issued.len(), 8 * per_client, "duplicate IDs");

    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{rest}");
    assert_eq!(
        summary(&rest),
        (issued.len() as u64, issued.len() as u64),
        "{rest}"
    );

    let rows = db.ids();
    let stored: Vec<u64> = rows.iter().map(|row| row.0).collect();
    assert_eq!(stored, issued, "the database holds exactly the IDs issued");
    let finished = unix_ms_now();
    for (id, node, peer, created_at) in rows.iter().step_by(997) {
        assert_eq!(*node, 7);
        assert_eq!(Parts::of(*id).node, 7);
        assert!(peer.starts_with("127.0.0.1:"), "{peer}");
        assert_eq!(*created_at, EPOCH_UNIX_MS + Parts::of(*id).timestamp_ms);
        assert!((started..=finished).contains(created_at));
    }
}

#[test]
fn requests_wait_for_a_locked_database_and_every_id_received_is_stored() {
    let db = TempDb::new("full");
    let args = ["--addr", "127.0.0.1:0", "--db", db.arg()];
    let (server, addr) = example_support::start_server("id_generator", &args);
    // Lock the database, as a `sqlite3` shell in a transaction would: the writer waits.
    let lock = rusqlite::Connection::open(&db.0).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut client = Client::connect(addr);
    // More requests than the queue holds (256 batches): the last ones wait for a place.
    client.send(&"next\n".repeat(300));
    // No reply while nothing can be recorded: a reply never comes before the commit.
    client
        .reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut line = String::new();
    let waited = client.reader.read_line(&mut line).unwrap_err();
    assert_eq!(waited.kind(), std::io::ErrorKind::WouldBlock, "{line:?}");
    lock.execute_batch("COMMIT").unwrap();
    client
        .reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let ids: Vec<u64> = (0..300)
        .map(|_| client.line().trim_end().parse::<u64>().unwrap())
        .collect();
    assert_strictly_increasing(&ids, "ids");

    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{rest}");
    assert_eq!(summary(&rest), (300, 300));
    assert_eq!(
        db.ids().into_iter().map(|row| row.0).collect::<Vec<_>>(),
        ids
    );
}

/// An id_generator started on a fresh database that another process holds the write lock
/// of (so it cannot make its table), once it says that it waits. Stderr is read too.
fn start_while_locked(db: &TempDb) -> (example_support::Running, rusqlite::Connection) {
    let lock = rusqlite::Connection::open(&db.0).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let args = ["--addr", "127.0.0.1:0", "--db", db.arg()];
    let mut server = example_support::start_with_stderr("id_generator", &args);
    // Before the fix it gave up here, past its 5 s busy timeout: "database is locked", exit 1.
    server.wait_for_line("waiting for it", Duration::from_secs(30));
    (server, lock)
}

#[test]
fn a_start_waits_out_a_write_lock_then_serves() {
    let db = TempDb::new("start-locked");
    let (mut server, lock) = start_while_locked(&db);
    lock.execute_batch("COMMIT").unwrap();
    // (Not "the database is available" first: stderr's lines and stdout's may come in
    // either order.)
    let line = server.wait_for_line("listening on ", Duration::from_secs(30));
    let addr = line["listening on ".len()..].trim().parse().unwrap();
    let ids = Client::connect(addr).ids("next 3\n", 3);
    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{rest}");
    assert_eq!(summary(&rest), (3, 3), "{rest}");
    assert_eq!(db.ids().into_iter().map(|r| r.0).collect::<Vec<_>>(), ids);
}

#[test]
fn ctrl_c_while_a_start_waits_for_the_database_stops_it() {
    let db = TempDb::new("start-locked-ctrl-c");
    let (server, _lock) = start_while_locked(&db);
    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("stopped before starting"), "{rest}");
}

#[test]
fn a_write_lock_past_the_busy_timeout_hands_out_no_unrecorded_id_and_the_server_goes_on() {
    let db = TempDb::new("locked");
    let args = ["--addr", "127.0.0.1:0", "--db", db.arg()];
    let (server, addr) = example_support::start_server("id_generator", &args);
    // A second process takes the write lock and keeps it past the server's 5 s busy timeout:
    // until a request has been refused for it.
    let lock = rusqlite::Connection::open(&db.0).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut client = Client::connect(addr);
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let refusal = loop {
        assert!(Instant::now() < deadline, "no request was refused");
        client.send("next\n");
        let line = client.line();
        if line.starts_with("error") {
            break line;
        }
        received.push(line.trim_end().parse::<u64>().unwrap());
    };
    assert!(
        refusal.starts_with("error: cannot record IDs (") && refusal.contains("try again"),
        "{refusal:?}"
    );
    lock.execute_batch("COMMIT").unwrap();
    // The failed write did not stop the generator: the next requests get IDs.
    for _ in 0..30 {
        received.extend(client.ids("next\n", 1));
    }
    received.extend(client.ids("next 5\n", 5));
    assert_strictly_increasing(&received, "ids");

    server.interrupt();
    let (status, rest) = server.wait_exit(Duration::from_secs(20));
    // Some IDs were issued and never stored (nor handed out): status 1, and the summary says so.
    assert_eq!(status.code(), Some(1), "{rest}");
    let (issued, stored) = summary(&rest);
    assert!(issued > stored, "{rest}");
    assert!(
        rest.contains(&format!("unrecorded: {}", issued - stored)),
        "{rest}"
    );
    let rows: HashSet<u64> = db.ids().into_iter().map(|row| row.0).collect();
    assert_eq!(rows.len() as u64, stored, "{rest}");
    for id in &received {
        assert!(
            rows.contains(id),
            "{id} was handed out and is not in the database"
        );
    }
}

#[test]
fn a_restart_on_the_same_database_goes_on_after_the_stored_ids() {
    let db = TempDb::new("restart");
    let args = ["--addr", "127.0.0.1:0", "--node", "1", "--db", db.arg()];
    let mut last = 0;
    for run in 1..=2 {
        let (server, addr) = example_support::start_server("id_generator", &args);
        let ids = Client::connect(addr).ids("next 3\n", 3);
        assert!(ids[0] > last, "run {run}: {} after {last}", ids[0]);
        last = ids[2];
        server.interrupt();
        let (status, rest) = server.wait_exit(Duration::from_secs(20));
        assert!(status.success(), "{rest}");
        assert_eq!(summary(&rest), (3, 3));
    }
    assert_eq!(db.ids().len(), 6);
}

#[test]
fn idle_clients_are_disconnected_and_others_go_on() {
    let db = TempDb::new("idle");
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--idle-timeout-secs",
        "1",
        "--db",
        db.arg(),
    ];
    let (mut server, addr) = example_support::start_server("id_generator", &args);
    let started = Instant::now();
    let mut idle = Client::connect(addr);
    let mut busy = Client::connect(addr);
    // Busy for longer than the idle limit, with a request every 100 ms.
    let mut ids = Vec::new();
    while started.elapsed() < Duration::from_millis(1500) {
        ids.extend(busy.ids("next\n", 1));
        std::thread::sleep(Duration::from_millis(100));
    }
    // The silent client was closed: end of input (within its 20 s read timeout).
    let mut rest = Vec::new();
    idle.reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    server.wait_for_line("disconnected: idle for 1s", Duration::from_secs(10));
    ids.extend(busy.ids("next\n", 1));
    assert_strictly_increasing(&ids, "the busy client's IDs");
}

/// Issue 17, item 8, for this server: it logged each connection with `println!`, so once its
/// stdout pipe (64 KiB) was full, about 800 connections in, the loop froze in `write(2)` and
/// every client waited for good. 16 clients × 250 connections log about 300 KiB, more than the
/// pipe and minirt's stdout buffers hold together; every request must still get its ID.
#[test]
fn the_server_keeps_issuing_ids_when_nobody_reads_its_stdout() {
    const CLIENTS: usize = 16;
    const CONNECTIONS: usize = 250;
    let db = TempDb::new("unread");
    let args = ["--addr", "127.0.0.1:0", "--db", db.arg()];
    let (child, mut stdout, addr) =
        example_support::start_with_unread_stdout("id_generator", &args);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                (0..CONNECTIONS)
                    .map(|_| Client::connect(addr).ids("next\n", 1)[0])
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut issued: Vec<u64> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("every request got its ID"))
        .collect();
    let (status, stderr) = example_support::interrupt_and_wait(child);
    assert!(status.success(), "exit status {status:?}, stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    issued.sort_unstable();
    let stored: Vec<u64> = db.ids().iter().map(|row| row.0).collect();
    assert_eq!(stored, issued, "every ID handed out is stored");
    // Now read what the pipe held: far less than the whole log, so it really was full.
    let mut log = String::new();
    stdout.read_to_string(&mut log).unwrap();
    let connected = log.matches(" connected").count();
    assert!(
        connected < CLIENTS * CONNECTIONS,
        "the log was not cut: {connected} lines"
    );
}

#[test]
fn bad_arguments_exit_2_and_runtime_failures_exit_1() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--node", "5000"],
            "--node wants a whole number from 0 to 1023, not \"5000\"",
        ),
        (
            &["--node", "-1"],
            "--node wants a whole number from 0 to 1023",
        ),
        (
            &["--idle-timeout-secs", "0"],
            "--idle-timeout-secs wants a whole number from 1",
        ),
        (&["--db"], "--db needs a value"),
        (&["--verbose"], "unexpected argument \"--verbose\""),
    ];
    for (args, message) in cases {
        let output = example_support::run("id_generator", args, Duration::from_secs(20));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: id_generator"), "{args:?}: {stderr}");
    }

    let no_dir = std::env::temp_dir().join("minirt-no-such-dir/ids.db");
    let args = ["--addr", "127.0.0.1:0", "--db", no_dir.to_str().unwrap()];
    let output = example_support::run("id_generator", &args, Duration::from_secs(20));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot open the database"), "{stderr}");

    let db = TempDb::new("busy-port");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let args = ["--addr", taken.as_str(), "--db", db.arg()];
    let output = example_support::run("id_generator", &args, Duration::from_secs(20));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
