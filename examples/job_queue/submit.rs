//! `job_queue submit`: queues a batch on the broker, shows its progress, and reads its results
//! back into a table by task kind. See `broker.rs` for the keys and the message format.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::broker::{Message, QUEUE, planned_call};
use super::out::Out;
use super::wire::{Broker, Conn, Frame, array, bulk, cmd, is_connection_error};

/// What `submit` has learnt from the batch's done list, and how to show it.
struct Progress {
    jobs: u64,
    start: Instant,
    /// Whether stderr is a terminal, where the line is redrawn in place.
    terminal: bool,
    done: Cell<u64>,
    failed: Cell<u64>,
}

/// Queues `jobs` jobs (all of kind `only`, or the demo's mixed plan), waits for every result
/// (for at most `limit`), and returns the summary table.
pub async fn submit(
    broker: Broker,
    jobs: u64,
    only: Option<&'static str>,
    limit: Duration,
    out: Out,
) -> Result<String, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let batch = format!("b{}-{:x}", std::process::id(), nanos.as_micros());
    let start = Instant::now();
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
    for chunk in ids.chunks(500) {
        let mut push = cmd(&["LPUSH", QUEUE]);
        push.extend(chunk.iter().map(|&i| message(i)));
        broker.run(&[push]).await.map_err(|e| e.to_string())?;
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
    });
    let shower = minirt::spawn(show_progress(progress.clone(), out.clone()));
    let waited = wait_for_batch(&broker, &batch, jobs, &progress, start + limit).await;
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
async fn wait_for_batch(
    broker: &Broker,
    batch: &str,
    jobs: u64,
    progress: &Progress,
    deadline: Instant,
) -> Result<u64, String> {
    let done_key = format!("jq:done:{batch}");
    let prefix = format!("{batch}:");
    let read = [
        cmd(&["BLPOP", &done_key, "1"]),
        cmd(&["LPOP", &done_key, "1000"]),
    ];
    let mut seen = vec![false; jobs as usize];
    let mut redelivered = 0;
    let mut conn: Option<Conn> = None;
    while progress.done.get() < jobs {
        if Instant::now() >= deadline {
            return Err(format!(
                "gave up waiting: {} of {jobs} jobs reported before the deadline",
                progress.done.get()
            ));
        }
        let Some(c) = conn.as_mut() else {
            conn = Some(broker.open().await.map_err(|e| e.to_string())?);
            continue;
        };
        let replies = match c.pipeline(&read).await {
            Ok(replies) => replies,
            Err(e) if is_connection_error(&e) => {
                conn = None;
                broker.lost(&e);
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let mut entries = Vec::new();
        let [first, rest]: [Frame; 2] = replies.try_into().expect("two replies");
        // BLPOP answers [key, value]; LPOP with a count answers the values.
        entries.extend(array(first).map_err(|e| e.to_string())?.into_iter().skip(1));
        entries.extend(array(rest).map_err(|e| e.to_string())?);
        for entry in entries {
            let entry = bulk(entry).ok().flatten().unwrap_or_default();
            let parsed = entry
                .strip_prefix(&prefix)
                .and_then(|e| e.split_once(' '))
                .and_then(|(i, status)| Some((i.parse::<usize>().ok()?, status)));
            let Some((i, status)) = parsed.filter(|(i, _)| *i < seen.len()) else {
                return Err(format!("unexpected entry {entry:?} in {done_key}"));
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
) -> io::Result<String> {
    #[derive(Default)]
    struct Row {
        succeeded: u64,
        failed: u64,
        retries: u64,
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let (mut missing, mut first_failure) = (0, None);
    let ids: Vec<u64> = (0..jobs).collect();
    for chunk in ids.chunks(500) {
        let mut get = cmd(&["MGET"]);
        get.extend(chunk.iter().map(|i| format!("jq:result:{batch}:{i}")));
        let mut replies = broker.run(&[get]).await?;
        let values = array(replies.pop().expect("one reply"))?;
        for (i, value) in chunk.iter().zip(values) {
            let Some(text) = bulk(value)? else {
                missing += 1;
                continue;
            };
            let result: Value = serde_json::from_str(&text).unwrap_or_default();
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
