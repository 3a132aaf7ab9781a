//! The databases: a SQLite file, or PostgreSQL. Everything here blocks, so it only ever runs
//! on the blocking pool.
//!
//! Each row keeps the name of its journal record, `(run_id, seq)`, under a unique index, and
//! every insert says `ON CONFLICT (run_id, seq) DO NOTHING`: storing a record a second time
//! (replaying a journal whose cleanup a crash cut short) changes nothing. A table made by an
//! older collector gets the two columns added; its old rows keep them NULL, which the index
//! lets be.

use std::time::Duration;

use crate::record::Record;

#[derive(Clone)]
pub enum Target {
    Sqlite(String),
    Postgres(Box<postgres::Config>),
}

pub enum Db {
    Sqlite {
        conn: Box<rusqlite::Connection>,
        path: String,
        /// The file opened: checked after each commit (see [`Db::check_file`]). `None` when
        /// the path cannot be looked at (a `file:` URI).
        file: Option<FileId>,
    },
    Postgres(Box<postgres::Client>),
}

/// What names a file, whatever its path: its device and inode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileId(u64, u64);

fn file_id(path: &str) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(FileId(meta.dev(), meta.ino()))
}

pub type DbError = Box<dyn std::error::Error + Send + Sync>;
pub type DbResult<T> = Result<T, DbError>;

/// How long one attempt to store a batch waits for SQLite's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(3);

/// An error with its causes: the `postgres` crate's own message is only "db error".
pub fn explain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Whether the database refused a row for what it holds (a constraint, a value it cannot
/// store), so that it never will take it: such a row is set aside. Any other error (a lock,
/// a full disk, a lost connection) is an outage, waited out.
pub fn refuses_the_row(error: &DbError) -> bool {
    if let Some(rusqlite::Error::SqliteFailure(e, _)) = error.downcast_ref::<rusqlite::Error>() {
        use rusqlite::ErrorCode::{ConstraintViolation, TooBig, TypeMismatch};
        return matches!(e.code, ConstraintViolation | TooBig | TypeMismatch);
    }
    if let Some(e) = error.downcast_ref::<postgres::Error>() {
        // Classes 22 (data exception), 23 (integrity constraint), 54 (program limit).
        let class = e.code().map(|state| &state.code()[..2]);
        return matches!(class, Some("22" | "23" | "54"));
    }
    false
}

/// Whether a start should wait out `error`, met while opening the database or making its
/// table: another process holds SQLite's write lock (`BEGIN IMMEDIATE` in a `sqlite3` shell),
/// its disk is full, or PostgreSQL cannot be reached or does not take connections yet (it is
/// starting, shutting down, or out of connections). Anything else (a file that cannot be
/// opened, one that is not a database, a password refused, no such database) needs the user:
/// the start fails at once.
pub fn waited_out_at_start(error: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(rusqlite::Error::SqliteFailure(e, _)) = error.downcast_ref::<rusqlite::Error>() {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked, DiskFull};
        return matches!(e.code, DatabaseBusy | DatabaseLocked | DiskFull);
    }
    if let Some(e) = error.downcast_ref::<postgres::Error>() {
        let Some(db_error) = e.as_db_error() else {
            return true; // no answer from a server: refused, reset, timed out, DNS
        };
        // Classes 08 (connection exception), 53 (insufficient resources), and 57P01-57P03
        // (shutting down, or starting: "the database system is starting up").
        let code = db_error.code().code();
        return code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0");
    }
    false
}

const SQLITE_TABLE: &str = "CREATE TABLE IF NOT EXISTS logs (id INTEGER PRIMARY KEY, \
    level TEXT NOT NULL, message TEXT NOT NULL, created_at TEXT NOT NULL, \
    run_id INTEGER, seq INTEGER)";
const SQLITE_HAS_SEQ: &str = "SELECT count(*) FROM pragma_table_info('logs') WHERE name = 'seq'";
const SQLITE_ADD_SEQ: &str =
    "ALTER TABLE logs ADD COLUMN run_id INTEGER; ALTER TABLE logs ADD COLUMN seq INTEGER";
