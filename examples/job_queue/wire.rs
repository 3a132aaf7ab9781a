//! The broker's wire: Redis's RESP2 protocol over minirt's own `TcpStream`.
//!
//! The frames are encoded and decoded by the `redis-protocol` crate, a codec with no runtime of
//! its own; the bytes go through minirt's reactor. A [`Conn`] sends a batch of commands in one
//! write (pipelining) and reads the same number of replies back. A [`Broker`] keeps a few idle
//! connections for short commands, and opens connections for blocking pops, which hold theirs.
//!
//! An unreachable broker is retried with a doubling backoff (50 ms up to 1 s) for
//! [`Broker::patience`]; after that the caller gets an error that names the broker and the
//! last failure, and exits with it.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use minirt::net::TcpStream;
use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::encode::encode_borrowed;
use redis_protocol::resp2::types::{BorrowedFrame, OwnedFrame};

use super::Out;

/// A reply from the broker.
pub type Frame = OwnedFrame;

/// A command: its name and arguments, as strings (every key and message here is text).
pub type Cmd = Vec<String>;

/// Builds a [`Cmd`] from its words.
pub fn cmd(words: &[&str]) -> Cmd {
    words.iter().map(|w| w.to_string()).collect()
}

/// A broker address from a `redis://HOST[:PORT][/DB]` URL.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub db: u32,
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis://{}:{}/{}", self.host, self.port, self.db)
    }
}

/// Parses `redis://HOST[:PORT][/DB]` (port 6379 and database 0 by default).
pub fn parse_url(url: &str) -> Result<BrokerUrl, String> {
    let bad = |why: &str| format!("malformed broker URL {url:?}: {why} (want redis://HOST:PORT)");
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| bad("it must start with redis://"))?;
    let (authority, db) = match rest.split_once('/') {
        None | Some((_, "")) => (rest.trim_end_matches('/'), 0),
        Some((authority, db)) => (
            authority,
            db.parse()
                .map_err(|_| bad("the database after / must be a number"))?,
        ),
    };
    if authority.contains('@') {
        return Err(bad("user names and passwords are not supported"));
    }
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
    })
}

/// Whether `e` means the connection is gone (so reconnecting may help), rather than a reply
/// the broker refused or could not be read.
pub fn is_connection_error(e: &io::Error) -> bool {
    !matches!(e.kind(), io::ErrorKind::Other | io::ErrorKind::InvalidData)
}

/// One connection to the broker.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet decoded.
    input: Vec<u8>,
    output: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr, db: u32) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            input: Vec::with_capacity(4096),
            output: Vec::with_capacity(4096),
        };
        if db != 0 {
            conn.call(&cmd(&["SELECT", &db.to_string()])).await?;
        }
        Ok(conn)
    }

    /// Sends one command and returns its reply.
    pub async fn call(&mut self, command: &Cmd) -> io::Result<Frame> {
        let mut replies = self.pipeline(std::slice::from_ref(command)).await?;
        Ok(replies.pop().expect("one reply per command"))
    }

    /// Sends `commands` in one write and returns their replies, in order. An error reply from
    /// the broker is an `Other` error.
    pub async fn pipeline(&mut self, commands: &[Cmd]) -> io::Result<Vec<Frame>> {
        self.output.clear();
        for command in commands {
            let words: Vec<BorrowedFrame<'_>> = command
                .iter()
                .map(|w| BorrowedFrame::BulkString(w.as_bytes()))
                .collect();
            let frame = BorrowedFrame::Array(&words);
            let start = self.output.len();
            self.output.resize(start + frame.encode_len(false), 0);
            encode_borrowed(&mut self.output[start..], &frame, false)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        }
        self.stream.write_all(&self.output).await?;
        let mut replies = Vec::with_capacity(commands.len());
        while replies.len() < commands.len() {
            replies.push(self.read_frame().await?);
        }
        match replies.iter().find_map(error_text) {
            Some(text) => Err(io::Error::other(format!("the broker said: {text}"))),
            None => Ok(replies),
        }
    }

    async fn read_frame(&mut self) -> io::Result<Frame> {
        loop {
            match decode(&self.input) {
                Ok(Some((frame, used))) => {
                    self.input.drain(..used);
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(e) => {
                    let why = format!("not a RESP reply: {e}");
                    return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                }
            }
            let start = self.input.len();
            self.input.resize(start + 16 * 1024, 0);
            let read = self.stream.read(&mut self.input[start..]).await;
            let n = read.inspect_err(|_| self.input.truncate(start))?;
            self.input.truncate(start + n);
            if n == 0 {
                let why = "the broker closed the connection";
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, why));
            }
        }
    }
}

