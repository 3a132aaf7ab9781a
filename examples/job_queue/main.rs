//! Seed 002's Celery: register tasks, `delay` them, and `get` their results while a pool of
//! workers runs them. By default in one process; with `worker` and `submit`, across processes
//! (or machines) on a Redis broker, as Celery does.
//!
//! ```text
//! cargo run --example job_queue                          # 100 jobs on 4 workers, one process
//! cargo run --example job_queue -- --workers 1 --jobs 1000
//!
//! redis-server --port 6379 --save "" --appendonly no     # a broker (Debian: apt-get install redis-server)
//! cargo run --release --example job_queue -- worker --broker redis://127.0.0.1:6379 --concurrency 8
//! cargo run --release --example job_queue -- worker --broker redis://127.0.0.1:6379   # another one
//! cargo run --release --example job_queue -- submit --broker redis://127.0.0.1:6379 --jobs 1000
//! ```
//!
//! ## In one process
//!
//! | Celery | here |
//! |---|---|
//! | `app = Celery("tasks", broker=...)` | `App::new(workers, capacity)`; the broker is a bounded `minirt::sync::Queue` |
//! | `celery -A tasks worker` | `workers` tasks, each `while let Ok(job) = queue.get().await` |
//! | `@app.task def add(x, y)` | `let add = app.task("add", add)`: a typed `TaskRef` |
//! | `@app.task(max_retries=2, time_limit=...)` | `.max_retries(2).time_limit(d)` on the `TaskRef` |
//! | `result = add.delay(4, 4)` | `let result = add.delay((4, 4)).await?` (waits while the queue is full) |
//! | `result.get()`, `result.get(timeout=5)` | `result.get().await`, `result.get_timeout(d).await` |
//! | `self.request.retries` (`bind=True`) | each task function is given its attempt number |
//!
//! Light tasks are `async fn`s run on the loop; CPU-heavy ones (`app.cpu_task`) are plain
//! functions run on the blocking pool with `spawn_blocking`, so they never stall the loop. Each
//! attempt runs as a task of its own, which the worker awaits: a panic fails the attempt, not the
//! worker. A failed, panicked or timed-out attempt is retried after a doubling backoff; once
//! `max_retries` are used up, `get` returns the last error. Results come back through a `oneshot`
//! channel. `app.shutdown()` refuses new jobs, lets the queued ones finish, then ends the workers.
//!
//! The batch is deterministic: job `i` fails on purpose by `i % 10` (see `submit`). Of 1,000
//! jobs, the 10 `slow` ones time out on all 3 attempts and fail, 90 `crunch` jobs panic once, and
//! 200 `flaky` jobs fail once or twice: 990 succeed, 10 fail, after 410 retries.
//!
//! Try `--workers 1` and `--workers 32` and compare the times, make `crunch` heavier, or give
//! `slow` a `time_limit` longer than its sleep.
//!
//! ## Across processes, on Redis
//!
//! `worker` runs `--concurrency` slots (8 by default), each taking one job at a time; `submit`
//! queues `--jobs` jobs (the batch above, or all of one kind with `--task add`), shows `done/N,
//! jobs/s, failures` on one line on stderr (in place on a terminal), and prints a table by kind
//! at the end, read back from the stored results. The protocol is Redis's RESP, encoded by the
//! `redis-protocol` crate and carried by minirt's own `TcpStream`: no client with a runtime of
//! its own. Each slot holds one connection for its blocking pop; everything else goes through
//! a pool of four, pipelined. `broker.rs` lists the keys and the message format.
//!
//! What is guaranteed:
//! - **At least once, nothing lost.** Each worker slot takes a message with `BLMOVE` from the
//!   queue onto a processing list of its own, atomically, so a message is always on one list or
//!   the other. The result, the batch's notice and the removal from the processing list go in
//!   one `MULTI`/`EXEC`. A worker killed at any point (SIGKILL, a power cut) leaves its jobs on
//!   its processing lists; its heartbeat key (renewed every second, expiring after 5 s) runs
//!   out, and a reaper in any live worker moves them back to the queue (within about 7 s). A
//!   slot whose connection breaks runs what is left on its list once it has reconnected.
//! - **One result per job.** A job may run twice (its worker died after running it, or a stalled
//!   worker was taken for dead). Its result is written with `SET NX`, so the first one stands;
//!   `submit` counts reruns as `redelivered`. Results are kept for an hour.
//! - **Retries, `max_retries` and `time_limit` hold across processes**: a failed attempt goes
//!   back on the queue with its retry count in the message, after the doubling backoff, so the
//!   count survives a crash, and any worker can take the next attempt. A job killed with its
//!   worker is not counted as a retry: the attempt runs again.
//! - **A broker outage is waited out.** A stopped broker just delays replies. A broker that goes
//!   away is retried with a doubling backoff for 10 s; then the worker or submitter exits 1 with
//!   a message. Without persistence a restarted Redis has lost its queue: the workers carry on
//!   with new jobs, and a waiting `submit` gives up at `--timeout`.
//! - Ctrl-C on a worker finishes the jobs in hand and leaves cleanly (Celery's warm shutdown);
//!   a second Ctrl-C exits at once, and a reaper gives the jobs in hand to another worker.
//! - Bad input: a malformed URL, an unknown `--task` and a missing `--broker` exit 2 with the
//!   usage. A message that is not valid JSON goes to the `jq:dead` list; one with an unknown
//!   task name or the wrong arguments gets a failed result that says so. Output is written off
//!   the loop (`out.rs`), in every mode, so a stalled reader of stdout cannot stall a worker.
//!
//! Light `add` jobs through one submitter (`bash benches/job_queue_redis.sh`, release build,
//! 2 CPUs shared with Redis and with other builds, load average 8 to 15; the median of 3 runs
//! of 20,000 jobs, in each of three sessions):
//!
//! | worker processes (8 slots each) | 1 | 2 | 4 |
//! |---|---|---|---|
//! | jobs/s | 9,700 / 6,400 / 7,600 | 10,700 / 11,900 / 10,200 | 14,100 / 12,600 / 13,500 |
//!
//! Celery 5.7 with the same Redis as broker and result store (`-P prefork -c 1/2/4`, a group of
//! 5,000 `add.s(i, i)`) did 146 to 270 jobs/s on the same machine, in the same sessions.
//! `benches/README.md` has the details.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minirt::JoinHandle;
use minirt::sync::{Queue, oneshot};

