//! Seed 000's entity-ID generator, done properly: a Snowflake-style generator that many tasks
//! share, served over TCP, with every ID it issues recorded in SQLite.
//!
//! An ID is a 64-bit integer laid out like Twitter's Snowflake (the top bit stays 0):
//!
//! ```text
//! | 41 bits: ms since 2024-01-01 UTC | 10 bits: node (--node) | 12 bits: sequence |
//! ```
//!
//! IDs from one node sort by creation time, nodes 0..=1023 never collide, and a node issues up
//! to 4,096 IDs per millisecond. When a millisecond's 4,096 are used up, the generator waits for
//! the next one with `minirt::sleep` (other tasks run meanwhile; nothing spins).
//!
//! The asyncio original faked the generator, so every request got the ID 1:
//!
//! ```python
//! async def generate_request_id():
//!     await asyncio.sleep(0.1)
//!     return 1
//! ```
//!
//! ```text
//! cargo run --example id_generator                  # 127.0.0.1:9000, node 0, ./ids.db
//! cargo run --example id_generator -- --node 7 --db /tmp/ids.db --addr 127.0.0.1:0
//! ```
//!
//! # Protocol
//!
//! One request per line, at most 64 bytes. The reply is one ID per line, in decimal:
//!
//! - `next`: one ID.
//! - `next N`: N IDs, 1 <= N <= 1000. They are consecutive integers: one millisecond, one node,
//!   N sequence numbers in a row.
//!
//! Anything else gets a single line `error: ...` and the connection goes on. A client that sends
//! nothing for `--idle-timeout-secs` (default 30), or does not read its replies for that long, is
//! disconnected.
//!
//! Try it by hand from another terminal: `nc 127.0.0.1 9000`, then type `next` or `next 5`. Or:
//!
//! ```text
//! python3 -c 'import socket; f = socket.create_connection(("127.0.0.1", 9000)).makefile("rw")
//! f.write("next 3\n"); f.flush(); print([f.readline() for _ in range(3)])'
//! sqlite3 ids.db 'SELECT id, node, peer, datetime(created_at / 1000, "unixepoch") FROM ids
//!   ORDER BY id DESC LIMIT 5'
//! ```
//!
//! # At the edges
//!
//! - **The clock goes backwards** (an NTP step, a VM migration): the generator keeps the last
//!   timestamp it used and goes on with that millisecond's unused sequence numbers; once they are
//!   used up it waits, asynchronously, until the clock passes that millisecond. So an ID is never
//!   smaller than one issued before it. If the clock is more than 5 s behind, it refuses
//!   (`error: clock is ... behind`) rather than make requests wait that long.
//! - **Recording, then replying**: each request's IDs go, as one batch, on a bounded queue (256
//!   batches) to one writer task, which stores up to 64 batches per SQLite transaction on the
//!   blocking pool. The reply goes out only once that transaction has committed: **an ID a
//!   client receives is always in the database.** While the queue is full, or the database is
//!   slow, requests wait (their replies are late, and TCP slows their clients down).
//! - **The database is unavailable** (another process holds its write lock for longer than the
//!   5 s busy timeout, the disk is full): the requests of that transaction get
//!   `error: cannot record IDs (...); try again`, their IDs are never handed out (they are
//!   skipped, never reused), and the next request tries the database again. A failed write
//!   never stops the generator. At start, a database locked past the busy timeout (so that
//!   the table cannot be made) or on a full disk is waited out, for as long as it takes, with
//!   a doubling backoff (50 ms to 2 s) and a message when the wait begins, every 30 s and when
//!   it ends; Ctrl-C meanwhile stops it (exit 1). Other errors (a file that cannot be opened,
//!   or is not a database) fail the start at once.
//! - **Restart**: the generator resumes after the largest ID of its node in the database, so a
//!   clock set back between runs does not repeat an ID.
//! - **Ctrl-C**: stop accepting and issuing, store every queued batch, print a summary
//!   (`issued: N stored: N unrecorded: N`), exit; with status 1 if some IDs could not be
//!   stored (none of those was handed out). A request still waiting for its transaction then
//!   may get no reply at all: a reply never precedes the record.
//! - **SIGTERM** (`kill`, `systemctl stop`, `docker stop`) is not Ctrl-C: minirt listens for
//!   SIGINT only, so SIGTERM ends the process at once, as SIGKILL does. No ID is lost or
//!   repeated (none is handed out before it is stored), but the requests in flight get no
//!   reply and no summary is printed. For a clean stop send SIGINT (`kill -INT`, systemd's
//!   `KillSignal=SIGINT`).
//! - **Nobody reads stdout** (a full pipe, a stopped pager): nothing is printed with
//!   `println!`, which would stop every task until the reader catches up. The per-connection
//!   log goes into `minirt::io::stdout()`'s bounded buffer without waiting, and is dropped
//!   (and counted, in the summary) while that buffer is full; the lines that matter (the
//!   address, the summary) wait for it, 1 s at most each.
//!
//! # What it guarantees, and the test that proves each
//!
//! - **An ID is handed out once, and only once it is stored**, whatever kills the process
//!   when (SIGKILL at any point, the database free or write-locked): no client ever receives
//!   an ID twice, or one the database does not hold. Tests:
//!   `example_id_generator::the_server_issues_unique_ids_over_tcp_and_records_exactly_those`,
//!   `example_id_generator::a_restart_on_the_same_database_goes_on_after_the_stored_ids`,
//!   `fault_id_generator::sigkill_at_seeded_random_points_with_the_database_free_or_locked_hands_out_no_id_twice`.
//! - **A database that cannot write** (locked past the busy timeout, a full disk) fails the
//!   requests of that transaction, hands out none of their IDs, and the server goes on.
//!   Tests: `example_id_generator::a_write_lock_past_the_busy_timeout_hands_out_no_unrecorded_id_and_the_server_goes_on`,
//!   `fault_id_generator::a_full_disk_under_the_database_hands_out_no_unrecorded_id_and_goes_on`,
//!   `fault_id_generator::an_fsync_that_fails_hands_out_none_of_its_ids_and_the_next_requests_are_served`.
//! - **The database file deleted or replaced while running** (`rm ids.db*`, a backup moved
//!   over it): SQLite refused every write to the file it had open ("attempt to write a
//!   readonly database"), so every request failed until a restart. After each transaction
//!   the writer checks that the path still names the file it opened; if not, it opens the
//!   path again (a new file, with the table) and stores the IDs there before any is handed
//!   out. Test:
//!   `fault_id_generator::a_database_file_deleted_or_replaced_while_running_hands_out_only_stored_ids`.
//! - **One generator per node and database.** A second one started on the same `--db` and
//!   `--node` is refused (exit 1): it would issue the same IDs in the same milliseconds, and
//!   the database's primary key would refuse one of each pair, failing those requests. The
//!   lock is an `flock` on `DB.node-N.lock`, let go when the process ends, however it ends.
//!   Test: `fault_id_generator::a_second_generator_on_the_same_database_and_node_is_refused`.
//! - **A start waits for a locked database** instead of failing, until Ctrl-C. Tests:
//!   `example_id_generator::a_start_waits_out_a_write_lock_then_serves`,
//!   `example_id_generator::ctrl_c_while_a_start_waits_for_the_database_stops_it`.
//! - **Bad requests and bad peers**: every malformed request gets `error: ...` and the
//!   connection goes on; a peer that never sends or never reads is cut at the idle timeout.
//!   Tests: `fault_id_generator::poison_requests_of_every_shape_get_an_error_and_the_connection_goes_on`,
//!   `fault_id_generator::peers_that_never_read_or_never_send_are_cut_and_others_served`.
//! - **Exits are paths too**: no exit path panics or hangs on a closed, full (`/dev/full`) or
//!   unread stdout or stderr. Test:
//!   `fault_id_generator::stdout_and_stderr_closed_full_or_unread_at_every_exit_path`.

