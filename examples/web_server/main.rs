//! Seed 001's aiohttp server on minirt: `GET /` says hello, `POST /db` runs a list of SQL queries
//! concurrently (asyncio's `gather`) against a real SQLite database and answers with their rows.
//!
//! It shows HTTP/1.1 keep-alive and pipelining over one `TcpStream` (requests parsed with
//! `httparse`), `minirt::sleep` as the simulated work, `join_all` as `gather`, blocking SQLite
//! calls on the blocking pool (`spawn_blocking`), a fair connection pool built on `oneshot`
//! channels, `timeout` for idle clients and runaway queries, a cap on open connections, and
//! Ctrl-C.
//!
//! The aiohttp original, tidied up:
//!
//! ```python
//! async def handle(request):
//!     await asyncio.sleep(1)                      # simulated work
//!     return web.Response(text='Hello, World')
//!
//! async def db_handler(request):
//!     queries = (await request.json())['queries']
//!     results = await asyncio.gather(*(db_query(q) for q in queries))
//!     return web.Response(text=str(results))
//!
//! app.add_routes([web.get('/', handle), web.post('/db', db_handler)])
//! ```
//!
//! ```text
//! cargo run --example web_server                      # listens on 127.0.0.1:8080
//! cargo run --example web_server -- --delay-ms 1000   # the seed's 1 s of simulated work
//! cargo run --example web_server -- --addr 127.0.0.1:0 --db /tmp/web.db --idle-timeout-secs 5
//! cargo run --release --example web_server -- --threads 2   # one runtime per thread
//! ```
//!
//! With `--threads N`, N threads (`minirt::ThreadPerCore`) each run this same server: their own
//! runtime, their own `SO_REUSEPORT` listener on the one address (the kernel spreads the
//! connections), their own database pool on the shared database, and their own summary,
//! printed on Ctrl-C, which every thread hears. No task moves between threads. Another
//! process already listening on the address is an error (exit 1), as without `--threads`:
//! `SO_REUSEPORT` alone would let a second server (a second run, an old version, one on
//! another `--db`) take a share of the clients without a word. Test:
//! `example_web_server::with_threads_a_second_server_on_the_same_address_is_refused`.
//!
//! Try it by hand from another terminal:
//!
//! ```text
//! curl -i http://127.0.0.1:8080/
//! curl -d '{"queries": ["SELECT name, city FROM users WHERE age > 30", "SELECT count(*) FROM users",
//!          "SELECT * FROM nowhere"]}' http://127.0.0.1:8080/db
//! printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | nc 127.0.0.1 8080
//! wrk -t1 -c50 -d5s http://127.0.0.1:8080/
//! sqlite3 /tmp/web.db 'SELECT * FROM users'           # after a run with --db /tmp/web.db
//! ```
//!
//! `POST /db` answers a JSON list with one entry per query, in input order: the query's rows as
//! arrays of values, or `{"error": "..."}` for a query that failed (the others still run). The
//! database starts with a sample `users` table; queries run on read-only connections.
//!
//! The files: `main.rs` (this: connections, the handlers, the database) and `request.rs`
//! (what a request's bytes mean, and the answers: pure, and fuzzed by
//! `fuzz/fuzz_targets/http_request.rs`).
//!
//! Limits, so that no client can hold memory or a connection for long: a request head of at
//! most 16 KiB (431), a body of at most `--max-body` bytes (413, answered before the body is
//! read when it has a `Content-Length`; chunked bodies are decoded, within the same limit),
//! 16 queries per request, 1,000 rows and 256 KiB per query, and `--idle-timeout-secs` to send
//! each whole request and to take each answer. An HTTP/1.1 request without `Host` is 400
//! (RFC 9112); so is a query holding a NUL byte (SQLite would quietly run only the part
//! before it). `request.rs` lists every refusal.
//!
//! # What it guarantees, and the test that proves each
//!
//! - **Bad input is answered, never fatal**: every malformed, oversized, ambiguous or hostile
//!   request gets its 4xx/5xx and the server goes on. Tests:
//!   `example_web_server::each_bad_request_gets_its_4xx_and_the_server_goes_on`,
//!   `example_web_server::host_is_required_and_a_nul_in_a_query_is_refused`,
//!   `example_web_server::chunked_bodies_are_decoded_within_the_limit`,
//!   `fault_web_server::poison_requests_of_every_shape_are_answered_and_the_server_goes_on`,
//!   and the fuzz target `http_request`.
//! - **No peer holds the server**: a client that never sends, sends slowly, or never reads
//!   its answers is cut at `--idle-timeout-secs`. Tests:
//!   `example_web_server::silent_and_slow_clients_are_closed_after_the_idle_timeout`,
//!   `fault_web_server::peers_that_never_read_or_never_send_are_cut_and_others_served`.
//! - **It writes nothing it needs**: its only file is the database, read-only after the
//!   sample data; `kill -9` at any point leaves a database the next start opens, and a full
//!   disk at start is a clear error (exit 1). Tests:
//!   `fault_web_server::sigkill_at_seeded_random_points_then_restart_serves_the_same_data`,
//!   `fault_web_server::a_full_disk_at_start_is_an_error_not_a_panic`.
//! - **Exits are paths too**: no exit path panics or hangs on a closed, full (`/dev/full`)
//!   or unread stdout or stderr. Test:
//!   `fault_web_server::stdout_and_stderr_closed_full_or_unread_at_every_exit_path`.
//! - **A database another process has locked** (a `sqlite3` shell in `BEGIN IMMEDIATE` or
//!   `EXCLUSIVE`) is waited out at start, for as long as it takes (a doubling backoff, 50 ms
//!   to 2 s; a message when the wait begins, every 30 s, and when it ends; Ctrl-C stops it,
//!   exit 1). (A full disk, which no other process will mend, stays an error, above.) The
//!   readers only read, so a write lock does not stop them;
//!   a lock that keeps readers out (`EXCLUSIVE`, a commit) is waited for 1 s, within the
//!   query's 2 s, and then answered `{"error": "database is locked"}`: the reader is free
//!   again at once. Test:
//!   `example_web_server::a_start_waits_out_a_locked_database_and_a_query_meeting_a_lock_is_told_so`.
//!
//! **What `POST /db` guarantees the other clients**:
//!
//! - **A query answers by its deadline.** Each query has 2 s. A progress handler stops it
//!   between SQLite's steps, and the answer (`{"error": "stopped after 2s ..."}`) goes out at
//!   the deadline even if SQLite is still inside one step; that reader rejoins the pool once
//!   the step ends.
//! - **One step is cheap.** What SQLite cannot interrupt is one function call, such as a
//!   `LIKE` over a long string (its cost is the string's length times the pattern's). So a
//!   value may be at most 64 KiB, and a `LIKE`/`GLOB` pattern at most 256 bytes: a step costs
//!   milliseconds, not minutes.
//! - **The readers are shared fairly.** There are 4 read-only connections. When one is free,
//!   it goes to the waiting query whose client (TCP connection) holds the fewest readers, the
//!   earliest among equals: a client that fires many slow queries holds at most its share,
//!   and another client's `SELECT 1` gets the next free reader. A query that waits 10 s for
//!   a reader is answered `{"error": "every database connection is busy ..."}`.
//! - **Only reads.** An authorizer allows reading tables and calling functions, and nothing
//!   else: no `PRAGMA` (which would change a pooled connection for everyone:
//!   `hard_heap_limit`, `case_sensitive_like`, `reverse_unordered_selects`), no `ATTACH`, no
//!   transaction, no write. Those get `{"error": "only statements that read are allowed"}`.
//!
//! **Connections.** Past `--max-connections` open connections a new client is still accepted:
//! the oldest keep-alive connection idle between requests is closed to make room (clients
//! expect that of keep-alive, and reconnect), or, if none is idle, the new client is answered
//! `503` with `Connection: close` at once, rather than left waiting in the kernel's backlog.
//!
//! `--db :memory:` (or `--db ""`) is the default in-memory database, shared by every
//! connection of the process.
//!
//! **SIGTERM** (`kill`, `systemctl stop`) is not Ctrl-C: minirt listens for SIGINT only, so
//! SIGTERM ends the server at once, as SIGKILL does. It holds nothing to lose: the open
//! connections are reset, and no summary is printed. Send SIGINT for the summary.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use minirt::net::{TcpListener, TcpStream};
use minirt::sync::oneshot;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, InterruptHandle, OpenFlags};
use serde_json::{Value, json};