mod broker;
mod out;
mod submit;
mod wire;

use out::Out;

const USAGE: &str =
    "usage: job_queue [--workers N] [--jobs N]        one process (4 workers, 100 jobs)
       job_queue worker --broker redis://HOST:PORT [--concurrency N]   (8)
       job_queue submit --broker redis://HOST:PORT [--jobs N] [--task NAME] [--timeout SECS]
                                                  (100 jobs, the mixed plan, 600 s)
       job_queue -h | --help";

// ---- The task functions: what Celery would mark with @app.task. ----

async fn add((x, y): (u64, u64), _attempt: u32) -> Result<u64, String> {
    Ok(x + y)
}

/// CPU-bound: a million rounds of a hash-like mix. Crashes on its first attempt if told to.
fn crunch((seed, crash_first): (u64, bool), attempt: u32) -> Result<u64, String> {
    if crash_first && attempt == 1 {
        panic!("simulated crash in crunch");
    }
    let mut x = seed;
    for _ in 0..1_000_000 {
        x = (x ^ (x >> 31))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(1);
    }
    Ok(x)
}

/// A call to a service that is down for the first `fails` attempts.
async fn flaky(fails: u32, attempt: u32) -> Result<u64, String> {
    minirt::sleep(Duration::from_millis(1)).await;
    if attempt <= fails {
        return Err(format!("service unavailable (attempt {attempt})"));
    }
    Ok(u64::from(attempt))
}

/// Never answers: only its time limit ends it.
async fn slow(_: u64, _attempt: u32) -> Result<u64, String> {
    minirt::sleep(Duration::from_secs(3600)).await;
    Ok(0)
}

// ---- The app: the broker queue, its workers, and the registry of task kinds. ----

/// A job on the queue: every attempt of one `delay` call, ending in its `set_result`.
type Job = Pin<Box<dyn Future<Output = ()>>>;

