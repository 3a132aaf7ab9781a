//! The fault matrix of `examples/log_collector`: the real program against real faults.
//! SIGKILL at seeded random points (the database free or write-locked, and during a replay),
//! a full disk under each file it writes (a small tmpfs, when run as root), an fsync that
//! fails (strace's fault injection, where strace may trace), the database file deleted or
//! replaced while running, poison lines and
//! poison journals, peers that never read or never send, and stdout and stderr closed, full
//! or `/dev/full` at every exit path. After each: nothing acknowledged is lost, nothing is
//! stored twice. A failure prints its seed: `MINIRT_FAULT_SEED=N` replays it.
mod example_support;

#[allow(dead_code)] // the line-splitting half is the fuzz targets'
#[path = "../examples/log_collector/record.rs"]
mod record;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use example_support::faults::{self, ExitPath, Faulty, Outcome, Seed, Sink, Tmpfs};

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("minirt-fault-lc-{test}-{}", std::process::id()));
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

/// Another connection's write transaction on the database, held until dropped.
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

fn start(args: &[&str]) -> (example_support::Running, SocketAddr) {
    example_support::start_server_with_stderr("log_collector", args)
}

/// Stops a collector with Ctrl-C; returns its exit code and output.
fn stop(server: example_support::Running) -> (Option<i32>, String) {
    server.interrupt();
    let (status, rest) = server.wait_exit(EXIT_TIMEOUT);
    (status.code(), rest)
}

/// Every message stored, with how many times.
fn stored(db: &str) -> HashMap<String, i64> {
    try_stored(db).unwrap()
}

/// [`stored`], or why the database cannot be read (no table yet, say).
fn try_stored(db: &str) -> rusqlite::Result<HashMap<String, i64>> {
    let conn = rusqlite::Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mut query = conn.prepare("SELECT message, count(*) FROM logs GROUP BY message")?;
    let rows = query.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// Checks that every acknowledged line is stored exactly once, and no line twice.
fn assert_acknowledged_stored_once(db: &str, acked: &HashSet<String>, seed: u64) {
    let stored = stored(db);
    for line in acked {
        assert_eq!(
            stored.get(line),
            Some(&1),
            "seed {seed}: acknowledged {line:?}"
        );
    }
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "seed {seed}: stored twice: {twice:?}");
}

/// Clients that send unique lines `{tag} c{c} n{i}` in bursts until their connection breaks
/// or `stop` is set, recording each line answered `ok`.
fn clients(
    addr: SocketAddr,
    tag: &str,
    count: usize,
    burst: usize,
    acked: &Arc<Mutex<HashSet<String>>>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..count)
        .map(|c| {
            let (tag, acked, stop) = (tag.to_owned(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let Ok(stream) = TcpStream::connect(addr) else {
                    return;
                };
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let lines: Vec<String> =
                        (i..i + burst).map(|n| format!("{tag} c{c} n{n}")).collect();
                    i += burst;
                    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
                    if writer.write_all(text.as_bytes()).is_err() {
                        return;
                    }
                    for line in lines {
                        let mut reply = String::new();
                        match reader.read_line(&mut reply) {
                            Ok(1..) if reply == "ok\n" => {
                                acked.lock().unwrap().insert(line);
                            }
                            _ => return,
                        }
                    }
                }
            })
        })
        .collect()
}

