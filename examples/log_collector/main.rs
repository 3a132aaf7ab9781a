//! Seed 003's centralized log collector: clients send log lines over TCP, each line is written
//! to a journal and answered `ok`, and worker tasks write the lines to a database in batches.
//!
//! It shows a bounded `Queue` between producers (one task per connection) and consumers (the
//! workers), `task_done` / `join` / `shutdown` for a shutdown that loses nothing, a
//! write-ahead journal with group commit (many clients' lines, one `fdatasync`), and blocking
//! database drivers and file calls kept off the loop with `spawn_blocking` (the original
//! called psycopg2 right on the event loop).
//!
//! ```text
//! cargo run --example log_collector                       # 127.0.0.1:5140 into ./logs.db
//! cargo run --example log_collector -- --addr 127.0.0.1:0 --db /tmp/logs.db --workers 4
//! cargo run --example log_collector -- --db postgres://user:pass@127.0.0.1/logs --journal /tmp/logs.journal
//! printf 'WARN disk almost full\nhello\n' | cargo run --example log_collector -- --stdin
//! ```
//!
//! The files: `main.rs` (this: the collector, starting and stopping), `config.rs` (the
//! command line), `clients.rs` (TCP and standard input), `journal.rs` (the journal and group
//! commit), `store.rs` (the workers, and the replay of a journal at start), `db.rs` (SQLite
//! and PostgreSQL), `record.rs` (lines and the journal's records: pure, and fuzzed).
//!
//! **The protocol.** One log entry per line (`\n` or `\r\n`). A line that starts with a level,
//! `DEBUG`, `INFO`, `WARN` or `ERROR` in capitals, then a space and some text, has that level;
//! any other line is all message, at level `INFO`. Each line gets one reply line, in order:
//! `ok` once it is durable (see below), `error: line too long` past `--max-line` bytes,
//! `error: empty line`, or `error: cannot write the journal: ...` (the line was *not*
//! accepted: send it again later); either way the connection goes on. The limit counts the
//! line's bytes without its ending (`\n` or `\r\n`), and a last line with no ending counts the
//! same way: TCP and `--stdin` apply one rule. Bytes that are not UTF-8 (and NUL bytes, which
//! PostgreSQL's text cannot hold) are stored as U+FFFD and counted as "lossy". A client that
//! sends nothing for `--idle-timeout-secs`, or does not read its replies for that long, is
//! told `error: idle timeout` and disconnected.
//!
//! **The table** is `logs(id, level, message, created_at, run_id, seq)`, made if missing (an
//! older table gets the last two columns); `created_at` is when the line was accepted (UTC;
//! SQLite text, PostgreSQL `timestamptz`), and `(run_id, seq)` names the journal record it
//! came from. Each worker owns one connection, takes a line from the queue, then whatever
//! else is waiting up to `--batch` lines, and inserts them in one transaction on the blocking
//! pool. (So ids follow the order of the batches, not quite that of arrival: sort by
//! `created_at`.)
//!
//! # What it guarantees, and the test that proves each
//!
//! - **`ok` means durable.** A line is answered `ok` only once its record is in the journal
//!   (`--journal`, a folder, by default the SQLite file's name plus `.journal`) and the
//!   journal is fsynced: it survives `kill -9` of the process and a crash of the machine,
//!   whatever the database is doing. Lines that arrive while a write is on the disk share the
//!   next `fdatasync` (group commit), so the cost is one fsync per burst, not per line.
//!   The next start stores what the journal holds before it takes any new line.
//!   Tests: `example_log_collector::acknowledged_lines_survive_kill_9_with_the_database_locked`,
//!   `fault_log_collector::sigkill_at_seeded_random_points_with_the_database_free_or_locked_loses_no_acknowledged_line`.
//! - **Exactly once.** Each row keeps its record's `(run_id, seq)` under a unique index, and
//!   storing is `ON CONFLICT DO NOTHING`: a crash between a commit and the journal's cleanup,
//!   or during a replay, stores nothing twice.
//!   Tests: `example_log_collector::replaying_a_journal_already_stored_stores_nothing_twice`,
//!   `fault_log_collector::sigkill_during_replay_stores_each_line_once`.
//! - **Damage is found, poison is set aside.** Each record is framed with its length and two
//!   CRC-32s (`record.rs`). A torn tail (a write a crash cut short: never acknowledged) is
//!   dropped with a warning. Unreadable bytes, a record that does not decode (a `NaN` time),
//!   and a line the database refuses (a constraint) go to the `.rejected` file beside the
//!   journal (JSON, one a line), are counted as `set_aside`, and hold up nothing else.
//!   Tests: `example_log_collector::a_torn_journal_tail_is_dropped_and_the_rest_stored`,
//!   `example_log_collector::a_record_that_cannot_be_stored_is_set_aside_and_blocks_nothing`,
//!   `example_log_collector::a_line_the_database_refuses_is_set_aside_and_the_others_stored`,
//!   `fault_log_collector::poison_journals_of_every_shape_block_nothing`,
//!   `fault_log_collector::poison_lines_of_every_shape_are_answered_and_each_acknowledged_one_stored_once`.
//! - **Upgrading loses nothing.** The spill file a collector from before the journal left at
//!   its default place (`logs.db.spill`) is moved into the journal at start, then deleted;
//!   its lines that do not parse, and a last line cut short (which that format cannot tell
//!   from a short line), are set aside. Test:
//!   `example_log_collector::a_spill_file_from_before_the_journal_is_imported_and_its_cut_line_set_aside`.
//! - **A full disk, or a disk error at an fsync,** refuses lines (`error: cannot write the
//!   journal: ...`) instead of acknowledging them; the part of a write that went in (its
//!   fsync failed, or the write itself) is cut back off, so a refused line is never stored by
//!   a later start (the client sends it again: it would be there twice), and a record cut
//!   short is never stored as a line. `LOST` is said only of acknowledged lines truly lost
//!   (which, with the journal, cannot happen short of a broken disk).
//!   Tests: `fault_log_collector::a_full_disk_under_the_journal_refuses_lines_and_loses_no_acknowledged_one`,
//!   `fault_log_collector::an_fsync_that_fails_refuses_its_lines_and_the_next_start_stores_none_of_them`,
//!   `fault_log_collector::a_full_disk_under_the_database_is_waited_out_and_loses_nothing`,
//!   `fault_log_collector::a_full_disk_under_the_rejected_file_keeps_the_segment_and_blocks_nothing`.
//! - **The database file deleted or replaced while running** (`rm logs.db*`, a backup moved
//!   over it): SQLite would go on writing to the file it has open, which nobody will read,
//!   and the lines stored there would be as good as lost. After each commit a worker checks
//!   that the path still names that file; if not, it opens the path again (a new file, with
//!   the table) and stores the batch there. Test:
//!   `fault_log_collector::a_database_file_deleted_or_replaced_while_running_loses_no_acknowledged_line`.
//! - **Peers that never read or never send** are cut at `--idle-timeout-secs`, and the others
//!   are served meanwhile. Test:
//!   `fault_log_collector::peers_that_never_read_or_never_send_are_cut_and_others_served`.
//! - **The database is unavailable** (another process holds its write lock, the server is
//!   down, its disk is full): a worker retries its batch with a backoff (50 ms doubling to
//!   2 s; each attempt waits at most 3 s for a lock), saying so on standard error, for as long
//!   as it takes while the program runs; meanwhile the queue fills and new lines wait for
//!   their `ok`. Test: `example_log_collector::a_write_lock_held_past_the_busy_timeout_loses_no_acknowledged_line`.
//!   A start waits the same way, for as long as it takes, saying so when the wait begins,
//!   every 30 s, and when it ends: to open the database and make its table, then to store
//!   what the journal holds; only then does it listen. Ctrl-C meanwhile stops it (exit 1)
//!   with the journal kept. An error a wait cannot mend (a file that cannot be opened, one
//!   that is not a database, a password refused) fails the start at once, exit 1.
//!   Tests: `example_log_collector::a_start_waits_out_a_write_lock_then_stores_the_journal_first`,
//!   `example_log_collector::ctrl_c_while_a_start_waits_for_the_database_keeps_the_journal`,
//!   `example_log_collector::bad_arguments_exit_2_and_runtime_failures_exit_1`.
//! - **Stopping.** On Ctrl-C the listener closes (new clients are refused), every open
//!   connection is shut for reading, so each client's task answers the lines that had already
//!   reached us and then sees end of input. From then on a reply must be taken within 2 s, or
//!   that client is cut. `queue.join()` waits until every accepted line is stored, retrying for
//!   at most `--shutdown-timeout-secs` (default 10; an attempt under way then may take 3 s
//!   more); past that deadline the lines still unstored stay in the journal for the next start
//!   (`kept`), with a message on standard error. Then `queue.shutdown()` ends the workers and
//!   a summary is printed (`accepted: N stored: N ... kept: N lost: N replayed: N set_aside:
//!   N`). With `--stdin`, lines come from standard input instead (no replies) and its end
//!   stops the program the same way. A second Ctrl-C exits at once; what is unstored stays in
//!   the journal. The exit status is 1 if an accepted line was kept or lost.
//!   Tests: `example_log_collector::lines_still_unstored_at_the_shutdown_timeout_are_kept_and_the_next_start_stores_them`,
//!   `example_log_collector::a_second_ctrl_c_exits_at_once_and_keeps_what_is_unstored`.
//! - **SIGTERM** (what `kill`, `systemctl stop` and `docker stop` send) is not Ctrl-C:
//!   minirt listens for SIGINT only, so SIGTERM ends the process at once, as SIGKILL does.
//!   Nothing acknowledged is lost (the journal has it, and the next start stores it), but the
//!   lines that had arrived without their `ok` yet get none (a client that sends them again
//!   may have them stored twice), and no summary is printed. For a clean stop send SIGINT:
//!   `kill -INT`, systemd's `KillSignal=SIGINT`, `STOPSIGNAL SIGINT` in a Dockerfile. Test
//!   (SIGKILL, the same to the data): `fault_log_collector::sigkill_at_seeded_random_points_with_the_database_free_or_locked_loses_no_acknowledged_line`.
//! - **Nobody reads stdout or stderr**, or they are closed or full (`/dev/full`): nothing is
//!   printed with `println!`, which would stop every task until the reader catches up, or
//!   panic. Messages go through `minirt::io::stdout()` and `stderr()`, each waiting 1 s at
//!   most for room; the per-connection log (`PEER: why; closing`) never waits, and is dropped
//!   while stdout's buffer is full. Test:
//!   `fault_log_collector::stdout_and_stderr_closed_full_or_unread_at_every_exit_path`.
//! - `--db :memory:` (or `""`, or an in-memory URI) is refused: each worker would get its own
//!   private database, which is gone at exit. One collector at a time may use a journal (a
//!   `flock` on its `lock` file). Test:
//!   `example_log_collector::a_second_collector_on_the_same_journal_is_refused`.
//!
//! `--no-journal` brings back the behaviour before the journal, for comparison only: `ok`
//! once the line is queued, and the journal written only at exit, for the lines the database
//! did not take. An `ok` line is then lost to `kill -9`. Test:
//! `example_log_collector::without_the_journal_lines_unstored_at_the_shutdown_timeout_are_written_to_it_at_exit`;
//! the two modes side by side: `example_log_collector::throughput_with_the_journal_beside_ok_after_the_queue`
//! (a measurement, run by hand).
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