struct App {
    queue: Queue<Job>,
    accepting: Rc<Cell<bool>>,
    workers: Vec<JoinHandle<()>>,
    /// The registry: each task kind's name and counters.
    kinds: Vec<(&'static str, Rc<RefCell<Counts>>)>,
}

#[derive(Default)]
struct Counts {
    succeeded: u64,
    failed: u64,
    retries: u64,
}

impl App {
    /// Starts `workers` worker tasks on a queue that holds at most `capacity` jobs.
    fn new(workers: usize, capacity: usize) -> App {
        let queue = Queue::bounded(capacity);
        App {
            workers: (0..workers)
                .map(|_| minirt::spawn(worker(queue.clone())))
                .collect(),
            queue,
            accepting: Rc::new(Cell::new(true)),
            kinds: Vec::new(),
        }
    }

    /// Registers a light task: an async function, run on the loop.
    fn task<A, T, F, Fut>(&mut self, name: &'static str, f: F) -> TaskRef<A, T>
    where
        F: Fn(A, u32) -> Fut + 'static,
        Fut: Future<Output = Result<T, String>> + 'static,
    {
        let body: Body<A, T> = Body::Light(Box::new(move |args, n| Box::pin(f(args, n))));
        self.register(name, body)
    }

    /// Registers a CPU-heavy task: a plain function, run on the blocking pool.
    fn cpu_task<A, T, F>(&mut self, name: &'static str, f: F) -> TaskRef<A, T>
    where
        F: Fn(A, u32) -> Result<T, String> + Send + Sync + 'static,
    {
        self.register(name, Body::Cpu(Arc::new(f)))
    }

    fn register<A, T>(&mut self, name: &'static str, body: Body<A, T>) -> TaskRef<A, T> {
        let counts = Rc::new(RefCell::new(Counts::default()));
        self.kinds.push((name, counts.clone()));
        TaskRef {
            queue: self.queue.clone(),
            accepting: self.accepting.clone(),
            body: Rc::new(body),
            options: DEFAULT_OPTIONS,
            counts,
        }
    }

    /// Refuses new jobs, waits for the queued ones to finish, then ends the workers.
    async fn shutdown(&mut self) {
        self.accepting.set(false);
        self.queue.join().await; // every job taken and marked task_done
        self.queue.shutdown(); // each worker's `get` now fails, ending its loop
        for result in minirt::join_all(std::mem::take(&mut self.workers)).await {
            result.expect("a worker never panics: each attempt runs in a task of its own");
        }
    }
}

async fn worker(queue: Queue<Job>) {
    while let Ok(job) = queue.get().await {
        job.await;
        queue.task_done().expect("one task_done per job taken");
    }
}

// ---- A registered task kind, and the handle of one delayed call. ----

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, String>>>>;

/// A task kind's function, type-erased so that every kind with the same `A` and `T` fits.
enum Body<A, T> {
    /// An async function: each attempt is spawned on the loop.
    Light(Box<dyn Fn(A, u32) -> LocalFuture<T>>),
    /// A plain function: each attempt goes to the blocking pool (hence `Arc` and `Send`).
    Cpu(Arc<dyn Fn(A, u32) -> Result<T, String> + Send + Sync>),
}

#[derive(Clone, Copy)]
struct Options {
    max_retries: u32,
    /// Waited before the first retry, doubled before each one after.
    retry_backoff: Duration,
    /// For each attempt.
    time_limit: Duration,
}

/// Celery waits 3 minutes between retries by default; a demo cannot.
const DEFAULT_OPTIONS: Options = Options {
    max_retries: 3,
    retry_backoff: Duration::from_millis(5),
    time_limit: Duration::from_secs(10),
};

/// `slow`'s options: it would sleep for an hour, so only its time limit ends it.
const SLOW_OPTIONS: Options = Options {
    max_retries: 2,
    time_limit: Duration::from_millis(50),
    ..DEFAULT_OPTIONS
};

/// What `app.task` returns: Celery's decorated function, with `delay`.
struct TaskRef<A, T> {
    queue: Queue<Job>,
    accepting: Rc<Cell<bool>>,
    body: Rc<Body<A, T>>,
    options: Options,
    counts: Rc<RefCell<Counts>>,
}

impl<A: Clone + Send + 'static, T: Send + 'static> TaskRef<A, T> {
    fn max_retries(mut self, retries: u32) -> Self {
        self.options.max_retries = retries;
        self
    }

    fn time_limit(mut self, limit: Duration) -> Self {
        self.options.time_limit = limit;
        self
    }

    /// Queues a call with `args`, waiting while the queue is full, and returns its handle.
    async fn delay(&self, args: A) -> Result<AsyncResult<T>, JobError> {
        if !self.accepting.get() {
            return Err(JobError::ShutDown);
        }
        let (sender, receiver) = oneshot::channel();
        let (body, options, counts) = (self.body.clone(), self.options, self.counts.clone());
        let job: Job = Box::pin(async move {
            let outcome = body.run(args, options, &counts).await;
            let _ = sender.set_result(outcome); // Err only if the caller dropped its handle
        });
        let queued = self.queue.put(job).await;
        queued.map_err(|_| JobError::ShutDown)?;
        Ok(AsyncResult { receiver })
    }
}

impl<A: Clone + Send + 'static, T: Send + 'static> Body<A, T> {
    /// Every attempt of one job, with a doubling backoff between them.
    async fn run(
        &self,
        args: A,
        options: Options,
        counts: &RefCell<Counts>,
    ) -> Result<T, JobError> {
        let mut backoff = options.retry_backoff;
        let mut attempts = 1;
        loop {
            let limit = options.time_limit;
            match self.attempt(args.clone(), attempts, limit).await {
                Ok(value) => {
                    counts.borrow_mut().succeeded += 1;
                    return Ok(value);
                }
                Err(error) if attempts > options.max_retries => {
                    counts.borrow_mut().failed += 1;
                    return Err(JobError::Failed { attempts, error });
                }
                Err(_) => counts.borrow_mut().retries += 1,
            }
            minirt::sleep(backoff).await;
            backoff *= 2;
            attempts += 1;
        }
    }

    /// One attempt, as a task of its own (on the loop, or on the blocking pool), within `limit`.
    async fn attempt(&self, args: A, attempt: u32, limit: Duration) -> Result<T, String> {
        let mut handle = match self {
            Body::Light(f) => minirt::spawn(f(args, attempt)),
            Body::Cpu(f) => {
                let f = f.clone();
                minirt::spawn_blocking(move || f(args, attempt))
            }
        };
        match minirt::timeout(limit, &mut handle).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join_error)) => Err(join_error.to_string()), // "task panicked: ..."
            Err(_elapsed) => {
                // Cancels a light task. A blocking one cannot be stopped: it runs on, unheard.
                handle.abort();
                Err(format!("timed out after {limit:?}"))
            }
        }
    }
}