mod request;

use request::{Framing, Head, Response, reason};

const USAGE: &str = "usage: web_server [--addr ADDR] [--delay-ms MS] [--max-body BYTES] \
                     [--idle-timeout-secs SECS] [--max-connections N] [--db FILE] [--threads N]";

/// How much one read from a socket asks for.
const READ_CHUNK: usize = 8 * 1024;
/// Answers to pipelined requests are gathered and sent in one write, up to this much.
const FLUSH_AT: usize = 64 * 1024;
/// After a refused request, how long and how much we read and throw away before closing.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;

const MAX_QUERIES: usize = 16;
const MAX_ROWS: usize = 1000;
const MAX_RESULT_BYTES: usize = 256 * 1024;
/// The longest string or blob a query may make: what one function call can be asked to chew.
const MAX_VALUE_BYTES: i32 = 64 * 1024;
/// The longest `LIKE` or `GLOB` pattern. A `LIKE` costs up to value length times this.
const MAX_LIKE_PATTERN: i32 = 256;
const QUERY_TIME_LIMIT: Duration = Duration::from_secs(2);
/// How long a query waits for a lock another process holds on the database (a writer's
/// commit), within its time limit; past that it answers `database is locked`.
const READER_BUSY_TIMEOUT: Duration = Duration::from_secs(1);
/// How often (in SQLite virtual machine instructions) a query checks its deadline.
const PROGRESS_EVERY: i32 = 1000;
/// How long a query may wait for a free reader.
const READER_WAIT_LIMIT: Duration = Duration::from_secs(10);
/// After a `503`, how long the refused client has to take it.
const REFUSE_TIME: Duration = Duration::from_secs(2);
/// Read-only connections, and so queries running at once.
const DB_READERS: usize = 4;
/// Without `--db` (or with `--db :memory:`), one in-memory database that every connection of
/// this process shares.
const MEMORY_DB: &str = "file:web_server?mode=memory&cache=shared";

#[derive(Clone)]
struct Config {
    addr: String,
    /// `--threads`: 1 runs the server on this thread, more on a `ThreadPerCore`.
    threads: usize,
    delay: Duration,
    max_body: usize,
    idle_timeout: Duration,
    max_connections: usize,
    db_file: Option<String>,
}

