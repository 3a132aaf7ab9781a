//! Seed 003's centralized log collector: clients send log lines over TCP, each line is queued and
//! answered `ok`, and worker tasks write the queue to a database in batches.
//!
//! It shows a bounded `Queue` between producers (one task per connection) and consumers (the
//! workers), `task_done` / `join` / `shutdown` for a shutdown that loses nothing, and blocking
//! database drivers kept off the loop with `spawn_blocking` (the original called psycopg2 right
//! on the event loop).
//!
//! ```text
//! cargo run --example log_collector                       # 127.0.0.1:5140 into ./logs.db
//! cargo run --example log_collector -- --addr 127.0.0.1:0 --db /tmp/logs.db --workers 4
//! cargo run --example log_collector -- --db postgres://user:pass@127.0.0.1/logs --spill /tmp/logs.spill
//! printf 'WARN disk almost full\nhello\n' | cargo run --example log_collector -- --stdin
//! ```
//!
//! **The protocol.** One log entry per line (`\n` or `\r\n`). A line that starts with a level,
//! `DEBUG`, `INFO`, `WARN` or `ERROR` in capitals, then a space and some text, has that level;
//! any other line is all message, at level `INFO`. Each line gets one reply line, in order:
//! `ok` once it is in the queue (so `ok` means "accepted": see the guarantee below),
//! `error: line too long` past `--max-line` bytes, or `error: empty line`; either way the
//! connection goes on. The limit counts the line's bytes without its ending (`\n` or `\r\n`),
//! and a last line with no ending counts the same way: TCP and `--stdin` apply one rule.
//! Bytes that are not UTF-8 (and NUL bytes, which PostgreSQL's text cannot hold) are stored
//! as U+FFFD and counted as "lossy". A
//! client that sends nothing for `--idle-timeout-secs`, or does not read its replies for that
//! long, is told `error: idle timeout` and disconnected.
//!
//! **The table** is `logs(id, level, message, created_at)`, made if missing; `created_at` is
//! when the line was accepted (UTC; SQLite text, PostgreSQL `timestamptz`). Each worker owns
//! one connection, takes a line from the queue, then whatever else is waiting up to `--batch`
//! lines, and inserts them in one transaction on the blocking pool. (So ids follow the order
//! of the batches, not quite that of arrival: sort by `created_at`.)
//!
//! **The guarantee: an `ok` line is never lost.** It is stored in the database, or, if the
//! database cannot take it before the program exits, written to the spill file (`--spill`,
//! by default the SQLite file's name plus `.spill`), which the next start stores before it
//! takes any new line, and then deletes (if the database does not take them within
//! `--shutdown-timeout-secs`, that start fails, and keeps the file). So a line is stored *at least* once: a crash (or a
//! second Ctrl-C) just as a batch commits can store that batch twice. What is lost is said on
//! standard error, and counted as `failed` (only if the spill file cannot be written either).
//!
//! - **The database is unavailable** (another process holds its write lock, the server is
//!   down): a worker retries its batch with a backoff (50 ms doubling to 2 s; each attempt
//!   waits at most 3 s for a lock), saying so on standard error, for as long as it takes while
//!   the program runs; meanwhile the queue fills and new lines wait for their `ok`.
//! - **Stopping.** On Ctrl-C the listener closes (new clients are refused), every open
//!   connection is shut for reading, so each client's task queues and answers the lines that
//!   had already reached us and then sees end of input. From then on a reply must be taken
//!   within 2 s, or that client is cut (its later lines were not acknowledged). `queue.join()`
//!   waits until every accepted line is stored, retrying for at most `--shutdown-timeout-secs`
//!   (default 10; an attempt under way then may take 3 s more); past that deadline the lines
//!   still unstored go to the spill file, with a message on standard error. Then
//!   `queue.shutdown()` ends the workers and a summary is printed (`accepted: N stored: N ...
//!   spilled: N replayed: N`). With `--stdin`, lines come from standard input instead (no
//!   replies) and its end stops the program the same way.
//! - **A second Ctrl-C** exits at once: the lines still queued or being stored go to the spill
//!   file first, and standard error says how many, and where.
//! - The exit status is 1 if a line was spilled or lost.
//! - **Nobody reads stdout or stderr**: nothing is printed with `println!`, which would stop
//!   every task until the reader catches up. Messages go through `minirt::io::stdout()` and
//!   `stderr()`, each waiting 1 s at most for room; the per-connection log (`PEER: why;
//!   closing`) never waits, and is dropped while stdout's buffer is full.
//! - `--db :memory:` (or `""`, or an in-memory URI) is refused: each worker would get its own
//!   private database, which is gone at exit.
//!
//! Try it by hand: `nc 127.0.0.1 5140`, type `ERROR out of cheese` and see `ok`, then look:
//!
//! ```text
//! sqlite3 logs.db 'SELECT * FROM logs'     # apt-get install sqlite3, or Python:
//! python3 -c 'import sqlite3; print(sqlite3.connect("logs.db").execute("SELECT * FROM logs").fetchall())'
//! ```
//!
//! For PostgreSQL, `bash .ci/postgres` starts a throwaway server on 127.0.0.1 (the one the tests
//! use) and prints its URL; pass that to `--db`, and look with `psql URL -c 'SELECT * FROM logs'`.
//!
//! The asyncio original, tidied up:
//!
//! ```python
//! async def handle_echo(self, reader, writer):
//!     while not reader.at_eof():
//!         data = await reader.readline()
//!         self.task_queue.put_nowait(data.decode().strip())
//!         writer.write("ok".encode())
//!         await writer.drain()
//!
//! async def consume_task(self, name):
//!     while True:
//!         data = await self.task_queue.get()
//!         conn = self.db_pool.getconn()
//!         cur = conn.cursor()
//!         cur.execute("insert into logs (level, message, created_at) values (%s, %s, %s)",
//!                     (200, 'log test', datetime.now()))
//!         conn.commit()
//!         self.db_pool.putconn(conn)
//!         self.task_queue.task_done()
//! ```

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write as _;
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use minirt::io::{self, BufReader};
use minirt::net::{TcpListener, TcpStream};
use minirt::sync::{Event, Queue};
use minirt::{JoinHandle, ReturnWhen, Runtime};

