//! Celery's model across processes, on Redis: the keys, the messages, and `worker`, which runs
//! jobs (`submit.rs` queues a batch and waits for its results). The main file's header says
//! what is guaranteed; this is how.
//!
//! Keys (all under `jq:`):
//!
//! | key | type | what |
//! |---|---|---|
//! | `jq:queue` | list | messages waiting: `submit` pushes on the left, workers take from the right |
//! | `jq:processing:W:S` | list | the message slot `S` of worker `W` has taken and not finished |
//! | `jq:alive:W` | string | `W`'s heartbeat, set every second with a 5 s expiry |
//! | `jq:workers` | hash | every worker that may have processing lists, and its slot count |
//! | `jq:result:ID` | string | the job's result (JSON), written once (`SET NX`), kept for an hour |
//! | `jq:done:B` | list | `ID ok` or `ID failed` for each result of batch `B`, read by `submit` |
//! | `jq:dead` | list | messages that could not be read, kept for a human |
//!
//! A message is JSON: `{"id":"B:17","batch":"B","task":"add","args":[17,17],"retries":0}`.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::out::Out;
use super::wire::{Broker, Cmd, Conn, Frame, array, bulk, cmd, is_connection_error};
use super::{Body, DEFAULT_OPTIONS, Options, Planned, SLOW_OPTIONS, add, crunch, flaky, slow};

pub const QUEUE: &str = "jq:queue";
const WORKERS: &str = "jq:workers";
const DEAD: &str = "jq:dead";
/// How long results (and a batch's done list) are kept, in seconds.
const RESULT_TTL: &str = "3600";
/// A worker renews its heartbeat this often...
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// ...with this expiry, in milliseconds: a worker silent for this long is taken for dead.
const HEARTBEAT_TTL_MS: &str = "5000";
/// The most slots a worker may have (`--concurrency`).
pub const MAX_SLOTS: usize = 1_000;
/// How often each worker looks for dead ones.
const REAP_EVERY: Duration = Duration::from_secs(2);
/// A blocking pop gives up after this many seconds, so that a worker notices Ctrl-C.
const POP_TIMEOUT: &str = "1";

/// Each slot has a list of its own, so that after a lost connection it knows that what is on
/// it is its own job in hand, to be done again, and not one another slot is about to run.
fn processing_key(worker: &str, slot: usize) -> String {
    format!("jq:processing:{worker}:{slot}")
}

fn alive_key(worker: &str) -> String {
    format!("jq:alive:{worker}")
}

// ---- Task kinds, looked up by the name in a message. ----

/// A task kind a worker can run: its name, how many numbers it takes, its options and body.
struct Kind {
    name: &'static str,
    arity: usize,
    options: Options,
    body: Body<Vec<u64>, u64>,
}

/// The names `submit --task` accepts.
pub const KIND_NAMES: [&str; 4] = ["add", "crunch", "flaky", "slow"];

/// The same four functions as the in-process demo, taking their arguments from a message.
fn kinds() -> Vec<Kind> {
    let to_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    vec![
        Kind {
            name: "add",
            arity: 2,
            options: DEFAULT_OPTIONS,
            body: Body::Light(Box::new(|a: Vec<u64>, n| Box::pin(add((a[0], a[1]), n)))),
        },
        Kind {
            name: "crunch",
            arity: 2,
            options: DEFAULT_OPTIONS,
            body: Body::Cpu(Arc::new(|a: Vec<u64>, n| crunch((a[0], a[1] != 0), n))),
        },
        Kind {
            name: "flaky",
            arity: 1,
            options: DEFAULT_OPTIONS,
            body: Body::Light(Box::new(move |a: Vec<u64>, n| {
                Box::pin(flaky(to_u32(a[0]), n))
            })),
        },
        Kind {
            name: "slow",
            arity: 1,
            options: SLOW_OPTIONS,
            body: Body::Light(Box::new(|a: Vec<u64>, n| Box::pin(slow(a[0], n)))),
        },
    ]
}

/// A planned job as a message's task name and arguments.
pub fn planned_call(planned: Planned) -> (&'static str, Vec<u64>) {
    match planned {
        Planned::Add(x, y) => ("add", vec![x, y]),
        Planned::Crunch(seed, crash) => ("crunch", vec![seed, u64::from(crash)]),
        Planned::Flaky(fails) => ("flaky", vec![u64::from(fails)]),
        Planned::Slow(n) => ("slow", vec![n]),
    }
}

// ---- Messages. ----

pub struct Message {
    pub id: String,
    pub batch: String,
    pub task: String,
    pub args: Vec<u64>,
    pub retries: u32,
}

