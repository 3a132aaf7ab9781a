//! The broker's wire: Redis's RESP2 protocol over minirt's own `TcpStream`.
//!
//! Commands are encoded by the `redis-protocol` crate; replies are checked by `resp.rs`
//! (depth and size caps, before decoding) and then decoded by it; the bytes go through
//! minirt's reactor. A [`Conn`] sends a batch of commands in one write (pipelining) and reads
//! the same number of replies back, before a deadline. A [`Broker`] keeps a few idle
//! connections for short commands, and opens connections for blocking pops, which hold theirs.
//!
//! Every failure is a [`Fault`], and what to do about it follows from its kind:
//!
//! | fault | what happened | what the caller does |
//! |---|---|---|
//! | `Outage` | refused, reset or closed connection, no reply before the deadline, `LOADING`, `BUSY`, `TRYAGAIN`... | waits (doubling backoff, 50 ms to 2 s) and tries again, until its own deadline if it has one |
//! | `Refused` | an error reply to this command (`WRONGTYPE`, `NOAUTH`...): job_queue's keys are not as it left them, or it may not use the broker | stops with the reason (the reaper tells it and tries again later) |
//! | `Unreadable` | a reply over a cap, or not RESP2 | stops, naming the broker (a pop's oversize message is set aside) |
//! | `GaveUp` | the caller's own deadline passed during an outage | stops, saying for how long the broker was out |

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use minirt::net::TcpStream;
use redis_protocol::resp2::encode::encode_borrowed;
use redis_protocol::resp2::types::BorrowedFrame;

use super::Out;
use super::resp::{self, ReplyError, Scanner};

pub use super::resp::Frame;

/// A command: its name and arguments, each as bytes (a message need not be text).
pub type Cmd = Vec<Vec<u8>>;

/// Builds a [`Cmd`] from words.
pub fn cmd(words: &[&str]) -> Cmd {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// `EVALSHA sha` (or `EVAL body`) with a script's keys and arguments.
fn script_command(verb: &str, script: &[u8], keys: &[&[u8]], args: &[&[u8]]) -> Cmd {
    let mut command = vec![verb.as_bytes().to_vec(), script.to_vec()];
    command.push(keys.len().to_string().into_bytes());
    command.extend(keys.iter().chain(args).map(|w| w.to_vec()));
    command
}

/// How long one command may go unanswered before the broker is taken to be stalled.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// While the broker stays unreachable, a reminder this often.
const REMIND_EVERY: Duration = Duration::from_secs(30);
/// Error replies that mean "not now" rather than "no": the broker is starting, loading its
/// data, running a long script, failing over or out of memory or disk. Waited out.
const OUTAGE_REPLIES: [&str; 10] = [
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "READONLY",
    "MISCONF",
    "OOM",
    "NOREPLICAS",
    "UNBLOCKED",
];

/// A broker address from a `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` URL.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub db: u32,
    /// Sent with `AUTH` on every new connection, for a broker with `requirepass` (or an
    /// ACL user). Never shown: the URL prints without it.
    pub login: Option<Login>,
}

/// An ACL user name (`None`: Redis's `default` user) and its password.
#[derive(Clone, PartialEq)]
pub struct Login {
    pub user: Option<String>,
    pub password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login {{ user: {:?}, password: .. }}", self.user)
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis://{}:{}/{}", self.host, self.port, self.db)
    }
}

/// Parses `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (port 6379 and database 0 by
/// default; `%XX` escapes in the user name and password, for a `@`, `:` or `/` in them).
pub fn parse_url(url: &str) -> Result<BrokerUrl, String> {
    let bad = |why: &str| format!("malformed broker URL {url:?}: {why} (want redis://HOST:PORT)");
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| bad("it must start with redis://"))?;
    let (login, rest) = match rest.rsplit_once('@') {
        None => (None, rest),
        Some((userinfo, rest)) => {
            let Some((user, password)) = userinfo.split_once(':') else {
                return Err(bad("give the password as redis://:PASSWORD@HOST"));
            };
            let unescape = |part: &str| {
                percent_decode(part).ok_or_else(|| bad("a % escape is not %XX, or not UTF-8"))
            };
            let user = Some(unescape(user)?).filter(|u| !u.is_empty());
            let password = unescape(password)?;
            (Some(Login { user, password }), rest)
        }
    };
    let (authority, db) = match rest.split_once('/') {
        None | Some((_, "")) => (rest.trim_end_matches('/'), 0),
        Some((authority, db)) => (
            authority,
            db.parse()
                .map_err(|_| bad("the database after / must be a number"))?,
        ),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
        ),
        None => (authority, 6379),
    };
    if host.is_empty() {
        return Err(bad("the host is missing"));
    }
    Ok(BrokerUrl {
        host: host.to_string(),
        port,
        db,
        login,
    })
}