const USAGE: &str = "usage: log_collector [--addr ADDR | --stdin] [--db PATH | --db postgres://USER:PASS@HOST/DB] \
[--spill PATH] [--workers N] [--batch N] [--queue N] [--max-line BYTES] [--idle-timeout-secs S] [--shutdown-timeout-secs S]
defaults: --addr 127.0.0.1:5140 --db logs.db --spill DB.spill (log_collector.spill for PostgreSQL) --workers 2 --batch 256 \
--queue 1024 --max-line 8192 --idle-timeout-secs 60 --shutdown-timeout-secs 10";

const OK: &str = "ok\n";
const TOO_LONG: &str = "error: line too long\n";
const EMPTY: &str = "error: empty line\n";
const SHUTTING_DOWN: &str = "error: shutting down\n";
const IDLE: &str = "error: idle timeout\n";

/// Once stopping, how long a client may take to read its replies before it is cut.
const STOPPING_WRITE_GRACE: Duration = Duration::from_secs(2);
/// How long one attempt to store a batch waits for SQLite's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(3);
/// The pauses between attempts to store a batch: doubling from the first to the last.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

// ---- One log entry, and how a line becomes one. ----

/// The levels a line may start with; a line without one is `INFO`.
const LEVELS: [&str; 4] = ["DEBUG", "INFO", "WARN", "ERROR"];

#[derive(Clone)]
struct Entry {
    level: &'static str,
    message: String,
    /// When the line was accepted, in seconds since 1970 (UTC).
    accepted_at: f64,
}

impl Entry {
    /// The entry as one line of the spill file: `ACCEPTED_AT<tab>LEVEL<tab>MESSAGE`. A message
    /// holds no `\n` (lines are split there), so it needs no escaping.
    fn to_spill_line(&self) -> String {
        format!(
            "{:.6}\t{}\t{}\n",
            self.accepted_at, self.level, self.message
        )
    }

    /// The entry of a spill file's line (without its `\n`); `None` if it is not one.
    fn from_spill_line(line: &str) -> Option<Entry> {
        let mut fields = line.splitn(3, '\t');
        let accepted_at = fields.next()?.parse().ok()?;
        let level = fields.next()?;
        let level = LEVELS.into_iter().find(|&l| l == level)?;
        let message = fields.next()?.to_owned();
        Some(Entry {
            level,
            message,
            accepted_at,
        })
    }
}

/// The line without its ending, `\n` or `\r\n`: what `--max-line` counts.
fn without_ending(raw: &[u8]) -> &[u8] {
    match raw.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => raw,
    }
}

/// The line as text, and whether anything had to be replaced to make it so.
fn decode(raw: &[u8]) -> (String, bool) {
    let text = String::from_utf8_lossy(raw);
    let lossy = matches!(text, Cow::Owned(_));
    if text.contains('\0') {
        return (text.replace('\0', "\u{FFFD}"), true);
    }
    (text.into_owned(), lossy)
}

/// Splits `WARN disk almost full` into its level and message; `None` for a blank line.
fn parse_line(line: &str) -> Option<(&'static str, &str)> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return None;
    }
    if let Some((word, rest)) = line.split_once(' ')
        && let Some(level) = LEVELS.into_iter().find(|&level| level == word)
        && !rest.trim().is_empty()
    {
        return Some((level, rest.trim_start()));
    }
    Some(("INFO", line))
}