mod clients;
mod config;
mod db;
mod journal;
mod record;
mod store;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use minirt::sync::{Event, Queue};
use minirt::{JoinHandle, Runtime};

use config::{Config, USAGE, parse_args};
use journal::Journal;
use record::{Entry, Piece, Record, decode, parse_line, without_ending};

const OK: &str = "ok\n";
const TOO_LONG: &str = "error: line too long\n";
const EMPTY: &str = "error: empty line\n";
const SHUTTING_DOWN: &str = "error: shutting down\n";
const IDLE: &str = "error: idle timeout\n";

/// Once stopping, how long a client may take to read its replies before it is cut.
const STOPPING_WRITE_GRACE: Duration = Duration::from_secs(2);

// ---- The collector: the queue between connections and workers, and the counts. ----

struct Collector {
    queue: Queue<Record>,
    journal: Rc<Journal>,
    /// `false` with `--no-journal`: `ok` once queued.
    durable: bool,
    max_line: usize,
    idle_timeout: Duration,
    counts: Counts,
    shutdown_timeout: Duration,
    /// Set when stopping begins (Ctrl-C, or the end of standard input).
    stopping: Event,
    /// When stopping began; `None` while running.
    stopped_at: Cell<Option<Instant>>,
    /// The batches the workers have taken from the queue and not yet stored or kept, by
    /// worker: what a second Ctrl-C must save besides the queue.
    in_flight: RefCell<HashMap<usize, Arc<Vec<Record>>>>,
}