/// Decodes `%XX` escapes; `None` if one is malformed or the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(after.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &after[2..];
        } else {
            bytes.push(byte);
            rest = after;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Why a command did not give its replies. See the module docs for what each kind means.
#[derive(Debug)]
pub enum Fault {
    Outage(String),
    Refused(String),
    Unreadable(String, ReplyError),
    GaveUp(String),
}

impl Fault {
    /// The length of a popped message too big to read (see [`ReplyError::oversize_bulk`]).
    pub fn oversize_message(&self) -> Option<u64> {
        match self {
            Fault::Unreadable(_, e) => e.oversize_bulk(),
            _ => None,
        }
    }

    fn outage(e: io::Error) -> Fault {
        Fault::Outage(e.to_string())
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Outage(why) | Fault::Refused(why) | Fault::GaveUp(why) => f.write_str(why),
            Fault::Unreadable(url, e) => write!(f, "the broker at {url} sent {e}"),
        }
    }
}

/// One connection to the broker.
pub struct Conn {
    stream: TcpStream,
    /// The broker's URL, for errors.
    url: String,
    /// Bytes read but not yet decoded.
    input: Vec<u8>,
    /// Where the reply at the front of `input` has been checked up to.
    scanner: Scanner,
    output: Vec<u8>,
    /// The broker's outage count when this connection was opened (see [`Broker::fresh`]).
    generation: u64,
}

impl Conn {
    /// Sends one command and returns its reply, before `deadline`.
    pub async fn call(&mut self, command: &Cmd, deadline: Instant) -> Result<Frame, Fault> {
        let mut replies = self
            .pipeline(std::slice::from_ref(command), deadline)
            .await?;
        Ok(replies.pop().unwrap_or(Frame::Null))
    }

    /// Sends `commands` in one write and returns their replies, in order, all before
    /// `deadline`. After any fault but `Refused` the connection's state is unknown: drop it.
    pub async fn pipeline(
        &mut self,
        commands: &[Cmd],
        deadline: Instant,
    ) -> Result<Vec<Frame>, Fault> {
        self.output.clear();
        for command in commands {
            let words: Vec<BorrowedFrame<'_>> = command
                .iter()
                .map(|w| BorrowedFrame::BulkString(w))
                .collect();
            let frame = BorrowedFrame::Array(&words);
            let start = self.output.len();
            self.output.resize(start + frame.encode_len(false), 0);
            encode_borrowed(&mut self.output[start..], &frame, false)
                .map_err(|e| Fault::Refused(format!("cannot encode a command: {e}")))?;
        }
        let exchange = async {
            self.stream
                .write_all(&self.output)
                .await
                .map_err(Fault::outage)?;
            let mut replies = Vec::with_capacity(commands.len());
            while replies.len() < commands.len() {
                replies.push(self.read_frame().await?);
            }
            Ok(replies)
        };
        let replies = match minirt::time::timeout_at(deadline, exchange).await {
            Ok(replies) => replies?,
            Err(_elapsed) => {
                return Err(Fault::Outage(format!(
                    "the broker at {} did not answer in time",
                    self.url
                )));
            }
        };
        match replies.iter().find_map(error_text) {
            Some(text) if is_outage_reply(text) => Err(Fault::Outage(format!(
                "the broker at {} said: {text}",
                self.url
            ))),
            Some(text) => Err(Fault::Refused(format!(
                "the broker at {} said: {text}",
                self.url
            ))),
            None => Ok(replies),
        }
    }

