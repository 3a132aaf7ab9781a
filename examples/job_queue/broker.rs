//! `job_queue worker`: Celery's worker across processes, on Redis. `scripts.rs` lists the keys
//! and the scripts that change them, `message.rs` the message format, and `submit.rs` queues
//! a batch and waits for its results. The main file's header says what is guaranteed; this is
//! how.
//!
//! A worker runs `--concurrency` slots. Each slot takes one message at a time with `BLMOVE`,
//! from the queue onto its own processing list, runs it, and then finishes it with one script
//! (its result stored, its next attempt queued, or the message set aside) that also takes it
//! off the list. Beside the slots: a heartbeat, a reaper that gives the jobs of dead workers
//! back to the queue, and the Ctrl-C handler.
//!
//! What a worker meets, and what it does:
//! - A message it cannot read (not UTF-8, not JSON, the wrong shape): set aside on `jq:dead`,
//!   counted, never fatal. One over the size cap is not read at all: a script moves it.
//! - A broker outage (refused, reset, silent, `LOADING`...): each task waits it out with a
//!   doubling backoff and goes on; a slot whose connection broke first does what is left on
//!   its list. A worker has no deadline: it dies only for its own reasons.
//! - A broker that answers beyond the protocol or the caps (`resp.rs`): the worker stops and
//!   names it; there is nothing sound to do with such a broker.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

mod reaper;

use super::message::{self, Message};
use super::out::Out;
use super::resp::MAX_BULK;
use super::scripts::{self, DEAD, OVERSIZE, QUEUE, RESULT_TTL, WORKERS};
use super::wire::{Backoff, Broker, COMMAND_TIMEOUT, Fault, cmd};
use super::{Body, DEFAULT_OPTIONS, Options, Planned, SLOW_OPTIONS, add, crunch, flaky, slow};

/// A worker renews its heartbeat this often...
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// ...with this expiry, in milliseconds: a worker silent for this long is taken for dead.
const HEARTBEAT_TTL_MS: &str = "5000";
/// The most slots a worker may have (`--concurrency`).
pub const MAX_SLOTS: usize = 1_000;
/// A blocking pop gives up after this many seconds, so that a worker notices Ctrl-C.
const POP_SECONDS: u64 = 1;
/// After Ctrl-C, how long the goodbye may wait for the broker.
const GOODBYE_WAIT: Duration = Duration::from_secs(5);

// ---- Before starting: room for the connections. ----

/// How many file descriptors a worker with `concurrency` slots may need at once: a
/// connection per slot for its blocking pop, as many more at a moment when every slot
/// finishes a job together (the pool opens a connection for each caller that finds none
/// idle), and some for the heartbeat, the reaper, the runtime and the standard streams.
pub fn descriptors_needed(concurrency: usize) -> u64 {
    2 * concurrency as u64 + 64
}

/// Makes sure this process may open [`descriptors_needed`] files: raises its soft limit
/// (`ulimit -Sn`) up to the hard one if it must. Past its limit, a connection that cannot be
/// opened ("too many open files") looks like a broker outage, every connection opened before
/// is then dropped, and the worker goes round in circles doing no job at all (with `ulimit -n
/// 64` and `--concurrency 100`, none of 200 in 30 s). `Err` says what to change.
pub fn make_room_for(concurrency: usize) -> Result<(), String> {
    let need = descriptors_needed(concurrency);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes the limit into `limit`, which lives through the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Ok(()); // cannot tell: go on
    }
    if limit.rlim_cur >= need {
        return Ok(());
    }
    if limit.rlim_max >= need {
        let raised = libc::rlimit {
            rlim_cur: need,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `setrlimit` only reads `raised`, which lives through the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(());
        }
    }
    Err(format!(
        "--concurrency {concurrency} needs up to {need} open files (two connections per \
         slot at most), but this process may open {} (ulimit -n): raise the limit, or lower \
         --concurrency",
        limit.rlim_max.max(limit.rlim_cur)
    ))
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

fn unix_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as u64)
}

// ---- The worker. ----

