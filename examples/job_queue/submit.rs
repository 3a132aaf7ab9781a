//! `job_queue submit`: queues a batch on the broker, shows its progress, and reads its results
//! back into a table by task kind. See `broker.rs` for the keys and the message format.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::broker::planned_call;
use super::message::Message;
use super::out::Out;
use super::scripts::{self, QUEUE, RESULT_TTL};
use super::wire::{Broker, Fault, cmd};

/// Messages queued in one script ([`scripts::PUSH_ONCE`]).
const CHUNK: usize = 500;
/// Entries of the done list read at a time.
const READ_AT_ONCE: usize = 1000;
/// How long `submit` waits before it looks at the done list again, when nothing was new.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// What `submit` has learnt from the batch's done list, and how to show it.
struct Progress {
    jobs: u64,
    start: Instant,
    /// Whether stderr is a terminal, where the line is redrawn in place.
    terminal: bool,
    done: Cell<u64>,
    failed: Cell<u64>,
    out: Out,
}

/// Queues `jobs` jobs (all of kind `only`, or the demo's mixed plan), waits for every result,
/// and returns the summary table; all of it before `deadline` (the broker was made with the
/// same one, so that an outage is waited out only until then).
pub async fn submit(
    broker: Broker,
    jobs: u64,
    only: Option<&'static str>,
    (start, deadline): (Instant, Instant),
    out: Out,
) -> Result<String, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let batch = format!("b{}-{:x}", std::process::id(), nanos.as_micros());
    let message = |i: u64| {
        let (task, args) = match only {
            Some(name) => (name, planned_args(name, i)),
            None => planned_call(super::plan(i)),
        };
        Message {
            id: format!("{batch}:{i}"),
            batch: batch.clone(),
            task: task.to_string(),
            args,
            retries: 0,
        }
        .to_json()
    };
    let ids: Vec<u64> = (0..jobs).collect();
    for (n, chunk) in ids.chunks(CHUNK).enumerate() {
        let marker = format!("jq:pushed:{batch}:{n}");
        let messages: Vec<String> = chunk.iter().map(|&i| message(i)).collect();
        let mut args = vec![RESULT_TTL.as_bytes()];
        args.extend(messages.iter().map(String::as_bytes));
        let keys = [marker.as_bytes(), QUEUE.as_bytes()];
        let pushed = broker.eval(scripts::PUSH_ONCE, &keys, &args).await;
        pushed.map_err(|e| e.to_string())?;
    }
    out.say(format!(
        "submitted {jobs} jobs as batch {batch} in {:.2?}",
        start.elapsed()
    ));

    let progress = Rc::new(Progress {
        jobs,
        start,
        terminal: std::io::stderr().is_terminal(),
        done: Cell::new(0),
        failed: Cell::new(0),
        out: out.clone(),
    });
    let shower = minirt::spawn(show_progress(progress.clone(), out.clone()));
    let waited = wait_for_batch(&broker, &batch, jobs, &progress, deadline).await;
    shower.abort();
    progress.show(&out, true);
    let redelivered = waited?;
    let table = summarize(&broker, &batch, jobs, redelivered, start.elapsed()).await;
    table.map_err(|e| e.to_string())
}

/// The arguments of job `i` when every job is of kind `name`.
fn planned_args(name: &str, i: u64) -> Vec<u64> {
    match name {
        "crunch" => vec![i, 0],
        "flaky" => vec![1],
        "slow" => vec![i],
        _ => vec![i, i],
    }
}

