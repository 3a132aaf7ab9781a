//! What a log line is, and how an accepted one is kept on disk: pure functions with no I/O,
//! so that the fuzz targets `fuzz/fuzz_targets/log_records.rs` and
//! `fuzz/fuzz_targets/log_lines.rs` include this file as it is.
//!
//! **Lines.** [`without_ending`], [`decode`] and [`parse_line`] turn the bytes of one line into
//! an [`Entry`]; [`LineSplitter`] cuts standard input into lines by the same rule that
//! `minirt::io::BufReader::read_until` applies to a socket, with the same limit.
//!
//! **Records.** Each accepted line is written to the journal as one frame:
//!
//! ```text
//! | "LCJ1" | payload length: u32 LE | crc32 of the length: u32 LE | crc32 of the payload: u32 LE |
//! | payload: run u64 LE | seq u64 LE | accepted_at f64 LE | level u8 | message (UTF-8) |
//! ```
//!
//! The length is checked (against its own checksum, and against [`MAX_PAYLOAD`]) before
//! anything is read or allocated for it, so a corrupt length cannot make the reader take
//! gigabytes. [`Frames`] walks a file: a frame whose checksums fail is not trusted, and the
//! reader looks for the next place where a whole valid frame starts. What lies between is
//! [`Frame::Unreadable`]; unreadable bytes with no valid frame after them are a
//! [`Frame::Torn`] tail: a write cut short by a crash or a full disk, which was never
//! acknowledged (a line is answered `ok` only once its frame is written whole and fsynced).
//!
//! `run` and `seq` name the record: `run` is drawn at random by each start of the collector,
//! `seq` counts its records from 1. The database keeps both with the row, under a unique
//! index, which is what makes replaying a journal idempotent.

use std::borrow::Cow;

/// The levels a line may start with; a line without one is `INFO`.
pub const LEVELS: [&str; 4] = ["DEBUG", "INFO", "WARN", "ERROR"];

/// One log entry, as the database stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub level: &'static str,
    pub message: String,
    /// When the line was accepted, in seconds since 1970 (UTC).
    pub accepted_at: f64,
}

/// An accepted entry and its name: the run that accepted it and its number in that run.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub run: u64,
    pub seq: u64,
    pub entry: Entry,
}

/// The line without its ending, `\n` or `\r\n`: what `--max-line` counts.
pub fn without_ending(raw: &[u8]) -> &[u8] {
    match raw.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => raw,
    }
}

/// The line as text, and whether anything had to be replaced to make it so: bytes that are
/// not UTF-8, and NUL bytes (which PostgreSQL's text cannot hold), become U+FFFD.
pub fn decode(raw: &[u8]) -> (String, bool) {
    let text = String::from_utf8_lossy(raw);
    let lossy = matches!(text, Cow::Owned(_));
    if text.contains('\0') {
        return (text.replace('\0', "\u{FFFD}"), true);
    }
    (text.into_owned(), lossy)
}

/// Splits `WARN disk almost full` into its level and message; `None` for a blank line.
pub fn parse_line(line: &str) -> Option<(&'static str, &str)> {
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

/// A piece of input cut by [`LineSplitter`].
#[derive(Debug, PartialEq)]
pub enum Piece {
    /// A line, with its ending if it had one (the last line of the input may have none).
    Line(Vec<u8>),
    /// A line longer than the limit: skipped up to its `\n`.
    TooLong,
}

/// Cuts a stream of bytes into lines of at most `limit` bytes each, ending included, as
/// `minirt::io::BufReader::with_limit(_, limit).read_until(b'\n', _)` does: a longer line is
/// one [`Piece::TooLong`], and the bytes up to its `\n` are dropped as they come, so memory
/// stays within `limit` whatever the input.
pub struct LineSplitter {
    limit: usize,
    partial: Vec<u8>,
    /// In a line already found too long, until its `\n`.
    skipping: bool,
}

impl LineSplitter {
    pub fn new(limit: usize) -> LineSplitter {
        LineSplitter {
            limit,
            partial: Vec::new(),
            skipping: false,
        }
    }

    /// Takes the next bytes of input; appends the pieces they complete to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<Piece>) {
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let end = newline.map_or(bytes.len(), |i| i + 1);
            let (chunk, rest) = bytes.split_at(end);
            bytes = rest;
            if self.skipping {
                self.skipping = newline.is_none();
                continue;
            }
            if self.partial.len() + chunk.len() > self.limit {
                self.partial.clear();
                self.skipping = newline.is_none();
                out.push(Piece::TooLong);
                continue;
            }
            self.partial.extend_from_slice(chunk);
            if newline.is_some() {
                out.push(Piece::Line(std::mem::take(&mut self.partial)));
            }
        }
    }

    /// The end of input: the last line, if it had no `\n`.
    pub fn finish(&mut self) -> Option<Piece> {
        self.skipping = false;
        (!self.partial.is_empty()).then(|| Piece::Line(std::mem::take(&mut self.partial)))
    }
}

// ---- Records on disk. ----