#[test]
fn sigkill_at_seeded_random_points_with_the_database_free_or_locked_loses_no_acknowledged_line() {
    let seed = Seed::new("sigkill_at_seeded_random_points");
    let mut rng = seed.rng();
    let dir = TempDir::new("sigkill");
    let db = dir.path("logs.db");
    let acked = Arc::new(Mutex::new(HashSet::new()));
    for round in 0..4 {
        let locked = rng.next() % 2 == 0;
        let (mut server, addr) = start(&["--addr", "127.0.0.1:0", "--db", &db, "--queue", "64"]);
        let lock = locked.then(|| WriteLock::take(&db));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let burst = rng.between(1..40) as usize;
        let threads = clients(addr, &format!("r{round}"), 3, burst, &acked, &stop);
        std::thread::sleep(Duration::from_millis(rng.between(20..400)));
        faults::kill9(&mut server.child);
        drop(lock);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
    }
    let (server, _) = start(&["--addr", "127.0.0.1:0", "--db", &db]);
    let (code, output) = stop(server);
    assert_eq!(code, Some(0), "seed {}: {output}", seed.seed);
    let acked = acked.lock().unwrap();
    assert!(
        !acked.is_empty(),
        "seed {}: nothing was acknowledged",
        seed.seed
    );
    assert_acknowledged_stored_once(&db, &acked, seed.seed);
}

/// Leaves a journal of `count` acknowledged lines `{tag} N` unstored: the database locked,
/// then SIGKILL.
fn journal_of(db: &str, tag: &str, count: usize) -> HashSet<String> {
    // A queue with room for them all: a line is answered once journaled and queued.
    let queue = count.to_string();
    let (mut server, addr) = start(&["--addr", "127.0.0.1:0", "--db", db, "--queue", &queue]);
    let lock = WriteLock::take(db);
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let lines: Vec<String> = (0..count).map(|i| format!("{tag} {i}")).collect();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    (&stream).write_all(text.as_bytes()).unwrap();
    let mut reader = BufReader::new(&stream);
    for line in &lines {
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        assert_eq!(reply, "ok\n", "{line}");
    }
    faults::kill9(&mut server.child);
    drop(lock);
    lines.into_iter().collect()
}

#[test]
fn sigkill_during_replay_stores_each_line_once() {
    let seed = Seed::new("sigkill_during_replay");
    let mut rng = seed.rng();
    let dir = TempDir::new("replay");
    let db = dir.path("logs.db");
    let acked = journal_of(&db, "replayed", 3000);
    for _ in 0..4 {
        // Killed at a random point of its start: before, during or after the replay.
        let program = example_support::example_path("log_collector");
        let mut child = std::process::Command::new(program)
            .args(["--addr", "127.0.0.1:0", "--db", &db])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.between(5..250)));
        faults::kill9(&mut child);
    }
    let output = example_support::run("log_collector", &["--stdin", "--db", &db], EXIT_TIMEOUT);
    assert!(output.status.success(), "seed {}: {output:?}", seed.seed);
    assert_acknowledged_stored_once(&db, &acked, seed.seed);
    assert_eq!(stored(&db).len(), 3000, "seed {}", seed.seed);
}

/// Sends `lines` one at a time, each after the reply to the one before; returns those
/// answered `ok`, and those refused because the journal could not be written.
fn one_by_one(
    stream: &TcpStream,
    reader: &mut BufReader<TcpStream>,
    lines: impl Iterator<Item = String>,
) -> (HashSet<String>, HashSet<String>) {
    let (mut acked, mut refused) = (HashSet::new(), HashSet::new());
    for line in lines {
        let mut writer = stream;
        writer.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        if reply == "ok\n" {
            acked.insert(line);
        } else {
            assert!(reply.contains("cannot write the journal"), "{reply}");
            refused.insert(line);
        }
    }
    (acked, refused)
}