use std::cell::Cell;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::ops::Range;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use minirt::io::BufReader;
use minirt::net::{TcpListener, TcpStream};
use minirt::sync::{Queue, Semaphore, oneshot};
use rusqlite::Connection;

use snowflake::{IdGenerator, MAX_NODE, Parts};

const USAGE: &str = "usage: id_generator [--addr ADDR] [--node 0..=1023] [--db PATH] \
                     [--idle-timeout-secs N]   (defaults: 127.0.0.1:9000, 0, ids.db, 30)";
/// The most IDs one `next N` may ask for.
const MAX_BATCH: u64 = 1000;
const LINE_LIMIT: usize = 64;
/// Batches waiting for the writer, at most: about 256 * 1000 * 8 bytes of IDs.
const QUEUE_BATCHES: usize = 256;
/// Batches stored per SQLite transaction, at most.
const BATCHES_PER_TRANSACTION: usize = 64;
/// How long a line that matters (the address, the summary) may wait for a slow reader of
/// stdout before it is given up.
const SAY_TIMEOUT: Duration = Duration::from_secs(1);

/// The library part: the generator alone, with no I/O but its clock. The test includes this
/// file and uses this module directly.
pub(crate) mod snowflake {
    use std::cell::Cell;
    use std::fmt;
    use std::ops::Range;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// The custom epoch, 2024-01-01T00:00:00Z, in ms since the Unix epoch. 41 bits of
    /// milliseconds last 69 years from there.
    pub(crate) const EPOCH_UNIX_MS: u64 = 1_704_067_200_000;
    pub(crate) const TIMESTAMP_BITS: u32 = 41;
    pub(crate) const NODE_BITS: u32 = 10;
    pub(crate) const SEQUENCE_BITS: u32 = 12;
    pub(crate) const MAX_NODE: u16 = (1 << NODE_BITS) - 1;
    /// How many IDs one node can issue in one millisecond.
    pub(crate) const IDS_PER_MS: u64 = 1 << SEQUENCE_BITS;
    pub(crate) const MAX_TIMESTAMP: u64 = (1 << TIMESTAMP_BITS) - 1;
    /// How far the clock may fall behind the last timestamp used before the generator refuses
    /// (instead of making every request wait that long).
    pub(crate) const MAX_CLOCK_BEHIND_MS: u64 = 5_000;