/// The first bytes of every frame: where a reader that lost its place looks for the next one.
pub const MAGIC: [u8; 4] = *b"LCJ1";
/// Magic, length, the length's checksum, the payload's checksum.
pub const HEADER: usize = 16;
/// The fixed part of a payload: run, seq, accepted_at, level.
const FIXED: usize = 8 + 8 + 8 + 1;
/// The longest message: a line of `--max-line`'s largest value, 16 MiB, with every byte
/// replaced by U+FFFD (3 bytes).
pub const MAX_MESSAGE: usize = 3 * (16 << 20);
/// The longest payload a reader accepts; a longer length is corruption.
pub const MAX_PAYLOAD: usize = FIXED + MAX_MESSAGE;
/// `accepted_at` must lie in [0, this): up to the year 10000, which both databases can store.
const MAX_ACCEPTED_AT: f64 = 253_402_300_800.0;

/// Appends the frame of `record` to `out`.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    let entry = &record.entry;
    let level = LEVELS.iter().position(|&l| l == entry.level).unwrap_or(1) as u8;
    let len = (FIXED + entry.message.len()) as u32;
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&len.to_le_bytes()).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // the payload's checksum, below
    let payload = out.len();
    out.extend_from_slice(&record.run.to_le_bytes());
    out.extend_from_slice(&record.seq.to_le_bytes());
    out.extend_from_slice(&entry.accepted_at.to_le_bytes());
    out.push(level);
    out.extend_from_slice(entry.message.as_bytes());
    let crc = crc32fast::hash(&out[payload..]);
    out[start + 12..start + 16].copy_from_slice(&crc.to_le_bytes());
}

/// The record in a frame's payload (one whose checksum matched), or why it cannot be one.
pub fn decode_payload(payload: &[u8]) -> Result<Record, String> {
    if payload.len() < FIXED {
        return Err(format!("a payload of {} bytes is too short", payload.len()));
    }
    let u64_at = |i: usize| u64::from_le_bytes(payload[i..i + 8].try_into().expect("8 bytes"));
    let (run, seq) = (u64_at(0), u64_at(8));
    let accepted_at = f64::from_bits(u64_at(16));
    if !(0.0..MAX_ACCEPTED_AT).contains(&accepted_at) {
        return Err(format!("accepted_at {accepted_at} is not a time"));
    }
    let Some(&level) = LEVELS.get(usize::from(payload[24])) else {
        return Err(format!("level {} is not a level", payload[24]));
    };
    let message = std::str::from_utf8(&payload[FIXED..])
        .map_err(|e| format!("the message is not UTF-8: {e}"))?;
    if message.contains('\0') {
        return Err("the message holds a NUL byte".to_owned());
    }
    if run > i64::MAX as u64 || seq > i64::MAX as u64 {
        return Err(format!(
            "run {run} or seq {seq} does not fit a signed 64-bit integer"
        ));
    }
    let entry = Entry {
        level,
        message: message.to_owned(),
        accepted_at,
    };
    Ok(Record { run, seq, entry })
}

/// What [`Frames`] finds in a file, in order. Offsets and lengths are in bytes.
#[derive(Debug, PartialEq)]
pub enum Frame<'a> {
    /// A whole frame whose checksums match: its payload (which may still not decode).
    Whole { offset: usize, payload: &'a [u8] },
    /// Bytes that are no valid frame, with a valid frame after them: damage.
    Unreadable { offset: usize, len: usize },
    /// Bytes that are no valid frame, up to the end: a write cut short.
    Torn { offset: usize, len: usize },
}

/// Walks the frames of a journal file, finding its way past damage.
pub struct Frames<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Frames<'a> {
    pub fn new(bytes: &'a [u8]) -> Frames<'a> {
        Frames { bytes, pos: 0 }
    }

    /// The payload of the valid frame at `at`, if one starts there.
    fn valid_at(&self, at: usize) -> Option<&'a [u8]> {
        let header = self.bytes.get(at..at.checked_add(HEADER)?)?;
        let word = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().expect("4 bytes"));
        if header[..4] != MAGIC || crc32fast::hash(&header[4..8]) != word(8) {
            return None;
        }
        let len = word(4) as usize;
        if len > MAX_PAYLOAD {
            return None;
        }
        let payload = self.bytes.get(at + HEADER..at + HEADER + len)?;
        (crc32fast::hash(payload) == word(12)).then_some(payload)
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        let offset = self.pos;
        if offset >= self.bytes.len() {
            return None;
        }
        if let Some(payload) = self.valid_at(offset) {
            self.pos = offset + HEADER + payload.len();
            return Some(Frame::Whole { offset, payload });
        }
        // Lost: look for the next magic that starts a valid frame.
        let mut at = offset + 1;
        while let Some(found) = find_magic(&self.bytes[at..]) {
            at += found;
            if self.valid_at(at).is_some() {
                self.pos = at;
                let len = at - offset;
                return Some(Frame::Unreadable { offset, len });
            }
            at += 1;
        }
        self.pos = self.bytes.len();
        let len = self.bytes.len() - offset;
        Some(Frame::Torn { offset, len })
    }
}

fn find_magic(bytes: &[u8]) -> Option<usize> {
    bytes.windows(MAGIC.len()).position(|w| w == MAGIC)
}
