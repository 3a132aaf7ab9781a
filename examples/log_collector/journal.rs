//! The write-ahead journal: where an accepted line becomes durable before it is answered `ok`.
//!
//! ```text
//!  connections ──append──▶ pending group ──the committer──▶ write + fdatasync (blocking pool)
//!       ▲                     (bytes)                              │
//!       └──── `ok` once the group's fsync is done ◀────────────────┘
//! ```
//!
//! **Group commit.** Lines that arrive while a write is on the disk wait in the next group,
//! and one `fdatasync` covers them all: the more clients, the more lines per fsync, so
//! throughput holds while each line still waits for its own fsync. The fsync runs on the
//! blocking pool; the loop only copies bytes.
//!
//! **Segments.** The journal is a folder (`logs.db.journal` beside `logs.db` by default). Each
//! start writes files named `RUN-NUMBER.seg`, `RUN` being the start's random run id. Once
//! every record of the open segment is in the database, the segment is emptied before the
//! next write; past [`SEGMENT_BYTES`] with records still unstored, the next write starts a new
//! segment, and a closed one is deleted once its last record is stored. So the journal holds
//! about what the database has not taken yet, and at a clean exit nothing.
//!
//! **Failures.** A write or an fsync that fails (a full disk, a disk error) is cut back off
//! the file, and the lines of its group are answered `error: ...`: they were not accepted,
//! and the next start does not find them. If cutting fails too, the reader finds its way past
//! the damage (`record.rs`).
//!
//! **One collector per journal.** A lock on `FOLDER/lock` (`flock`) is held while running:
//! a second collector on the same journal would replay, and delete, segments the first is
//! still writing.
//!
//! **Set aside.** A record the database refuses, or one that does not decode, is written to
//! the `.rejected` file beside the folder (`logs.db.journal.rejected`), one JSON object a
//! line, fsynced, before the record is given up.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use minirt::sync::Event;
use serde_json::json;

use crate::record::{self, Record};

/// A segment this long, with records still unstored, is closed: the next write starts another.
pub const SEGMENT_BYTES: u64 = 4 << 20;

/// A segment this long whose records are all stored is emptied before the next write. Not at
/// every write: cutting a file costs a metadata update of its own, which a busy journal
/// would otherwise pay once per group.
pub const TRUNCATE_BYTES: u64 = 256 << 10;

/// This start's name on its records: random, below 2^63 (the databases store it signed).
pub fn new_run_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 1).max(1)
}

/// Lines waiting for the next write, and the event that tells them how it went.
struct Pending {
    bytes: Vec<u8>,
    count: u64,
    first_seq: u64,
    group: Rc<Group>,
}

#[derive(Default)]
struct Group {
    done: Event,
    outcome: RefCell<Option<Result<(), String>>>,
}

/// What the loop knows of one of this run's segment files.
struct Segment {
    number: u64,
    /// Its records have seqs from here up to the next segment's `first_seq`.
    first_seq: u64,
    /// Records written to it and not yet stored (or set aside).
    unstored: u64,
    /// Its length, as the last write left it.
    bytes: u64,
}

/// The segment file being written. Used by one pool job at a time (the committer's).
struct OpenSegment {
    number: u64,
    file: File,
    len: u64,
    /// Whether the folder was fsynced since the file was made.
    named: bool,
}

/// How the next write goes.
#[derive(Clone, Copy)]
enum Plan {
    Append,
    /// Every record of the open segment is stored: empty it first.
    Truncate,
    /// The open segment is long and still needed: start segment `number`.
    Rotate {
        number: u64,
    },
}

pub struct Journal {
    dir: PathBuf,
    run: u64,
    next_seq: Cell<u64>,
    pending: RefCell<Pending>,
    kick: Event,
    /// This run's segments, oldest first; the last is the one being written.
    segments: RefCell<VecDeque<Segment>>,
    file: Arc<Mutex<Option<OpenSegment>>>,
    /// No more appends: the committer ends once the pending group is written.
    closing: Cell<bool>,
    /// Whether the last write failed: then the open segment is emptied as soon as all its
    /// records are stored, whatever its length, to make room.
    failed: Cell<bool>,
    /// Whether each record is tracked until stored (the journal mode); with `--no-journal`
    /// only spilled lines are written, and kept until the next start.
    tracked: bool,
    /// Holds the `flock` on `lock` while the journal is open.
    _lock: File,
}