// ---- The collector: the queue between connections and workers, and the counts. ----

struct Collector {
    queue: Queue<Entry>,
    max_line: usize,
    idle_timeout: Duration,
    counts: Counts,
    spill: Spill,
    shutdown_timeout: Duration,
    /// Set when stopping begins (Ctrl-C, or the end of standard input).
    stopping: Event,
    /// When stopping began; `None` while running.
    stopped_at: Cell<Option<Instant>>,
    /// The batches the workers have taken from the queue and not yet stored or spilled, by
    /// worker: what a second Ctrl-C must save besides the queue.
    in_flight: RefCell<HashMap<usize, Arc<Vec<Entry>>>>,
}

/// The summary's numbers. Lines are `accepted` (answered `ok`), then `stored`, `spilled` (to
/// the spill file) or `failed` (lost). `replayed` lines came from the last run's spill file.
#[derive(Default)]
struct Counts {
    accepted: Cell<u64>,
    stored: Cell<u64>,
    rejected: Cell<u64>,
    lossy: Cell<u64>,
    failed: Cell<u64>,
    spilled: Cell<u64>,
    replayed: Cell<u64>,
}

fn add(counter: &Cell<u64>, n: u64) {
    counter.set(counter.get() + n);
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (accepted, stored) = (self.accepted.get(), self.stored.get());
        let (rejected, lossy, failed) = (self.rejected.get(), self.lossy.get(), self.failed.get());
        let (spilled, replayed) = (self.spilled.get(), self.replayed.get());
        write!(
            f,
            "accepted: {accepted} stored: {stored} rejected: {rejected} lossy: {lossy} \
             failed: {failed} spilled: {spilled} replayed: {replayed}"
        )
    }
}

impl Collector {
    /// Queues one raw line (waiting while the queue is full) and returns the reply for it.
    async fn take_line(&self, raw: &[u8]) -> &'static str {
        if without_ending(raw).len() > self.max_line {
            return self.too_long();
        }
        let (text, lossy) = decode(raw);
        let Some((level, message)) = parse_line(&text) else {
            add(&self.counts.rejected, 1);
            return EMPTY;
        };
        let entry = Entry {
            level,
            message: message.to_owned(),
            accepted_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        };
        if self.queue.put(entry).await.is_err() {
            return SHUTTING_DOWN; // only after `shutdown`, which waits for every client
        }
        add(&self.counts.accepted, 1);
        add(&self.counts.lossy, u64::from(lossy));
        OK
    }

    fn too_long(&self) -> &'static str {
        add(&self.counts.rejected, 1);
        TOO_LONG
    }

    /// From now on replies have a short deadline, and retries end after the shutdown timeout.
    fn begin_stopping(&self) {
        self.stopped_at.set(Some(Instant::now()));
        self.stopping.set();
    }

    /// When the workers stop retrying and spill instead; `None` while running.
    fn give_up_at(&self) -> Option<Instant> {
        Some(self.stopped_at.get()? + self.shutdown_timeout)
    }

    /// Resolves once stopping has begun and its grace for reading replies is over.
    async fn replies_cut(&self) {
        self.stopping.wait().await;
        let since = self.stopped_at.get().unwrap_or_else(Instant::now);
        minirt::time::sleep_until(since + STOPPING_WRITE_GRACE).await;
    }

    /// Appends `entries` to the spill file (on the blocking pool), and counts them as spilled,
    /// or, if even that fails, as failed. Says which on standard error.
    async fn spill_entries(&self, entries: Arc<Vec<Entry>>, why: &str) {
        if entries.is_empty() {
            return;
        }
        let count = entries.len() as u64;
        let spill = self.spill.clone();
        let path = spill.path.display().to_string();
        let written = match minirt::spawn_blocking(move || spill.append(&entries)).await {
            Ok(written) => written.map_err(|e| e.to_string()),
            Err(panicked) => Err(panicked.to_string()),
        };
        match written {
            Ok(()) => {
                add(&self.counts.spilled, count);
                warn(&format!(
                    "{why}: wrote {count} accepted line(s) to {path}; the next start stores them"
                ))
                .await;
            }
            Err(e) => {
                add(&self.counts.failed, count);
                warn(&format!(
                    "{why}: LOST {count} accepted line(s): cannot write {path}: {e}"
                ))
                .await;
            }
        }
    }
}

// ---- The spill file: accepted lines the database could not take in time. ----

/// Where unstored lines go at exit. Everything here blocks: it runs on the blocking pool.
#[derive(Clone)]
struct Spill {
    path: PathBuf,
    /// Workers may spill at the same moment: one append at a time keeps lines whole.
    lock: Arc<Mutex<()>>,
}