/// The summary's numbers. Lines are `accepted` (answered `ok`), then `stored`, `kept` (in the
/// journal, for the next start), `set_aside` (refused by the database) or `lost`. `rejected`
/// lines were answered an error for what they are, `refused` ones because the journal could
/// not be written. `replayed` lines came from an earlier run's journal (their set-aside
/// records count in `set_aside` too).
#[derive(Default)]
struct Counts {
    accepted: Cell<u64>,
    stored: Cell<u64>,
    rejected: Cell<u64>,
    lossy: Cell<u64>,
    refused: Cell<u64>,
    kept: Cell<u64>,
    lost: Cell<u64>,
    replayed: Cell<u64>,
    set_aside: Cell<u64>,
}

fn add(counter: &Cell<u64>, n: u64) {
    counter.set(counter.get() + n);
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (accepted, stored) = (self.accepted.get(), self.stored.get());
        let (rejected, lossy, refused) =
            (self.rejected.get(), self.lossy.get(), self.refused.get());
        let (kept, lost) = (self.kept.get(), self.lost.get());
        let (replayed, set_aside) = (self.replayed.get(), self.set_aside.get());
        write!(
            f,
            "accepted: {accepted} stored: {stored} rejected: {rejected} lossy: {lossy} \
             refused: {refused} kept: {kept} lost: {lost} replayed: {replayed} \
             set_aside: {set_aside}"
        )
    }
}