/// Celery's AsyncResult: the receiving end of one job's result.
#[must_use = "dropping an AsyncResult throws the job's result away (the job still runs)"]
struct AsyncResult<T> {
    receiver: oneshot::Receiver<Result<T, JobError>>,
}

impl<T> AsyncResult<T> {
    async fn get(self) -> Result<T, JobError> {
        self.receiver.await.unwrap_or(Err(JobError::Lost))
    }

    async fn get_timeout(self, limit: Duration) -> Result<T, JobError> {
        let result = minirt::timeout(limit, self.get()).await;
        result.unwrap_or(Err(JobError::GetTimedOut(limit)))
    }
}

#[derive(Debug)]
enum JobError {
    /// Every attempt failed; `error` says why the last one did.
    Failed { attempts: u32, error: String },
    /// `delay` after `shutdown`.
    ShutDown,
    /// `get_timeout` ran out of time (the job may still finish).
    GetTimedOut(Duration),
    /// The job was dropped without a result: the runtime shut down under it.
    Lost,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Failed { attempts, error } => {
                write!(f, "{attempts} attempts failed: {error}")
            }
            JobError::ShutDown => f.write_str("the app is shut down: no new jobs"),
            JobError::GetTimedOut(limit) => write!(f, "no result within {limit:?}"),
            JobError::Lost => f.write_str("the job was lost before it finished"),
        }
    }
}

impl std::error::Error for JobError {}

// ---- The demo. ----

struct Tasks {
    add: TaskRef<(u64, u64), u64>,
    crunch: TaskRef<(u64, bool), u64>,
    flaky: TaskRef<u32, u64>,
    slow: TaskRef<u64, u64>,
}

/// A job of the batch: which task, with which arguments.
enum Planned {
    Add(u64, u64),
    Crunch(u64, bool),
    Flaky(u32),
    Slow(u64),
}