impl Spill {
    fn new(path: PathBuf) -> Spill {
        Spill {
            path,
            lock: Arc::default(),
        }
    }

    /// Appends the entries and waits until they are on disk.
    fn append(&self, entries: &[Entry]) -> std::io::Result<()> {
        let text: String = entries.iter().map(Entry::to_spill_line).collect();
        let _one_at_a_time = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }

    /// The entries a previous run left, if any. A line that does not parse (a write cut short
    /// by a crash) is skipped, and counted in the second number.
    fn read(&self) -> std::io::Result<(Vec<Entry>, usize)> {
        let text = match std::fs::read(&self.path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(e),
        };
        let (mut entries, mut bad) = (Vec::new(), 0);
        for line in text.lines() {
            match Entry::from_spill_line(line) {
                Some(entry) => entries.push(entry),
                None => bad += 1,
            }
        }
        Ok((entries, bad))
    }
}

// ---- The databases. Everything here blocks, so it only ever runs on the blocking pool. ----

#[derive(Clone)]
enum Target {
    Sqlite(String),
    Postgres(Box<postgres::Config>),
}

enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

type DbResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An error with its causes: the `postgres` crate's own message is only "db error".
fn explain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

const SQLITE_TABLE: &str = "CREATE TABLE IF NOT EXISTS logs (id INTEGER PRIMARY KEY, \
    level TEXT NOT NULL, message TEXT NOT NULL, created_at TEXT NOT NULL)";
const SQLITE_INSERT: &str = "INSERT INTO logs (level, message, created_at) \
    VALUES (?1, ?2, strftime('%Y-%m-%d %H:%M:%f', ?3, 'unixepoch'))";
const PG_TABLE: &str = "CREATE TABLE IF NOT EXISTS logs (id bigserial PRIMARY KEY, \
    level text NOT NULL, message text NOT NULL, created_at timestamptz NOT NULL)";
const PG_INSERT: &str =
    "INSERT INTO logs (level, message, created_at) VALUES ($1, $2, to_timestamp($3))";

impl Db {
    fn open(target: &Target) -> DbResult<Db> {
        Ok(match target {
            Target::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path)?;
                // The workers' connections take turns writing: wait for the lock a while. A
                // longer wait (another process holding it) is the worker's retry loop's job,
                // which can watch the shutdown deadline between attempts.
                conn.busy_timeout(BUSY_TIMEOUT)?;
                // Write-ahead logging: `sqlite3 logs.db` can read while the workers write.
                conn.pragma_update(None, "journal_mode", "WAL")?;
                Db::Sqlite(conn)
            }
            Target::Postgres(config) => Db::Postgres(Box::new(config.connect(postgres::NoTls)?)),
        })
    }

    fn create_table(&mut self) -> DbResult<()> {
        match self {
            Db::Sqlite(conn) => drop(conn.execute(SQLITE_TABLE, [])?),
            Db::Postgres(client) => client.batch_execute(PG_TABLE)?,
        }
        Ok(())
    }

    /// Inserts the batch in one transaction: all of it, or (on error) none of it.
    fn insert(&mut self, batch: &[Entry]) -> DbResult<()> {
        match self {
            Db::Sqlite(conn) => {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                {
                    let mut insert = tx.prepare_cached(SQLITE_INSERT)?;
                    for e in batch {
                        insert.execute((e.level, &e.message, e.accepted_at))?;
                    }
                }
                tx.commit()?;
            }
            Db::Postgres(client) => {
                let mut tx = client.transaction()?;
                let insert = tx.prepare(PG_INSERT)?;
                for e in batch {
                    tx.execute(&insert, &[&e.level, &e.message, &e.accepted_at])?;
                }
                tx.commit()?;
            }
        }
        Ok(())
    }
}

/// Opens one connection per worker, and makes the table first (once, so that two workers do
/// not race to create it).
fn open_all(target: &Target, count: usize) -> DbResult<Vec<Db>> {
    let mut first = Db::open(target)?;
    first.create_table()?;
    let mut all = vec![first];
    for _ in 1..count {
        all.push(Db::open(target)?);
    }
    Ok(all)
}

/// A worker: takes a line, plus whatever else is queued up to `batch_size`, and stores them.
async fn worker(collector: Rc<Collector>, db: Db, batch_size: usize, id: usize) {
    // In a mutex only so that the pool thread can borrow it and a panic there cannot lose it.
    let db = Arc::new(Mutex::new(db));
    while let Ok(first) = collector.queue.get().await {
        let mut batch = vec![first];
        while batch.len() < batch_size
            && let Ok(entry) = collector.queue.get_nowait()
        {
            batch.push(entry);
        }
        let batch = Arc::new(batch);
        let count = batch.len();
        collector.in_flight.borrow_mut().insert(id, batch.clone());
        store_or_spill(&collector, &db, batch).await;
        collector.in_flight.borrow_mut().remove(&id);
        for _ in 0..count {
            collector
                .queue
                .task_done()
                .expect("one task_done per line taken");
        }
    }
}