fn main() -> ExitCode {
    let code = run();
    // Let what is still in stdout's and stderr's buffers out, but do not hang on a reader
    // that stopped.
    minirt::io::flush_stdio(Duration::from_secs(1));
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
            print_to(true, &format!("web_server: {message}\n{USAGE}\n"));
            return ExitCode::from(2);
        }
    };
    if config.threads > 1 {
        run_threads(config)
    } else {
        match minirt::Runtime::new() {
            Ok(runtime) => {
                let code = runtime.block_on(run_server(config, Place::Alone));
                // A query still running at Ctrl-C holds a pool thread; do not let it hold up
                // the exit.
                runtime.shutdown_timeout(Duration::from_secs(1));
                code
            }
            Err(e) => fail(format!("cannot start the runtime: {e}")),
        }
    }
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

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut config = Config {
        addr: "127.0.0.1:8080".to_owned(),
        threads: 1,
        delay: Duration::ZERO,
        max_body: 1 << 20,
        idle_timeout: Duration::from_secs(10),
        max_connections: 512,
        db_file: None,
    };
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let Some(value) = args.next() else {
            return Err(format!(
                "unexpected argument {flag:?}, or a flag with no value"
            ));
        };
        let number = |max: u64| match value.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!(
                "{flag} wants a whole number up to {max}, not {value:?}"
            )),
        };
        match flag.as_str() {
            "--addr" => config.addr = value,
            "--delay-ms" => config.delay = Duration::from_millis(number(60_000)?),
            "--max-body" => config.max_body = number(1 << 30)? as usize,
            "--idle-timeout-secs" => config.idle_timeout = Duration::from_secs(number(3600)?),
            "--max-connections" => config.max_connections = number(100_000)? as usize,
            // SQLite's own names for a private in-memory database: ours is shared instead.
            "--db" if value.is_empty() || value == ":memory:" => config.db_file = None,
            "--db" => config.db_file = Some(value),
            "--threads" => config.threads = number(1024)? as usize,
            _ => return Err(format!("unexpected argument {flag:?}")),
        }
    }
    if config.idle_timeout.is_zero() || config.max_connections == 0 || config.threads == 0 {
        return Err(
            "--idle-timeout-secs, --max-connections and --threads must be at least 1".to_owned(),
        );
    }
    Ok(Some(config))
}

/// `--threads N`: the same server on N threads, a runtime each. Thread 0 binds `--addr` first
/// (so that port 0 picks one port for all) and tells the others where; it announces the
/// address once they all listen and watch for Ctrl-C.
fn run_threads(config: Config) -> ExitCode {
    let mut first = Vec::new();
    let mut followers = Vec::new();
    for _ in 1..config.threads {
        let (addr_tx, addr_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        first.push((addr_tx, ready_rx));
        followers.push(Some((addr_rx, ready_tx)));
    }
    let first = Mutex::new(Some(first));
    let followers = Mutex::new(followers);
    let pool = minirt::ThreadPerCore::new(config.threads).run(|shard| {
        let place = match shard.index() {
            0 => Place::First(first.lock().unwrap().take().unwrap()),
            i => {
                let (addr, ready) = followers.lock().unwrap()[i - 1].take().unwrap();
                Place::Follower(i, addr, ready)
            }
        };
        run_server(config.clone(), place)
    });
    match pool {
        Ok(outcomes) if outcomes.iter().all(|o| matches!(o, Ok(ExitCode::SUCCESS))) => {
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::FAILURE,
        Err(e) => fail(format!("cannot start the threads: {e}")),
    }
}

/// Where a server's listener comes from, with `--threads`.
enum Place {
    /// One thread: bind `--addr` as it is.
    Alone,
    /// Thread 0 of several: bind with `SO_REUSEPORT`, send each other thread the address,
    /// and wait until each says it is ready.
    First(Vec<(oneshot::Sender<SocketAddr>, oneshot::Receiver<()>)>),
    /// Thread `i` of several: bind with `SO_REUSEPORT` where thread 0 did, then say so.
    Follower(usize, oneshot::Receiver<SocketAddr>, oneshot::Sender<()>),
}

impl Place {
    async fn listen(self, addr: &str) -> io::Result<TcpListener> {
        match self {
            Place::Alone => TcpListener::bind(addr),
            Place::First(followers) => {
                let addr: SocketAddr = addr.parse().map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("with --threads: {e}"))
                })?;
                let listener = bind_first(addr)?;
                let bound = listener.local_addr()?;
                let mut ready = Vec::new();
                for (tell, answer) in followers {
                    let _ = tell.set_result(bound);
                    ready.push(answer);
                }
                for answer in ready {
                    answer
                        .await
                        .map_err(|_| io::Error::other("another thread could not listen"))?;
                }
                Ok(listener)
            }
            Place::Follower(_, first, ready) => {
                let bound = first
                    .await
                    .map_err(|_| io::Error::other("thread 0 could not listen"))?;
                let listener = TcpListener::bind_reuse_port(bound)?;
                let _ = ready.set_result(());
                Ok(listener)
            }
        }
    }

    /// Only one thread says where it listens: the others listen there too.
    fn announces(&self) -> bool {
        !matches!(self, Place::Follower(..))
    }

    /// The thread's name in the summary, when there are several.
    fn label(&self) -> String {
        match self {
            Place::Alone => String::new(),
            Place::First(_) => " [thread 0]".to_owned(),
            Place::Follower(i, ..) => format!(" [thread {i}]"),
        }
    }
}

/// Thread 0's listener: `SO_REUSEPORT`, so that the other threads can listen on the same
/// address, but only where no other process listens already. With `SO_REUSEPORT` a second
/// server (this one started twice, an old version left running, one on another `--db`)
/// would share the port without a word, and the kernel would hand each a share of the
/// clients. A plain bind first fails if one is there ("address in use"); it is let go at
/// once, and the threads take the address (the one port 0 picked, if it was 0).
fn bind_first(addr: SocketAddr) -> io::Result<TcpListener> {
    let probe = std::net::TcpListener::bind(addr)?;
    let addr = probe.local_addr()?;
    drop(probe);
    TcpListener::bind_reuse_port(addr)
}