    async fn read_frame(&mut self) -> Result<Frame, Fault> {
        loop {
            match resp::decode(&mut self.scanner, &self.input) {
                Ok(Some((frame, used))) => {
                    self.input.drain(..used);
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(e) => return Err(Fault::Unreadable(self.url.clone(), e)),
            }
            let start = self.input.len();
            self.input.resize(start + 16 * 1024, 0);
            let read = self.stream.read(&mut self.input[start..]).await;
            let n = read.inspect_err(|_| self.input.truncate(start));
            let n = n.map_err(Fault::outage)?;
            self.input.truncate(start + n);
            if n == 0 {
                let why = format!("the broker at {} closed the connection", self.url);
                return Err(Fault::Outage(why));
            }
        }
    }
}

/// An error reply, also one nested in an array (a transaction's `EXEC`).
fn error_text(frame: &Frame) -> Option<&str> {
    match frame {
        Frame::Error(text) => Some(text),
        Frame::Array(items) => items.iter().find_map(error_text),
        _ => None,
    }
}

fn is_outage_reply(text: &str) -> bool {
    let code = text.split_whitespace().next().unwrap_or("");
    OUTAGE_REPLIES.contains(&code)
}

/// How many idle connections the pool keeps.
const POOL_SIZE: usize = 4;

/// A doubling wait between tries: 50 ms, 100 ms, ... up to 2 s.
pub struct Backoff(Duration);

impl Backoff {
    pub fn new() -> Backoff {
        Backoff(Duration::from_millis(50))
    }

    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
        wait
    }
}

/// The broker: its address, a small pool of idle connections, and until when an outage is
/// waited out.
pub struct Broker {
    pub url: BrokerUrl,
    addr: SocketAddr,
    idle: RefCell<Vec<Conn>>,
    /// The caller's own deadline (`submit --timeout`); `None` for a worker, which waits out
    /// any outage once it has started.
    deadline: Option<Instant>,
    /// Since when the broker has been unreachable, and when that was last said: each
    /// outage is told once (and then every [`REMIND_EVERY`]), not once per connection.
    down: Cell<Option<(Instant, Instant)>>,
    /// How many outages began so far. A connection opened before the latest one is not used
    /// again: it most likely went down with the broker, and finding out would be told as a
    /// second outage.
    generation: Cell<u64>,
    /// The scripts the broker has cached, by their text: their SHA1, as `SCRIPT LOAD` gave it.
    scripts: RefCell<HashMap<&'static str, Vec<u8>>>,
    out: Out,
}