    /// A clock in ms since the Unix epoch. Injected, so that a test can turn it back.
    pub(crate) type Clock = Box<dyn Fn() -> u64>;

    /// The system's wall clock (0 if it is set before 1970).
    pub(crate) fn system_clock() -> u64 {
        let since_1970 = SystemTime::now().duration_since(UNIX_EPOCH);
        since_1970.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The three fields of an ID.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Parts {
        /// Milliseconds since [`EPOCH_UNIX_MS`].
        pub(crate) timestamp_ms: u64,
        pub(crate) node: u16,
        pub(crate) sequence: u64,
    }

    /// The ID made of these three fields.
    pub(crate) fn compose(timestamp_ms: u64, node: u16, sequence: u64) -> u64 {
        (timestamp_ms << (NODE_BITS + SEQUENCE_BITS))
            | (u64::from(node) << SEQUENCE_BITS)
            | sequence
    }

    impl Parts {
        pub(crate) fn of(id: u64) -> Parts {
            Parts {
                timestamp_ms: id >> (NODE_BITS + SEQUENCE_BITS),
                node: ((id >> SEQUENCE_BITS) & u64::from(MAX_NODE)) as u16,
                sequence: id & (IDS_PER_MS - 1),
            }
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum IdError {
        /// The clock is more than [`MAX_CLOCK_BEHIND_MS`] behind the last timestamp used.
        ClockBehind { by_ms: u64 },
        /// The clock is before the custom epoch, or past what 41 bits hold.
        ClockOutOfRange { unix_ms: u64 },
        /// [`IdGenerator::stop`] was called.
        Stopped,
    }

    impl fmt::Display for IdError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                IdError::ClockBehind { by_ms } => write!(f, "clock is {by_ms} ms behind the IDs"),
                IdError::ClockOutOfRange { unix_ms } => write!(f, "clock out of range: {unix_ms}"),
                IdError::Stopped => f.write_str("not issuing IDs: the server is stopping"),
            }
        }
    }

    /// Issues unique, increasing IDs to every task of one runtime.
    ///
    /// Why `Cell`s, and no atomics or lock: all of a minirt runtime's tasks run on its one
    /// thread, and a task gives the thread up only at an `.await`. `next_ids` reads and updates
    /// the fields with no `.await` in between, so no other task can ever see them half updated:
    /// each issue is atomic for free. The `Cell`s also make the generator `!Sync`, so the
    /// compiler refuses to share it with another thread, where that argument would not hold.
    pub(crate) struct IdGenerator {
        node: u16,
        clock: Clock,
        /// The timestamp of the last ID issued: never goes down, even when the clock does.
        last_ms: Cell<u64>,
        /// The next unused sequence number in `last_ms`; `IDS_PER_MS` when all are used.
        next_sequence: Cell<u64>,
        issued: Cell<u64>,
        stopped: Cell<bool>,
    }