impl Message {
    fn parse(raw: &str) -> Result<Message, String> {
        let value: Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
        let text = |field: &str| {
            value[field]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("no string {field:?}"))
        };
        let numbers = value["args"].as_array().ok_or("no array \"args\"")?;
        let args = numbers
            .iter()
            .map(Value::as_u64)
            .collect::<Option<Vec<u64>>>();
        let retries = value["retries"]
            .as_u64()
            .and_then(|r| u32::try_from(r).ok());
        Ok(Message {
            id: text("id")?,
            batch: text("batch")?,
            task: text("task")?,
            args: args.ok_or("\"args\" must hold whole numbers")?,
            retries: retries.ok_or("no whole number \"retries\"")?,
        })
    }

    pub fn to_json(&self) -> String {
        let Message {
            id,
            batch,
            task,
            args,
            retries,
        } = self;
        json!({"id": id, "batch": batch, "task": task, "args": args, "retries": retries})
            .to_string()
    }
}

// ---- The worker. ----

struct Worker {
    id: String,
    concurrency: usize,
    broker: Broker,
    out: Out,
    kinds: Vec<Kind>,
    /// Set by Ctrl-C or a fatal error: the slots finish the job in hand, then stop.
    stopping: Cell<bool>,
    /// The first error that stops the worker.
    fatal: RefCell<Option<String>>,
    processed: Cell<u64>,
    failed: Cell<u64>,
    retried: Cell<u64>,
    duplicates: Cell<u64>,
    reaped: Cell<u64>,
}

/// Runs a worker with `concurrency` slots until Ctrl-C (after which it finishes the jobs in
/// hand) or until the broker has been unreachable for longer than its patience.
pub async fn worker(broker: Broker, concurrency: usize, out: Out) -> Result<String, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let id = format!("w{}-{:x}", std::process::id(), nanos.subsec_nanos());
    let worker = Rc::new(Worker {
        id,
        concurrency,
        broker,
        out,
        kinds: kinds(),
        stopping: Cell::new(false),
        fatal: RefCell::new(None),
        processed: Cell::new(0),
        failed: Cell::new(0),
        retried: Cell::new(0),
        duplicates: Cell::new(0),
        reaped: Cell::new(0),
    });
    // Alive before taking any job, so that no reaper takes this worker for dead.
    worker.heartbeat().await.map_err(|e| e.to_string())?;
    let background = [
        minirt::spawn(heartbeats(worker.clone())),
        minirt::spawn(reaper(worker.clone())),
        minirt::spawn(warm_shutdown_on_ctrl_c(worker.clone())),
    ];
    let slots = (0..concurrency).map(|n| minirt::spawn(slot(worker.clone(), n)));
    let slots: Vec<_> = slots.collect();
    worker.out.say(format!(
        "worker {} ready: concurrency {concurrency}, broker {}",
        worker.id, worker.broker.url
    ));
    minirt::join_all(slots).await;
    for task in background {
        task.abort();
    }
    if let Some(error) = worker.fatal.take() {
        return Err(error);
    }
    // A clean stop: every slot finished its job, so the processing lists are empty.
    let w = &worker;
    let goodbye = [
        cmd(&["DEL", &alive_key(&w.id)]),
        cmd(&["HDEL", WORKERS, &w.id]),
    ];
    w.broker.run(&goodbye).await.map_err(|e| e.to_string())?;
    Ok(format!(
        "worker {}: processed: {} failed: {} retried: {} duplicates: {} reaped: {}",
        w.id,
        w.processed.get(),
        w.failed.get(),
        w.retried.get(),
        w.duplicates.get(),
        w.reaped.get()
    ))
}

impl Worker {
    fn fail(&self, error: String) {
        self.fatal.borrow_mut().get_or_insert(error);
        self.stopping.set(true);
    }

    async fn heartbeat(&self) -> io::Result<()> {
        let alive = cmd(&["SET", &alive_key(&self.id), "1", "PX", HEARTBEAT_TTL_MS]);
        let known = cmd(&["HSET", WORKERS, &self.id, &self.concurrency.to_string()]);
        self.broker.run(&[alive, known]).await.map(drop)
    }