#[test]
fn a_full_disk_under_the_journal_refuses_lines_and_loses_no_acknowledged_one() {
    let Some(disk) = Tmpfs::mount("lc-full-journal", 64 * 1024) else {
        return;
    };
    let dir = TempDir::new("full-journal");
    let db = dir.path("logs.db");
    let journal = disk.dir.join("journal");
    let journal = journal.to_str().unwrap();
    // The database locked: nothing leaves the journal, which fills the disk.
    let (server, addr) = start(&["--addr", "127.0.0.1:0", "--db", &db, "--journal", journal]);
    let lock = WriteLock::take(&db);
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let lines = (0..2000).map(|i| format!("filling the disk, line {i} {}", "x".repeat(60)));
    let (mut acked, mut refused) = one_by_one(&stream, &mut reader, lines);
    assert!(
        !acked.is_empty() && !refused.is_empty(),
        "{} {}",
        acked.len(),
        refused.len()
    );
    // The database takes the lines again: the journal empties, and lines are accepted again.
    drop(lock);
    let mut again = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for i in 0.. {
        let line = format!("after the disk emptied {i}");
        (&stream).write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        if reply == "ok\n" {
            acked.insert(line);
            again = true;
            break;
        }
        refused.insert(line);
        if std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        again,
        "no line accepted once the database took the journal's"
    );
    drop(stream);
    let (code, output) = stop(server);
    assert_eq!(code, Some(0), "{output}");
    assert_acknowledged_stored_once(&db, &acked, 0);
    let stored = stored(&db);
    let cut: Vec<_> = refused.iter().filter(|l| stored.contains_key(*l)).collect();
    assert!(cut.is_empty(), "lines refused, yet stored: {cut:?}");
    assert!(!output.contains("LOST"), "{output}");
}