struct App {
    config: Config,
    db: Rc<Db>,
    stats: Stats,
    conns: Connections,
}

async fn run_server(config: Config, place: Place) -> ExitCode {
    // Listen for Ctrl-C from the start: a start that waits for a locked database stops on it,
    // and a Ctrl-C sent on seeing `listening on` (with --threads, before this thread tells
    // thread 0 that it is ready) is never missed.
    let mut ctrl_c = minirt::signal::ctrl_c();
    let interrupted = async {
        let _ = (&mut ctrl_c).await;
        None
    };
    let opening = async { Some(open_waiting(config.db_file.clone()).await) };
    let db = match futures_lite::future::or(opening, interrupted).await {
        Some(Ok((owner, readers))) => Rc::new(Db::new(owner, readers)),
        Some(Err(e)) => return fail(format!("cannot open the database: {e}")),
        None => {
            return fail("Ctrl-C while waiting for the database: stopped before starting".into());
        }
    };
    let (label, announces) = (place.label(), place.announces());
    let listener = match place.listen(&config.addr).await {
        Ok(listener) => listener,
        Err(e) => return fail(format!("cannot listen on {:?}: {e}", config.addr)),
    };
    match listener.local_addr() {
        Ok(addr) if announces => say(&format!("listening on {addr}")).await,
        Ok(_) => {}
        Err(e) => return fail(format!("listening, but on what address? {e}")),
    }
    let stats = Stats::default();
    let conns = Connections::default();
    let app = Rc::new(App {
        config,
        db,
        stats,
        conns,
    });
    // The server runs as its own task, so that this one can wait for Ctrl-C meanwhile.
    let _server = minirt::spawn(accept_loop(listener, app.clone()));
    if let Err(e) = ctrl_c.await {
        fail(format!("cannot watch for Ctrl-C ({e}); stopping"));
    }
    let summary = app.stats.summary(app.conns.closed_for_room.get(), &label);
    say(&summary).await;
    // Returning ends the runtime, which drops every connection's task, and the connection.
    ExitCode::SUCCESS
}

/// Writes `line` to minirt's async stdout and waits until it is out, for a second at most: a
/// reader of stdout that has stopped must not stall this runtime's loop (nor its exit).
async fn say(line: &str) {
    let out = minirt::io::stdout();
    let _ = minirt::timeout(Duration::from_secs(1), async {
        out.write_line(line).await?;
        out.flush().await
    })
    .await;
}

/// Says `message` on standard error without waiting (the buffer is let out at exit, for a
/// second at most), and fails. `eprintln!` would stall this runtime's loop on a stderr that
/// nobody reads, and panic on a full one.
fn fail(message: String) -> ExitCode {
    warn(message);
    ExitCode::FAILURE
}

/// Says `message` on standard error without waiting (see [`fail`]).
fn warn(message: String) {
    let _ = minirt::io::stderr().try_write_all(format!("web_server: {message}\n").as_bytes());
}

// ---- Connections: accepting, reading requests, writing answers. ----