    impl IdGenerator {
        /// # Panics
        /// If `node` is above [`MAX_NODE`]; callers validate it first.
        pub(crate) fn new(node: u16, clock: Clock) -> IdGenerator {
            assert!(
                node <= MAX_NODE,
                "node {node} does not fit in {NODE_BITS} bits"
            );
            IdGenerator {
                node,
                clock,
                last_ms: Cell::new(0),
                next_sequence: Cell::new(0),
                issued: Cell::new(0),
                stopped: Cell::new(false),
            }
        }

        /// Makes every later ID greater than `id`, one stored by an earlier run. Call it
        /// before the first ID.
        pub(crate) fn resume_after(&self, id: u64) {
            let stored = Parts::of(id);
            self.last_ms.set(stored.timestamp_ms);
            self.next_sequence.set(stored.sequence + 1);
        }

        #[allow(dead_code)] // the server asks for ranges; the tests ask for one ID at a time
        pub(crate) async fn next_id(&self) -> Result<u64, IdError> {
            Ok(self.next_ids(1).await?.start)
        }

        /// `count` IDs (1 to 4,096) from one millisecond: consecutive integers. If fewer than
        /// `count` are left in the current millisecond, they are skipped, so a batch is issued
        /// whole, in one step. Cancel-safe: dropped while it waits, it has issued nothing.
        ///
        /// # Panics
        /// If `count` is 0 or above [`IDS_PER_MS`].
        pub(crate) async fn next_ids(&self, count: u64) -> Result<Range<u64>, IdError> {
            assert!((1..=IDS_PER_MS).contains(&count), "bad batch size {count}");
            loop {
                if self.stopped.get() {
                    return Err(IdError::Stopped);
                }
                let now = self.now()?;
                let last = self.last_ms.get();
                if now > last {
                    self.last_ms.set(now);
                    self.next_sequence.set(0);
                } else if last - now > MAX_CLOCK_BEHIND_MS {
                    return Err(IdError::ClockBehind { by_ms: last - now });
                }
                // If `now < last_ms`, the clock went back: we stay in `last_ms`, whose unused
                // sequence numbers are still unique, and never use a smaller timestamp.
                let (ms, sequence) = (self.last_ms.get(), self.next_sequence.get());
                if sequence + count <= IDS_PER_MS {
                    self.next_sequence.set(sequence + count);
                    self.issued.set(self.issued.get() + count);
                    let first = compose(ms, self.node, sequence);
                    return Ok(first..first + count);
                }
                // `ms` is used up: wait until the clock should have passed it, then look again
                // (it may have moved anywhere meanwhile).
                minirt::sleep(Duration::from_millis(ms + 1 - now)).await;
            }
        }

        /// How many IDs have been issued.
        pub(crate) fn issued(&self) -> u64 {
            self.issued.get()
        }

        /// Refuses every later request with [`IdError::Stopped`].
        pub(crate) fn stop(&self) {
            self.stopped.set(true);
        }

        /// The clock, in ms since the custom epoch.
        fn now(&self) -> Result<u64, IdError> {
            let unix_ms = (self.clock)();
            match unix_ms.checked_sub(EPOCH_UNIX_MS) {
                Some(ms) if ms <= MAX_TIMESTAMP => Ok(ms),
                _ => Err(IdError::ClockOutOfRange { unix_ms }),
            }
        }
    }
}

// ---- The server: the generator, shared by the connections, and the writer behind them. ----

struct Config {
    addr: String,
    node: u16,
    db: String,
    idle_timeout: Duration,
}

/// The IDs of one request, on their way to the database.
struct Batch {
    ids: Range<u64>,
    peer: SocketAddr,
    /// Told whether the transaction holding this batch committed; the request waits for it.
    recorded: oneshot::Sender<Result<(), String>>,
}

/// What every connection task shares: one `Rc`, on the one thread.
struct Service {
    generator: IdGenerator,
    batches: Queue<Batch>,
    /// One permit per free place on `batches`, taken before a request gets its IDs and given
    /// back by the writer once the batch is stored.
    places: Semaphore,
    idle_timeout: Duration,
    /// Log lines that found stdout's buffer full, and were dropped.
    dropped_log_lines: Cell<u64>,
}

impl Service {
    /// Logs `line` to stdout if its buffer has room now, or drops it (and counts it): a
    /// connection never waits for its log line, however slowly stdout is read.
    fn log(&self, line: &str) {
        if let Err(e) = minirt::io::stdout().try_write_all(format!("{line}\n").as_bytes())
            && e.kind() == ErrorKind::WouldBlock
        {
            self.dropped_log_lines.set(self.dropped_log_lines.get() + 1);
        }
    }

