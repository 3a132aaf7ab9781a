//! The command line: the flags, their defaults and their limits.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::db::Target;

pub const USAGE: &str = "usage: log_collector [--addr ADDR | --stdin] [--db PATH | --db postgres://USER:PASS@HOST/DB] \
[--journal DIR] [--no-journal] [--workers N] [--batch N] [--queue N] [--max-line BYTES] [--idle-timeout-secs S] \
[--shutdown-timeout-secs S]
defaults: --addr 127.0.0.1:5140 --db logs.db --journal DB.journal (log_collector.journal for PostgreSQL) --workers 2 \
--batch 256 --queue 1024 --max-line 8192 --idle-timeout-secs 60 --shutdown-timeout-secs 10";

pub struct Config {
    /// `None` for `--stdin`.
    pub addr: Option<String>,
    pub target: Target,
    /// `None`: next to the SQLite file, or `log_collector.journal` for PostgreSQL.
    pub journal: Option<PathBuf>,
    pub durable: bool,
    pub workers: usize,
    pub batch: usize,
    pub queue: usize,
    pub max_line: usize,
    pub idle_timeout: Duration,
    pub shutdown_timeout: Duration,
}

impl Config {
    pub fn journal_dir(&self) -> PathBuf {
        match (&self.journal, &self.target) {
            (Some(path), _) => path.clone(),
            (None, Target::Sqlite(db)) => PathBuf::from(format!("{db}.journal")),
            (None, Target::Postgres(_)) => PathBuf::from("log_collector.journal"),
        }
    }

    /// Where a collector from before the journal left its spill file, by default.
    pub fn old_spill_path(&self) -> PathBuf {
        match &self.target {
            Target::Sqlite(db) => PathBuf::from(format!("{db}.spill")),
            Target::Postgres(_) => PathBuf::from("log_collector.spill"),
        }
    }
}

pub fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
    let mut config = Config {
        addr: Some("127.0.0.1:5140".to_owned()),
        target: Target::Sqlite("logs.db".to_owned()),
        journal: None,
        durable: true,
        workers: 2,
        batch: 256,
        queue: 1024,
        max_line: 8192,
        idle_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(10),
    };
    let (mut stdin, mut addr_given) = (false, false);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--stdin" => {
                stdin = true;
                continue;
            }
            "--no-journal" => {
                config.durable = false;
                continue;
            }
            _ => {}
        }
        addr_given |= flag == "--addr";
        let Some(value) = args.next() else {
            return Err(format!("unexpected argument {flag:?}, or it needs a value"));
        };
        match flag.as_str() {
            "--addr" => config.addr = Some(value),
            "--db" => config.target = parse_target(value)?,
            "--workers" => config.workers = number(&flag, &value, 64)?,
            "--batch" => config.batch = number(&flag, &value, 100_000)?,
            "--queue" => config.queue = number(&flag, &value, 1_000_000)?,
            "--max-line" => config.max_line = number(&flag, &value, 16 << 20)?,
            "--journal" => config.journal = Some(PathBuf::from(value)),
            "--spill" => {
                return Err(
                    "--spill is gone: accepted lines wait in the journal, a folder \
                            (--journal DIR)"
                        .to_owned(),
                );
            }
            "--idle-timeout-secs" => {
                config.idle_timeout = Duration::from_secs(number(&flag, &value, 86_400)? as u64)
            }
            "--shutdown-timeout-secs" => {
                config.shutdown_timeout = Duration::from_secs(number(&flag, &value, 86_400)? as u64)
            }
            _ => return Err(format!("unexpected argument {flag:?}")),
        }
    }
    if stdin && addr_given {
        return Err(
            "--stdin and --addr do not go together: lines come from one or the other".into(),
        );
    }
    if stdin {
        config.addr = None;
    }
    Ok(config)
}

fn parse_target(db: String) -> Result<Target, String> {
    if !(db.starts_with("postgres://") || db.starts_with("postgresql://")) {
        if is_in_memory(&db) {
            return Err(format!(
                "--db {db:?} is an in-memory SQLite database: each worker would get its own \
                 empty one, and every line would be gone at exit. Give a file name"
            ));
        }
        return Ok(Target::Sqlite(db));
    }
    let mut config = postgres::Config::from_str(&db)
        .map_err(|e| format!("--db is not a usable PostgreSQL URL: {e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(Target::Postgres(Box::new(config)))
}

/// `:memory:`, `""` (a private temporary database) and `file:` URIs that ask for memory.
fn is_in_memory(db: &str) -> bool {
    let uri = db.starts_with("file:");
    db.is_empty()
        || db == ":memory:"
        || (uri && (db.contains(":memory:") || db.contains("mode=memory")))
}

fn number(flag: &str, value: &str, max: usize) -> Result<usize, String> {
    match value.parse() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} wants a whole number from 1 to {max}, not {value:?}"
        )),
    }
}