/// What a worker has done, for its last line.
#[derive(Default)]
struct Counts {
    /// Results stored (or found already stored by a rerun of the same call).
    processed: Cell<u64>,
    failed: Cell<u64>,
    retried: Cell<u64>,
    /// Jobs whose result was already there: they ran twice.
    duplicates: Cell<u64>,
    /// Messages set aside on `jq:dead`.
    dead: Cell<u64>,
    /// Of those, messages whose id already had a result of another call.
    conflicts: Cell<u64>,
    /// Messages that were no longer on the slot's list when it finished them: a reaper took
    /// them (this worker had been taken for dead), or a resent script had done it already.
    gone: Cell<u64>,
    /// Jobs moved back to the queue from dead workers' lists.
    reaped: Cell<u64>,
}

fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

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
    counts: Counts,
}

/// Runs a worker with `concurrency` slots until Ctrl-C (after which it finishes the jobs in
/// hand) or a fatal error. An outage of the broker is waited out, however long.
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
        counts: Counts::default(),
    });
    // Listening for Ctrl-C from here on (a Ctrl-C is then never the default "kill"), until the
    // very end: a second Ctrl-C during the goodbye still stops the worker at once.
    let ctrl_c = minirt::spawn(warm_shutdown_on_ctrl_c(
        worker.clone(),
        minirt::signal::ctrl_c(),
    ));
    // Alive before taking any job, so that no reaper takes this worker for dead.
    worker.heartbeat().await.map_err(|e| e.to_string())?;
    let background = [
        minirt::spawn(heartbeats(worker.clone())),
        minirt::spawn(reaper::reaper(worker.clone())),
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
    let id = w.id.as_bytes();
    let goodbye = [
        [b"DEL".as_slice(), &scripts::alive_key(id)]
            .map(<[u8]>::to_vec)
            .to_vec(),
        cmd(&["HDEL", WORKERS, &w.id]),
    ];
    if minirt::timeout(GOODBYE_WAIT, w.broker.run(&goodbye))
        .await
        .is_err()
    {
        w.out
            .warn("the broker did not answer the goodbye: a reaper will forget this worker");
    }
    ctrl_c.abort();
    let c = &w.counts;
    Ok(format!(
        "worker {}: processed: {} failed: {} retried: {} duplicates: {} dead: {} conflicts: {} gone: {} reaped: {}",
        w.id,
        c.processed.get(),
        c.failed.get(),
        c.retried.get(),
        c.duplicates.get(),
        c.dead.get(),
        c.conflicts.get(),
        c.gone.get(),
        c.reaped.get()
    ))
}

impl Worker {
    fn fail(&self, error: String) {
        self.fatal.borrow_mut().get_or_insert(error);
        self.stopping.set(true);
    }

    async fn heartbeat(&self) -> Result<(), Fault> {
        let alive = scripts::alive_key(self.id.as_bytes());
        let mut set = vec![b"SET".to_vec(), alive];
        set.extend(cmd(&["1", "PX", HEARTBEAT_TTL_MS]));
        let known = cmd(&["HSET", WORKERS, &self.id, &self.concurrency.to_string()]);
        self.broker.run(&[set, known]).await.map(drop)
    }

    /// One message, from reading it to taking it off `own`, the slot's processing list.
    async fn handle(&self, raw: Vec<u8>, own: &[u8]) -> Result<(), Fault> {
        let message = match Message::decode(&raw) {
            Ok(message) => message,
            Err(why) => {
                return self
                    .dead_letter(&raw, &format!("invalid message: {why}"), own)
                    .await;
            }
        };
        let Some(kind) = self.kinds.iter().find(|k| k.name == message.task) else {
            let why = format!("unknown task {:?}", message.task);
            self.out.say(format!("job {}: {why}", message.id));
            return self.finish(&message, &raw, own, Err(why)).await;
        };
        if message.args.len() != kind.arity {
            let why = format!(
                "invalid message: {} takes {} argument(s), not {}",
                kind.name,
                kind.arity,
                message.args.len()
            );
            self.out.say(format!("job {}: {why}", message.id));
            return self.finish(&message, &raw, own, Err(why)).await;
        }
        let attempt = message.retries.saturating_add(1);
        let options = kind.options;
        let args = message.args.clone();
        match kind.body.attempt(args, attempt, options.time_limit).await {
            Ok(value) => self.finish(&message, &raw, own, Ok(value)).await,
            Err(error) if message.retries >= options.max_retries => {
                let why = format!("{attempt} attempts failed: {error}");
                self.finish(&message, &raw, own, Err(why)).await
            }
            Err(_) => {
                minirt::sleep(options.retry_backoff * 2u32.saturating_pow(message.retries)).await;
                self.retry(message, &raw, own).await
            }
        }
    }