/// An error reply, also one nested in a transaction's `EXEC` array.
fn error_text(frame: &Frame) -> Option<&str> {
    match frame {
        Frame::Error(text) => Some(text),
        Frame::Array(items) => items.iter().find_map(error_text),
        _ => None,
    }
}

/// How many idle connections the pool keeps.
const POOL_SIZE: usize = 4;

/// The broker: its address, a small pool of idle connections, and how long to keep trying
/// when it cannot be reached.
pub struct Broker {
    pub url: BrokerUrl,
    addr: SocketAddr,
    idle: RefCell<Vec<Conn>>,
    pub patience: Duration,
    /// Whether the broker was last seen unreachable: each outage is told once, not once per
    /// connection.
    down: Cell<bool>,
    out: Out,
}

impl Broker {
    /// Resolves the URL's host (on the blocking pool: a DNS lookup blocks) and opens a first
    /// connection, retrying for `patience`.
    pub async fn connect(url: BrokerUrl, patience: Duration, out: Out) -> Result<Broker, String> {
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
            patience,
            down: Cell::new(false),
            out,
        };
        let first = broker.open().await.map_err(|e| e.to_string())?;
        broker.idle.borrow_mut().push(first);
        Ok(broker)
    }

    /// Opens a new connection, retrying with a doubling backoff for `patience`.
    ///
    /// # Errors
    /// The last failure, with the broker's URL and how long it was tried.
    pub async fn open(&self) -> io::Result<Conn> {
        let start = Instant::now();
        let mut backoff = Duration::from_millis(50);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match Conn::open(self.addr, self.url.db).await {
                Ok(conn) => {
                    if self.down.replace(false) {
                        self.out
                            .say(format!("reconnected to the broker at {}", self.url));
                    }
                    return Ok(conn);
                }
                Err(e) if !is_connection_error(&e) => return Err(e),
                Err(e) => e,
            };
            if start.elapsed() >= self.patience {
                let why = format!(
                    "cannot reach the broker at {} ({attempts} attempts in {:.1?}): {error}",
                    self.url,
                    start.elapsed()
                );
                return Err(io::Error::new(error.kind(), why));
            }
            self.lost(&error);
            minirt::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Says once per outage that the broker cannot be reached.
    pub fn lost(&self, error: &io::Error) {
        if !self.down.replace(true) {
            self.out.warn(format!(
                "the broker at {} is unreachable ({error}); retrying for up to {:?}",
                self.url, self.patience
            ));
        }
    }

    /// Runs `commands` as one pipeline on a pooled connection. When the connection fails, opens
    /// another (see [`open`](Self::open)) and sends them again: every caller here sends
    /// commands that may safely run twice.
    pub async fn run(&self, commands: &[Cmd]) -> io::Result<Vec<Frame>> {
        loop {
            let pooled = self.idle.borrow_mut().pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => self.open().await?,
            };
            match conn.pipeline(commands).await {
                Ok(replies) => {
                    let mut idle = self.idle.borrow_mut();
                    if idle.len() < POOL_SIZE {
                        idle.push(conn);
                    }
                    return Ok(replies);
                }
                Err(e) if is_connection_error(&e) => {
                    // Every idle connection went down with the broker too.
                    self.idle.borrow_mut().clear();
                    self.lost(&e);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The bytes of a bulk-string reply, or `None` for a null reply.
pub fn bulk(frame: Frame) -> io::Result<Option<String>> {
    match frame {
        Frame::Null => Ok(None),
        Frame::BulkString(bytes) | Frame::SimpleString(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a reply is not UTF-8")),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected reply {other:?}"),
        )),
    }
}

/// The items of an array reply (a null reply is an empty array).
pub fn array(frame: Frame) -> io::Result<Vec<Frame>> {
    match frame {
        Frame::Array(items) => Ok(items),
        Frame::Null => Ok(Vec::new()),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected reply {other:?}, wanted an array"),
        )),
    }
}