    /// Issues `count` IDs to `peer`, queues them for the database, and returns them once they
    /// are stored. `Err` is the reply line's message: no ID of the batch is handed out then.
    async fn issue(&self, count: u64, peer: SocketAddr) -> Result<Range<u64>, String> {
        // Waits while the queue is full. Reserving first means that no `.await` comes between
        // issuing the IDs and queueing them.
        let place = self.places.acquire().await;
        let ids = self
            .generator
            .next_ids(count)
            .await
            .map_err(|e| e.to_string())?;
        // The writer gives the place back with `add_permits` once the batch is stored (a
        // `Permit` borrows its semaphore, so it cannot travel with the batch itself).
        place.forget();
        let (recorded, stored) = oneshot::channel();
        let batch = Batch {
            ids: ids.clone(),
            peer,
            recorded,
        };
        // Cannot fail: a place was reserved, and the queue shuts down only once the generator
        // is stopped.
        if self.batches.put_nowait(batch).is_err() {
            unreachable!("a reserved place on an open queue");
        }
        match stored.await {
            Ok(Ok(())) => Ok(ids),
            Ok(Err(e)) => Err(format!("cannot record IDs ({e}); try again")),
            Err(_writer_gone) => Err("not issuing IDs: the server is stopping".to_owned()),
        }
    }
}

fn main() -> ExitCode {
    let code = run();
    // Bytes still in stdout's and stderr's buffers when the program ends are lost: wait for
    // them, but not for ever if nobody reads.
    minirt::io::flush_stdio(SAY_TIMEOUT);
    code
}

fn run() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            print_to(false, &format!("{USAGE}\n"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            print_to(true, &format!("id_generator: {message}\n{USAGE}\n"));
            return ExitCode::from(2);
        }
    };
    minirt::run(run_server(config))
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

