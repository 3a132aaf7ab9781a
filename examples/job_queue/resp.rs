//! Replies from the broker, checked against caps before they are decoded.
//!
//! A reply is outside input: the broker may be misconfigured (an HTTP server on port 6379),
//! broken, or hostile. `redis-protocol` decodes arrays by recursion and trusts the lengths it
//! is given, so a reply of 300,000 nested one-element arrays overflows the stack, and a bulk
//! string that claims 400 MiB is buffered until it is all there. So a [`Scanner`] first walks
//! the reply's framing itself, iteratively, with an explicit stack of open arrays, and checks
//! every cap ([`MAX_DEPTH`], [`MAX_LINE`], [`MAX_BULK`], [`MAX_ITEMS`], [`MAX_REPLY`]) as soon
//! as a length is announced, before the bytes arrive. Only a whole reply that passed goes to
//! `redis-protocol`, whose recursion is then at most `MAX_DEPTH` deep.
//!
//! The scanner resumes where it stopped: each byte of a line is looked at about once, and a
//! bulk string's payload is skipped by its length, not scanned. This module is pure (no I/O,
//! no runtime), so `fuzz/fuzz_targets/job_queue_resp.rs` runs it on arbitrary bytes.

use std::fmt;

use redis_protocol::resp2::types::OwnedFrame;

/// A decoded reply.
pub type Frame = OwnedFrame;

/// Arrays inside arrays: job_queue's deepest reply (`HSCAN`'s) is 2 deep.
pub const MAX_DEPTH: usize = 8;
/// Bytes in one line: a simple string, an error, an integer, or a length.
pub const MAX_LINE: usize = 64 * 1024;
/// Bytes in one bulk string: the largest message or result job_queue will read.
pub const MAX_BULK: usize = 1024 * 1024;
/// Elements in one reply, counted at every depth (an array is one, besides its own).
pub const MAX_ITEMS: usize = 100_000;
/// Bytes in one reply, all framing included.
pub const MAX_REPLY: usize = 16 * 1024 * 1024;

/// Which cap a reply broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    Line,
    Bulk,
    Items,
    Reply,
}

/// Why a reply is not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// Not RESP2 at all, or a length or number that does not parse.
    Malformed(String),
    /// Arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Over a cap: which one, the length announced (or seen so far), and how deep in
    /// arrays it was (0: the reply itself).
    TooBig { cap: Cap, len: u64, depth: usize },
}

impl ReplyError {
    /// The length of a reply that is one bulk string over [`MAX_BULK`]: for a pop, a message
    /// too big to read, which is set aside unread rather than blamed on the broker.
    pub fn oversize_bulk(&self) -> Option<u64> {
        match *self {
            ReplyError::TooBig {
                cap: Cap::Bulk,
                len,
                depth: 0,
            } => Some(len),
            _ => None,
        }
    }
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Malformed(why) => write!(f, "a reply that is not RESP2 ({why})"),
            ReplyError::TooDeep => write!(f, "a reply nested deeper than {MAX_DEPTH} arrays"),
            ReplyError::TooBig { cap, len, .. } => {
                let (what, limit) = match cap {
                    Cap::Line => ("a line of", MAX_LINE),
                    Cap::Bulk => ("a bulk string of", MAX_BULK),
                    Cap::Items => ("an array of", MAX_ITEMS),
                    Cap::Reply => ("a reply of", MAX_REPLY),
                };
                let unit = if *cap == Cap::Items {
                    "elements"
                } else {
                    "bytes"
                };
                write!(f, "{what} {len} {unit}, over the cap of {limit}")
            }
        }
    }
}

impl std::error::Error for ReplyError {}

/// Walks the framing of one reply at a time, keeping its place between calls.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Where the next element starts: everything before it has been checked.
    pos: usize,
    /// For each open array, outermost first, how many elements it still waits for.
    open: Vec<u64>,
    /// Elements of this reply seen so far, at every depth.
    items: u64,
}