/// Reads the batch's done list until every job has reported; returns how many reported more
/// than once (ran again after a worker was taken for dead).
///
/// The list is read by position (`LRANGE`), never popped: a reply lost with a broker that
/// dies loses nothing, as the entries are still there to read again.
async fn wait_for_batch(
    broker: &Broker,
    batch: &str,
    jobs: u64,
    progress: &Progress,
    deadline: Instant,
) -> Result<u64, String> {
    let done_key = format!("jq:done:{batch}");
    let prefix = format!("{batch}:");
    let mut seen = vec![false; jobs as usize];
    let (mut read, mut redelivered, mut strange) = (0, 0, 0);
    while progress.done.get() < jobs {
        let gave_up = || {
            format!(
                "gave up waiting: {} of {jobs} jobs reported before the deadline",
                progress.done.get()
            )
        };
        if Instant::now() >= deadline {
            return Err(gave_up());
        }
        let last = read + READ_AT_ONCE - 1;
        let range = cmd(&["LRANGE", &done_key, &read.to_string(), &last.to_string()]);
        let entries = match broker.run_one(range).await {
            Ok(reply) => broker.array(reply).map_err(|e| e.to_string())?,
            Err(Fault::GaveUp(why)) => return Err(format!("{}: {why}", gave_up())),
            Err(fault) => return Err(fault.to_string()),
        };
        if entries.is_empty() {
            let pause = POLL_EVERY.min(deadline.saturating_duration_since(Instant::now()));
            minirt::sleep(pause).await;
            continue;
        }
        read += entries.len();
        for entry in entries {
            let entry = broker.bulk(entry).ok().flatten().unwrap_or_default();
            let entry = String::from_utf8_lossy(&entry);
            let parsed = entry
                .strip_prefix(&prefix)
                .and_then(|e| e.split_once(' '))
                .and_then(|(i, status)| Some((i.parse::<usize>().ok()?, status)));
            let Some((i, status)) = parsed.filter(|(i, _)| *i < seen.len()) else {
                // Not written by a worker for this batch: not worth stopping for.
                strange += 1;
                if strange == 1 {
                    let shown: String = entry.chars().take(80).collect();
                    let warning = format!("ignoring an unexpected entry {shown:?} in {done_key}");
                    progress.out.warn(warning);
                }
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                redelivered += 1;
                continue;
            }
            progress.done.set(progress.done.get() + 1);
            if status != "ok" {
                progress.failed.set(progress.failed.get() + 1);
            }
        }
    }
    Ok(redelivered)
}

async fn show_progress(progress: Rc<Progress>, out: Out) {
    // In place on a terminal; a line every two seconds into a file or pipe.
    let period = if progress.terminal { 250 } else { 2000 };
    let mut every = minirt::time::interval(Duration::from_millis(period));
    every.tick().await;
    loop {
        every.tick().await;
        progress.show(&out, false);
    }
}

impl Progress {
    /// `done/N, jobs/s, failures`: over the last such line on a terminal, below it elsewhere.
    fn show(&self, out: &Out, last: bool) {
        let (done, jobs, failed) = (self.done.get(), self.jobs, self.failed.get());
        let rate = done as f64 / self.start.elapsed().as_secs_f64().max(1e-3);
        let line = format!("{done}/{jobs} done, {rate:.0} jobs/s, {failed} failed");
        out.progress(match (self.terminal, last) {
            (true, false) => format!("\r{line}\x1b[K"),
            (true, true) => format!("\r{line}\x1b[K\n"),
            (false, _) => format!("{line}\n"),
        });
    }
}

/// Reads every result of the batch and tabulates them by task kind.
async fn summarize(
    broker: &Broker,
    batch: &str,
    jobs: u64,
    redelivered: u64,
    time: Duration,
) -> Result<String, Fault> {
    #[derive(Default)]
    struct Row {
        succeeded: u64,
        failed: u64,
        retries: u64,
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let (mut missing, mut first_failure) = (0, None);
    let ids: Vec<u64> = (0..jobs).collect();
    for chunk in ids.chunks(CHUNK) {
        let mut get = cmd(&["MGET"]);
        get.extend(
            chunk
                .iter()
                .map(|i| format!("jq:result:{batch}:{i}").into_bytes()),
        );
        let values = broker.array(broker.run_one(get).await?)?;
        for (i, value) in chunk.iter().zip(values) {
            let Some(text) = broker.bulk(value)? else {
                missing += 1;
                continue;
            };
            let result: Value = serde_json::from_slice(&text).unwrap_or_default();
            let task = result["task"].as_str().unwrap_or("?").to_string();
            let row = rows.entry(task).or_default();
            row.retries += result["retries"].as_u64().unwrap_or(0);
            match result["error"].as_str() {
                None => row.succeeded += 1,
                Some(error) => {
                    row.failed += 1;
                    first_failure.get_or_insert(format!("first failure: job {i}: {error}"));
                }
            }
        }
    }
    let mut table = format!(
        "{:<8} {:>9} {:>7} {:>8}\n",
        "kind", "succeeded", "failed", "retries"
    );
    for (name, row) in &rows {
        let Row {
            succeeded,
            failed,
            retries,
        } = row;
        table += &format!("{name:<8} {succeeded:>9} {failed:>7} {retries:>8}\n");
    }
    if let Some(line) = first_failure {
        table += &(line + "\n");
    }
    let total = |f: fn(&Row) -> u64| rows.values().map(f).sum::<u64>();
    let rate = jobs as f64 / time.as_secs_f64().max(1e-3);
    table += &format!(
        "jobs: {jobs} succeeded: {} failed: {} retries: {} missing: {missing} redelivered: {redelivered} time: {time:.2?} rate: {rate:.0} jobs/s",
        total(|r| r.succeeded),
        total(|r| r.failed),
        total(|r| r.retries),
    );
    Ok(table)
}