async fn run_server(config: Config) -> ExitCode {
    // Held until the program ends: one generator per node and database.
    let (db, node) = (config.db.clone(), config.node);
    let _node_lock = match minirt::spawn_blocking(move || lock_node(&db, node)).await {
        Ok(Ok(lock)) => lock,
        Ok(Err(e)) => {
            warn(&format!("id_generator: {e}"));
            return ExitCode::FAILURE;
        }
        Err(e) => {
            warn(&format!("id_generator: cannot lock node {node}: {e}"));
            return ExitCode::FAILURE;
        }
    };
    // Ctrl-C is heard from the start: a start that waits for a locked database stops on it,
    // and one sent on seeing `listening on` is never missed.
    let mut ctrl_c = minirt::signal::ctrl_c();
    let interrupted = async {
        let _ = (&mut ctrl_c).await;
        None
    };
    let opening = async { Some(open_database(&config.db, config.node).await) };
    let Some(opened) = futures_lite::future::or(opening, interrupted).await else {
        warn("id_generator: Ctrl-C while waiting for the database: stopped before starting");
        return ExitCode::FAILURE;
    };
    let (db, last_id) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            let text = format!(
                "id_generator: cannot open the database {:?}: {e}",
                config.db
            );
            warn(&text);
            return ExitCode::FAILURE;
        }
    };
    let (listener, local) = match bind(&config.addr) {
        Ok(bound) => bound,
        Err(e) => {
            let text = format!("id_generator: cannot listen on {:?}: {e}", config.addr);
            warn(&text);
            return ExitCode::FAILURE;
        }
    };
    let generator = IdGenerator::new(config.node, Box::new(snowflake::system_clock));
    if let Some(id) = last_id {
        generator.resume_after(id);
    }
    let service = Rc::new(Service {
        generator,
        batches: Queue::bounded(QUEUE_BATCHES),
        places: Semaphore::new(QUEUE_BATCHES),
        idle_timeout: config.idle_timeout,
        dropped_log_lines: Cell::new(0),
    });
    let writer = minirt::spawn(write_batches(db, service.clone(), config.node));
    let server = minirt::spawn(accept_loop(listener, service.clone()));
    let announce = format!(
        "node {}, recording into {}\nlistening on {local}",
        config.node, config.db
    );
    say(&announce).await;

    if let Err(e) = ctrl_c.await {
        warn(&format!(
            "id_generator: cannot watch for Ctrl-C ({e}); stopping"
        ));
    }
    say("stopping: storing the IDs still queued").await;
    server.abort();
    // Together, in one step: no request is between getting its IDs and queueing them.
    service.generator.stop();
    service.batches.shutdown();
    let stored = writer.await.unwrap_or(0); // the writer only ends once the queue is drained
    let issued = service.generator.issued();
    let unrecorded = issued - stored;
    let mut summary = format!(
        "issued: {issued} stored: {stored} unrecorded: {unrecorded} database: {}",
        config.db
    );
    match service.dropped_log_lines.get() {
        0 => {}
        n => summary.push_str(&format!(
            "\n{n} log lines dropped: stdout was not keeping up"
        )),
    }
    say(&summary).await;
    if stored == issued {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Writes `text` and a newline to stdout, waiting while its buffer is full, but for
/// [`SAY_TIMEOUT`] at most: for the lines that matter. A task waits here, not the loop, as it
/// would in `println!`. Errors are ignored: with stdout closed there is nobody to tell.
async fn say(text: &str) {
    let _ = minirt::timeout(SAY_TIMEOUT, minirt::io::stdout().write_line(text)).await;
}

/// Writes a warning to stderr if its buffer has room now, or drops it: the task that warns
/// (the writer of the database, the accept loop) must not wait for a slow reader of stderr.
/// (`main` waits for what is left in the buffer before the program ends.)
fn warn(text: &str) {
    let _ = minirt::io::stderr().try_write_all(format!("{text}\n").as_bytes());
}

fn bind(addr: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

async fn accept_loop(listener: TcpListener, service: Rc<Service>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => drop(minirt::spawn(serve_client(stream, peer, service.clone()))),
            // Out of file descriptors, or a connection that died in the backlog: pause, so
            // that a listener that stays readable is not retried in a tight loop.
            Err(e) => {
                warn(&format!("accept failed: {e}; retrying in 100 ms"));
                minirt::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Answers one client's requests until it closes, goes quiet, or stops reading.
async fn serve_client(stream: TcpStream, peer: SocketAddr, service: Rc<Service>) {
    service.log(&format!("{peer} connected"));
    let mut reader = BufReader::with_limit(stream, LINE_LIMIT);
    let mut line = String::new();
    let idle = service.idle_timeout;
    let why = loop {
        line.clear();
        let reply = match minirt::timeout(idle, reader.read_line(&mut line)).await {
            Err(_elapsed) => break format!("idle for {idle:?}"),
            Ok(Ok(0)) => break "closed by the client".to_string(),
            Ok(Ok(_)) => match parse_request(&line) {
                Ok(count) => match service.issue(count, peer).await {
                    Ok(ids) => ids.map(|id| format!("{id}\n")).collect(),
                    // A reply only ever follows the commit: these IDs were never handed out.
                    Err(e) => format!("error: {e}\n"),
                },
                Err(e) => format!("error: {e}\n"),
            },
            Ok(Err(e)) if e.kind() == ErrorKind::InvalidData => format!("error: {e}\n"),
            Ok(Err(e)) => break e.to_string(),
        };
        let write = reader.get_mut().write_all(reply.as_bytes());
        match minirt::timeout(idle, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => break e.to_string(),
            Err(_elapsed) => break format!("not reading its replies for {idle:?}"),
        }
    };
    service.log(&format!("{peer} disconnected: {why}"));
}

/// `next` is one ID, `next N` is N of them.
fn parse_request(line: &str) -> Result<u64, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["next"] => Ok(1),
        ["next", n] => match n.parse() {
            Ok(n) if (1..=MAX_BATCH).contains(&n) => Ok(n),
            _ => Err(format!("batch size must be 1 to {MAX_BATCH}, not {n:?}")),
        },
        _ => Err(format!(
            "unknown request {:?}; send `next` or `next N`",
            line.trim_end()
        )),
    }
}

// ---- The database: one writer task, and the blocking calls it makes on the pool. ----

/// Each write runs on some pool thread. Only the writer task uses the connection, so the lock
/// is never contended: it is what lets an `Arc` share a `Connection` (`Send`, not `Sync`).
type Db = Arc<Mutex<Store>>;

/// The connection, and the file it opened.
struct Store {
    conn: Connection,
    path: String,
    /// The file's device and inode, checked after each commit (see [`insert`]); `None` when
    /// the path cannot be looked at (a `file:` URI).
    file: Option<(u64, u64)>,
}

fn file_id(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

impl Store {
    /// Opens (or creates) the database at `path`, with its table.
    fn open(path: &str) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        // Another process may lock the file for a while (a `sqlite3` shell): wait for it, up
        // to a point. Past that, the write fails, and its requests are told to try again.
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS ids (
                id INTEGER PRIMARY KEY, node INTEGER NOT NULL,
                peer TEXT NOT NULL, created_at INTEGER NOT NULL)",
        )?;
        let file = file_id(path);
        let path = path.to_owned();
        Ok(Store { conn, path, file })
    }
}

/// Takes node `node` of database `db` for this process: an exclusive `flock` on the file
/// `DB.node-N.lock`, held while the returned file stays open (the kernel lets it go when the
/// process ends, however it ends). A second generator on the same node and database would
/// issue the same IDs in the same milliseconds: the database's primary key would refuse one
/// of each pair, and that generator's requests would fail. Blocks: run it on the pool.
fn lock_node(db: &str, node: u16) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    let path = format!("{db}.node-{node}.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the database {db:?}: its lock file {path:?}: {e}"))?;
    // SAFETY: `flock` only reads its arguments; `lock` owns the descriptor and outlives the
    // call.
    let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == ErrorKind::WouldBlock {
            return Err(format!(
                "another id_generator is issuing node {node}'s IDs into {db:?} (it holds \
                 {path:?}): give this one another --node"
            ));
        }
        return Err(format!("cannot lock {path:?}: {e}"));
    }
    Ok(lock)
}