#[test]
fn an_fsync_that_fails_refuses_its_lines_and_the_next_start_stores_none_of_them() {
    let dir = TempDir::new("fsync-fails");
    let db = dir.path("logs.db");
    let program = example_support::example_path("log_collector");
    let args = ["--addr", "127.0.0.1:0", "--db", &db];
    // The journal's third fdatasync fails, then every other one: a disk error (or no room
    // for what the write only buffered) at the very moment of the fsync.
    let injected = faults::Injected::start("lc-fsync", &program, &args, "fdatasync", "EIO", "3+2");
    let Some(mut traced) = injected else {
        return;
    };
    let addr = faults::listening_addr(traced.pid, Duration::from_secs(20)).expect("listening");
    let stream = faults::connect_when_up(addr, Duration::from_secs(20)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (acked, refused) = one_by_one(&stream, &mut reader, (0..12).map(|i| format!("fsync {i}")));
    assert!(
        !acked.is_empty() && !refused.is_empty(),
        "{acked:?} {refused:?}"
    );
    // Killed with the database free or not: the next start replays the journal.
    traced.kill9();
    let output = example_support::run("log_collector", &["--stdin", "--db", &db], EXIT_TIMEOUT);
    assert!(output.status.success(), "{output:?}");
    assert_acknowledged_stored_once(&db, &acked, 0);
    let stored = stored(&db);
    // Before, each refused line was stored all the same: its bytes stayed in the journal.
    let back: Vec<_> = refused.iter().filter(|l| stored.contains_key(*l)).collect();
    assert!(back.is_empty(), "lines refused, yet stored: {back:?}");
}

/// Sends `count` lines `{tag} N` on a connection of their own, and waits until the database
/// at `db` holds them all.
fn send_and_see_stored(addr: SocketAddr, db: &str, tag: &str, count: usize) -> HashSet<String> {
    let stream = faults::connect_when_up(addr, Duration::from_secs(20)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let lines = (0..count).map(|i| format!("{tag} {i}"));
    let (acked, refused) = one_by_one(&stream, &mut reader, lines);
    assert!(refused.is_empty(), "{refused:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let all_stored = || try_stored(db).is_ok_and(|s| acked.iter().all(|l| s.contains_key(l)));
    while !all_stored() {
        assert!(
            std::time::Instant::now() < deadline,
            "{tag}: not stored in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    acked
}

#[test]
fn a_database_file_deleted_or_replaced_while_running_loses_no_acknowledged_line() {
    let dir = TempDir::new("db-deleted");
    let db = dir.path("logs.db");
    let (server, addr) = start(&["--addr", "127.0.0.1:0", "--db", &db]);
    send_and_see_stored(addr, &db, "before", 10);
    // `rm logs.db*`: before, the workers went on writing to the deleted file, and the lines
    // acknowledged then were counted stored, dropped from the journal, and gone.
    for file in ["logs.db", "logs.db-wal", "logs.db-shm"] {
        let _ = std::fs::remove_file(dir.path(file));
    }
    send_and_see_stored(addr, &db, "after rm", 10);
    // Another database moved over it (a restored backup, say), which drops those.
    faults::move_another_database_over(&db);
    let acked = send_and_see_stored(addr, &db, "after mv", 10);
    let (code, output) = stop(server);
    assert_eq!(code, Some(0), "{output}");
    assert_acknowledged_stored_once(&db, &acked, 0);
}

#[test]
fn a_full_disk_under_the_database_is_waited_out_and_loses_nothing() {
    let Some(disk) = Tmpfs::mount("lc-full-db", 256 * 1024) else {
        return;
    };
    let dir = TempDir::new("full-db");
    let db = disk.dir.join("logs.db");
    let db = db.to_str().unwrap();
    let journal = dir.path("journal");
    let (mut server, addr) = start(&["--addr", "127.0.0.1:0", "--db", db, "--journal", &journal]);
    disk.fill();
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let lines: Vec<String> = (0..500)
        .map(|i| format!("no room in the database {i} {}", "y".repeat(200)))
        .collect();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    (&stream).write_all(text.as_bytes()).unwrap();
    let mut reader = BufReader::new(&stream);
    for line in &lines {
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        assert_eq!(reply, "ok\n", "{line}");
    }
    server.wait_for_line("retrying in", Duration::from_secs(20));
    faults::kill9(&mut server.child);
    std::fs::remove_file(disk.dir.join("filler")).unwrap();
    let output = example_support::run(
        "log_collector",
        &["--stdin", "--db", db, "--journal", &journal],
        EXIT_TIMEOUT,
    );
    assert!(output.status.success(), "{output:?}");
    assert_acknowledged_stored_once(db, &lines.into_iter().collect(), 0);
}

fn record(run: u64, seq: u64, message: &str) -> record::Record {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let entry = record::Entry {
        level: "ERROR",
        message: message.to_owned(),
        accepted_at: now.as_secs_f64(),
    };
    record::Record { run, seq, entry }
}

fn frames(records: &[record::Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        record::encode(r, &mut out);
    }
    out
}

#[test]
fn a_full_disk_under_the_rejected_file_keeps_the_segment_and_blocks_nothing() {
    let Some(disk) = Tmpfs::mount("lc-full-rejected", 64 * 1024) else {
        return;
    };
    let dir = TempDir::new("full-rejected");
    let db = dir.path("logs.db");
    let journal = disk.dir.join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    let mut poison = record(3, 1, "a NaN time");
    poison.entry.accepted_at = f64::NAN;
    let mut records = vec![poison];
    records.extend((2..=20).map(|s| record(3, s, &format!("good {s}"))));
    std::fs::write(
        journal.join("0000000000000003-000001.seg"),
        frames(&records),
    )
    .unwrap();
    let filler = disk.fill();
    let args = [
        "--stdin",
        "--db",
        &db,
        "--journal",
        journal.to_str().unwrap(),
    ];
    let output = example_support::run("log_collector", &args, EXIT_TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("the segment is kept"), "{stderr}");
    assert_eq!(stored(&db).len(), 19, "{stderr}");
    // Room again: the next start sets the record aside, and the segment goes.
    std::fs::remove_file(filler).unwrap();
    let output = example_support::run("log_collector", &args, EXIT_TIMEOUT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("set_aside: 1"), "{stdout}");
    assert_eq!(stored(&db).len(), 19, "each once");
    let left = std::fs::read_dir(&journal).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "seg")
    });
    assert_eq!(left.count(), 0);
}

#[test]
fn poison_journals_of_every_shape_block_nothing() {
    let seed = Seed::new("poison_journals");
    let mut rng = seed.rng();
    let dir = TempDir::new("poison-journals");
    let db = dir.path("logs.db");
    let journal = PathBuf::from(format!("{db}.journal"));
    std::fs::create_dir_all(&journal).unwrap();
    let mut good = HashSet::new();
    let write = |name: &str, bytes: Vec<u8>| {
        std::fs::write(journal.join(format!("{name}.seg")), bytes).unwrap()
    };
    let mut segment = |run: u64, poison: Vec<u8>, at: usize| {
        let records: Vec<_> = (1..=10)
            .map(|s| record(run, s, &format!("run {run} good {s}")))
            .collect();
        good.extend(records.iter().map(|r| r.entry.message.clone()));
        let mut bytes = frames(&records);
        let at = frames(&records[..at.min(10)]).len();
        bytes.splice(at..at, poison);
        bytes
    };
    // A payload with a good frame around it: checksums right, content wrong.
    let framed = |payload: &[u8]| {
        let mut out = Vec::new();
        let len = (payload.len() as u32).to_le_bytes();
        out.extend_from_slice(b"LCJ1");
        out.extend_from_slice(&len);
        out.extend_from_slice(&crc32fast::hash(&len).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
        out
    };
    // Whole frames (checksums right) around payloads that are no record.
    let mut bad_level = frames(&[record(1, 99, "x")])[record::HEADER..].to_vec();
    bad_level[24] = 9;
    let bad_level = framed(&bad_level);
    let mut bad_utf8 = frames(&[record(1, 98, "xy")])[record::HEADER..].to_vec();
    let n = bad_utf8.len();
    bad_utf8[n - 1] = 0xff;
    let bad_utf8 = framed(&bad_utf8);
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", {
            let len = rng.between(1..300) as usize;
            rng.bytes(len)
        }),
        (
            "huge length",
            [
                &b"LCJ1"[..],
                &u32::MAX.to_le_bytes(),
                &crc32fast::hash(&u32::MAX.to_le_bytes()).to_le_bytes(),
                &[0; 4],
            ]
            .concat(),
        ),
        ("short payload", framed(b"tiny")),
        ("bad level", bad_level),
        ("bad utf-8", bad_utf8),
        ("nul", frames(&[record(1, 97, "a\0b")])),
        ("flipped byte", {
            let mut f = frames(&[record(1, 96, "flipped")]);
            let i = rng.between(0..f.len() as u64) as usize;
            f[i] ^= 0x55;
            f
        }),
    ];
    for (run, (_, poison)) in shapes.into_iter().enumerate() {
        let at = rng.between(0..11) as usize;
        let bytes = segment(run as u64 + 10, poison, at);
        write(&format!("{:016x}-000001", run + 10), bytes);
    }
    // A torn tail, an empty segment, a text file, and a folder that looks like a segment.
    let torn = segment(100, Vec::new(), 10);
    let mut torn_tail = torn.clone();
    torn_tail.extend_from_slice(&frames(&[record(100, 11, "cut")])[..20]);
    write("0000000000000064-000001", torn_tail);
    write("0000000000000065-000001", Vec::new());
    write(
        "0000000000000066-000001",
        b"1700000000.0\tINFO\tan old spill line\n".to_vec(),
    );
    std::fs::create_dir_all(journal.join("0000000000000067-000001.seg")).unwrap();

    let output = example_support::run("log_collector", &["--stdin", "--db", &db], EXIT_TIMEOUT);
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "seed {}: {said}", seed.seed);
    let stored = stored(&db);
    for line in &good {
        assert_eq!(
            stored.get(line),
            Some(&1),
            "seed {}: {line}: {said}",
            seed.seed
        );
    }
    assert_eq!(
        stored.len(),
        good.len(),
        "seed {}: only the good lines: {stored:?}",
        seed.seed
    );
    // The four whole frames that are no record are set aside wherever they lie; damage is too,
    // unless it lies at a segment's end, where it is a torn tail.
    let rejected = std::fs::read_to_string(format!("{db}.journal.rejected")).unwrap_or_default();
    for why in ["too short", "is not a level", "not UTF-8", "NUL byte"] {
        assert!(
            rejected.contains(why),
            "seed {}: {why}: {rejected}",
            seed.seed
        );
    }
    assert!(
        rejected.lines().count() >= 4,
        "seed {}: {rejected}",
        seed.seed
    );
}