impl Collector {
    /// Takes lines (or lines found too long) and returns the reply to each, in order. The
    /// good ones go to the journal together (one fsync), then on the queue (waiting while it
    /// is full); only then are they answered `ok`.
    async fn take_lines(&self, pieces: Vec<Piece>) -> Vec<Cow<'static, str>> {
        let accepted_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut replies: Vec<Cow<'static, str>> = Vec::with_capacity(pieces.len());
        // Each good line: its reply's place, its entry, whether it was lossy.
        let mut good = Vec::new();
        for piece in pieces {
            let raw = match piece {
                Piece::Line(raw) if without_ending(&raw).len() <= self.max_line => raw,
                Piece::Line(_) | Piece::TooLong => {
                    replies.push(self.too_long().into());
                    continue;
                }
            };
            let (text, lossy) = decode(&raw);
            let Some((level, message)) = parse_line(&text) else {
                add(&self.counts.rejected, 1);
                replies.push(EMPTY.into());
                continue;
            };
            let message = message.to_owned();
            let entry = Entry {
                level,
                message,
                accepted_at,
            };
            good.push((replies.len(), entry, lossy));
            replies.push(OK.into());
        }
        if good.is_empty() {
            return replies;
        }
        let (run, seqs) = (
            self.journal.run(),
            self.journal.next_seqs(good.len() as u64),
        );
        let records: Vec<Record> = good
            .iter()
            .zip(seqs)
            .map(|((_, entry, _), seq)| Record {
                run,
                seq,
                entry: entry.clone(),
            })
            .collect();
        if self.durable
            && let Err(e) = self.journal.append(&records).await
        {
            add(&self.counts.refused, good.len() as u64);
            let reply: Cow<'static, str> = format!("error: {e}\n").into();
            for (i, _, _) in good {
                replies[i] = reply.clone();
            }
            return replies;
        }
        for (record, (i, _, lossy)) in records.into_iter().zip(good) {
            if self.queue.put(record).await.is_err() {
                replies[i] = SHUTTING_DOWN.into(); // only after `shutdown`, once clients ended
                continue;
            }
            add(&self.counts.accepted, 1);
            add(&self.counts.lossy, u64::from(lossy));
        }
        replies
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

