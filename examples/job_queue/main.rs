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
//! a pool of four, pipelined. The files: `broker.rs` (the worker; its reaper in
//! `broker/reaper.rs`), `submit.rs`, `scripts.rs` (the keys, and the Lua scripts that change
//! them atomically), `message.rs` (the message format), `wire.rs` (connections, deadlines,
//! faults), `resp.rs` (replies, capped before they are decoded), `out.rs` (output that never
//! blocks).
//!
//! What is guaranteed, and the tests that show it (`tests/fault_job_queue.rs` is the fault
//! matrix):
//! - **At least once, nothing lost.** Each worker slot takes a message with `BLMOVE` from the
//!   queue onto a processing list of its own, atomically, so a message is always on one list or
//!   the other. Storing the result, telling the batch and taking the message off the list are
//!   one script, which the broker runs atomically. A worker killed at any point (SIGKILL, a
//!   power cut) leaves its jobs on its processing lists; its heartbeat key (renewed every
//!   second, expiring after 5 s) runs out, and a reaper in any live worker moves them back to
//!   the queue (within about 7 s). A slot whose connection breaks runs what is left on its list
//!   once it has reconnected. A reaper that cannot move a dead worker's jobs (a broker at
//!   `maxmemory` refuses the move: `OOM`) keeps the worker registered, and waits the outage
//!   out like any other. A dead worker stays registered for a few seconds after its first
//!   reap, so that a pop it sent before it died, landing late, is moved back too.
//!   - `fault_job_queue.rs` `workers_killed_at_seeded_points_lose_nothing_and_store_one_result_per_job`
//!   - `fault_job_queue.rs` `a_message_that_lands_on_a_reaped_workers_list_is_reaped_too`
//!   - `fault_job_queue.rs` `a_dead_workers_jobs_are_reaped_once_a_broker_out_of_memory_takes_writes_again`
//!   - `example_job_queue_redis.rs` `a_worker_killed_halfway_loses_no_job_and_records_each_result_once`
//!   - `example_job_queue_redis.rs` `a_job_left_on_a_slots_list_by_a_broken_connection_is_done_after_reconnecting`
//! - **One result per job.** A job may run twice (its worker died after running it, or a
//!   stalled worker was taken for dead). Its result is written once, so the first one stands,
//!   and a script sent again after a lost reply does nothing the second time (it finds the
//!   message gone from its list). `submit` counts reruns as `redelivered`; results are kept for
//!   an hour. A job id names one call: a second message with the same id and another task or
//!   other arguments is not run into a second result, but set aside on `jq:dead` as a conflict.
//!   - `fault_job_queue.rs` `workers_wait_out_a_broker_stopped_longer_than_their_command_timeout`
//!   - `example_job_queue_redis.rs` `a_job_id_sent_again_with_other_arguments_is_set_aside_as_a_conflict`
//! - **Retries, `max_retries` and `time_limit` hold across processes**: a failed attempt goes
//!   back on the queue with its retry count in the message, after the doubling backoff, so the
//!   count survives a crash, and any worker can take the next attempt. A job killed with its
//!   worker is not counted as a retry: the attempt runs again. (The tests of "at least once"
//!   check every job's retry count.)
//! - **A broker outage is waited out.** A refused, reset or silent connection and the
//!   replies `LOADING`, `BUSY`, `TRYAGAIN` (and the other "not now" replies, see `wire.rs`)
//!   are an outage: each task waits with a doubling backoff (50 ms to 2 s) and goes on. A
//!   worker that has started waits for as long as it takes: it dies only for its own reasons.
//!   `submit` waits until its own `--timeout`. With AOF (`appendfsync always`), a broker killed
//!   and restarted has lost nothing it acknowledged, and every job ends with its result;
//!   without persistence the restarted broker has lost its queue: the workers carry on with new
//!   jobs, and a waiting `submit` gives up at `--timeout`. A broker whose disk is full refuses
//!   writes (`MISCONF`): that is an outage too.
//!   - `fault_job_queue.rs` `loading_busy_and_tryagain_are_outages_that_workers_and_submit_wait_out`
//!   - `fault_job_queue.rs` `a_broker_whose_disk_is_full_is_an_outage_waited_out`
//!   - `fault_job_queue.rs` `a_broker_killed_and_restarted_with_aof_loses_no_job_and_kills_no_worker`
//!   - `fault_job_queue.rs` `workers_wait_out_a_broker_stopped_longer_than_their_command_timeout`
//!   - `example_job_queue_redis.rs` `workers_ride_out_a_stopped_broker_and_a_restarted_one`
//! - **Every wait on the broker has a deadline.** Each command has 5 s (a blocking pop 5 s
//!   more than it blocks for), a connect 5 s; past that the broker is stalled, which is an
//!   outage. `submit --timeout` holds against a stopped broker or one that never answers; a
//!   worker gives up on a broker it never reached after 10 s.
//!   - `fault_job_queue.rs` `submit_keeps_its_timeout_against_a_broker_that_never_answers_or_is_stopped`
//!   - `fault_job_queue.rs` `a_worker_gives_up_on_a_broker_that_never_answers_at_start_after_its_patience`
//!   - `example_job_queue_redis.rs` `broker_arguments_and_an_unreachable_broker_are_clear_errors`
//!   - `example_job_queue_redis.rs` `submit_with_no_worker_gives_up_at_its_timeout`
//! - **A broker's replies are capped before they are decoded** (depth 8, a bulk string
//!   1 MiB, 100,000 elements, 16 MiB in all, a line 64 KiB; `resp.rs`): a broker that breaks a
//!   cap, or does not speak RESP2, is an error that names it, never a crash or unbounded
//!   memory. Fuzzed by `fuzz/fuzz_targets/job_queue_resp.rs`.
//!   - `fault_job_queue.rs` `brokers_that_break_the_protocol_or_the_caps_are_errors_naming_them`
//! - **A message a worker cannot read is set aside, never fatal**: not UTF-8, not JSON, the
//!   wrong shape, empty, too deep, a field too long: it goes to `jq:dead` as a record that
//!   keeps its bytes in hex, and is counted (`dead:` on the worker's last line). One over 1 MiB
//!   is not read at all: it is moved as it is to `jq:dead:oversize`, with a record on
//!   `jq:dead`. One with an unknown task name or the wrong number of arguments gets a failed
//!   result that says so. The reaper moves messages without reading them, and forgets a
//!   registry entry that is not a worker's. Fuzzed by `fuzz/fuzz_targets/job_queue_message.rs`.
//!   - `fault_job_queue.rs` `poison_messages_of_every_shape_are_set_aside_with_their_bytes`
//!   - `fault_job_queue.rs` `a_poison_message_left_by_a_dead_worker_is_reaped_then_set_aside_and_the_reaper_lives`
//!   - `example_job_queue_redis.rs` `bad_messages_are_reported_and_never_stall_a_worker`
//! - **Ctrl-C** on a worker finishes the jobs in hand and leaves cleanly (Celery's warm
//!   shutdown); a second Ctrl-C exits at once (130), and a reaper gives the jobs in hand to
//!   another worker. Neither waits on stdout. SIGTERM (`kill`, `systemctl stop`, `docker
//!   stop`) is not Ctrl-C: minirt listens for SIGINT only, so SIGTERM ends a worker at once,
//!   as SIGKILL does: its jobs in hand stay on its processing lists until a live worker's
//!   reaper (or the next worker's) gives them back to the queue, and they run again. Send
//!   SIGINT for Celery's warm shutdown (systemd's `KillSignal=SIGINT`).
//!   - `fault_job_queue.rs` `ctrl_c_stops_a_worker_whose_stdout_is_a_full_pipe_nobody_reads`
//!   - `example_job_queue_redis.rs` `a_second_ctrl_c_stops_a_worker_at_once`
//! - **Output never blocks and never panics.** Lines go into minirt's bounded stdout and
//!   stderr buffers without waiting (a line that finds no room is dropped and counted), and
//!   every exit, `--help` and usage errors included, waits for a reader for 2 s at most
//!   (`out.rs`): a closed stdout, `/dev/full` or a full pipe nobody reads costs at most that.
//!   - `fault_job_queue.rs` `every_exit_path_survives_a_closed_full_or_unread_stdout_and_stderr`
//! - Bad arguments: a malformed URL, an unknown `--task` and a missing `--broker` exit 2
//!   with the usage. `add` is checked: a sum past 2^64 - 1 is a failed result.
//!   - `example_job_queue_redis.rs` `broker_arguments_and_an_unreachable_broker_are_clear_errors`
//!   - `example_job_queue_redis.rs` `add_that_overflows_is_a_failed_result_not_a_wrapped_sum`
//! - **Room for its connections.** A worker needs up to two connections per slot (its
//!   blocking pop, and one to finish its job with) and a few more: at start it raises its
//!   soft limit of open files (`ulimit -Sn`) if that is too low, and if the hard limit is
//!   too low as well it stops (exit 1) and says what to change. (Past its limit, a
//!   connection refused for want of a descriptor looked like a broker outage, which drops
//!   every connection: the worker went round in circles and did no job.)
//!   - `fault_job_queue.rs` `a_worker_short_of_file_descriptors_raises_its_limit_or_says_so_at_start`
//! - **A broker with a password** (`requirepass`, or an ACL user) is given it in the URL,
//!   `redis://:PASSWORD@HOST:PORT` or `redis://USER:PASSWORD@HOST:PORT` (`%40` for a `@` in
//!   it), and every new connection logs in with `AUTH`; the password is never printed. A
//!   broker that wants one and is not given it (`NOAUTH`), or refuses it (`WRONGPASS`), is an
//!   error at start (exit 1) that says so. (A password changed while a worker runs is found
//!   when a connection is opened again: that worker stops, and its jobs in hand go to a live
//!   worker, or wait for the next one on its processing lists.)
//!   - `fault_job_queue.rs` `a_broker_with_a_password_is_used_with_it_and_refuses_a_wrong_one_clearly`
//!
//! How fast it is, next to Celery on the same Redis: `bash benches/job_queue_redis.sh`, and
//! the figures in `benches/README.md`.

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
mod message;
mod out;
mod resp;
mod scripts;
mod submit;
mod wire;