#[test]
fn poison_lines_of_every_shape_are_answered_and_each_acknowledged_one_stored_once() {
    let seed = Seed::new("poison_lines");
    let mut rng = seed.rng();
    let dir = TempDir::new("poison-lines");
    let db = dir.path("logs.db");
    let (server, addr) = start(&["--addr", "127.0.0.1:0", "--db", &db, "--max-line", "200"]);
    let mut shapes: Vec<Vec<u8>> = vec![
        b"\0\0\0\n".to_vec(),
        b"\xff\xfe\xfd\n".to_vec(),
        b"\r\n".to_vec(),
        b"\r\r\r\n".to_vec(),
        b"ERROR\n".to_vec(),
        b"ERROR \n".to_vec(),
        vec![b'z'; 201],
        [&vec![b'z'; 5000][..], b"\n"].concat(),
        b"WARN \xc3\x28 half a character\r\n".to_vec(),
    ];
    for _ in 0..30 {
        let len = rng.between(1..300) as usize;
        let mut bytes = rng.bytes(len);
        bytes.retain(|&b| b != b'\n');
        bytes.push(b'\n');
        shapes.push(bytes);
    }
    let mut acked = 0;
    for (i, shape) in shapes.iter().enumerate() {
        let mut stream = faults::connect_when_up(addr, Duration::from_secs(5)).unwrap();
        let marker = format!("still serving after shape {i}\n");
        stream
            .write_all(&[&shape[..], b"\n", marker.as_bytes()].concat())
            .unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut replies = String::new();
        stream.read_to_string(&mut replies).unwrap();
        let last = replies.lines().last().unwrap_or_default();
        assert_eq!(
            last, "ok",
            "seed {}: shape {i} {shape:?}: {replies}",
            seed.seed
        );
        acked += replies.lines().filter(|&r| r == "ok").count();
    }
    let (code, output) = stop(server);
    assert_eq!(code, Some(0), "seed {}: {output}", seed.seed);
    let stored: i64 = stored(&db).values().sum();
    assert_eq!(stored as usize, acked, "seed {}: {output}", seed.seed);
}