async fn accept_loop(listener: TcpListener, app: Rc<App>) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                app.stats.connections.set(app.stats.connections.get() + 1);
                let conns = &app.conns;
                // Past the cap: make room by closing the oldest idle keep-alive connection, or
                // else say no at once, rather than leave the client in the backlog.
                if conns.open.get() >= app.config.max_connections && !conns.close_oldest_idle() {
                    refuse_busy(stream, &app);
                    continue;
                }
                let id = conns.next_id.get();
                conns.next_id.set(id + 1);
                let open = Open::count(&app);
                drop(minirt::spawn(serve_client(stream, app.clone(), id, open)));
            }
            // Out of file descriptors, say. Pause, so as not to spin on a ready listener.
            Err(e) => {
                // Through the async stderr, dropped if it is full: this loop must not block.
                let warning = format!("web_server: accept failed: {e}; retrying in 100 ms\n");
                let _ = minirt::io::stderr().try_write_all(warning.as_bytes());
                minirt::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The open connections: how many, and those idle between requests, which may be closed to
/// make room for a new client.
#[derive(Default)]
struct Connections {
    open: Cell<usize>,
    next_id: Cell<u64>,
    /// Keep-alive connections waiting for their next request, by when they began to wait:
    /// the first is the oldest.
    idle: RefCell<BTreeMap<u64, Rc<TcpStream>>>,
    next_idle: Cell<u64>,
    /// `503` answers being written.
    refusing: Cell<usize>,
    /// Idle connections closed to make room for a new one.
    closed_for_room: Cell<u64>,
}

impl Connections {
    /// Closes the connection idle the longest, if any. Its task then reads end of input, and
    /// ends. (A request it sent just now is lost with it, as with any keep-alive close.)
    fn close_oldest_idle(&self) -> bool {
        let Some((_, stream)) = self.idle.borrow_mut().pop_first() else {
            return false;
        };
        let _ = stream.shutdown(Shutdown::Both);
        self.closed_for_room.set(self.closed_for_room.get() + 1);
        true
    }
}

/// A connection counted as open, until its task ends.
struct Open(Rc<App>);

impl Open {
    fn count(app: &Rc<App>) -> Open {
        app.conns.open.set(app.conns.open.get() + 1);
        Open(app.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let open = &self.0.conns.open;
        open.set(open.get() - 1);
    }
}

/// A connection listed as idle, until dropped.
struct Idle<'a> {
    conns: &'a Connections,
    key: u64,
}

impl<'a> Idle<'a> {
    fn list(conns: &'a Connections, stream: &Rc<TcpStream>) -> Idle<'a> {
        let key = conns.next_idle.get();
        conns.next_idle.set(key + 1);
        conns.idle.borrow_mut().insert(key, stream.clone());
        Idle { conns, key }
    }
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.conns.idle.borrow_mut().remove(&self.key);
    }
}

/// Answers `503` and closes, in a task of its own. So many are in progress at most; past that,
/// the client is just closed.
fn refuse_busy(stream: TcpStream, app: &Rc<App>) {
    let refusing = &app.conns.refusing;
    if refusing.get() >= app.config.max_connections / 4 + 16 {
        return; // dropped: closed
    }
    refusing.set(refusing.get() + 1);
    let response = Response::text(503, "too many connections: try again");
    app.stats.record(response.status);
    let app = app.clone();
    drop(minirt::spawn(async move {
        let mut client = Client::new(Rc::new(stream), &app);
        response.write_to(&mut client.output, false);
        let _ = minirt::timeout(REFUSE_TIME, client.close_gracefully()).await;
        app.conns.refusing.set(app.conns.refusing.get() - 1);
    }));
}

/// Answers requests one after another, in order, until the client closes or must be closed.
async fn serve_client(stream: TcpStream, app: Rc<App>, id: u64, _open: Open) {
    let _ = stream.set_nodelay(true); // answers are whole: send each at once
    let mut client = Client::new(Rc::new(stream), &app);
    loop {
        let (head, body, used) = match client.read_request(app.config.max_body, &app.conns).await {
            Incoming::Request(head, body, used) => (head, body, used),
            Incoming::Closed => return,
            Incoming::TimedOut => {
                app.stats.timed_out.set(app.stats.timed_out.get() + 1);
                return;
            }
            Incoming::Refused(response) => {
                app.stats.record(response.status);
                response.write_to(&mut client.output, false);
                return client.close_gracefully().await;
            }
        };
        let response = route(&app, &head, &body, id).await;
        app.stats.record(response.status);
        response.write_to(&mut client.output, head.keep_alive);
        client.input.drain(..used);
        client.served += 1;
        if !head.keep_alive {
            return client.close_gracefully().await;
        }
        if client.output.len() >= FLUSH_AT && client.flush().await.is_err() {
            return;
        }
    }
}

struct Client {
    stream: Rc<TcpStream>,
    /// Requests answered so far.
    served: u64,
    /// Bytes read and not yet handled: the request being read, maybe pipelined ones after it.
    input: Vec<u8>,
    /// Answers not yet written. They are sent before waiting for more input.
    output: Vec<u8>,
    /// Where each read lands, before it joins `input`.
    scratch: Vec<u8>,
    idle_timeout: Duration,
}

enum Incoming {
    /// A whole request: its head, its body, and how many bytes of `input` it took.
    Request(Head, Vec<u8>, usize),
    /// The client closed, or its connection failed.
    Closed,
    /// Silence between requests for the whole idle timeout.
    TimedOut,
    /// A request we will not serve: answer this, then close.
    Refused(Response),
}

impl Client {
    fn new(stream: Rc<TcpStream>, app: &App) -> Client {
        Client {
            stream,
            served: 0,
            input: Vec::new(),
            output: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            idle_timeout: app.config.idle_timeout,
        }
    }

    /// Reads until `input` holds a whole request: its head and its body (decoded, if
    /// chunked), and how many bytes of `input` it took. It must all arrive within the idle
    /// timeout. While a keep-alive connection waits for its next request, it is listed in
    /// `conns` as idle, and may be closed to make room.
    async fn read_request(&mut self, max_body: usize, conns: &Connections) -> Incoming {
        let deadline = Instant::now() + self.idle_timeout;
        let head = loop {
            match request::parse_head(&self.input, max_body) {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(response) => return Incoming::Refused(response),
            }
            if self.flush().await.is_err() {
                return Incoming::Closed;
            }
            let idle =
                (self.served > 0 && self.input.is_empty()).then(|| Idle::list(conns, &self.stream));
            let end = self.fill(deadline).await;
            drop(idle);
            if let Some(end) = end {
                return end;
            }
        };
        let complete = |input: &[u8]| -> Result<Option<(Vec<u8>, usize)>, Response> {
            let after = &input[head.len..];
            match head.body {
                Framing::Length(n) => {
                    Ok((after.len() >= n).then(|| (after[..n].to_vec(), head.len + n)))
                }
                Framing::Chunked => Ok(request::decode_chunked(after, max_body)?
                    .map(|(body, used)| (body, head.len + used))),
            }
        };
        let mut asked_to_continue = false;
        loop {
            match complete(&self.input) {
                Ok(Some((body, used))) => return Incoming::Request(head, body, used),
                Ok(None) => {}
                Err(response) => return Incoming::Refused(response),
            }
            if head.expect_continue && !asked_to_continue {
                // curl waits for this (or a second) before sending a large body.
                self.output
                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                asked_to_continue = true;
            }
            if let Some(end) = self.fill(deadline).await {
                return end;
            }
        }
    }

    /// Sends pending answers, then reads once more into `input`. `Some` when it is time to end.
    async fn fill(&mut self, deadline: Instant) -> Option<Incoming> {
        if self.flush().await.is_err() {
            return Some(Incoming::Closed);
        }
        let mut stream = &*self.stream;
        let read = minirt::io::read(&mut stream, &mut self.scratch);
        match minirt::time::timeout_at(deadline, read).await {
            Ok(Ok(n @ 1..)) => {
                self.input.extend_from_slice(&self.scratch[..n]);
                None
            }
            Ok(_) => Some(Incoming::Closed), // end of input, or an error
            Err(_) if self.input.is_empty() => Some(Incoming::TimedOut),
            Err(_) => Some(Incoming::Refused(Response::text(
                408,
                "the request did not arrive in time",
            ))),
        }
    }

    /// Writes the pending answers; the client has the idle timeout to take them.
    async fn flush(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            let mut stream = &*self.stream;
            let write = minirt::io::write_all(&mut stream, &self.output);
            minirt::timeout(self.idle_timeout, write).await??;
            self.output.clear();
        }
        Ok(())
    }

    /// Sends what is left, half-closes, then reads and drops what the client still sends, for
    /// a moment. Closing with unread input makes the OS reset the connection, and the reset
    /// can destroy our last answer (a 413, say) before the client has read it.
    async fn close_gracefully(mut self) {
        if self.flush().await.is_err() || self.stream.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let drain = async {
            let mut dropped = 0;
            while dropped < LINGER_BYTES {
                match minirt::io::read(&mut &*self.stream, &mut self.scratch).await {
                    Ok(n @ 1..) => dropped += n,
                    _ => break,
                }
            }
        };
        let _ = minirt::timeout(LINGER, drain).await;
    }
}