impl Broker {
    /// Resolves the URL's host (on the blocking pool: a DNS lookup blocks), then makes sure a
    /// broker answers there: `PING`, retried for `patience` (and never past `deadline`).
    ///
    /// # Errors
    /// The host does not resolve; or no broker answered within `patience` (the message
    /// names it, the number of attempts and the last fault); or it refused `PING`, or
    /// answered something that is not RESP2.
    pub async fn connect(
        url: BrokerUrl,
        patience: Duration,
        deadline: Option<Instant>,
        out: Out,
    ) -> Result<Broker, String> {
        let (host, port) = (url.host.clone(), url.port);
        let resolved = minirt::spawn_blocking(move || (host.as_str(), port).to_socket_addrs())
            .await
            .map_err(|e| e.to_string())?;
        let addr = resolved
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| format!("cannot resolve the broker's host {:?}", url.host))?;
        let broker = Broker {
            url,
            addr,
            idle: RefCell::new(Vec::new()),
            deadline,
            down: Cell::new(None),
            generation: Cell::new(0),
            scripts: RefCell::new(HashMap::new()),
            out,
        };
        let start = Instant::now();
        let give_up = deadline.map_or(start + patience, |d| d.min(start + patience));
        let mut backoff = Backoff::new();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let sent = Instant::now();
            let fault = match broker.open(give_up).await {
                Ok(mut conn) => match conn.call(&cmd(&["PING"]), give_up).await {
                    Ok(_) => {
                        broker.recovered(sent);
                        broker.idle.borrow_mut().push(conn);
                        return Ok(broker);
                    }
                    Err(fault) => fault,
                },
                Err(fault) => fault,
            };
            let Fault::Outage(_) = fault else {
                let why = fault.to_string();
                if why.contains("NOAUTH") {
                    let hint = "give its password in the URL: redis://:PASSWORD@HOST:PORT";
                    return Err(format!("{why} ({hint})"));
                }
                return Err(why);
            };
            if Instant::now() + backoff.0 >= give_up {
                return Err(format!(
                    "cannot reach the broker at {} ({attempts} attempts in {:.1?}): {fault}",
                    broker.url,
                    start.elapsed()
                ));
            }
            broker.lost(&fault);
            minirt::sleep(backoff.next()).await;
        }
    }

    /// Opens a new connection (one attempt), logs in if the URL has a password, and selects
    /// the URL's database.
    pub async fn open(&self, deadline: Instant) -> Result<Conn, Fault> {
        let limit = deadline.min(Instant::now() + CONNECT_TIMEOUT);
        let stream = match minirt::time::timeout_at(limit, TcpStream::connect(self.addr)).await {
            Ok(stream) => stream.map_err(|e| {
                Fault::Outage(format!("cannot connect to the broker at {}: {e}", self.url))
            })?,
            Err(_) => {
                let why = format!("connecting to the broker at {} timed out", self.url);
                return Err(Fault::Outage(why));
            }
        };
        stream.set_nodelay(true).map_err(Fault::outage)?;
        let mut conn = Conn {
            stream,
            url: self.url.to_string(),
            input: Vec::with_capacity(4096),
            scanner: Scanner::default(),
            output: Vec::with_capacity(4096),
            generation: self.generation.get(),
        };
        let mut setup = Vec::new();
        if let Some(login) = &self.url.login {
            let mut auth = cmd(&["AUTH"]);
            auth.extend(login.user.iter().map(|u| u.as_bytes().to_vec()));
            auth.push(login.password.as_bytes().to_vec());
            setup.push(auth);
        }
        if self.url.db != 0 {
            setup.push(cmd(&["SELECT", &self.url.db.to_string()]));
        }
        if !setup.is_empty() {
            conn.pipeline(&setup, self.command_deadline()).await?;
        }
        Ok(conn)
    }

    /// Whether `conn` was opened since the latest outage began: one opened before it is best
    /// dropped unused.
    pub fn fresh(&self, conn: &Conn) -> bool {
        conn.generation == self.generation.get()
    }

    /// When a command sent now must have been answered: [`COMMAND_TIMEOUT`] from now, or the
    /// caller's own deadline if that comes first.
    pub fn command_deadline(&self) -> Instant {
        let limit = Instant::now() + COMMAND_TIMEOUT;
        self.deadline.map_or(limit, |d| d.min(limit))
    }

    /// After an outage fault: says so (once per outage), and waits before the next try.
    ///
    /// # Errors
    /// `GaveUp` if the caller's deadline comes before the next try would.
    pub async fn wait_out(&self, fault: &Fault, backoff: &mut Backoff) -> Result<(), Fault> {
        let pause = backoff.next();
        if let Some(deadline) = self.deadline {
            if Instant::now() + pause >= deadline {
                let since = self.down.get().map_or(Duration::ZERO, |(s, _)| s.elapsed());
                return Err(Fault::GaveUp(format!(
                    "gave up at the deadline: the broker at {} was out for {since:.1?} ({fault})",
                    self.url
                )));
            }
        }
        self.lost(fault);
        minirt::sleep(pause).await;
        Ok(())
    }

    /// Says once per outage (and then every [`REMIND_EVERY`]) that the broker is out.
    fn lost(&self, fault: &Fault) {
        let now = Instant::now();
        let waiting = match self.deadline {
            Some(deadline) => format!("waiting for up to {:.0?}", deadline - now),
            None => "waiting for it".to_string(),
        };
        match self.down.get() {
            None => {
                self.down.set(Some((now, now)));
                self.generation.set(self.generation.get() + 1);
                let url = &self.url;
                self.out.warn(format!(
                    "the broker at {url} is unreachable ({fault}); {waiting}"
                ));
            }
            Some((since, told)) if now - told >= REMIND_EVERY => {
                self.down.set(Some((since, now)));
                self.out.warn(format!(
                    "the broker at {} is still unreachable after {:.0?} ({fault}); {waiting}",
                    self.url,
                    now - since
                ));
            }
            Some(_) => {}
        }
    }

    /// Says that the broker is back, if it was out.
    ///
    /// A reply to a command `sent` before the outage began proves nothing (other tasks'
    /// commands were in flight when it started): only a later one ends it.
    pub fn recovered(&self, sent: Instant) {
        if let Some((since, _)) = self.down.get().filter(|(since, _)| sent >= *since) {
            self.down.set(None);
            self.out.say(format!(
                "reconnected to the broker at {} after {:.1?}",
                self.url,
                since.elapsed()
            ));
        }
    }

    /// Runs `commands` as one pipeline on a pooled connection. An outage is waited out (see
    /// [`wait_out`](Self::wait_out)), and the commands sent again on a new connection: every
    /// caller here sends commands that may safely run twice.
    ///
    /// # Errors
    /// Any fault but an outage; `GaveUp` when the caller's deadline passes during one.
    pub async fn run(&self, commands: &[Cmd]) -> Result<Vec<Frame>, Fault> {
        let mut backoff = Backoff::new();
        loop {
            let sent = Instant::now();
            let pooled = self.idle.borrow_mut().pop().filter(|c| self.fresh(c));
            let conn = match pooled {
                Some(conn) => Ok(conn),
                None => self.open(self.command_deadline()).await,
            };
            let outcome = match conn {
                Ok(mut conn) => {
                    let replies = conn.pipeline(commands, self.command_deadline()).await;
                    if matches!(replies, Ok(_) | Err(Fault::Refused(_))) && self.fresh(&conn) {
                        let mut idle = self.idle.borrow_mut();
                        if idle.len() < POOL_SIZE {
                            idle.push(conn);
                        }
                    }
                    replies
                }
                Err(fault) => Err(fault),
            };
            match outcome {
                Ok(replies) => {
                    self.recovered(sent);
                    return Ok(replies);
                }
                Err(fault @ Fault::Outage(_)) => {
                    // Every idle connection went down with the broker too.
                    self.idle.borrow_mut().clear();
                    self.wait_out(&fault, &mut backoff).await?;
                }
                Err(fault) => return Err(fault),
            }
        }
    }

    /// Runs a script, atomically on the broker, with its keys and arguments; see
    /// [`run`](Self::run). Sent by its SHA1 (`EVALSHA`), not its text, once the broker has
    /// it; a broker that lost it (restarted) gets its text again.
    pub async fn eval(
        &self,
        script: &'static str,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<Frame, Fault> {
        let known = self.scripts.borrow().get(script).cloned();
        if let Some(sha) = known {
            match self
                .run_one(script_command("EVALSHA", &sha, keys, args))
                .await
            {
                Err(Fault::Refused(why)) if why.contains("NOSCRIPT") => {}
                outcome => return outcome,
            }
        }
        let load = cmd(&["SCRIPT", "LOAD", script]);
        if let Some(sha) = self.bulk(self.run_one(load).await?)? {
            self.scripts.borrow_mut().insert(script, sha);
        }
        self.run_one(script_command("EVAL", script.as_bytes(), keys, args))
            .await
    }

    /// Runs one command; see [`run`](Self::run).
    pub async fn run_one(&self, command: Cmd) -> Result<Frame, Fault> {
        let mut replies = self.run(std::slice::from_ref(&command)).await?;
        Ok(replies.pop().unwrap_or(Frame::Null))
    }
}