    /// When the workers stop retrying and keep their batch for the next start instead;
    /// `None` while running.
    fn give_up_at(&self) -> Option<Instant> {
        Some(self.stopped_at.get()? + self.shutdown_timeout)
    }

    /// Resolves once stopping has begun and its grace for reading replies is over.
    async fn replies_cut(&self) {
        self.stopping.wait().await;
        let since = self.stopped_at.get().unwrap_or_else(Instant::now);
        minirt::time::sleep_until(since + STOPPING_WRITE_GRACE).await;
    }

    /// Leaves accepted records unstored for the next start: they are in the journal already
    /// (with `--no-journal`, they are written to it now). Counts them as kept, or, if even
    /// that write fails, as lost, and says which on standard error.
    async fn keep(&self, records: Vec<Record>, why: &str) {
        if records.is_empty() {
            return;
        }
        let count = records.len() as u64;
        let dir = self.journal.dir().display().to_string();
        if self.durable {
            add(&self.counts.kept, count);
            let what = format!("{count} accepted line(s) stay in the journal {dir}");
            return warn(&format!("{why}: {what}; the next start stores them")).await;
        }
        match self.journal.append(&records).await {
            Ok(()) => {
                add(&self.counts.kept, count);
                let what = format!("wrote {count} accepted line(s) to the journal {dir}");
                warn(&format!("{why}: {what}; the next start stores them")).await;
            }
            Err(e) => {
                add(&self.counts.lost, count);
                warn(&format!("{why}: LOST {count} accepted line(s): {e}")).await;
            }
        }
    }
}

// ---- The program. ----