// ---- The handlers. ----

/// Answers one request of client `client` (a connection's number).
async fn route(app: &App, head: &Head, body: &[u8], client: u64) -> Response {
    let path = head.path.split('?').next().unwrap_or_default();
    match (path, head.method.as_str()) {
        ("/", "GET") => {
            if !app.config.delay.is_zero() {
                minirt::sleep(app.config.delay).await; // the seed's simulated work
            }
            Response::text(200, "Hello, World")
        }
        ("/db", "POST") => match parse_queries(body) {
            Ok(queries) => {
                let queries = queries.into_iter();
                let results = minirt::join_all(queries.map(|sql| query(&app.db, sql, client)));
                Response::json(Value::Array(results.await).to_string())
            }
            Err(message) => Response::text(400, message),
        },
        ("/", _) => Response::method_not_allowed("GET"),
        ("/db", _) => Response::method_not_allowed("POST"),
        _ => Response::text(404, format!("no such path: {path}")),
    }
}

/// `{"queries": ["SELECT ...", ...]}` to the list of queries.
fn parse_queries(body: &[u8]) -> Result<Vec<String>, String> {
    let json: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let shape = r#"expected {"queries": ["SELECT ...", ...]}"#;
    let queries = json.get("queries").and_then(Value::as_array).ok_or(shape)?;
    if queries.len() > MAX_QUERIES {
        return Err(format!("at most {MAX_QUERIES} queries per request"));
    }
    let as_string = |q: &Value| q.as_str().map(str::to_owned).ok_or(shape.to_owned());
    let queries: Vec<String> = queries.iter().map(as_string).collect::<Result<_, _>>()?;
    for sql in &queries {
        request::check_query(sql)?;
    }
    Ok(queries)
}

// ---- The database. ----

/// A pool of read-only connections, shared fairly: a free reader goes to a waiting query of
/// the client that holds the fewest readers; among equals, of the client served least
/// recently (so a client that just gave a reader back does not win it again over one that has
/// waited); the earliest query of that client. No client can hold more than its share while
/// others wait.
struct Db {
    free: RefCell<Vec<Reader>>,
    /// Queries waiting for a reader, in order of arrival.
    waiting: RefCell<VecDeque<Waiter>>,
    /// How many readers each client holds (clients with none are left out).
    held: RefCell<HashMap<u64, usize>>,
    /// When each client holding or waiting for a reader was last given one, counted in
    /// readers given out.
    last_served: RefCell<HashMap<u64, u64>>,
    served: Cell<u64>,
    /// Keeps an in-memory database alive: SQLite frees it when its last connection closes.
    _owner: Connection,
}

struct Reader {
    /// The connection goes to a pool thread for each query; the pool lends each reader to one
    /// query at a time, so the lock is never contended.
    connection: Arc<Mutex<Connection>>,
    interrupt: InterruptHandle,
}

struct Waiter {
    client: u64,
    give: oneshot::Sender<Reader>,
}

impl Db {
    fn new(owner: Connection, connections: Vec<Connection>) -> Db {
        let free = connections.into_iter().map(|connection| Reader {
            interrupt: connection.get_interrupt_handle(),
            connection: Arc::new(Mutex::new(connection)),
        });
        Db {
            free: RefCell::new(free.collect()),
            waiting: RefCell::default(),
            held: RefCell::default(),
            last_served: RefCell::default(),
            served: Cell::new(0),
            _owner: owner,
        }
    }

    /// Counts a reader given to `client` (`up`) or given back.
    fn count(&self, client: u64, up: bool) {
        let mut held = self.held.borrow_mut();
        let n = held.entry(client).or_default();
        if up {
            *n += 1;
            self.served.set(self.served.get() + 1);
            self.last_served
                .borrow_mut()
                .insert(client, self.served.get());
        } else {
            *n -= 1;
            if *n == 0 {
                held.remove(&client);
                // Forget the client once it neither holds nor waits.
                if !self.waiting.borrow().iter().any(|w| w.client == client) {
                    self.last_served.borrow_mut().remove(&client);
                }
            }
        }
    }