/// Stores the batch, retrying with a backoff while the database refuses it; once stopping has
/// gone on past the shutdown timeout, writes it to the spill file instead.
async fn store_or_spill(collector: &Collector, db: &Arc<Mutex<Db>>, batch: Arc<Vec<Entry>>) {
    let count = batch.len() as u64;
    let mut backoff = FIRST_BACKOFF;
    loop {
        if collector
            .give_up_at()
            .is_some_and(|at| Instant::now() >= at)
        {
            let why = "the database did not take them before the shutdown timeout";
            return collector.spill_entries(batch, why).await;
        }
        let (db, lines) = (db.clone(), batch.clone());
        let insert = move || {
            db.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(&lines)
        };
        let outcome = match minirt::spawn_blocking(insert).await {
            Ok(inserted) => inserted.map_err(|e| explain(&*e)),
            Err(panicked) => Err(panicked.to_string()),
        };
        let Err(e) = outcome else {
            return add(&collector.counts.stored, count);
        };
        warn(&format!(
            "could not store {count} line(s): {e}; retrying in {backoff:?}"
        ))
        .await;
        let pause = minirt::time::sleep_until(Instant::now() + backoff);
        match collector.give_up_at() {
            // Stopping began meanwhile, or already had: do not pause past its deadline.
            Some(at) => drop(minirt::time::timeout_at(at, pause).await),
            None => pause.await,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Stores what the last run left in the spill file, then deletes the file. Retries like a
/// worker does, for at most `patience`. Returns how many lines it stored.
async fn replay_spill(
    collector: &Collector,
    db: Db,
    patience: Duration,
) -> (Db, Result<u64, String>) {
    let spill = collector.spill.clone();
    let path = spill.path.display().to_string();
    let read = minirt::spawn_blocking(move || spill.read()).await;
    let (entries, bad) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => return (db, Err(format!("cannot read {path}: {e}"))),
        Err(e) => return (db, Err(format!("reading {path} failed: {e}"))),
    };
    if bad > 0 {
        warn(&format!("skipped {bad} unreadable line(s) of {path}")).await;
    }
    if entries.is_empty() && bad == 0 {
        return (db, Ok(0));
    }
    let count = entries.len() as u64;
    let entries = Arc::new(entries);
    let db = Arc::new(Mutex::new(db));
    let deadline = Instant::now() + patience;
    let mut backoff = FIRST_BACKOFF;
    let outcome = loop {
        let (db, entries, spill) = (db.clone(), entries.clone(), collector.spill.clone());
        let store = move || -> DbResult<std::io::Result<()>> {
            db.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(&entries)?;
            // Stored: the file goes. (A crash right here would store these lines again.)
            Ok(std::fs::remove_file(&spill.path))
        };
        let outcome = match minirt::spawn_blocking(store).await {
            Ok(stored) => stored.map_err(|e| explain(&*e)),
            Err(panicked) => Err(panicked.to_string()),
        };
        match outcome {
            Ok(Ok(())) => break Ok(count),
            Ok(Err(e)) => {
                let why =
                    format!("stored the {count} line(s) of {path}, but cannot delete it ({e})");
                break Err(format!(
                    "{why}: delete it by hand, or they will be stored again"
                ));
            }
            Err(e) if Instant::now() + backoff >= deadline => {
                break Err(format!(
                    "cannot store the {count} line(s) of {path}: {e}; the file is kept"
                ));
            }
            Err(e) => {
                warn(&format!(
                    "cannot store {path} yet: {e}; retrying in {backoff:?}"
                ))
                .await
            }
        }
        minirt::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    };
    let db = Arc::try_unwrap(db)
        .ok()
        .expect("the pool jobs have finished")
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    (db, outcome)
}

// ---- Where lines come from: TCP clients, or standard input. ----

/// A client's socket, shared with its task, and the task.
type Connection = (Rc<TcpStream>, JoinHandle<()>);

/// The open connections, so that shutdown can end their input and wait for them.
#[derive(Default)]
struct Connections {
    next_id: Cell<u64>,
    open: RefCell<HashMap<u64, Connection>>,
}

/// Accepts clients until the task is aborted, one task each.
async fn accept_clients(listener: TcpListener, collector: Rc<Collector>, conns: Rc<Connections>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let stream = Rc::new(stream);
                let id = conns.next_id.get();
                conns.next_id.set(id + 1);
                let client =
                    serve_client(stream.clone(), peer, collector.clone(), conns.clone(), id);
                let task = minirt::spawn(client);
                // The task starts at the loop's next turn, so it is listed before it can end.
                conns.open.borrow_mut().insert(id, (stream, task));
            }
            // Out of file descriptors, say: pause, so as not to spin on a ready listener.
            Err(e) => {
                warn(&format!("accept failed: {e}; retrying in 100 ms")).await;
                minirt::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_client(
    stream: Rc<TcpStream>,
    peer: SocketAddr,
    collector: Rc<Collector>,
    conns: Rc<Connections>,
    id: u64,
) {
    if let Err(why) = read_lines(&stream, &collector).await {
        log(&format!("{peer}: {why}; closing"));
    }
    conns.open.borrow_mut().remove(&id);
}

/// Reads lines until end of input, replying to each. `Err` says why the connection was cut.
async fn read_lines(stream: &TcpStream, collector: &Collector) -> Result<(), String> {
    let idle = collector.idle_timeout;
    // Room for the line ending, `\r\n`; `take_line` checks the length without it.
    let mut reader = BufReader::with_limit(stream, collector.max_line + 2);
    let mut line = Vec::new();
    loop {
        line.clear();
        // `read_until` keeps a half-read line in the reader, so a timeout loses nothing.
        let reply = match minirt::timeout(idle, reader.read_until(b'\n', &mut line)).await {
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) => collector.take_line(&line).await,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => collector.too_long(),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => {
                let _ = send(stream, IDLE, collector).await;
                return Err(format!("idle for {idle:?}"));
            }
        };
        send(stream, reply, collector).await?;
    }
}

/// Writes a reply, giving up on a client that has not read anything for the idle timeout, or,
/// once stopping, past a short grace.
async fn send(mut stream: &TcpStream, reply: &str, collector: &Collector) -> Result<(), String> {
    let idle = collector.idle_timeout;
    let write = async {
        match minirt::timeout(idle, io::write_all(&mut stream, reply.as_bytes())).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("not reading its replies for {idle:?}")),
        }
    };
    let cut = async {
        collector.replies_cut().await;
        Err(format!(
            "stopping, and not reading its replies for {STOPPING_WRITE_GRACE:?}"
        ))
    };
    futures_lite::future::or(write, cut).await
}