impl Scanner {
    /// Checks `buf`, which starts with a reply and holds what has arrived of it so far (and
    /// maybe the start of the next ones), from where the last call stopped. Returns the
    /// reply's length once all of it is there, and is then ready for the next reply (which
    /// starts at that length: the caller removes the reply from the front of its buffer).
    ///
    /// `buf` must keep the bytes it had at the last call, with more appended.
    ///
    /// # Errors
    /// The first cap broken or the first malformed element. The scanner's state is then
    /// undefined: the connection should be dropped.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, ReplyError> {
        loop {
            let depth = self.open.len();
            let Some(end) = line_end(buf, self.pos, depth)? else {
                return Ok(None);
            };
            let (kind, text) = (buf[self.pos], &buf[self.pos + 1..end]);
            let mut next = end + 2;
            // This element, and (for an array) every element it announces, within the cap.
            // Counted once it is complete: a partial one is looked at again next time.
            let seen = self.items + 1;
            if seen > MAX_ITEMS as u64 {
                let (cap, len) = (Cap::Items, seen);
                return Err(ReplyError::TooBig { cap, len, depth });
            }
            match kind {
                b'+' | b'-' => {}
                b':' => {
                    parse_integer(text)?;
                }
                b'$' => {
                    if let Some(len) = parse_length(text)? {
                        if len > MAX_BULK as u64 {
                            let cap = Cap::Bulk;
                            return Err(ReplyError::TooBig { cap, len, depth });
                        }
                        let len = len as usize; // at most MAX_BULK
                        check_reply_size(next + len + 2, depth)?;
                        if buf.len() < next + len + 2 {
                            return Ok(None); // the payload is still on its way
                        }
                        if &buf[next + len..next + len + 2] != b"\r\n" {
                            let why = "a bulk string longer than its length";
                            return Err(ReplyError::Malformed(why.into()));
                        }
                        next += len + 2;
                    }
                }
                b'*' => {
                    if let Some(len) = parse_length(text)? {
                        if seen.saturating_add(len) > MAX_ITEMS as u64 {
                            let cap = Cap::Items;
                            return Err(ReplyError::TooBig { cap, len, depth });
                        }
                        if len > 0 {
                            if depth + 1 > MAX_DEPTH {
                                return Err(ReplyError::TooDeep);
                            }
                            check_reply_size(next, depth)?;
                            self.items = seen;
                            self.pos = next;
                            self.open.push(len);
                            continue; // its elements follow
                        }
                    }
                }
                other => {
                    let why = format!("no reply starts with byte {other:#04x}");
                    return Err(ReplyError::Malformed(why));
                }
            }
            check_reply_size(next, depth)?;
            self.items = seen;
            self.pos = next;
            // An element is complete: so is every array it was the last element of.
            loop {
                match self.open.last_mut() {
                    None => {
                        let len = self.pos;
                        *self = Scanner::default();
                        return Ok(Some(len));
                    }
                    Some(left) => {
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        self.open.pop();
                    }
                }
            }
        }
    }
}

/// Where the line that starts at `start` ends (the index of its `\r\n`), if it is all there.
fn line_end(buf: &[u8], start: usize, depth: usize) -> Result<Option<usize>, ReplyError> {
    let seen = &buf[start.min(buf.len())..];
    let window = &seen[..seen.len().min(MAX_LINE + 3)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(0) => Err(ReplyError::Malformed("an empty line".into())),
        Some(i) => Ok(Some(start + i)),
        None if window.len() > MAX_LINE + 2 => {
            let len = window.len() as u64;
            Err(ReplyError::TooBig {
                cap: Cap::Line,
                len,
                depth,
            })
        }
        None => Ok(None),
    }
}

fn check_reply_size(len: usize, depth: usize) -> Result<(), ReplyError> {
    if len > MAX_REPLY {
        let len = len as u64;
        return Err(ReplyError::TooBig {
            cap: Cap::Reply,
            len,
            depth,
        });
    }
    Ok(())
}

/// A bulk string's or array's length: `None` for `-1` (a null reply).
fn parse_length(text: &[u8]) -> Result<Option<u64>, ReplyError> {
    if text == b"-1" {
        return Ok(None);
    }
    let digits = !text.is_empty() && text.len() <= 19 && text.iter().all(u8::is_ascii_digit);
    let len = std::str::from_utf8(text).ok().filter(|_| digits);
    match len.and_then(|t| t.parse().ok()) {
        Some(len) => Ok(Some(len)),
        None => {
            let shown = String::from_utf8_lossy(&text[..text.len().min(40)]).into_owned();
            Err(ReplyError::Malformed(format!("a bad length {shown:?}")))
        }
    }
}

fn parse_integer(text: &[u8]) -> Result<i64, ReplyError> {
    let number = std::str::from_utf8(text).ok().and_then(|t| t.parse().ok());
    number.ok_or_else(|| {
        let shown = String::from_utf8_lossy(&text[..text.len().min(40)]).into_owned();
        ReplyError::Malformed(format!("a bad integer {shown:?}"))
    })
}

/// Decodes the reply at the front of `buf` once the scanner has seen all of it: the frame,
/// and how many bytes of `buf` it took. `Ok(None)`: more bytes are needed.
///
/// # Errors
/// As [`Scanner::scan`]; also a reply `redis-protocol` will not decode (an error reply that
/// is not UTF-8).
pub fn decode(scanner: &mut Scanner, buf: &[u8]) -> Result<Option<(Frame, usize)>, ReplyError> {
    let Some(len) = scanner.scan(buf)? else {
        return Ok(None);
    };
    match redis_protocol::resp2::decode::decode(&buf[..len]) {
        Ok(Some((frame, used))) if used == len => Ok(Some((frame, len))),
        Ok(_) => Err(ReplyError::Malformed(
            "the scanner and the decoder disagree on the reply's length".into(),
        )),
        Err(e) => Err(ReplyError::Malformed(e.to_string())),
    }
}