/// Job `i` of the batch. Only the attempt number decides who fails, so every run is the same,
/// in one process or across many.
fn plan(i: u64) -> Planned {
    match i % 10 {
        _ if i % 100 == 99 => Planned::Slow(i), // times out on every attempt
        0..=3 => Planned::Crunch(i, false),
        4..=6 => Planned::Add(i, i),
        7 => Planned::Flaky(1),        // fails once
        8 => Planned::Flaky(2),        // fails twice
        _ => Planned::Crunch(i, true), // panics once
    }
}

async fn submit(tasks: &Tasks, i: u64) -> Result<AsyncResult<u64>, JobError> {
    match plan(i) {
        Planned::Add(x, y) => tasks.add.delay((x, y)).await,
        Planned::Crunch(seed, crash) => tasks.crunch.delay((seed, crash)).await,
        Planned::Flaky(fails) => tasks.flaky.delay(fails).await,
        Planned::Slow(n) => tasks.slow.delay(n).await,
    }
}

/// The in-process demo. Its lines go through [`Out`], as the Redis modes' do: a `println!`
/// here would stop every worker while the reader of stdout is slow.
async fn demo(workers: usize, jobs: u64) -> Result<(), JobError> {
    let (out, writer) = Out::start();
    let outcome = run_demo(workers, jobs, &out).await;
    out.close(writer).await; // writes what is queued before the loop ends
    outcome
}

async fn run_demo(workers: usize, jobs: u64, out: &Out) -> Result<(), JobError> {
    let start = Instant::now();
    let mut app = App::new(workers, 64);
    let tasks = Tasks {
        add: app.task("add", add),
        crunch: app.cpu_task("crunch", crunch),
        flaky: app.task("flaky", flaky),
        slow: app
            .task("slow", slow)
            .max_retries(SLOW_OPTIONS.max_retries)
            .time_limit(SLOW_OPTIONS.time_limit),
    };
    out.say(format!(
        "{workers} workers, a queue of 64 jobs, {jobs} jobs in the batch"
    ));

    let result = tasks.add.delay((4, 4)).await?;
    out.say(format!("add(4, 4) = {}", result.get().await?));

    let mut results = Vec::new();
    for i in 0..jobs {
        results.push(submit(&tasks, i).await?);
    }
    out.say(format!("submitted {jobs} jobs in {:.2?}", start.elapsed()));
    let (mut succeeded, mut failed) = (0, 0);
    for (i, result) in results.into_iter().enumerate() {
        match result.get_timeout(Duration::from_secs(60)).await {
            Ok(_) => succeeded += 1,
            Err(error) if failed == 0 => {
                failed += 1;
                out.say(format!("first failure: job {i}: {error}"));
            }
            Err(_) => failed += 1,
        }
    }
    app.shutdown().await;
    print_summary(out, &app, jobs, succeeded, failed, start.elapsed());
    match tasks.add.delay((1, 1)).await {
        Err(refused) => out.say(format!("add.delay((1, 1)) after shutdown: {refused}")),
        Ok(_) => unreachable!("shutdown refuses new jobs"),
    }
    Ok(())
}

fn print_summary(out: &Out, app: &App, jobs: u64, succeeded: u64, failed: u64, time: Duration) {
    out.say(format!(
        "{:<8} {:>9} {:>7} {:>8}",
        "kind", "succeeded", "failed", "retries"
    ));
    for (name, counts) in &app.kinds {
        let c = counts.borrow();
        out.say(format!(
            "{name:<8} {:>9} {:>7} {:>8}",
            c.succeeded, c.failed, c.retries
        ));
    }
    let retries: u64 = app.kinds.iter().map(|(_, c)| c.borrow().retries).sum();
    out.say(format!(
        "jobs: {jobs} succeeded: {succeeded} failed: {failed} retries: {retries} time: {time:.2?}"
    ));
}

/// What the command line asks for.
enum Mode {
    /// Everything in one process, the broker a `minirt::sync::Queue`.
    InProcess {
        workers: usize,
        jobs: u64,
    },
    Worker {
        broker: wire::BrokerUrl,
        concurrency: usize,
    },
    Submit {
        broker: wire::BrokerUrl,
        jobs: u64,
        only: Option<&'static str>,
        limit: Duration,
    },
    Help,
}

/// How long a worker or submitter keeps trying an unreachable broker before it gives up.
const BROKER_PATIENCE: Duration = Duration::from_secs(10);