    /// One message, from reading it to removing it from `own`, the slot's processing list.
    async fn handle(&self, raw: String, own: &str) -> io::Result<()> {
        let message = match Message::parse(&raw) {
            Ok(message) => message,
            Err(why) => return self.dead_letter(raw, why, own).await,
        };
        let Some(kind) = self.kinds.iter().find(|k| k.name == message.task) else {
            let why = format!("unknown task {:?}", message.task);
            self.out.say(format!("job {}: {why}", message.id));
            return self.record(&message, &raw, own, Err(why)).await;
        };
        if message.args.len() != kind.arity {
            let why = format!(
                "invalid message: {} takes {} argument(s), not {}",
                kind.name,
                kind.arity,
                message.args.len()
            );
            self.out.say(format!("job {}: {why}", message.id));
            return self.record(&message, &raw, own, Err(why)).await;
        }
        let attempt = message.retries + 1;
        let options = kind.options;
        let args = message.args.clone();
        match kind.body.attempt(args, attempt, options.time_limit).await {
            Ok(value) => self.record(&message, &raw, own, Ok(value)).await,
            Err(error) if message.retries >= options.max_retries => {
                let why = format!("{attempt} attempts failed: {error}");
                self.record(&message, &raw, own, Err(why)).await
            }
            Err(_) => {
                minirt::sleep(options.retry_backoff * 2u32.saturating_pow(message.retries)).await;
                self.retry(message, &raw, own).await
            }
        }
    }

    /// Writes the result once (`SET NX`), tells the batch, and forgets the message: one
    /// transaction, so a crash leaves either all of it or none (and then the job runs again).
    async fn record(
        &self,
        message: &Message,
        raw: &str,
        own: &str,
        outcome: Result<u64, String>,
    ) -> io::Result<()> {
        let mut result =
            json!({"task": message.task, "retries": message.retries, "worker": self.id});
        let status = match outcome {
            Ok(value) => {
                result["ok"] = json!(value);
                "ok"
            }
            Err(error) => {
                result["error"] = json!(error);
                self.failed.set(self.failed.get() + 1);
                "failed"
            }
        };
        let done = format!("jq:done:{}", message.batch);
        let result_key = format!("jq:result:{}", message.id);
        let replies = self
            .transaction(vec![
                cmd(&[
                    "SET",
                    &result_key,
                    &result.to_string(),
                    "NX",
                    "EX",
                    RESULT_TTL,
                ]),
                cmd(&["RPUSH", &done, &format!("{} {status}", message.id)]),
                cmd(&["EXPIRE", &done, RESULT_TTL]),
                cmd(&["LREM", own, "1", raw]),
            ])
            .await?;
        self.processed.set(self.processed.get() + 1);
        if replies.first() == Some(&Frame::Null) {
            // The job ran twice (a worker was taken for dead); the first result stands.
            self.duplicates.set(self.duplicates.get() + 1);
        }
        Ok(())
    }

    /// Queues the message again with one more retry, and forgets the old one, in one
    /// transaction.
    async fn retry(&self, mut message: Message, raw: &str, own: &str) -> io::Result<()> {
        message.retries += 1;
        self.transaction(vec![
            cmd(&["LPUSH", QUEUE, &message.to_json()]),
            cmd(&["LREM", own, "1", raw]),
        ])
        .await?;
        self.retried.set(self.retried.get() + 1);
        Ok(())
    }

    async fn dead_letter(&self, raw: String, why: String, own: &str) -> io::Result<()> {
        let shown: String = raw.chars().take(80).collect();
        self.out.say(format!(
            "invalid message ({why}): {shown:?} moved to {DEAD}"
        ));
        self.transaction(vec![
            cmd(&["LPUSH", DEAD, &raw]),
            cmd(&["LREM", own, "1", &raw]),
        ])
        .await
        .map(drop)
    }

    /// `commands` in `MULTI`/`EXEC`, sent as one pipeline; returns `EXEC`'s replies.
    async fn transaction(&self, mut commands: Vec<Cmd>) -> io::Result<Vec<Frame>> {
        commands.insert(0, cmd(&["MULTI"]));
        commands.push(cmd(&["EXEC"]));
        let mut replies = self.broker.run(&commands).await?;
        array(replies.pop().expect("one reply per command"))
    }
}

