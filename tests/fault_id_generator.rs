//! The fault matrix of `examples/id_generator`: the real program against real faults. SIGKILL
//! at seeded random points, with the database free or write-locked; a full disk under the
//! database (a small tmpfs, when run as root); the database file deleted or replaced while
//! running; a second generator on the same node; an fsync that fails (strace's fault
//! injection); poison requests; peers that never read or never
//! send; stdout and stderr closed, full or `/dev/full` at every exit path. After each: no ID
//! handed out twice, and every ID a client received is in the database. A failure prints its
//! seed: `MINIRT_FAULT_SEED=N` replays it.
mod example_support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use example_support::faults::{self, ExitPath, Outcome, Seed, Sink, Tmpfs};

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("minirt-fault-ids-{test}-{}", std::process::id()));
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

fn start(db: &str, extra: &[&str]) -> (example_support::Running, SocketAddr) {
    let mut args = vec!["--addr", "127.0.0.1:0", "--db", db];
    args.extend_from_slice(extra);
    example_support::start_server_with_stderr("id_generator", &args)
}

/// Every ID in the database (none if it has no table).
fn stored(db: &str) -> HashSet<u64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let Ok(mut query) = conn.prepare("SELECT id FROM ids") else {
        return HashSet::new();
    };
    let ids = query.query_map([], |row| row.get::<_, i64>(0)).unwrap();
    ids.map(|id| id.unwrap() as u64).collect()
}

/// Clients that ask for `next N` (N from the seed) until their connection breaks or `stop`
/// is set, recording every ID received (and failing the test on one received twice).
fn clients(
    addr: SocketAddr,
    count: usize,
    sizes: Vec<u64>,
    received: &Arc<Mutex<Vec<u64>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..count)
        .map(|_| {
            let (sizes, received, stop) = (sizes.clone(), received.clone(), stop.clone());
            std::thread::spawn(move || {
                let Ok(stream) = TcpStream::connect(addr) else {
                    return;
                };
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                for &n in sizes.iter().cycle() {
                    if stop.load(Ordering::Relaxed)
                        || writer.write_all(format!("next {n}\n").as_bytes()).is_err()
                    {
                        return;
                    }
                    let mut got = Vec::new();
                    for _ in 0..n {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(1..) => match line.trim().parse::<u64>() {
                                Ok(id) => got.push(id),
                                Err(_) => break, // `error: ...`: no ID of this request
                            },
                            _ => return, // killed: a reply cut short hands out nothing
                        }
                    }
                    received.lock().unwrap().extend(got);
                }
            })
        })
        .collect()
}

fn assert_unique_and_stored(received: &[u64], db: &str, seed: u64) {
    let mut seen = HashSet::new();
    for id in received {
        assert!(seen.insert(*id), "seed {seed}: ID {id} handed out twice");
    }
    let stored = stored(db);
    let missing: Vec<_> = received.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "seed {seed}: {} IDs received but not stored, such as {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

/// Another connection's write transaction, held until dropped.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(db: &str) -> WriteLock {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        WriteLock(conn)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("COMMIT");
    }
}

#[test]
fn sigkill_at_seeded_random_points_with_the_database_free_or_locked_hands_out_no_id_twice() {
    let seed = Seed::new("ids_sigkill");
    let mut rng = seed.rng();
    let dir = TempDir::new("sigkill");
    let db = dir.path("ids.db");
    let received = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..5 {
        let (mut server, addr) = start(&db, &[]);
        let sizes: Vec<u64> = (0..8).map(|_| rng.between(1..60)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = clients(addr, 3, sizes, &received, &stop);
        std::thread::sleep(Duration::from_millis(rng.between(20..300)));
        // Half the time, the database is locked for the last moments before the kill.
        let lock = (rng.next() % 2 == 0).then(|| WriteLock::take(&db));
        std::thread::sleep(Duration::from_millis(rng.between(0..200)));
        faults::kill9(&mut server.child);
        drop(lock);
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
    }
    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "seed {}: no ID at all", seed.seed);
    assert_unique_and_stored(&received, &db, seed.seed);
}

#[test]
fn a_full_disk_under_the_database_hands_out_no_unrecorded_id_and_goes_on() {
    let Some(disk) = Tmpfs::mount("ids-full", 64 * 1024) else {
        return;
    };
    let db = disk.dir.join("ids.db");
    let db = db.to_str().unwrap();
    let (server, addr) = start(db, &[]);
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut received, mut refused) = (Vec::new(), 0);
    for _ in 0..100 {
        (&stream).write_all(b"next 100\n").unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.starts_with("error: cannot record IDs") {
            refused += 1;
            continue;
        }
        received.push(line.trim().parse::<u64>().unwrap());
        for _ in 1..100 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            received.push(line.trim().parse().unwrap());
        }
    }
    assert!(
        refused > 0 && !received.is_empty(),
        "{refused} {}",
        received.len()
    );
    // Room again: IDs again.
    disk.resize(4 << 20);
    (&stream).write_all(b"next 5\n").unwrap();
    for _ in 0..5 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        received.push(line.trim().parse().expect("an ID once there is room"));
    }
    server.interrupt();
    let (_, summary) = server.wait_exit(EXIT_TIMEOUT);
    assert!(summary.contains("issued:"), "{summary}");
    assert_unique_and_stored(&received, db, 0);
}