    /// Stores the result once, tells the batch, and takes the message off the list: one
    /// script ([`scripts::FINISH`]), so a crash leaves all of it or none (and then the job
    /// runs again), and a script sent twice does it once.
    async fn finish(
        &self,
        message: &Message,
        raw: &[u8],
        own: &[u8],
        outcome: Result<u64, String>,
    ) -> Result<(), Fault> {
        let mut result = json!({
            "task": message.task,
            "job": message.call(),
            "retries": message.retries,
            "worker": self.id,
        });
        let status = match &outcome {
            Ok(value) => {
                result["ok"] = json!(value);
                "ok"
            }
            Err(error) => {
                result["error"] = json!(error);
                "failed"
            }
        };
        let result_key = format!("jq:result:{}", message.id);
        let done = format!("jq:done:{}", message.batch);
        let entry = format!("{} {status}", message.id);
        let call = message.call_in_result();
        let result = result.to_string();
        let keys = [own, result_key.as_bytes(), done.as_bytes()];
        let args = [
            raw,
            result.as_bytes(),
            entry.as_bytes(),
            RESULT_TTL.as_bytes(),
            call.as_bytes(),
        ];
        let reply = self.broker.eval(scripts::FINISH, &keys, &args).await?;
        let c = &self.counts;
        match self.broker.bulk(reply)?.as_deref() {
            Some(status @ (b"stored" | b"again")) => {
                bump(&c.processed);
                if outcome.is_err() {
                    bump(&c.failed);
                }
                if status == b"again" {
                    bump(&c.duplicates);
                }
            }
            Some(b"conflict") => {
                bump(&c.conflicts);
                let why = format!(
                    "conflict: job {:?} already has a result of another call than {}",
                    message.id,
                    message.call()
                );
                return self.dead_letter(raw, &why, own).await;
            }
            _ => bump(&c.gone),
        }
        Ok(())
    }

    /// Queues the message again with one more retry in place of the old one
    /// ([`scripts::MOVE_ON`]).
    async fn retry(&self, mut message: Message, raw: &[u8], own: &[u8]) -> Result<(), Fault> {
        message.retries += 1;
        let next = message.to_json();
        let keys = [own, QUEUE.as_bytes()];
        let args = [raw, next.as_bytes()];
        let moved = self.broker.eval(scripts::MOVE_ON, &keys, &args).await?;
        let counter = match self.broker.integer(moved)? {
            1 => &self.counts.retried,
            _ => &self.counts.gone,
        };
        bump(counter);
        Ok(())
    }

    /// Sets a message aside on `jq:dead`, as a record that keeps its bytes in hex, in place of
    /// the message on the slot's list ([`scripts::MOVE_ON`]).
    async fn dead_letter(&self, raw: &[u8], why: &str, own: &[u8]) -> Result<(), Fault> {
        let record = message::dead_record(raw, why, &self.id, unix_ms());
        let keys = [own, DEAD.as_bytes()];
        let args = [raw, record.as_bytes()];
        let moved = self.broker.eval(scripts::MOVE_ON, &keys, &args).await?;
        if self.broker.integer(moved)? == 1 {
            bump(&self.counts.dead);
            let shown: String = String::from_utf8_lossy(raw).chars().take(80).collect();
            self.out
                .say(format!("{why}: {shown:?} set aside on {DEAD}"));
        } else {
            bump(&self.counts.gone);
        }
        Ok(())
    }

    /// Sets aside, unread, a message of `len` bytes at one end of the slot's list
    /// ([`scripts::SET_ASIDE_UNREAD`]).
    async fn set_aside_unread(&self, own: &[u8], end: &str, len: u64) -> Result<(), Fault> {
        let record = message::oversize_record(len, MAX_BULK, OVERSIZE, &self.id, unix_ms());
        let keys = [own, OVERSIZE.as_bytes(), DEAD.as_bytes()];
        let args = [end.as_bytes(), record.as_bytes()];
        let moved = self
            .broker
            .eval(scripts::SET_ASIDE_UNREAD, &keys, &args)
            .await?;
        if self.broker.integer(moved)? == 1 {
            bump(&self.counts.dead);
            self.out.say(format!(
                "a message of {len} bytes, over the cap of {MAX_BULK}, set aside unread on {OVERSIZE}"
            ));
        }
        Ok(())
    }
}

