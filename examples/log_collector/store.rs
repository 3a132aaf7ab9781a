//! From the queue (and from the journal an earlier run left) into the database: the workers,
//! their retries, records set aside, and at start, the opening of the database and the replay.
//!
//! A database that is out (locked by another process, its disk full, a server down) is waited
//! out everywhere here, with the same backoff: by a worker while the program runs, and at
//! start for as long as it takes, until Ctrl-C (the caller races the start against it).

use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::db::{self, Db, DbError, Target, explain, refuses_the_row, waited_out_at_start};
use crate::journal::{self, Aside};
use crate::record::{Frame, Frames, Record, decode_payload};
use crate::{Collector, add, warn};

/// The pauses between attempts to store a batch: doubling from the first to the last.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Records of an earlier run's journal stored per transaction.
const REPLAY_BATCH: usize = 1000;

type SharedDb = Arc<Mutex<Db>>;

/// Runs `f` on the database on the blocking pool.
async fn on_db<T: Send + 'static>(
    db: &SharedDb,
    f: impl FnOnce(&mut Db) -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    let db = db.clone();
    let job = move || f(&mut db.lock().unwrap_or_else(PoisonError::into_inner));
    match minirt::spawn_blocking(job).await {
        Ok(result) => result,
        Err(panicked) => Err(panicked.to_string().into()),
    }
}

/// What became of a batch.
struct Outcome {
    /// Records now in the database (or already there).
    stored: Vec<u64>,
    /// How many of `stored` are new rows (the others were stored before).
    new: u64,
    /// Records the database refuses, with why.
    refused: Vec<(Record, String)>,
}

/// Stores `records`: all in one transaction, or, if the database refuses one of them, each
/// under its own savepoint, so that the refused ones are left out. `Err` for an outage.
async fn store_once(db: &SharedDb, records: Arc<Vec<Record>>) -> Result<Outcome, String> {
    let all = records.clone();
    let error = match on_db(db, move |db| db.insert(&all)).await {
        Ok(new) => {
            let stored = records.iter().map(|r| r.seq).collect();
            let refused = Vec::new();
            return Ok(Outcome {
                stored,
                new,
                refused,
            });
        }
        Err(e) if refuses_the_row(&e) => e,
        Err(e) => return Err(explain(&*e)),
    };
    let all = records.clone();
    let (new, refused) = on_db(db, move |db| db.insert_each(&all))
        .await
        .map_err(|e| format!("{}, then {}", explain(&*error), explain(&*e)))?;
    let mut stored = Vec::new();
    let mut why = refused.into_iter().peekable();
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match why.next_if(|(j, _)| *j == i) {
            Some((_, reason)) => out.push((r.clone(), reason)),
            None => stored.push(r.seq),
        }
    }
    Ok(Outcome {
        stored,
        new,
        refused: out,
    })
}

/// Writes `items` to the `.rejected` file on the pool.
async fn write_aside(path: std::path::PathBuf, items: Vec<Aside>) -> Result<(), String> {
    let job = move || journal::set_aside(&path, &items);
    match minirt::spawn_blocking(job).await {
        Ok(written) => written.map_err(|e| e.to_string()),
        Err(panicked) => Err(panicked.to_string()),
    }
}

/// A worker: takes a record, plus whatever else is queued up to `batch_size`, and stores them.
pub async fn worker(collector: Rc<Collector>, db: Db, batch_size: usize, id: usize) {
    // In a mutex only so that the pool thread can borrow it and a panic there cannot lose it.
    let db = Arc::new(Mutex::new(db));
    while let Ok(first) = collector.queue.get().await {
        let mut batch = vec![first];
        while batch.len() < batch_size
            && let Ok(record) = collector.queue.get_nowait()
        {
            batch.push(record);
        }
        let batch = Arc::new(batch);
        let count = batch.len();
        collector.in_flight.borrow_mut().insert(id, batch.clone());
        store_or_keep(&collector, &db, batch).await;
        collector.in_flight.borrow_mut().remove(&id);
        for _ in 0..count {
            collector
                .queue
                .task_done()
                .expect("one task_done per line taken");
        }
    }
}