/// Asks for `next 5` on a connection of its own; returns the IDs.
fn five_ids(addr: SocketAddr) -> Vec<u64> {
    let stream = faults::connect_when_up(addr, Duration::from_secs(20)).unwrap();
    (&stream).write_all(b"next 5\n").unwrap();
    let mut reader = BufReader::new(stream);
    (0..5)
        .map(|_| {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            line.trim().parse().unwrap_or_else(|_| panic!("{line:?}"))
        })
        .collect()
}

#[test]
fn a_database_file_deleted_or_replaced_while_running_hands_out_only_stored_ids() {
    let dir = TempDir::new("db-deleted");
    let db = dir.path("ids.db");
    let (server, addr) = start(&db, &[]);
    five_ids(addr);
    // `rm ids.db*`: before, the writer went on committing to the deleted file, and the IDs
    // handed out then were in no database anyone could read.
    for file in ["ids.db", "ids.db-journal"] {
        let _ = std::fs::remove_file(dir.path(file));
    }
    let received = five_ids(addr);
    assert_unique_and_stored(&received, &db, 0);
    // Another database moved over it (which drops those: they were in the file replaced).
    faults::move_another_database_over(&db);
    let received = five_ids(addr);
    server.interrupt();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{rest}");
    assert!(rest.contains("deleted or replaced while open"), "{rest}");
    assert_unique_and_stored(&received, &db, 0);
}

#[test]
fn a_second_generator_on_the_same_database_and_node_is_refused() {
    let dir = TempDir::new("two");
    let db = dir.path("ids.db");
    let (first, addr) = start(&db, &[]);
    // Before, it ran: the two issued the same IDs in the same milliseconds, and the primary
    // key refused one of each pair (`error: cannot record IDs (UNIQUE constraint failed)`).
    let args = ["--addr", "127.0.0.1:0", "--db", &db];
    let output = example_support::run("id_generator", &args, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another id_generator is issuing node 0"),
        "{stderr}"
    );
    // Another node on the same database is welcome.
    let (second, other) = start(&db, &["--node", "1"]);
    let mut received = five_ids(addr);
    received.extend(five_ids(other));
    for server in [first, second] {
        server.interrupt();
        let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
        assert!(status.success(), "{rest}");
    }
    assert_unique_and_stored(&received, &db, 0);
}

#[test]
fn an_fsync_that_fails_hands_out_none_of_its_ids_and_the_next_requests_are_served() {
    let dir = TempDir::new("fsync-fails");
    let db = dir.path("ids.db");
    // The table made beforehand: the start has nothing to write, so no fsync of its own fails.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE ids (id INTEGER PRIMARY KEY, node INTEGER NOT NULL, \
             peer TEXT NOT NULL, created_at INTEGER NOT NULL)",
        )
        .unwrap();
    let program = example_support::example_path("id_generator");
    let args = ["--addr", "127.0.0.1:0", "--db", &db];
    // SQLite's fifth fsync on each thread fails: a commit or two fail, at the disk.
    let injected = faults::Injected::start("ids-fsync", &program, &args, "fsync", "EIO", "5");
    let Some(mut traced) = injected else {
        return;
    };
    let addr = faults::listening_addr(traced.pid, Duration::from_secs(20)).expect("listening");
    let stream = faults::connect_when_up(addr, Duration::from_secs(20)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut received, mut outcomes) = (Vec::new(), String::new());
    for _ in 0..40 {
        (&stream).write_all(b"next 2\n").unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.starts_with("error: cannot record IDs") {
            outcomes.push('E');
            continue;
        }
        outcomes.push('.');
        received.push(line.trim().parse().unwrap());
        line.clear();
        reader.read_line(&mut line).unwrap();
        received.push(line.trim().parse().unwrap());
    }
    assert!(
        outcomes.contains('E') && outcomes.ends_with("..."),
        "{outcomes}"
    );
    traced.kill9();
    assert_unique_and_stored(&received, &db, 0);
}