/// One slot: takes a message with `BLMOVE` onto its own processing list, runs it, and takes
/// the next. It holds its own connection, as a blocking pop ties one up. After connecting
/// (again) it first does what is left on its list, oldest first: a job it had in hand when the
/// connection broke, or one the broker moved for it just before the reply was lost.
async fn slot(worker: Rc<Worker>, n: usize) {
    let own = scripts::processing_key(worker.id.as_bytes(), n);
    let mut pop = cmd(&["BLMOVE", QUEUE]);
    pop.push(own.clone());
    pop.extend(cmd(&["RIGHT", "LEFT", &POP_SECONDS.to_string()]));
    let mut oldest = cmd(&["LINDEX"]);
    oldest.push(own.clone());
    oldest.push(b"-1".to_vec());
    let mut conn = None;
    let mut left_over = true;
    let mut backoff = Backoff::new();
    while !worker.stopping.get() {
        let c = match conn.as_mut().filter(|c| worker.broker.fresh(c)) {
            Some(c) => c,
            None => match worker.broker.open(worker.broker.command_deadline()).await {
                Ok(c) => {
                    left_over = true; // first, what may be left on the list
                    conn.insert(c)
                }
                Err(fault) => match fault {
                    Fault::Outage(_) => {
                        let _ = worker.broker.wait_out(&fault, &mut backoff).await;
                        continue;
                    }
                    other => return worker.fail(other.to_string()),
                },
            },
        };
        // Where a message this command finds sits on the list: for `SET_ASIDE_UNREAD`.
        let (command, end, wait) = match left_over {
            true => (&oldest, "RIGHT", COMMAND_TIMEOUT),
            false => (
                &pop,
                "LEFT",
                COMMAND_TIMEOUT + Duration::from_secs(POP_SECONDS),
            ),
        };
        let sent = Instant::now();
        let reply = c.call(command, sent + wait).await;
        if reply.is_ok() {
            backoff = Backoff::new();
            worker.broker.recovered(sent);
        }
        let raw = match reply.and_then(|frame| worker.broker.bulk(frame)) {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                left_over = false; // the list is empty, or nothing came for a second
                continue;
            }
            Err(fault) => {
                conn = None;
                left_over = true;
                if let Some(len) = fault.oversize_message() {
                    match worker.set_aside_unread(&own, end, len).await {
                        Ok(()) => continue,
                        Err(fault) => return worker.fail(fault.to_string()),
                    }
                }
                if let Fault::Outage(_) = fault {
                    let _ = worker.broker.wait_out(&fault, &mut backoff).await;
                    continue;
                }
                return worker.fail(fault.to_string());
            }
        };
        if let Err(fault) = worker.handle(raw, &own).await {
            return worker.fail(fault.to_string());
        }
    }
}

async fn heartbeats(worker: Rc<Worker>) {
    let mut every = minirt::time::interval(HEARTBEAT_EVERY);
    loop {
        every.tick().await;
        // An outage is waited out inside `run`; anything else ends the worker.
        if let Err(fault) = worker.heartbeat().await {
            return worker.fail(fault.to_string());
        }
    }
}

/// Celery's warm shutdown on the first Ctrl-C, and its cold one on the second.
async fn warm_shutdown_on_ctrl_c(worker: Rc<Worker>, first: minirt::signal::CtrlC) {
    if first.await.is_err() {
        return;
    }
    // Listening for the second before saying so: whoever reads the line may press it at once.
    let second = minirt::signal::ctrl_c();
    let what = "Ctrl-C: finishing the jobs in hand, then stopping (Ctrl-C again to stop now)";
    worker.out.say(what);
    worker.stopping.set(true);
    if second.await.is_ok() {
        let message = format!(
            "job_queue: stopped at once; the jobs in hand stay on jq:processing:{}:* until a \
             live worker reaps them\n",
            worker.id
        );
        // The process ends here, so there is no loop left to stall; a quarter of a second
        // is time enough for a reader of stderr that reads at all.
        super::out::exit_within(Duration::from_millis(250), 130, "", &message);
    }
}