/// Stores the batch, retrying with a backoff while the database is unavailable, and sets
/// aside the records it refuses; once stopping has gone on past the shutdown timeout, keeps
/// the batch for the next start instead.
async fn store_or_keep(collector: &Collector, db: &SharedDb, batch: Arc<Vec<Record>>) {
    let count = batch.len();
    let mut backoff = FIRST_BACKOFF;
    loop {
        if collector
            .give_up_at()
            .is_some_and(|at| Instant::now() >= at)
        {
            let why = "the database did not take them before the shutdown timeout";
            return collector.keep(batch.to_vec(), why).await;
        }
        match store_once(db, batch.clone()).await {
            Ok(outcome) => {
                add(&collector.counts.stored, outcome.stored.len() as u64);
                collector.journal.stored(outcome.stored);
                if !outcome.refused.is_empty() {
                    set_aside_refused(collector, outcome.refused).await;
                }
                return;
            }
            Err(e) => {
                warn(&format!(
                    "could not store {count} line(s): {e}; retrying in {backoff:?}"
                ))
                .await;
            }
        }
        let pause = minirt::time::sleep_until(Instant::now() + backoff);
        match collector.give_up_at() {
            // Stopping began meanwhile, or already had: do not pause past its deadline.
            Some(at) => drop(minirt::time::timeout_at(at, pause).await),
            None => pause.await,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Moves the records the database refused to the `.rejected` file, so that they hold up
/// nothing; if that file cannot be written, they are kept for the next start.
async fn set_aside_refused(collector: &Collector, refused: Vec<(Record, String)>) {
    let path = collector.journal.rejected_path();
    let items: Vec<Aside> = refused
        .iter()
        .map(|(r, why)| Aside {
            why: format!("the database refused it: {why}"),
            record: Some(r.clone()),
            bytes: Vec::new(),
        })
        .collect();
    let n = refused.len() as u64;
    match write_aside(path.clone(), items).await {
        Ok(()) => {
            add(&collector.counts.set_aside, n);
            collector.journal.stored(refused.iter().map(|(r, _)| r.seq));
            let why = &refused[0].1;
            warn(&format!(
                "the database refused {n} line(s) ({why}): set aside in {}",
                path.display()
            ))
            .await;
        }
        Err(e) => {
            let records = refused.into_iter().map(|(r, _)| r).collect();
            let why = format!(
                "the database refused them and {} cannot be written ({e})",
                path.display()
            );
            collector.keep(records, &why).await;
        }
    }
}

/// What the replay of an earlier run's journal did.
#[derive(Default)]
pub struct Replayed {
    /// Records stored now.
    pub new: u64,
    /// Records already in the database (a crash came between a commit and the cleanup).
    pub already: u64,
    pub set_aside: u64,
}

/// While the database stays out at start, a reminder this often.
const REMIND_EVERY: Duration = Duration::from_secs(30);

/// Opens the database for `workers` workers (a connection each, the table made), waiting out
/// what [`waited_out_at_start`] names with the workers' backoff. Says so on standard error
/// when the wait begins, every [`REMIND_EVERY`] while it lasts, and when it ends. `Err` for
/// any other error, which needs the user.
pub async fn open(target: &Target, workers: usize) -> Result<Vec<Db>, String> {
    let mut backoff = FIRST_BACKOFF;
    // Since when the database has been out, and when that was last said.
    let mut out: Option<(Instant, Instant)> = None;
    loop {
        let each = target.clone();
        let error = match minirt::spawn_blocking(move || db::open_all(&each, workers)).await {
            Ok(Ok(dbs)) => {
                if let Some((since, _)) = out {
                    let waited = since.elapsed();
                    warn(&format!(
                        "the database is available after {waited:.1?}: starting"
                    ))
                    .await;
                }
                return Ok(dbs);
            }
            Ok(Err(e)) if waited_out_at_start(&*e) => explain(&*e),
            Ok(Err(e)) => return Err(format!("cannot open the database: {}", explain(&*e))),
            Err(e) => return Err(format!("opening the database failed: {e}")),
        };
        let now = Instant::now();
        match out {
            None => {
                out = Some((now, now));
                warn(&format!(
                    "cannot open the database yet ({error}): waiting for it (Ctrl-C to stop)"
                ))
                .await;
            }
            Some((since, told)) if now - told >= REMIND_EVERY => {
                out = Some((since, now));
                let waited = now - since;
                warn(&format!(
                    "still waiting for the database after {waited:.0?} ({error})"
                ))
                .await;
            }
            Some(_) => {}
        }
        minirt::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Stores what earlier runs left in the journal, segment by segment, then deletes each
/// segment. Retries like a worker does, for as long as it takes (the caller stops it on
/// Ctrl-C; the journal is kept). `Err` if the journal cannot be read.
pub async fn replay(collector: &Collector, db: Db) -> (Db, Result<Replayed, String>) {
    let db = Arc::new(Mutex::new(db));
    let outcome = replay_all(collector, &db).await;
    let db = Arc::try_unwrap(db)
        .ok()
        .expect("the pool jobs have finished")
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    (db, outcome)
}

async fn replay_all(collector: &Collector, db: &SharedDb) -> Result<Replayed, String> {
    let dir = collector.journal.dir().to_owned();
    let listed = {
        let dir = dir.clone();
        minirt::spawn_blocking(move || journal::list_segments(&dir)).await
    };
    let segments = match listed {
        Ok(Ok(segments)) => segments,
        Ok(Err(e)) => return Err(format!("cannot read the journal {}: {e}", dir.display())),
        Err(e) => return Err(format!("reading the journal {} failed: {e}", dir.display())),
    };
    let mut total = Replayed::default();
    for path in segments {
        replay_segment(collector, db, &path, &mut total).await?;
    }
    Ok(total)
}

/// Reads one segment: its records, and what it holds that is no record (set aside; a torn
/// tail is only warned about: it was never acknowledged).
async fn read_segment(path: &std::path::Path) -> Result<(Vec<Record>, Vec<Aside>), String> {
    let file = path.to_owned();
    let bytes = match minirt::spawn_blocking(move || std::fs::read(file)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return Err(format!("cannot read {}: {e}", path.display())),
        Err(e) => return Err(format!("reading {} failed: {e}", path.display())),
    };
    let (mut records, mut aside) = (Vec::new(), Vec::new());
    for frame in Frames::new(&bytes) {
        match frame {
            Frame::Whole { offset, payload } => match decode_payload(payload) {
                Ok(record) => records.push(record),
                Err(why) => aside.push(Aside {
                    why: format!("{} at byte {offset}: {why}", path.display()),
                    record: None,
                    bytes: payload.to_vec(),
                }),
            },
            Frame::Unreadable { offset, len } => aside.push(Aside {
                why: format!(
                    "{} at byte {offset}: {len} unreadable byte(s)",
                    path.display()
                ),
                record: None,
                bytes: bytes[offset..offset + len].to_vec(),
            }),
            Frame::Torn { offset, len } => {
                warn(&format!(
                    "{}: dropped a torn record at its end ({len} byte(s) at byte {offset}): \
                     a write cut short, never acknowledged",
                    path.display()
                ))
                .await;
            }
        }
    }
    Ok((records, aside))
}

async fn replay_segment(
    collector: &Collector,
    db: &SharedDb,
    path: &std::path::Path,
    total: &mut Replayed,
) -> Result<(), String> {
    let (records, mut aside) = read_segment(path).await?;
    let shown = path.display();
    for chunk in records.chunks(REPLAY_BATCH) {
        let chunk = Arc::new(chunk.to_vec());
        let mut backoff = FIRST_BACKOFF;
        let outcome = loop {
            match store_once(db, chunk.clone()).await {
                Ok(outcome) => {
                    total.new += outcome.new;
                    total.already += outcome.stored.len() as u64 - outcome.new;
                    break outcome;
                }
                Err(e) => {
                    warn(&format!(
                        "cannot store {shown} yet: {e}; retrying in {backoff:?}"
                    ))
                    .await
                }
            }
            minirt::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        aside.extend(outcome.refused.into_iter().map(|(r, why)| Aside {
            why: format!("the database refused it: {why}"),
            record: Some(r),
            bytes: Vec::new(),
        }));
    }
    if !aside.is_empty() {
        let n = aside.len() as u64;
        let rejected = collector.journal.rejected_path();
        if let Err(e) = write_aside(rejected.clone(), aside).await {
            // Not fatal: the good records are stored; the segment stays, and the next start
            // tries again (storing the good ones again changes nothing).
            warn(&format!(
                "{shown}: cannot set {n} record(s) aside in {} ({e}); the segment is kept",
                rejected.display()
            ))
            .await;
            return Ok(());
        }
        total.set_aside += n;
        warn(&format!(
            "{shown}: set {n} record(s) aside in {}",
            rejected.display()
        ))
        .await;
    }
    let file = path.to_owned();
    if let Ok(Err(e)) = minirt::spawn_blocking(move || std::fs::remove_file(file)).await {
        warn(&format!(
            "{shown} is stored but cannot be deleted ({e}); the next start will find its \
             records stored already"
        ))
        .await;
    }
    Ok(())
}