const SQLITE_INDEX: &str = "CREATE UNIQUE INDEX IF NOT EXISTS logs_run_seq ON logs (run_id, seq)";
const SQLITE_INSERT: &str = "INSERT INTO logs (level, message, created_at, run_id, seq) \
    VALUES (?1, ?2, strftime('%Y-%m-%d %H:%M:%f', ?3, 'unixepoch'), ?4, ?5) \
    ON CONFLICT (run_id, seq) DO NOTHING";
const PG_TABLE: &str = "CREATE TABLE IF NOT EXISTS logs (id bigserial PRIMARY KEY, \
    level text NOT NULL, message text NOT NULL, created_at timestamptz NOT NULL, \
    run_id bigint, seq bigint); \
    ALTER TABLE logs ADD COLUMN IF NOT EXISTS run_id bigint; \
    ALTER TABLE logs ADD COLUMN IF NOT EXISTS seq bigint; \
    CREATE UNIQUE INDEX IF NOT EXISTS logs_run_seq ON logs (run_id, seq)";
const PG_INSERT: &str = "INSERT INTO logs (level, message, created_at, run_id, seq) \
    VALUES ($1, $2, to_timestamp($3), $4, $5) ON CONFLICT (run_id, seq) DO NOTHING";

/// `run` and `seq` as the database's signed integers: both are below 2^63 (see `record.rs`).
fn signed(record: &Record) -> (i64, i64) {
    (record.run as i64, record.seq as i64)
}