/// One slot: takes a message with `BLMOVE` onto its own processing list, runs it, and takes
/// the next. It holds its own connection, as a blocking pop ties one up. After connecting (again)
/// it first does what is left on its list: a job it had in hand when the connection broke, or
/// one the broker moved for it just before the reply was lost.
async fn slot(worker: Rc<Worker>, n: usize) {
    let own = processing_key(&worker.id, n);
    let pop = cmd(&["BLMOVE", QUEUE, &own, "RIGHT", "LEFT", POP_TIMEOUT]);
    let left_over = cmd(&["LRANGE", &own, "0", "-1"]);
    let mut conn: Option<Conn> = None;
    while !worker.stopping.get() {
        let Some(c) = conn.as_mut() else {
            match worker.broker.open().await {
                Ok(mut c) => {
                    let found = c.call(&left_over).await.and_then(array);
                    let found = found.and_then(|f| f.into_iter().map(bulk).collect());
                    let outcome = match found {
                        Ok(found) => run_each(&worker, found, &own).await,
                        Err(e) => Err(e),
                    };
                    conn = Some(c);
                    if let Err(e) = outcome {
                        if !is_connection_error(&e) {
                            return worker.fail(e.to_string());
                        }
                        conn = None;
                        worker.broker.lost(&e);
                    }
                }
                Err(e) => return worker.fail(e.to_string()),
            }
            continue;
        };
        let outcome = match c.call(&pop).await.and_then(bulk) {
            Ok(None) => continue, // nothing for a second: look at `stopping` again
            Ok(Some(raw)) => worker.handle(raw, &own).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {}
            Err(e) if is_connection_error(&e) => {
                // The job (if any) is still on our list: we do it again once reconnected.
                conn = None;
                worker.broker.lost(&e);
            }
            Err(e) => return worker.fail(e.to_string()),
        }
    }
}

async fn run_each(worker: &Worker, found: Vec<Option<String>>, own: &str) -> io::Result<()> {
    for raw in found.into_iter().flatten() {
        worker.handle(raw, own).await?;
    }
    Ok(())
}

async fn heartbeats(worker: Rc<Worker>) {
    let mut every = minirt::time::interval(HEARTBEAT_EVERY);
    loop {
        every.tick().await;
        if let Err(e) = worker.heartbeat().await {
            return worker.fail(e.to_string());
        }
    }
}

/// Celery's warm shutdown on the first Ctrl-C, and its cold one on the second.
async fn warm_shutdown_on_ctrl_c(worker: Rc<Worker>) {
    if minirt::signal::ctrl_c().await.is_err() {
        return;
    }
    let what = "Ctrl-C: finishing the jobs in hand, then stopping (Ctrl-C again to stop now)";
    worker.out.say(what);
    worker.stopping.set(true);
    if minirt::signal::ctrl_c().await.is_ok() {
        // The process ends here, so there is no loop left to stall: write directly.
        eprintln!(
            "job_queue: stopped at once; the jobs in hand stay on jq:processing:{}:* until a \
             live worker reaps them",
            worker.id
        );
        std::process::exit(130);
    }
}

/// Every few seconds: any worker in `jq:workers` whose heartbeat has expired is dead, and its
/// processing lists go back to the queue, one `LMOVE` at a time (atomic, so two reapers never
/// move the same message twice).
async fn reaper(worker: Rc<Worker>) {
    let mut every = minirt::time::interval(REAP_EVERY);
    loop {
        every.tick().await;
        if let Err(e) = reap_once(&worker).await {
            return worker.fail(e.to_string());
        }
    }
}

async fn reap_once(worker: &Worker) -> io::Result<()> {
    let broker = &worker.broker;
    let mut members = broker.run(&[cmd(&["HGETALL", WORKERS])]).await?;
    let members = array(members.pop().expect("one reply"))?;
    let members: Vec<String> = members
        .into_iter()
        .map(|m| Ok(bulk(m)?.unwrap_or_default()))
        .collect::<io::Result<_>>()?;
    // HGETALL answers field, value, field, value...: each worker and its slot count.
    let others: Vec<(&str, usize)> = members
        .chunks_exact(2)
        .filter(|pair| pair[0] != worker.id)
        .map(|pair| {
            (
                pair[0].as_str(),
                pair[1].parse().unwrap_or(0).min(MAX_SLOTS),
            )
        })
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    let checks: Vec<Cmd> = others
        .iter()
        .map(|(o, _)| cmd(&["EXISTS", &alive_key(o)]))
        .collect();
    let alive = broker.run(&checks).await?;
    for (&(other, slots), alive) in others.iter().zip(alive) {
        if alive != Frame::Integer(0) {
            continue;
        }
        let mut moved = 0;
        for n in 0..slots {
            let back = cmd(&["LMOVE", &processing_key(other, n), QUEUE, "RIGHT", "RIGHT"]);
            while broker.run(std::slice::from_ref(&back)).await?[0] != Frame::Null {
                moved += 1;
            }
        }
        broker.run(&[cmd(&["HDEL", WORKERS, other])]).await?;
        worker.reaped.set(worker.reaped.get() + moved);
        worker.out.say(format!(
            "worker {other} missed its heartbeat: reaped {moved} job(s) back to the queue"
        ));
    }
    Ok(())
}