impl Broker {
    /// A reply of the wrong shape for its command.
    pub fn malformed(&self, why: &str) -> Fault {
        Fault::Unreadable(self.url.to_string(), ReplyError::Malformed(why.to_string()))
    }

    fn unexpected(&self, frame: &Frame, wanted: &str) -> Fault {
        let shown: String = format!("{frame:?}").chars().take(80).collect();
        self.malformed(&format!("an unexpected reply {shown}, wanted {wanted}"))
    }

    /// The bytes of a bulk-string reply, or `None` for a null reply.
    pub fn bulk(&self, frame: Frame) -> Result<Option<Vec<u8>>, Fault> {
        match frame {
            Frame::Null => Ok(None),
            Frame::BulkString(bytes) | Frame::SimpleString(bytes) => Ok(Some(bytes)),
            other => Err(self.unexpected(&other, "a string")),
        }
    }

    /// The items of an array reply (a null reply is an empty array).
    pub fn array(&self, frame: Frame) -> Result<Vec<Frame>, Fault> {
        match frame {
            Frame::Array(items) => Ok(items),
            Frame::Null => Ok(Vec::new()),
            other => Err(self.unexpected(&other, "an array")),
        }
    }

    /// The value of an integer reply.
    pub fn integer(&self, frame: Frame) -> Result<i64, Fault> {
        match frame {
            Frame::Integer(n) => Ok(n),
            other => Err(self.unexpected(&other, "an integer")),
        }
    }
}