#[test]
fn peers_that_never_read_or_never_send_are_cut_and_others_served() {
    let dir = TempDir::new("peers");
    let db = dir.path("logs.db");
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--db",
        &db,
        "--idle-timeout-secs",
        "1",
    ];
    let (server, addr) = start(&args);
    let silent = TcpStream::connect(addr).unwrap();
    let deaf = TcpStream::connect(addr).unwrap();
    deaf.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Lines, and never a reply read: the replies fill every buffer on the way back.
    let flood = "a line nobody acknowledges the reply to\n".repeat(50_000);
    let writer = std::thread::spawn(move || {
        let _ = (&deaf).write_all(flood.as_bytes());
        deaf
    });
    let mut other = faults::connect_when_up(addr, Duration::from_secs(5)).unwrap();
    other.write_all(b"served meanwhile\n").unwrap();
    let mut reply = [0; 3];
    other.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ok\n");
    // Both are cut once idle for a second.
    let mut buf = Vec::new();
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = (&silent).read_to_end(&mut buf);
    assert_eq!(String::from_utf8_lossy(&buf), "error: idle timeout\n");
    let _deaf = writer.join().unwrap();
    let (code, output) = stop(server);
    assert_eq!(code, Some(0), "{output}");
}

fn run_to_exit(args: &[&str], out: Sink, err: Sink, drive: impl FnOnce(&mut Faulty)) -> Outcome {
    faults::run_to_exit("log_collector", args, out, err, drive)
}

/// Where a collector started on port 0 listens (a port of nobody's if it never does).
fn listening(child: &Faulty) -> SocketAddr {
    let addr = faults::listening_addr(child.child.id(), Duration::from_secs(20));
    addr.unwrap_or_else(|| ([127, 0, 0, 1], 1).into())
}