/// Runs until Ctrl-C or the end of standard input, then stores every accepted line. `Err` if
/// it cannot start.
async fn collect(config: Config) -> Result<ExitCode, String> {
    let start = Instant::now();
    // Ctrl-C is heard from the very start: a start that waits for the database stops on it,
    // and one that comes before `listening on` is not missed.
    let interrupted = Rc::new(Event::new());
    let _hear = minirt::spawn(hear_ctrl_c(minirt::signal::ctrl_c(), interrupted.clone()));
    let opening = store::open(&config.target, config.workers);
    let Some(opened) = unless(&interrupted, opening).await else {
        return Err("Ctrl-C while waiting for the database: stopped before starting".to_owned());
    };
    let mut dbs = opened?;
    let (dir, durable) = (config.journal_dir(), config.durable);
    let locked = {
        let dir = dir.clone();
        minirt::spawn_blocking(move || journal::lock(&dir).map_err(|e| (dir, e)))
    };
    let journal = match locked.await {
        Ok(Ok(lock)) => Rc::new(Journal::new(&dir, journal::new_run_id(), durable, lock)),
        Ok(Err((dir, e))) => return Err(format!("cannot open the journal {}: {e}", dir.display())),
        Err(e) => return Err(format!("opening the journal failed: {e}")),
    };
    let listener = match &config.addr {
        Some(addr) => Some(
            minirt::net::TcpListener::bind(addr.as_str())
                .map_err(|e| format!("cannot listen on {addr:?}: {e}"))?,
        ),
        None => None,
    };
    let collector = Rc::new(Collector {
        queue: Queue::bounded(config.queue),
        journal: journal.clone(),
        durable,
        max_line: config.max_line,
        idle_timeout: config.idle_timeout,
        counts: Counts::default(),
        shutdown_timeout: config.shutdown_timeout,
        stopping: Event::new(),
        stopped_at: Cell::new(None),
        in_flight: RefCell::default(),
    });
    // What earlier runs could not store comes first, before any new line is accepted. A
    // spill file from before the journal joins it first.
    let (spill, dir) = (config.old_spill_path(), journal.dir().to_owned());
    let shown = spill.display().to_string();
    match minirt::spawn_blocking(move || journal::import_old_spill(&spill, &dir)).await {
        Ok(Ok(None)) => {}
        Ok(Ok(Some(imported))) => {
            add(&collector.counts.set_aside, imported.set_aside as u64);
            let (n, bad) = (imported.records, imported.set_aside);
            warn(&format!(
                "{shown}, a spill file from before the journal: {n} line(s) moved to the \
                 journal, {bad} set aside"
            ))
            .await;
        }
        Ok(Err(e)) => return Err(format!("cannot import {shown}: {e}; it is kept")),
        Err(e) => return Err(format!("importing {shown} failed: {e}")),
    }
    let Some((first, replayed)) =
        unless(&interrupted, store::replay(&collector, dbs.remove(0))).await
    else {
        let dir = journal.dir().display();
        return Err(format!(
            "Ctrl-C while storing what earlier runs left: stopped; the journal {dir} keeps it \
             for the next start"
        ));
    };
    let replayed = replayed?;
    add(&collector.counts.replayed, replayed.new);
    add(&collector.counts.set_aside, replayed.set_aside);
    if replayed.already > 0 {
        let n = replayed.already;
        warn(&format!(
            "{n} record(s) of the journal were stored already (a run stopped between storing \
             them and deleting them): not stored twice"
        ))
        .await;
    }
    dbs.insert(0, first);
    let committer = minirt::spawn(journal.clone().commit_groups());
    let workers: Vec<_> = dbs
        .into_iter()
        .enumerate()
        .map(|(id, db)| minirt::spawn(store::worker(collector.clone(), db, config.batch, id)))
        .collect();

    let conns = Rc::new(clients::Connections::default());
    let source = match listener {
        Some(listener) => {
            let local = listener
                .local_addr()
                .map_err(|e| format!("bound to what? {e}"))?;
            say(&format!("listening on {local}")).await;
            minirt::spawn(clients::accept_clients(
                listener,
                collector.clone(),
                conns.clone(),
            ))
        }
        None => minirt::spawn(clients::read_stdin(collector.clone())),
    };
    let why = wait_for_stop(source, &interrupted).await;
    // A second Ctrl-C, from here on, ends the wait below.
    let again = minirt::signal::ctrl_c();
    collector.begin_stopping();
    say(why).await;
    let finish = async {
        if config.addr.is_some() {
            clients::finish_connections(&conns).await;
        }
        collector.queue.join().await; // every accepted line is stored (or kept)
        true
    };
    let interrupted = async {
        let _ = again.await;
        false
    };
    if futures_lite::future::or(finish, interrupted).await {
        collector.queue.shutdown(); // the workers' `get` fails: they end
        minirt::join_all(workers).await;
        journal.close();
        let _ = committer.await;
        if !journal.finish().await {
            let dir = journal.dir().display();
            warn(&format!(
                "the journal {dir} keeps what is unstored, for the next start"
            ))
            .await;
        }
    } else {
        save_unstored(&collector).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    say(&format!("{} seconds: {seconds:.2}", collector.counts)).await;
    let unsaved = collector.counts.lost.get() + collector.counts.kept.get();
    Ok(if unsaved > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// After a second Ctrl-C: every accepted line not yet stored (queued, or in a worker's hands)
/// is kept for the next start (with `--no-journal`, written to the journal now), and standard
/// error says so. A batch that was committing just then is stored and kept: the next start
/// finds it stored already.
async fn save_unstored(collector: &Collector) {
    let mut unstored = Vec::new();
    for (_, batch) in collector.in_flight.borrow_mut().drain() {
        unstored.extend(batch.iter().cloned());
    }
    while let Ok(record) = collector.queue.get_nowait() {
        unstored.push(record);
    }
    if unstored.is_empty() {
        warn("second Ctrl-C: every accepted line was stored; exiting now").await;
        return;
    }
    collector.keep(unstored, "second Ctrl-C, exiting now").await;
}

/// Sets `interrupted` on the first Ctrl-C (or at once, if Ctrl-C cannot be watched).
async fn hear_ctrl_c(ctrl_c: minirt::signal::CtrlC, interrupted: Rc<Event>) {
    if let Err(e) = ctrl_c.await {
        warn(&format!("cannot watch for Ctrl-C ({e}); stopping")).await;
    }
    interrupted.set();
}

/// Runs `work` unless `interrupted` is set first: `None` then (`work` is dropped).
async fn unless<T>(interrupted: &Event, work: impl Future<Output = T>) -> Option<T> {
    let stopped = async {
        interrupted.wait().await;
        None
    };
    futures_lite::future::or(async { Some(work.await) }, stopped).await
}

/// Waits for Ctrl-C or for `source` to end by itself (end of input), then stops `source`.
/// Returns which it was, as the line to print.
async fn wait_for_stop(mut source: JoinHandle<()>, interrupted: &Event) -> &'static str {
    if unless(interrupted, &mut source).await.is_some() {
        return "end of input";
    }
    source.abort(); // the accept loop (closing the listener), or an unfinished stdin read
    let _ = source.await;
    "stopping"
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

/// Writes `text` to stdout (`false`) or stderr (`true`) through minirt's bounded buffer,
/// without waiting: `println!` panics on a full or closed stream, and blocks for ever on a
/// pipe nobody reads. `main` lets the buffers out, for a second at most, before it returns.
fn print_to(stderr: bool, text: &str) {
    let bytes = text.as_bytes();
    let _ = if stderr {
        minirt::io::stderr().try_write_all(bytes)
    } else {
        minirt::io::stdout().try_write_all(bytes)
    };
}

/// Says `message` on standard error, once the loop has stopped, and fails.
fn fail(message: &str) -> ExitCode {
    print_to(true, &format!("log_collector: {message}\n"));
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let code = run();
    // Let what is still in stdout's and stderr's buffers out, but do not hang on a reader
    // that stopped.
    minirt::io::flush_stdio(SAY_TIMEOUT);
    code
}

fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print_to(false, &format!("{USAGE}\n"));
        return ExitCode::SUCCESS;
    }
    let config = match parse_args(args.into_iter()) {
        Ok(config) => config,
        Err(message) => {
            print_to(true, &format!("log_collector: {message}\n{USAGE}\n"));
            return ExitCode::from(2);
        }
    };
    let runtime = match Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let outcome = runtime.block_on(collect(config));
    let code = outcome.unwrap_or_else(|message| fail(&message));
    // A read of standard input cut short by Ctrl-C may still block a pool thread: don't wait.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}