/// Ends every connection's input: each task still gets the bytes that already reached us (the
/// kernel keeps them), queues and answers those lines, then reads end of input and finishes.
async fn finish_connections(conns: &Connections) {
    let open: Vec<_> = conns.open.borrow_mut().drain().map(|(_, c)| c).collect();
    say(&format!(
        "no new connections; finishing {} open ones",
        open.len()
    ))
    .await;
    let mut tasks = Vec::new();
    for (stream, task) in open {
        let _ = stream.shutdown(Shutdown::Read); // fails only if the client already left
        tasks.push(task);
    }
    minirt::join_all(tasks).await;
}

enum StdinLine {
    Line(Vec<u8>),
    TooLong,
    End,
}

/// Reads one line of standard input, reading at most `max_line` bytes plus a `\r\n`: past
/// that it is too long, and skipped. (`take_line` checks the length of a line that fits.)
fn read_stdin_line(max_line: usize) -> std::io::Result<StdinLine> {
    use std::io::{BufRead, Read};
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    let room = max_line + 2;
    (&mut stdin)
        .take(room as u64)
        .read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(StdinLine::End);
    }
    if line.len() == room && !line.ends_with(b"\n") {
        stdin.skip_until(b'\n')?;
        return Ok(StdinLine::TooLong);
    }
    Ok(StdinLine::Line(line))
}

/// Queues standard input's lines until its end. Reading blocks, so each read is a pool job.
async fn read_stdin(collector: Rc<Collector>) {
    let max_line = collector.max_line;
    for number in 1.. {
        let reply = match minirt::spawn_blocking(move || read_stdin_line(max_line)).await {
            Ok(Ok(StdinLine::Line(line))) => collector.take_line(&line).await,
            Ok(Ok(StdinLine::TooLong)) => collector.too_long(),
            Ok(Ok(StdinLine::End)) => return,
            Ok(Err(e)) => return warn(&format!("cannot read standard input: {e}")).await,
            Err(e) => return warn(&format!("reading standard input failed: {e}")).await,
        };
        if reply != OK {
            let reply = reply.trim_end();
            warn(&format!("line {number} of standard input: {reply}")).await;
        }
    }
}

// ---- The program. ----

struct Config {
    /// `None` for `--stdin`.
    addr: Option<String>,
    target: Target,
    /// `None`: next to the SQLite file, or `log_collector.spill` for PostgreSQL.
    spill: Option<PathBuf>,
    workers: usize,
    batch: usize,
    queue: usize,
    max_line: usize,
    idle_timeout: Duration,
    shutdown_timeout: Duration,
}