/// While a start waits for the database, a reminder this often.
const REMIND_EVERY: Duration = Duration::from_secs(30);

/// Opens (or creates) the database, and finds the largest ID this node stored before. Waits
/// out, for as long as it takes, another process's write lock (past the busy timeout) and a
/// full disk, with a doubling backoff (50 ms to 2 s), saying so when the wait begins, every
/// [`REMIND_EVERY`], and when it ends. Any other error ends the start.
async fn open_database(path: &str, node: u16) -> Result<(Db, Option<u64>), String> {
    let mut backoff = Duration::from_millis(50);
    let mut out: Option<(std::time::Instant, std::time::Instant)> = None;
    loop {
        let error = match open_once(path, node).await {
            Ok(opened) => {
                if let Some((since, _)) = out {
                    let waited = since.elapsed();
                    warn(&format!(
                        "id_generator: the database is available after {waited:.1?}: starting"
                    ));
                }
                return Ok(opened);
            }
            Err(e) if waited_out(&e) => e,
            Err(e) => return Err(e.to_string()),
        };
        let now = std::time::Instant::now();
        match out {
            None => {
                out = Some((now, now));
                warn(&format!(
                    "id_generator: cannot open the database {path:?} yet ({error}): waiting for \
                     it (Ctrl-C to stop)"
                ));
            }
            Some((since, told)) if now - told >= REMIND_EVERY => {
                out = Some((since, now));
                let waited = now - since;
                warn(&format!(
                    "id_generator: still waiting for the database after {waited:.0?} ({error})"
                ));
            }
            Some(_) => {}
        }
        minirt::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Whether a start waits `error` out: the database is locked by another process, or its
/// disk is full. (A file that cannot be opened, or is not a database, needs the user.)
fn waited_out(error: &OpenError) -> bool {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked, DiskFull};
    let OpenError::Sqlite(e) = error else {
        return false;
    };
    matches!(
        e.sqlite_error_code(),
        Some(DatabaseBusy | DatabaseLocked | DiskFull)
    )
}

/// Why one attempt to open the database failed.
enum OpenError {
    Sqlite(rusqlite::Error),
    Pool(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Sqlite(e) => e.fmt(f),
            OpenError::Pool(e) => f.write_str(e),
        }
    }
}

/// One attempt of [`open_database`], on the blocking pool.
async fn open_once(path: &str, node: u16) -> Result<(Db, Option<u64>), OpenError> {
    let path = path.to_string();
    let opened = minirt::spawn_blocking(move || -> rusqlite::Result<_> {
        let store = Store::open(&path)?;
        let last: Option<i64> =
            store
                .conn
                .query_row("SELECT max(id) FROM ids WHERE node = ?1", [node], |row| {
                    row.get(0)
                })?;
        Ok((Arc::new(Mutex::new(store)), last.map(|id| id as u64)))
    });
    let opened = opened.await.map_err(|e| OpenError::Pool(e.to_string()))?;
    opened.map_err(OpenError::Sqlite)
}