impl Journal {
    /// The journal in folder `dir`, whose lock [`lock`] took.
    pub fn new(dir: &Path, run: u64, tracked: bool, lock: File) -> Journal {
        Journal {
            dir: dir.to_owned(),
            run,
            next_seq: Cell::new(1),
            pending: RefCell::new(Pending::new(1)),
            kick: Event::new(),
            segments: RefCell::default(),
            file: Arc::default(),
            closing: Cell::new(false),
            failed: Cell::new(false),
            tracked,
            _lock: lock,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the file where set-aside records go.
    pub fn rejected_path(&self) -> PathBuf {
        rejected_path(&self.dir)
    }

    /// Names `count` new records: this run, and the next seqs.
    pub fn next_seqs(&self, count: u64) -> std::ops::Range<u64> {
        let first = self.next_seq.get();
        self.next_seq.set(first + count);
        first..first + count
    }

    pub fn run(&self) -> u64 {
        self.run
    }

    /// Writes `records` (named by [`next_seqs`](Self::next_seqs), in order) with the next
    /// group, and returns once the group is on disk (fsynced), or why it is not.
    pub async fn append(&self, records: &[Record]) -> Result<(), String> {
        let group = {
            let mut pending = self.pending.borrow_mut();
            if pending.count == 0
                && let Some(first) = records.first()
            {
                pending.first_seq = first.seq;
            }
            for r in records {
                record::encode(r, &mut pending.bytes);
            }
            pending.count += records.len() as u64;
            pending.group.clone()
        };
        self.kick.set();
        group.done.wait().await;
        group
            .outcome
            .borrow()
            .clone()
            .unwrap_or_else(|| Err("the journal closed first".to_owned()))
    }

    /// The committer: writes each group as it forms, one at a time, until [`close`]d.
    ///
    /// [`close`]: Self::close
    pub async fn commit_groups(self: Rc<Self>) {
        loop {
            if self.pending.borrow().count == 0 {
                if self.closing.get() {
                    return;
                }
                self.kick.wait().await;
                self.kick.clear();
                continue;
            }
            let next = self.next_seq.get();
            let pending = std::mem::replace(&mut *self.pending.borrow_mut(), Pending::new(next));
            let plan = self.plan();
            let (file, dir, run) = (self.file.clone(), self.dir.clone(), self.run);
            let bytes = pending.bytes;
            let job = move || write_group(&file, &dir, run, plan, &bytes);
            let outcome = match minirt::spawn_blocking(job).await {
                Ok(done) => done,
                Err(panicked) => (Err(io::Error::other(panicked.to_string())), None),
            };
            let (result, state) = outcome;
            if let Some((number, len)) = state {
                self.note_segment(number, len, pending.first_seq);
            }
            self.failed.set(result.is_err());
            if result.is_ok() {
                let mut segments = self.segments.borrow_mut();
                segments.back_mut().expect("a segment was written").unstored += pending.count;
            }
            self.delete_finished();
            let result = result.map_err(|e| format!("cannot write the journal: {e}"));
            *pending.group.outcome.borrow_mut() = Some(result);
            pending.group.done.set();
        }
    }

    /// The committer ends once what is pending is written.
    pub fn close(&self) {
        self.closing.set(true);
        self.kick.set();
    }

    fn plan(&self) -> Plan {
        match self.segments.borrow().back() {
            // After a failed write (a full disk, say), as soon as it can help.
            Some(last)
                if last.unstored == 0
                    && last.bytes > 0
                    && (last.bytes >= TRUNCATE_BYTES || self.failed.get()) =>
            {
                Plan::Truncate
            }
            Some(last) if last.bytes >= SEGMENT_BYTES => Plan::Rotate {
                number: last.number + 1,
            },
            Some(_) => Plan::Append,
            None => Plan::Rotate { number: 1 },
        }
    }

    /// After a committer's job: segment `number` is open, `len` bytes long. Lists it if it
    /// is new.
    fn note_segment(&self, number: u64, len: u64, first_seq: u64) {
        let mut segments = self.segments.borrow_mut();
        if segments.back().is_none_or(|s| s.number != number) {
            segments.push_back(Segment {
                number,
                first_seq,
                unstored: 0,
                bytes: 0,
            });
        }
        segments.back_mut().expect("just listed").bytes = len;
    }

    /// The records named by `seqs` are in the database (or set aside): a segment whose every
    /// record is goes.
    pub fn stored(&self, seqs: impl IntoIterator<Item = u64>) {
        if !self.tracked {
            return;
        }
        {
            let mut segments = self.segments.borrow_mut();
            for seq in seqs {
                let i = segments.partition_point(|s| s.first_seq <= seq);
                if let Some(segment) = i.checked_sub(1).and_then(|i| segments.get_mut(i)) {
                    segment.unstored = segment.unstored.saturating_sub(1);
                }
            }
        }
        self.delete_finished();
    }

    /// Deletes the closed segments (all but the last) whose records are all stored.
    fn delete_finished(&self) {
        if !self.tracked {
            return;
        }
        let mut segments = self.segments.borrow_mut();
        let last = segments.back().map(|s| s.number);
        let mut gone = Vec::new();
        segments.retain(|s| {
            let finished = s.unstored == 0 && Some(s.number) != last;
            if finished {
                gone.push(segment_path(&self.dir, self.run, s.number));
            }
            !finished
        });
        if !gone.is_empty() {
            // If this is lost to a crash, the next start replays records already stored,
            // which changes nothing.
            drop(minirt::spawn_blocking(move || {
                for path in gone {
                    let _ = std::fs::remove_file(path);
                }
            }));
        }
    }

    /// How many records of this run are written and not yet stored.
    pub fn unstored(&self) -> u64 {
        self.segments.borrow().iter().map(|s| s.unstored).sum()
    }

    /// At exit: if every record of this run is stored, deletes this run's segments (and
    /// returns `true`); otherwise keeps them for the next start.
    pub async fn finish(&self) -> bool {
        if self.tracked && self.unstored() > 0
            || !self.tracked && !self.segments.borrow().is_empty()
        {
            return false;
        }
        let paths: Vec<_> = self
            .segments
            .borrow_mut()
            .drain(..)
            .map(|s| segment_path(&self.dir, self.run, s.number))
            .collect();
        let file = self.file.clone();
        let _ = minirt::spawn_blocking(move || {
            drop(file.lock().unwrap_or_else(PoisonError::into_inner).take());
            for path in paths {
                let _ = std::fs::remove_file(path);
            }
        })
        .await;
        true
    }
}

/// Makes the journal folder if need be, and takes its lock (held while the file stays open).
/// Blocks: run it on the pool.
pub fn lock(dir: &Path) -> io::Result<File> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)?;
        // The folder's name must survive a crash: fsync its parent.
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        File::open(parent.unwrap_or(Path::new(".")))?.sync_all()?;
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    // SAFETY: `flock` only reads its arguments; `lock` owns the descriptor and outlives
    // the call.
    let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Err(io::Error::other(format!(
                "another log_collector is using the journal {}",
                dir.display()
            )));
        }
        return Err(e);
    }
    Ok(lock)
}