    /// A reader for `client`, at its turn; `None` after waiting `READER_WAIT_LIMIT`.
    async fn acquire(&self, client: u64) -> Option<Reader> {
        // Queries that gave up waiting leave their places behind: forget them.
        self.waiting.borrow_mut().retain(|w| !w.give.is_closed());
        // Readers are free only while no one waits (`release` serves waiters first).
        if let Some(reader) = self.free.borrow_mut().pop() {
            self.count(client, true);
            return Some(reader);
        }
        let (give, take) = oneshot::channel();
        self.waiting.borrow_mut().push_back(Waiter { client, give });
        let mut turn = Turn {
            db: self,
            client,
            take,
        };
        minirt::timeout(READER_WAIT_LIMIT, &mut turn.take)
            .await
            .ok()?
            .ok()
    }

    /// Gives `client`'s reader back: to the next query in fair order (see [`Db`]).
    fn release(&self, mut reader: Reader, client: u64) {
        self.count(client, false);
        loop {
            let next = {
                let (held, last_served) = (self.held.borrow(), self.last_served.borrow());
                let waiting = self.waiting.borrow();
                let turn = |w: &Waiter| {
                    let holds = held.get(&w.client).copied().unwrap_or(0);
                    (holds, last_served.get(&w.client).copied().unwrap_or(0))
                };
                // `min_by_key` keeps the first of equals: the query that waited longest.
                (0..waiting.len()).min_by_key(|&i| turn(&waiting[i]))
            };
            let Some(next) = next else {
                return self.free.borrow_mut().push(reader);
            };
            let waiter = self
                .waiting
                .borrow_mut()
                .remove(next)
                .expect("an index in range");
            self.count(waiter.client, true);
            match waiter.give.set_result(reader) {
                Ok(()) => return,
                Err(unwanted) => {
                    // That query gave up meanwhile: try the next.
                    self.count(waiter.client, false);
                    reader = unwanted;
                }
            }
        }
    }
}

/// A query's place in the line for a reader. Dropped with a reader already handed to it
/// (it gave up just then), it gives the reader back.
struct Turn<'a> {
    db: &'a Db,
    client: u64,
    take: oneshot::Receiver<Reader>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.take.close();
        if let Ok(reader) = self.take.try_recv() {
            self.db.release(reader, self.client);
        }
    }
}

/// Runs `sql` for `client` on the blocking pool: its rows, or `{"error": ...}`, by the
/// deadline.
async fn query(db: &Rc<Db>, sql: String, client: u64) -> Value {
    let Some(reader) = db.acquire(client).await else {
        let message =
            format!("every database connection is busy for {READER_WAIT_LIMIT:?}: try again");
        return json!({ "error": message });
    };
    let connection = reader.connection.clone();
    let mut job = minirt::spawn_blocking(move || {
        let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
        // SQLite calls this between steps; `true` interrupts the query.
        let deadline = Instant::now() + QUERY_TIME_LIMIT;
        let past_deadline = move || Instant::now() >= deadline;
        let _ = connection.progress_handler(PROGRESS_EVERY, Some(past_deadline));
        let rows = run_query(&connection, &sql);
        let _ = connection.progress_handler(0, None::<fn() -> bool>);
        rows
    });
    // A little past the job's own deadline, so that normally its own error comes back.
    let outcome =
        match minirt::timeout(QUERY_TIME_LIMIT + Duration::from_millis(200), &mut job).await {
            Ok(outcome) => {
                db.release(reader, client);
                outcome
            }
            Err(_elapsed) => {
                // Stuck inside one step: answer now, and free the reader once SQLite lets go.
                reader.interrupt.interrupt();
                let db = db.clone();
                drop(minirt::spawn(async move {
                    let _ = job.await;
                    db.release(reader, client);
                }));
                Ok(Err("interrupted".to_owned()))
            }
        };
    match outcome {
        Ok(Ok(rows)) => rows,
        Ok(Err(error)) if error == "interrupted" => {
            json!({ "error": format!("stopped after {QUERY_TIME_LIMIT:?}: {error}") })
        }
        Ok(Err(error)) => json!({ "error": error }),
        Err(join_error) => json!({ "error": join_error.to_string() }),
    }
}

/// The authorizer of the readers: reading tables and calling functions, nothing else. No
/// `PRAGMA`, `ATTACH`, transaction or write: nothing that changes a pooled connection (or the
/// database) for the queries that come after.
fn only_reads(context: AuthContext<'_>) -> Authorization {
    match context.action {
        AuthAction::Select
        | AuthAction::Read { .. }
        | AuthAction::Function { .. }
        | AuthAction::Recursive => Authorization::Allow,
        _ => Authorization::Deny,
    }
}

/// While a start waits for the database, a reminder this often.
const REMIND_EVERY: Duration = Duration::from_secs(30);