fn main() {
    let mode = match parse_args(std::env::args().skip(1)) {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("job_queue: {message}\n{USAGE}");
            std::process::exit(2);
        }
    };
    quiet_simulated_crashes();
    let outcome = match mode {
        Mode::Help => {
            println!("{USAGE}");
            return;
        }
        Mode::InProcess { workers, jobs } => minirt::run(demo(workers, jobs))
            .map(|()| String::new())
            .map_err(|e| e.to_string()),
        Mode::Worker {
            broker,
            concurrency,
        } => minirt::run(with_broker(broker, |b, out| {
            broker::worker(b, concurrency, out)
        })),
        Mode::Submit {
            broker,
            jobs,
            only,
            limit,
        } => minirt::run(with_broker(broker, |b, out| {
            submit::submit(b, jobs, only, limit, out)
        })),
    };
    match outcome {
        // The summary is printed here, after the loop has ended.
        Ok(summary) if summary.is_empty() => {}
        Ok(summary) => println!("{summary}"),
        Err(error) => {
            eprintln!("job_queue: {error}");
            std::process::exit(1);
        }
    }
}

/// Connects to the broker (retrying for a while), runs `f` with it, and flushes the output.
async fn with_broker<F, Fut>(url: wire::BrokerUrl, f: F) -> Result<String, String>
where
    F: FnOnce(wire::Broker, Out) -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    let (out, writer) = Out::start();
    let outcome = match wire::Broker::connect(url, BROKER_PATIENCE, out.clone()).await {
        Ok(broker) => f(broker, out.clone()).await,
        Err(error) => Err(error),
    };
    out.close(writer).await;
    outcome
}
/// The default panic hook prints every panic, even one caught and retried. Skip the demo's own
/// (a `panic!` with a plain string literal, so its payload is a `&str`).
fn quiet_simulated_crashes() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<&str>().copied();
        if !message.is_some_and(|m| m.starts_with("simulated crash")) {
            default_hook(info);
        }
    }));
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Mode, String> {
    let first = args.next();
    let command = first.as_deref();
    if matches!(command, Some("-h" | "--help")) {
        return Ok(Mode::Help);
    }
    let (mut workers, mut jobs, mut concurrency) = (4, 100, 8);
    let (mut broker, mut only, mut limit) = (None, None, Duration::from_secs(600));
    let mut pending = match command {
        Some("worker" | "submit") | None => None,
        Some(_) => first.clone(),
    };
    while let Some(flag) = pending.take().or_else(|| args.next()) {
        if flag == "-h" || flag == "--help" {
            return Ok(Mode::Help);
        }
        let allowed: &[&str] = match command {
            Some("worker") => &["--broker", "--concurrency"],
            Some("submit") => &["--broker", "--jobs", "--task", "--timeout"],
            _ => &["--workers", "--jobs"],
        };
        if !allowed.contains(&flag.as_str()) {
            return Err(format!("unexpected argument {flag:?}"));
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--workers" => workers = parse_count(&flag, &value, 1_000)? as usize,
            "--jobs" => jobs = parse_count(&flag, &value, 1_000_000)?,
            "--concurrency" => {
                concurrency = parse_count(&flag, &value, broker::MAX_SLOTS as u64)? as usize
            }
            "--timeout" => limit = Duration::from_secs(parse_count(&flag, &value, 86_400)?),
            "--broker" => broker = Some(wire::parse_url(&value)?),
            _ => {
                let known = broker::KIND_NAMES.iter().find(|k| **k == value);
                let names = broker::KIND_NAMES.join(", ");
                only = Some(*known.ok_or_else(|| {
                    format!("unknown task name {value:?} for --task (known: {names})")
                })?);
            }
        }
    }
    let need_broker = || {
        broker
            .clone()
            .ok_or_else(|| format!("{} needs --broker redis://HOST:PORT", command.unwrap_or("")))
    };
    Ok(match command {
        Some("worker") => Mode::Worker {
            broker: need_broker()?,
            concurrency,
        },
        Some("submit") => Mode::Submit {
            broker: need_broker()?,
            jobs,
            only,
            limit,
        },
        _ => Mode::InProcess { workers, jobs },
    })
}

fn parse_count(flag: &str, value: &str, max: u64) -> Result<u64, String> {
    match value.parse() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag} wants a whole number from 1 to {max}, not {value:?}"
        )),
    }
}