#[test]
fn poison_requests_of_every_shape_get_an_error_and_the_connection_goes_on() {
    let seed = Seed::new("ids_poison");
    let mut rng = seed.rng();
    let dir = TempDir::new("poison");
    let db = dir.path("ids.db");
    let (server, addr) = start(&db, &[]);
    let mut shapes: Vec<Vec<u8>> = [
        &b"next 0"[..],
        b"next 1001",
        b"next -1",
        b"next 18446744073709551616",
        b"next 1 2",
        b"NEXT",
        b"next\0",
        b"\xff\xfe next",
        b"next \xc3\x28",
        b"",
        b"\r",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    shapes.push(vec![b'n'; 5000]); // over the 64-byte line limit
    for _ in 0..20 {
        let len = rng.between(1..200) as usize;
        let mut bytes = rng.bytes(len);
        bytes.retain(|&b| b != b'\n');
        shapes.push(bytes);
    }
    let mut stream = faults::connect_when_up(addr, Duration::from_secs(5)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for shape in &shapes {
        stream
            .write_all(&[&shape[..], b"\nnext\n"].concat())
            .unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let blank = shape.iter().all(|b| b.is_ascii_whitespace());
        assert!(
            line.starts_with("error: ") || blank,
            "seed {}: {shape:?} got {line:?}",
            seed.seed
        );
        if blank && !line.starts_with("error: ") {
            continue; // a blank line is a request too: `unknown request`, or skipped
        }
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(
            line.trim().parse::<u64>().is_ok(),
            "seed {}: after {shape:?}: {line:?}",
            seed.seed
        );
    }
    drop(stream);
    server.interrupt();
    let (status, summary) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "seed {}: {summary}", seed.seed);
}

#[test]
fn peers_that_never_read_or_never_send_are_cut_and_others_served() {
    let dir = TempDir::new("peers");
    let db = dir.path("ids.db");
    let (server, addr) = start(&db, &["--idle-timeout-secs", "1"]);
    let silent = TcpStream::connect(addr).unwrap();
    let deaf = TcpStream::connect(addr).unwrap();
    deaf.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let flood = "next 1000\n".repeat(20_000);
    let writer = std::thread::spawn(move || {
        let _ = (&deaf).write_all(flood.as_bytes());
        deaf
    });
    let mut other = faults::connect_when_up(addr, Duration::from_secs(5)).unwrap();
    other.write_all(b"next\n").unwrap();
    let mut line = String::new();
    BufReader::new(&other).read_line(&mut line).unwrap();
    assert!(line.trim().parse::<u64>().is_ok(), "{line:?}");
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut rest = Vec::new();
    (&silent).read_to_end(&mut rest).expect("closed in time");
    let _deaf = writer.join().unwrap();
    server.interrupt();
    let (status, summary) = server.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "{summary}");
}

fn run_to_exit(
    args: &[&str],
    out: Sink,
    err: Sink,
    drive: impl FnOnce(&mut faults::Faulty),
) -> Outcome {
    faults::run_to_exit("id_generator", args, out, err, drive)
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
            run: |_, o, e| run_to_exit(&["--node", "1024"], o, e, |_| {}),
        },
        ExitPath {
            name: "cannot open the database",
            code: 1,
            run: |dir, o, e| {
                let db = dir.join("no/such/dir/ids.db");
                run_to_exit(&["--db", db.to_str().unwrap()], o, e, |_| {})
            },
        },
        ExitPath {
            name: "cannot listen",
            code: 1,
            run: |dir, o, e| {
                let db = dir.join("ids.db");
                let args = ["--db", db.to_str().unwrap(), "--addr", "not an address"];
                run_to_exit(&args, o, e, |_| {})
            },
        },
        ExitPath {
            name: "Ctrl-C after handing out IDs",
            code: 0,
            run: |dir, o, e| {
                let db = dir.join("ids.db");
                let db = db.to_str().unwrap();
                let args = ["--db", db, "--addr", "127.0.0.1:0"];
                let mut ids = 0;
                let outcome = run_to_exit(&args, o, e, |child| {
                    let addr = faults::listening_addr(child.child.id(), Duration::from_secs(20));
                    let addr = addr.unwrap_or_else(|| ([127, 0, 0, 1], 1).into());
                    if let Some(stream) = faults::connect_when_up(addr, Duration::from_secs(20)) {
                        let _ = (&stream).write_all(b"next 10\n");
                        let mut reader = BufReader::new(&stream);
                        for _ in 0..10 {
                            let mut line = String::new();
                            if reader.read_line(&mut line).is_ok()
                                && line.trim().parse::<u64>().is_ok()
                            {
                                ids += 1;
                            }
                        }
                    }
                    faults::interrupt(&child.child);
                })?;
                if ids != 10 || stored(db).len() != 10 {
                    return Err(format!("{ids} IDs received, {} stored", stored(db).len()));
                }
                Ok(outcome)
            },
        },
    ];
    let failures = faults::check_exit_paths("ids", paths);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