/// Stores batches until the queue is shut down and empty, and tells each batch's request how
/// that went. Returns how many rows it stored.
async fn write_batches(db: Db, service: Rc<Service>, node: u16) -> u64 {
    let mut stored = 0;
    while let Ok(first) = service.batches.get().await {
        let mut batches = vec![first];
        while batches.len() < BATCHES_PER_TRANSACTION {
            match service.batches.get_nowait() {
                Ok(batch) => batches.push(batch),
                Err(_) => break,
            }
        }
        let taken = batches.len();
        // The IDs go to the pool thread; the senders stay here, to answer once it is done.
        let (ids, waiting): (Vec<_>, Vec<_>) = batches
            .into_iter()
            .map(|b| ((b.ids, b.peer), b.recorded))
            .unzip();
        let db = db.clone();
        let job = minirt::spawn_blocking(move || insert(&db, node, &ids));
        let outcome = match job.await {
            Ok(inserted) => inserted.map_err(|e| e.to_string()),
            Err(join_error) => Err(join_error.to_string()),
        };
        if let Ok((_, Some(path))) = &outcome {
            warn(&format!(
                "id_generator: the database file {path} was deleted or replaced while open: \
                 opened it again (a new file), and stored the IDs there"
            ));
        }
        let outcome = outcome.map(|(rows, _)| rows);
        match &outcome {
            Ok(rows) => stored += rows,
            // Not fatal: these requests are told, and the next transaction tries again.
            Err(e) => warn(&format!(
                "id_generator: cannot store {taken} batch(es) of IDs: {e}"
            )),
        }
        for recorded in waiting {
            // A client that left meanwhile no longer listens: nothing to do.
            let _ = recorded.set_result(outcome.as_ref().map(|_| ()).map_err(Clone::clone));
        }
        service.places.add_permits(taken);
    }
    stored
}

/// Inserts the rows of `batches` in one transaction, then checks that the path still names
/// the file written. A file deleted or replaced while open (`rm ids.db`, a backup moved over
/// it) is one nobody will read: SQLite refuses to write it ("attempt to write a readonly
/// database", for ever), or, were it to take the rows, they would be lost with it. Then the
/// database is opened again at the path (a new file, with the table) and the rows inserted
/// there, before any is handed out. Returns the rows stored, and the path if it was opened
/// again. Runs on the blocking pool.
fn insert(
    db: &Db,
    node: u16,
    batches: &[(Range<u64>, SocketAddr)],
) -> rusqlite::Result<(u64, Option<String>)> {
    let mut store = db.lock().unwrap_or_else(PoisonError::into_inner);
    let inserted = insert_once(&mut store.conn, node, batches);
    if store.file.is_none() || file_id(&store.path) == store.file {
        return inserted.map(|rows| (rows, None));
    }
    let path = store.path.clone();
    *store = Store::open(&path)?;
    Ok((insert_once(&mut store.conn, node, batches)?, Some(path)))
}

fn insert_once(
    conn: &mut Connection,
    node: u16,
    batches: &[(Range<u64>, SocketAddr)],
) -> rusqlite::Result<u64> {
    let transaction = conn.transaction()?;
    let mut rows = 0;
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO ids (id, node, peer, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (ids, peer) in batches {
            let peer = peer.to_string();
            for id in ids.clone() {
                let created_at = snowflake::EPOCH_UNIX_MS + Parts::of(id).timestamp_ms;
                // IDs use 63 bits, so they fit SQLite's signed 64-bit integers.
                statement.execute((id as i64, node, &peer, created_at as i64))?;
                rows += 1;
            }
        }
    }
    transaction.commit()?;
    Ok(rows)
}

// ---- Command line. ----

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut config = Config {
        addr: "127.0.0.1:9000".to_string(),
        node: 0,
        db: "ids.db".to_string(),
        idle_timeout: Duration::from_secs(30),
    };
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = match flag.as_str() {
            "--addr" | "--node" | "--db" | "--idle-timeout-secs" => args.next(),
            _ => return Err(format!("unexpected argument {flag:?}")),
        };
        let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => config.addr = value,
            "--db" => config.db = value,
            "--node" => config.node = parse_number(&flag, &value, 0, MAX_NODE.into())? as u16,
            _ => config.idle_timeout = Duration::from_secs(parse_number(&flag, &value, 1, 86_400)?),
        }
    }
    Ok(Some(config))
}

fn parse_number(flag: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    match value.parse() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} wants a whole number from {min} to {max}, not {value:?}"
        )),
    }
}