impl Db {
    pub fn open(target: &Target) -> DbResult<Db> {
        Ok(match target {
            Target::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path)?;
                // The workers' connections take turns writing: wait for the lock a while. A
                // longer wait (another process holding it) is the worker's retry loop's job,
                // which can watch the shutdown deadline between attempts.
                conn.busy_timeout(BUSY_TIMEOUT)?;
                // Write-ahead logging: `sqlite3 logs.db` can read while the workers write.
                conn.pragma_update(None, "journal_mode", "WAL")?;
                let file = file_id(path);
                Db::Sqlite {
                    conn: Box::new(conn),
                    path: path.clone(),
                    file,
                }
            }
            Target::Postgres(config) => Db::Postgres(Box::new(config.connect(postgres::NoTls)?)),
        })
    }

    /// Checks, after an attempt to store, that the path still names the file the connection
    /// wrote to. A file deleted or replaced while open (by hand, by a rotation: `rm logs.db*`,
    /// `mv`) still takes rows in WAL mode, but nobody will ever read them: the rows just
    /// committed are as good as lost (and were SQLite to refuse the write instead, as it
    /// does in its other journal modes, it would refuse for ever). Then the connection is
    /// opened again at the path (a new file, given the table), and the error, an outage, has
    /// the caller store the batch again, there.
    fn check_file(&mut self) -> DbResult<()> {
        let Db::Sqlite {
            path,
            file: Some(file),
            ..
        } = self
        else {
            return Ok(());
        };
        if file_id(path) == Some(*file) {
            return Ok(());
        }
        let why = format!("the database file {path} was deleted or replaced while open");
        let again = |e: DbError| format!("{why}, and cannot be opened again: {}", explain(&*e));
        let mut reopened = Db::open(&Target::Sqlite(path.clone())).map_err(again)?;
        reopened.create_table().map_err(again)?;
        *self = reopened;
        Err(format!("{why}: opened it again, to store the lines there").into())
    }

    /// Makes the table if it is missing, and gives an older one the record columns.
    pub fn create_table(&mut self) -> DbResult<()> {
        match self {
            Db::Sqlite { conn, .. } => {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                tx.execute(SQLITE_TABLE, [])?;
                let has_seq: i64 = tx.query_row(SQLITE_HAS_SEQ, [], |row| row.get(0))?;
                if has_seq == 0 {
                    tx.execute_batch(SQLITE_ADD_SEQ)?;
                }
                tx.execute(SQLITE_INDEX, [])?;
                tx.commit()?;
            }
            Db::Postgres(client) => client.batch_execute(PG_TABLE)?,
        }
        Ok(())
    }

    /// Inserts the records in one transaction: all of them, or (on error) none. Returns how
    /// many rows are new (a record stored before is left as it is).
    pub fn insert(&mut self, records: &[Record]) -> DbResult<u64> {
        let inserted = self.insert_all(records);
        self.check_file()?;
        inserted
    }

    fn insert_all(&mut self, records: &[Record]) -> DbResult<u64> {
        let mut new = 0;
        match self {
            Db::Sqlite { conn, .. } => {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                {
                    let mut insert = tx.prepare_cached(SQLITE_INSERT)?;
                    for r in records {
                        let (run, seq) = signed(r);
                        let e = &r.entry;
                        new += insert.execute((e.level, &e.message, e.accepted_at, run, seq))?;
                    }
                }
                tx.commit()?;
            }
            Db::Postgres(client) => {
                let mut tx = client.transaction()?;
                let insert = tx.prepare(PG_INSERT)?;
                for r in records {
                    let (run, seq) = signed(r);
                    let e = &r.entry;
                    let values: [&(dyn postgres::types::ToSql + Sync); 5] =
                        [&e.level, &e.message, &e.accepted_at, &run, &seq];
                    new += tx.execute(&insert, &values)? as usize;
                }
                tx.commit()?;
            }
        }
        Ok(new as u64)
    }

    /// Like [`insert`](Self::insert), but a record the database refuses for what it holds
    /// ([`refuses_the_row`]) is left out instead of failing the rest: each goes in under a
    /// savepoint of its own. Returns the new rows, and the records refused, by index, with
    /// why. Slower: for a batch that [`insert`](Self::insert) could not store.
    pub fn insert_each(&mut self, records: &[Record]) -> DbResult<(u64, Vec<(usize, String)>)> {
        let inserted = self.insert_one_by_one(records);
        self.check_file()?;
        inserted
    }

    fn insert_one_by_one(&mut self, records: &[Record]) -> DbResult<(u64, Vec<(usize, String)>)> {
        let (mut new, mut refused) = (0, Vec::new());
        match self {
            Db::Sqlite { conn, .. } => {
                let mut tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                for (i, r) in records.iter().enumerate() {
                    let (run, seq) = signed(r);
                    let e = &r.entry;
                    let one = tx.savepoint()?; // rolled back when dropped uncommitted
                    let inserted = one.prepare_cached(SQLITE_INSERT).and_then(|mut s| {
                        s.execute((e.level, &e.message, e.accepted_at, run, seq))
                    });
                    match inserted.map_err(DbError::from) {
                        Ok(n) => {
                            one.commit()?;
                            new += n as u64;
                        }
                        Err(error) if refuses_the_row(&error) => {
                            refused.push((i, explain(&*error)))
                        }
                        Err(error) => return Err(error),
                    }
                }
                tx.commit()?;
            }
            Db::Postgres(client) => {
                let mut tx = client.transaction()?;
                for (i, r) in records.iter().enumerate() {
                    let (run, seq) = signed(r);
                    let e = &r.entry;
                    let values: [&(dyn postgres::types::ToSql + Sync); 5] =
                        [&e.level, &e.message, &e.accepted_at, &run, &seq];
                    let mut one = tx.transaction()?; // a savepoint, rolled back when dropped
                    match one.execute(PG_INSERT, &values).map_err(DbError::from) {
                        Ok(n) => {
                            one.commit()?;
                            new += n;
                        }
                        Err(error) if refuses_the_row(&error) => {
                            refused.push((i, explain(&*error)))
                        }
                        Err(error) => return Err(error),
                    }
                }
                tx.commit()?;
            }
        }
        Ok((new, refused))
    }
}

/// Opens one connection per worker, and makes the table first (once, so that two workers do
/// not race to create it).
pub fn open_all(target: &Target, count: usize) -> DbResult<Vec<Db>> {
    let mut first = Db::open(target)?;
    first.create_table()?;
    let mut all = vec![first];
    for _ in 1..count {
        all.push(Db::open(target)?);
    }
    Ok(all)
}