/// Sends `lines` lines over TCP to a collector starting on `addr`; returns how many got `ok`.
fn send_lines(addr: SocketAddr, lines: usize) -> usize {
    let Some(stream) = faults::connect_when_up(addr, Duration::from_secs(20)) else {
        return 0;
    };
    let text: String = (0..lines)
        .map(|i| format!("exit path line {i}\n"))
        .collect();
    let _ = (&stream).write_all(text.as_bytes());
    let mut reader = BufReader::new(&stream);
    let mut ok = 0;
    for _ in 0..lines {
        let mut reply = String::new();
        if reader.read_line(&mut reply).is_err() || reply != "ok\n" {
            break;
        }
        ok += 1;
    }
    ok
}

fn exit_paths() -> Vec<ExitPath> {
    vec![
        ExitPath {
            name: "--help",
            code: 0,
            run: |_, o, e| run_to_exit(&["--help"], o, e, |_| {}),
        },
        ExitPath {
            name: "bad arguments",
            code: 2,
            run: |_, o, e| run_to_exit(&["--workers", "0"], o, e, |_| {}),
        },
        ExitPath {
            name: "cannot open the database",
            code: 1,
            run: |dir, o, e| {
                let db = dir.join("no/such/dir/logs.db");
                run_to_exit(&["--db", db.to_str().unwrap()], o, e, |_| {})
            },
        },
        ExitPath {
            name: "Ctrl-C after storing lines",
            code: 0,
            run: |dir, o, e| {
                let (db, addr) = (dir.join("logs.db"), "127.0.0.1:0");
                let db = db.to_str().unwrap();
                let mut acked = 0;
                let outcome = run_to_exit(&["--addr", addr, "--db", db], o, e, |child| {
                    acked = send_lines(listening(child), 20);
                    faults::interrupt(&child.child);
                })?;
                let stored: i64 = stored(db).values().sum();
                if acked != 20 || stored != 20 {
                    return Err(format!("{acked} of 20 lines acknowledged, {stored} stored"));
                }
                Ok(outcome)
            },
        },
        ExitPath {
            name: "Ctrl-C with the database locked past the shutdown timeout",
            code: 1,
            run: |dir, o, e| {
                let (db, addr) = (dir.join("logs.db"), "127.0.0.1:0");
                let db = db.to_str().unwrap();
                let mut lock = None;
                run_to_exit(
                    &["--addr", addr, "--db", db, "--shutdown-timeout-secs", "1"],
                    o,
                    e,
                    |child| {
                        let addr = listening(child);
                        lock = Some(WriteLock::take(db));
                        send_lines(addr, 5);
                        faults::interrupt(&child.child);
                    },
                )
            },
        },
        ExitPath {
            name: "a second Ctrl-C",
            code: 1,
            run: |dir, o, e| {
                let (db, addr) = (dir.join("logs.db"), "127.0.0.1:0");
                let db = db.to_str().unwrap();
                let mut lock = None;
                run_to_exit(
                    &["--addr", addr, "--db", db, "--shutdown-timeout-secs", "600"],
                    o,
                    e,
                    |child| {
                        let addr = listening(child);
                        lock = Some(WriteLock::take(db));
                        send_lines(addr, 5);
                        // Ctrl-C until it exits: the first starts stopping, a later one (once
                        // the first is taken) exits at once.
                        for _ in 0..50 {
                            faults::interrupt(&child.child);
                            std::thread::sleep(Duration::from_millis(200));
                            if child.child.try_wait().is_ok_and(|s| s.is_some()) {
                                break;
                            }
                        }
                    },
                )
            },
        },
        ExitPath {
            name: "end of standard input",
            code: 0,
            run: |dir, o, e| {
                let db = dir.join("logs.db");
                run_to_exit(&["--stdin", "--db", db.to_str().unwrap()], o, e, |_| {})
            },
        },
    ]
}

#[test]
fn stdout_and_stderr_closed_full_or_unread_at_every_exit_path() {
    let failures = faults::check_exit_paths("lc", exit_paths());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