impl Pending {
    fn new(first_seq: u64) -> Pending {
        Pending {
            bytes: Vec::new(),
            count: 0,
            first_seq,
            group: Rc::default(),
        }
    }
}

fn segment_path(dir: &Path, run: u64, number: u64) -> PathBuf {
    dir.join(format!("{run:016x}-{number:06}.seg"))
}

/// The file for set-aside records, beside the journal folder.
pub fn rejected_path(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".rejected");
    PathBuf::from(name)
}

/// The committer's pool job: carries out `plan`, then writes `bytes` and fsyncs. Returns the
/// outcome, and the open segment's number and length after it (`None` if none is open).
fn write_group(
    file: &Mutex<Option<OpenSegment>>,
    dir: &Path,
    run: u64,
    plan: Plan,
    bytes: &[u8],
) -> (io::Result<()>, Option<(u64, u64)>) {
    let mut open = file.lock().unwrap_or_else(PoisonError::into_inner);
    let result = write_planned(&mut open, dir, run, plan, bytes);
    let state = open.as_ref().map(|o| (o.number, o.len));
    (result, state)
}

fn write_planned(
    open: &mut Option<OpenSegment>,
    dir: &Path,
    run: u64,
    plan: Plan,
    bytes: &[u8],
) -> io::Result<()> {
    match plan {
        Plan::Rotate { number } => {
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(segment_path(dir, run, number))?;
            *open = Some(OpenSegment {
                number,
                file,
                len: 0,
                named: false,
            });
        }
        Plan::Truncate => {
            let segment = open.as_mut().expect("a segment to empty");
            segment.file.set_len(0)?;
            segment.len = 0;
        }
        Plan::Append => {}
    }
    let segment = open.as_mut().expect("a segment to write");
    if !segment.named {
        // The new file's name must survive a crash too: fsync the folder (once).
        File::open(dir)?.sync_all()?;
        segment.named = true;
    }
    if let Err(e) = segment
        .file
        .write_all(bytes)
        .and_then(|()| segment.file.sync_data())
    {
        // Cut the part that went in back off, so that later records follow whole ones, and,
        // when the fsync is what failed (a disk error, or no room for the data the write
        // only buffered), so that the lines refused for it do not come back at the next
        // start: a client that sends them again would have them stored twice.
        let _ = segment.file.set_len(segment.len);
        return Err(e);
    }
    segment.len += bytes.len() as u64;
    Ok(())
}