impl Config {
    fn spill_path(&self) -> PathBuf {
        match (&self.spill, &self.target) {
            (Some(path), _) => path.clone(),
            (None, Target::Sqlite(db)) => PathBuf::from(format!("{db}.spill")),
            (None, Target::Postgres(_)) => PathBuf::from("log_collector.spill"),
        }
    }
}

/// Runs until Ctrl-C or the end of standard input, then stores every accepted line. `Err` if
/// it cannot start.
async fn collect(config: Config) -> Result<ExitCode, String> {
    let start = Instant::now();
    let (target, workers) = (config.target.clone(), config.workers);
    let mut dbs = match minirt::spawn_blocking(move || open_all(&target, workers)).await {
        Ok(opened) => opened.map_err(|e| format!("cannot open the database: {}", explain(&*e)))?,
        Err(e) => return Err(format!("opening the database failed: {e}")),
    };
    let listener = match &config.addr {
        Some(addr) => Some(
            TcpListener::bind(addr.as_str())
                .map_err(|e| format!("cannot listen on {addr:?}: {e}"))?,
        ),
        None => None,
    };
    let collector = Rc::new(Collector {
        queue: Queue::bounded(config.queue),
        max_line: config.max_line,
        idle_timeout: config.idle_timeout,
        counts: Counts::default(),
        spill: Spill::new(config.spill_path()),
        shutdown_timeout: config.shutdown_timeout,
        stopping: Event::new(),
        stopped_at: Cell::new(None),
        in_flight: RefCell::default(),
    });
    // What the last run could not store comes first, before any new line is accepted.
    let (first, replayed) = replay_spill(&collector, dbs.remove(0), config.shutdown_timeout).await;
    add(&collector.counts.replayed, replayed?);
    dbs.insert(0, first);
    let workers: Vec<_> = dbs
        .into_iter()
        .enumerate()
        .map(|(id, db)| minirt::spawn(worker(collector.clone(), db, config.batch, id)))
        .collect();

    // Listening for Ctrl-C starts here, before `listening on` tells clients to come.
    let ctrl_c = minirt::signal::ctrl_c();
    let conns = Rc::new(Connections::default());
    let source = match listener {
        Some(listener) => {
            let local = listener
                .local_addr()
                .map_err(|e| format!("bound to what? {e}"))?;
            say(&format!("listening on {local}")).await;
            minirt::spawn(accept_clients(listener, collector.clone(), conns.clone()))
        }
        None => minirt::spawn(read_stdin(collector.clone())),
    };
    let why = wait_for_stop(source, ctrl_c).await;
    // A second Ctrl-C, from here on, ends the wait below.
    let again = minirt::signal::ctrl_c();
    collector.begin_stopping();
    say(why).await;
    let finish = async {
        if config.addr.is_some() {
            finish_connections(&conns).await;
        }
        collector.queue.join().await; // every accepted line is stored (or spilled)
        true
    };
    let interrupted = async {
        let _ = again.await;
        false
    };
    if futures_lite::future::or(finish, interrupted).await {
        collector.queue.shutdown(); // the workers' `get` fails: they end
        minirt::join_all(workers).await;
    } else {
        save_unstored(&collector).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    say(&format!("{} seconds: {seconds:.2}", collector.counts)).await;
    let unsaved = collector.counts.failed.get() + collector.counts.spilled.get();
    Ok(if unsaved > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// After a second Ctrl-C: every accepted line not yet stored (queued, or in a worker's hands)
/// goes to the spill file now, and standard error says so. A batch that was committing just
/// then may be stored twice.
async fn save_unstored(collector: &Collector) {
    let mut unstored = Vec::new();
    for (_, batch) in collector.in_flight.borrow_mut().drain() {
        unstored.extend(batch.iter().cloned());
    }
    while let Ok(entry) = collector.queue.get_nowait() {
        unstored.push(entry);
    }
    if unstored.is_empty() {
        warn("second Ctrl-C: every accepted line was stored; exiting now").await;
        return;
    }
    let why = "second Ctrl-C, exiting now";
    collector.spill_entries(Arc::new(unstored), why).await;
}

/// Waits for Ctrl-C or for `source` to end by itself (end of input), then stops `source`.
/// Returns which it was, as the line to print.
async fn wait_for_stop(source: JoinHandle<()>, ctrl_c: minirt::signal::CtrlC) -> &'static str {
    let ctrl_c = minirt::spawn(async {
        if let Err(e) = ctrl_c.await {
            warn(&format!("cannot watch for Ctrl-C ({e}); stopping")).await;
        }
    });
    let first = minirt::wait(vec![source, ctrl_c], ReturnWhen::FirstCompleted).await;
    let ctrl_c_first = first.done.iter().any(|&(index, _)| index == 1);
    for (_, task) in first.pending {
        task.abort(); // the accept loop (closing the listener), or an unfinished stdin read
        let _ = task.await;
    }
    if ctrl_c_first {
        "stopping"
    } else {
        "end of input"
    }
}

/// How long a line may wait for a slow reader of stdout or stderr before it is given up.
const SAY_TIMEOUT: Duration = Duration::from_secs(1);

/// Writes `text` and a newline to stdout, waiting while its buffer is full, but for
/// [`SAY_TIMEOUT`] at most. The task waits, not the loop, as it would in a `println!`.
/// Errors are ignored: with stdout closed there is nobody to tell.
async fn say(text: &str) {
    let _ = minirt::timeout(SAY_TIMEOUT, minirt::io::stdout().write_line(text)).await;
}

/// [`say`] for standard error, after the program's name.
async fn warn(text: &str) {
    let line = format!("log_collector: {text}");
    let _ = minirt::timeout(SAY_TIMEOUT, minirt::io::stderr().write_line(&line)).await;
}

/// For the per-connection log: writes `text` to stdout if its buffer has room now, or drops
/// it, so that a flood of connections never waits for a slow reader of stdout.
fn log(text: &str) {
    let _ = minirt::io::stdout().try_write_all(format!("{text}\n").as_bytes());
}

/// Says `message` on standard error, once the loop has stopped, and fails.
fn fail(message: &str) -> ExitCode {
    eprintln!("log_collector: {message}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match parse_args(args.into_iter()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("log_collector: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let outcome = runtime.block_on(collect(config));
    // The loop has stopped: blocking here stalls nobody. Let what is still in stdout's and
    // stderr's buffers out (ahead of `fail`'s line), but do not hang on a reader that stopped.
    minirt::io::flush_stdio(SAY_TIMEOUT);
    let code = outcome.unwrap_or_else(|message| fail(&message));
    // A read of standard input cut short by Ctrl-C may still block a pool thread: don't wait.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut config = Config {
        addr: Some("127.0.0.1:5140".to_owned()),
        target: Target::Sqlite("logs.db".to_owned()),
        spill: None,
        workers: 2,
        batch: 256,
        queue: 1024,
        max_line: 8192,
        idle_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(10),
    };
    let (mut stdin, mut addr_given) = (false, false);
    while let Some(flag) = args.next() {
        if flag == "--stdin" {
            stdin = true;
            continue;
        }
        addr_given |= flag == "--addr";
        let Some(value) = args.next() else {
            return Err(format!("unexpected argument {flag:?}, or it needs a value"));
        };
        match flag.as_str() {
            "--addr" => config.addr = Some(value),
            "--db" => config.target = parse_target(value)?,
            "--workers" => config.workers = number(&flag, &value, 64)?,
            "--batch" => config.batch = number(&flag, &value, 100_000)?,
            "--queue" => config.queue = number(&flag, &value, 1_000_000)?,
            "--max-line" => config.max_line = number(&flag, &value, 16 << 20)?,
            "--spill" => config.spill = Some(PathBuf::from(value)),
            "--idle-timeout-secs" => {
                config.idle_timeout = Duration::from_secs(number(&flag, &value, 86_400)? as u64)
            }
            "--shutdown-timeout-secs" => {
                config.shutdown_timeout = Duration::from_secs(number(&flag, &value, 86_400)? as u64)
            }
            _ => return Err(format!("unexpected argument {flag:?}")),
        }
    }
    if stdin && addr_given {
        return Err(
            "--stdin and --addr do not go together: lines come from one or the other".into(),
        );
    }
    if stdin {
        config.addr = None;
    }
    Ok(config)
}

fn parse_target(db: String) -> Result<Target, String> {
    if !(db.starts_with("postgres://") || db.starts_with("postgresql://")) {
        if is_in_memory(&db) {
            return Err(format!(
                "--db {db:?} is an in-memory SQLite database: each worker would get its own \
                 empty one, and every line would be gone at exit. Give a file name"
            ));
        }
        return Ok(Target::Sqlite(db));
    }
    let mut config = postgres::Config::from_str(&db)
        .map_err(|e| format!("--db is not a usable PostgreSQL URL: {e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(Target::Postgres(Box::new(config)))
}

/// `:memory:`, `""` (a private temporary database) and `file:` URIs that ask for memory.
fn is_in_memory(db: &str) -> bool {
    let uri = db.starts_with("file:");
    db.is_empty()
        || db == ":memory:"
        || (uri && (db.contains(":memory:") || db.contains("mode=memory")))
}

fn number(flag: &str, value: &str, max: usize) -> Result<usize, String> {
    match value.parse() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} wants a whole number from 1 to {max}, not {value:?}"
        )),
    }
}