use out::Out;

const USAGE: &str =
    "usage: job_queue [--workers N] [--jobs N]        one process (4 workers, 100 jobs)
       job_queue worker --broker redis://[:PASSWORD@]HOST:PORT [--concurrency N]   (8)
       job_queue submit --broker redis://[:PASSWORD@]HOST:PORT [--jobs N] [--task NAME] [--timeout SECS]
                                                  (100 jobs, the mixed plan, 600 s)
       job_queue -h | --help";

// ---- The task functions: what Celery would mark with @app.task. ----

/// Checked: a sum that does not fit in 64 bits is a failed result, not a wrapped number.
async fn add((x, y): (u64, u64), _attempt: u32) -> Result<u64, String> {
    x.checked_add(y)
        .ok_or_else(|| format!("overflow: {x} + {y} does not fit in 64 bits"))
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
    let out = Out::new();
    let outcome = run_demo(workers, jobs, &out).await;
    out.finish().await; // waits for stdout, a bounded time
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
        Err(message) => out::exit(2, "", &format!("job_queue: {message}\n{USAGE}\n")),
    };
    quiet_simulated_crashes();
    let outcome = match mode {
        Mode::Help => out::exit(0, &format!("{USAGE}\n"), ""),
        Mode::InProcess { workers, jobs } => minirt::run(demo(workers, jobs))
            .map(|()| String::new())
            .map_err(|e| e.to_string()),
        Mode::Worker {
            broker,
            concurrency,
        } => match broker::make_room_for(concurrency) {
            Ok(()) => minirt::run(with_broker(broker, None, |b, out| {
                broker::worker(b, concurrency, out)
            })),
            Err(error) => Err(error),
        },
        Mode::Submit {
            broker,
            jobs,
            only,
            limit,
        } => {
            let start = Instant::now();
            let deadline = start + limit;
            minirt::run(with_broker(broker, Some(deadline), move |b, out| {
                submit::submit(b, jobs, only, (start, deadline), out)
            }))
        }
    };
    // The loop has ended; every exit goes through `out::exit`, which waits for stdout and
    // stderr a bounded time and never panics on a full or closed stream.
    match outcome {
        Ok(summary) if summary.is_empty() => out::exit(0, "", ""),
        Ok(summary) => out::exit(0, &format!("{summary}\n"), ""),
        Err(error) => out::exit(1, "", &format!("job_queue: {error}\n")),
    }
}

/// Connects to the broker (trying for [`BROKER_PATIENCE`], and never past `deadline`), runs
/// `f` with it, and gives the output a bounded time to be written.
async fn with_broker<F, Fut>(
    url: wire::BrokerUrl,
    deadline: Option<Instant>,
    f: F,
) -> Result<String, String>
where
    F: FnOnce(wire::Broker, Out) -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    let out = Out::new();
    let outcome = match wire::Broker::connect(url, BROKER_PATIENCE, deadline, out.clone()).await {
        Ok(broker) => f(broker, out.clone()).await,
        Err(error) => Err(error),
    };
    out.finish().await;
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