// ---- Reading what earlier runs left. Blocking: on the pool. ----

/// The segment files in the journal folder, in order (by run, then number).
pub fn list_segments(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "seg") && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// One thing set aside: why, and the record (if it decoded) or the raw bytes.
pub struct Aside {
    pub why: String,
    pub record: Option<Record>,
    pub bytes: Vec<u8>,
}

/// Appends `items` to the `.rejected` file, one JSON object a line, and fsyncs it.
pub fn set_aside(path: &Path, items: &[Aside]) -> io::Result<()> {
    let mut text = String::new();
    for item in items {
        let value = match &item.record {
            Some(r) => json!({
                "why": item.why, "run": r.run, "seq": r.seq, "level": r.entry.level,
                "message": r.entry.message, "accepted_at": r.entry.accepted_at,
            }),
            None => {
                let hex: String = item.bytes.iter().map(|b| format!("{b:02x}")).collect();
                json!({ "why": item.why, "bytes_hex": hex })
            }
        };
        text.push_str(&value.to_string());
        text.push('\n');
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let before = file.metadata()?.len();
    if let Err(e) = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_data())
    {
        let _ = file.set_len(before);
        return Err(e);
    }
    Ok(())
}

/// What [`import_old_spill`] did: records now in a segment, lines set aside.
pub struct Imported {
    pub records: usize,
    pub set_aside: usize,
}

/// Turns the spill file an older collector left (`logs.db.spill`: one `ACCEPTED_AT<tab>LEVEL
/// <tab>MESSAGE` line each, unframed) into a segment of the journal, for the replay to store,
/// then deletes it. A line that does not parse, and a last line with no `\n` (a write cut
/// short: the old format cannot tell it from a short line), are set aside instead. The
/// segment's run id is the file's checksum, so a crash before the deletion makes the same
/// records again, which the database stores once. Blocking: run it on the pool.
pub fn import_old_spill(spill: &Path, dir: &Path) -> io::Result<Option<Imported>> {
    let bytes = match std::fs::read(spill) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let run = u64::from(crc32fast::hash(&bytes)) | 1 << 40;
    let (mut frames, mut aside) = (Vec::new(), Vec::new());
    let mut seq = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let parsed = line
            .strip_suffix(b"\n")
            .and_then(|l| std::str::from_utf8(l).ok())
            .and_then(old_spill_entry);
        match parsed {
            Some(entry) => {
                seq += 1;
                record::encode(&Record { run, seq, entry }, &mut frames);
            }
            None => aside.push(Aside {
                why: format!("{}: not a whole line of a spill file", spill.display()),
                record: None,
                bytes: line.to_vec(),
            }),
        }
    }
    if !aside.is_empty() {
        set_aside(&rejected_path(dir), &aside)?;
    }
    let segment = segment_path(dir, run, 1);
    let mut file = File::create(&segment)?;
    file.write_all(&frames)?;
    file.sync_all()?;
    File::open(dir)?.sync_all()?;
    std::fs::remove_file(spill)?;
    Ok(Some(Imported {
        records: seq as usize,
        set_aside: aside.len(),
    }))
}

/// An entry of the old spill format; `None` if the line is not one (the checks that
/// `record::decode_payload` makes of a record included).
fn old_spill_entry(line: &str) -> Option<record::Entry> {
    let mut fields = line.splitn(3, '\t');
    let accepted_at: f64 = fields.next()?.parse().ok()?;
    let level = fields.next()?;
    let level = record::LEVELS.into_iter().find(|&l| l == level)?;
    let message = fields.next()?;
    let entry = record::Entry {
        level,
        message: message.to_owned(),
        accepted_at,
    };
    let mut frame = Vec::new();
    record::encode(
        &Record {
            run: 1,
            seq: 1,
            entry,
        },
        &mut frame,
    );
    let decoded = record::decode_payload(&frame[record::HEADER..]).ok()?;
    Some(decoded.entry)
}