/// [`open_database`] on the blocking pool, waiting out, for as long as it takes, a database
/// that another process has locked (so that the table cannot be made or read): a doubling
/// backoff (50 ms to 2 s), and a message on stderr when the wait begins, every
/// [`REMIND_EVERY`], and when it ends. Any other error (a full disk included) ends the start.
async fn open_waiting(file: Option<String>) -> Result<(Connection, Vec<Connection>), String> {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    let mut backoff = Duration::from_millis(50);
    let mut out: Option<(Instant, Instant)> = None;
    loop {
        let each = file.clone();
        let error = match minirt::spawn_blocking(move || open_database(each)).await {
            Ok(Ok(opened)) => {
                if let Some((since, _)) = out {
                    let waited = since.elapsed();
                    warn(format!(
                        "the database is available after {waited:.1?}: starting"
                    ));
                }
                return Ok(opened);
            }
            Ok(Err(e)) if matches!(e.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked)) => e,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(e) => return Err(e.to_string()),
        };
        let now = Instant::now();
        match out {
            None => {
                out = Some((now, now));
                warn(format!(
                    "cannot open the database yet ({error}): waiting for it (Ctrl-C to stop)"
                ));
            }
            Some((since, told)) if now - told >= REMIND_EVERY => {
                out = Some((since, now));
                let waited = now - since;
                warn(format!(
                    "still waiting for the database after {waited:.0?} ({error})"
                ));
            }
            Some(_) => {}
        }
        minirt::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Opens (and fills, if new) the database: the owning connection, and `DB_READERS` readers.
fn open_database(file: Option<String>) -> rusqlite::Result<(Connection, Vec<Connection>)> {
    // With --threads, each thread opens its own pool: one at a time, so that the sample data
    // goes in once.
    static OPENING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = OPENING.lock().unwrap_or_else(PoisonError::into_inner);
    let (name, uri) = match file {
        Some(file) => (file, OpenFlags::empty()),
        None => (MEMORY_DB.to_owned(), OpenFlags::SQLITE_OPEN_URI),
    };
    let write = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
    let owner = Connection::open_with_flags(&name, write | uri)?;
    // Another process's lock: `open_waiting` waits it out, between attempts of 1 s each.
    owner.busy_timeout(READER_BUSY_TIMEOUT)?;
    add_sample_data(&owner)?;
    let read_only = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | uri;
    let readers = (0..DB_READERS).map(|_| {
        let reader = Connection::open_with_flags(&name, read_only)?;
        // Bound what one function call may cost, and forbid ATTACH, which could open other
        // files; then allow reads only.
        reader.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)?;
        reader.set_limit(Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_LIKE_PATTERN)?;
        reader.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        reader.busy_timeout(READER_BUSY_TIMEOUT)?;
        reader.authorizer(Some(only_reads))?;
        Ok(reader)
    });
    Ok((owner, readers.collect::<rusqlite::Result<_>>()?))
}

fn add_sample_data(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS users (
             id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL, age INTEGER NOT NULL)",
    )?;
    let count: i64 = db.query_row("SELECT count(*) FROM users", [], |row| row.get(0))?;
    if count == 0 {
        db.execute_batch(
            "INSERT INTO users (name, city, age) VALUES
                 ('Ada', 'London', 36), ('Grace', 'New York', 45), ('Alan', 'Manchester', 41),
                 ('Edsger', 'Austin', 52), ('Barbara', 'Boston', 33), ('Donald', 'Stanford', 28),
                 ('Frances', 'Ottawa', 39), ('Ken', 'Murray Hill', 30)",
        )?;
    }
    Ok(())
}

/// Runs one statement and collects its rows as JSON arrays, within `MAX_ROWS` and
/// `MAX_RESULT_BYTES`. This blocks: it runs on a pool thread.
fn run_query(db: &Connection, sql: &str) -> Result<Value, String> {
    const READS_ONLY: &str = "only statements that read are allowed";
    let mut statement = db.prepare(sql).map_err(|e| match e.sqlite_error_code() {
        Some(ErrorCode::AuthorizationForStatementDenied) => READS_ONLY.to_owned(),
        _ => e.to_string(),
    })?;
    // The authorizer refuses writes already; this is a second lock on that door (a connection
    // to a shared in-memory database ignores its read-only flag).
    if !statement.readonly() {
        return Err(READS_ONLY.to_owned());
    }
    let columns = statement.column_count();
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let (mut out, mut bytes) = (Vec::new(), 0);
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        if out.len() == MAX_ROWS {
            return Err(format!("more than {MAX_ROWS} rows: add a LIMIT"));
        }
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            let value = row.get_ref(i).map_err(|e| e.to_string())?;
            bytes += match value {
                ValueRef::Text(b) | ValueRef::Blob(b) => b.len() + 2,
                _ => 8,
            };
            values.push(to_json(value));
        }
        if bytes > MAX_RESULT_BYTES {
            return Err(format!("result over {MAX_RESULT_BYTES} bytes: add a LIMIT"));
        }
        out.push(Value::Array(values));
    }
    Ok(Value::Array(out))
}

/// JSON has no blobs: they come out as hexadecimal strings.
fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => f.into(), // infinities become null
        ValueRef::Text(text) => String::from_utf8_lossy(text).into(),
        ValueRef::Blob(blob) => {
            let mut hex = String::with_capacity(2 * blob.len());
            for byte in blob {
                let _ = write!(hex, "{byte:02x}");
            }
            hex.into()
        }
    }
}

// ---- The summary printed on Ctrl-C. ----

#[derive(Default)]
struct Stats {
    connections: Cell<u64>,
    timed_out: Cell<u64>,
    by_status: RefCell<BTreeMap<u16, u64>>,
}

impl Stats {
    fn record(&self, status: u16) {
        *self.by_status.borrow_mut().entry(status).or_default() += 1;
    }

    /// The summary as one string, written with one `say`, so that the summaries of several
    /// threads do not interleave.
    fn summary(&self, closed_for_room: u64, label: &str) -> String {
        let by_status = self.by_status.borrow();
        let requests: u64 = by_status.values().sum();
        let mut summary = format!(
            "\nstopping: {requests} requests on {} connections, {} closed after idling, \
             {closed_for_room} idle ones closed to make room{label}",
            self.connections.get(),
            self.timed_out.get()
        );
        for (status, count) in by_status.iter() {
            let _ = write!(summary, "\n  {status} {:<32} {count}", reason(*status));
        }
        summary
    }
}
