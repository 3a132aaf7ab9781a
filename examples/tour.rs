//! A guided tour of minirt: every part of the runtime at work, in about ten seconds.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! Each scene prints what it does and when, so you can watch one thread juggle many tasks:
//!
//! 1. **spawn**: three tasks start at once and finish in the order of their sleeps.
//! 2. **sleep and timeout**: timers from the hierarchical wheel; a slow job is cut off.
//! 3. **a queue with workers**: a producer fills a bounded queue, three workers drain it,
//!    `join` waits until every item is done (asyncio's `Queue`, `task_done`, `join`).
//! 4. **the lock**: tasks take turns on a fair `Mutex`, in the order they asked.
//! 5. **the oneshot**: a value handed over by a plain OS thread (`set_result`).
//! 6. **spawn_blocking**: blocking work on the pool while a ticker shows the loop stays free.
//! 7. **TCP**: an echo server and a client on loopback, over the reactor.
//!
//! At the end it prints what the runtime counted (`Runtime::metrics`). Run it with
//! `MINIRT_TRACE=trace.json` to record the whole tour as a timeline (see `docs/observing.md`).
//!
//! `--fast` runs every delay ten times shorter (the test suite uses it).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use minirt::io::BufReader;
use minirt::net::{TcpListener, TcpStream};
use minirt::sync::{Mutex, Queue, oneshot};

/// Prints a line stamped with the time since the tour began.
#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    scale: f64,
}

impl Clock {
    /// Prints `text` through `minirt::io::stdout()`, not `println!`: a task waits here only
    /// while stdout's buffer is full, and the other tasks run meanwhile (a `println!` would
    /// stop them all while the reader of stdout is slow).
    async fn say(&self, text: impl std::fmt::Display) {
        let line = format!("[{:>6.3}s] {text}", self.start.elapsed().as_secs_f64());
        // An error means the reader of stdout has gone: nobody to tell.
        let _ = minirt::io::stdout().write_line(&line).await;
    }
    /// `ms` milliseconds of tour time (shorter with `--fast`).
    fn ms(&self, ms: u64) -> Duration {
        Duration::from_secs_f64(ms as f64 / 1000.0 * self.scale)
    }
    async fn scene(&self, title: &str) {
        let _ = minirt::io::stdout().write_line("").await;
        self.say(format!("== {title}")).await;
    }
}

fn main() {
    let scale = match std::env::args().nth(1).as_deref() {
        None => 1.0,
        Some("--fast") => 0.1,
        Some(other) => {
            eprintln!("tour: unexpected argument {other:?}\nusage: tour [--fast]");
            std::process::exit(2);
        }
    };
    let clock = Clock {
        start: Instant::now(),
        scale,
    };
    let runtime = minirt::Runtime::new().expect("the OS gives us a poller");
    runtime.block_on(async move {
        spawn_scene(clock).await;
        timer_scene(clock).await;
        queue_scene(clock).await;
        lock_scene(clock).await;
        oneshot_scene(clock).await;
        blocking_scene(clock).await;
        if let Err(error) = tcp_scene(clock).await {
            clock.say(format!("the TCP scene failed: {error}")).await;
        }
        let _ = minirt::io::stdout().write_line("").await;
        clock
            .say("tour over: all of it ran on one thread (plus the blocking pool)")
            .await;
        // Out before the println!s below (the loop has stopped by then: they stall nobody).
        let _ = minirt::io::stdout().flush().await;
    });
    println!("\nWhat the runtime counted along the way (Runtime::metrics):");
    for line in runtime.metrics().to_string().lines() {
        println!("  {line}");
    }
    println!(
        "\nTo watch it as a timeline: MINIRT_TRACE=trace.json cargo run --release --example tour"
    );
    println!("then open trace.json in https://ui.perfetto.dev (see docs/observing.md).");
}

async fn spawn_scene(clock: Clock) {
    clock
        .scene("1. spawn: three tasks run at once on one thread")
        .await;
    let mut tasks = Vec::new();
    for (name, ms) in [("slow", 900), ("quick", 300), ("medium", 600)] {
        clock.say(format!("spawn {name:<6} (sleeps {ms} ms)")).await;
        tasks.push(minirt::spawn(async move {
            minirt::sleep(clock.ms(ms)).await;
            clock.say(format!("{name} done")).await;
            name
        }));
    }
    let names = minirt::join_all(tasks).await;
    let names: Vec<_> = names.into_iter().map(Result::unwrap).collect();
    clock
        .say(format!(
            "join_all gives them back in spawn order: {names:?}"
        ))
        .await;
}

async fn timer_scene(clock: Clock) {
    clock.scene("2. sleep and timeout").await;
    let before = Instant::now();
    minirt::sleep(clock.ms(250)).await;
    clock
        .say(format!(
            "slept {:?} (asked for {:?})",
            before.elapsed(),
            clock.ms(250)
        ))
        .await;
    let slow_job = minirt::sleep(clock.ms(5_000));
    match minirt::timeout(clock.ms(400), slow_job).await {
        Ok(()) => clock.say("the slow job finished?!").await,
        Err(elapsed) => {
            clock
                .say(format!("a 5 s job under a 400 ms timeout: {elapsed}"))
                .await
        }
    }
}

async fn queue_scene(clock: Clock) {
    clock.scene("3. a bounded queue with three workers").await;
    let queue = Queue::bounded(2);
    let workers: Vec<_> = (1..=3)
        .map(|id| {
            let queue = queue.clone();
            minirt::spawn(async move {
                while let Ok(job) = queue.get().await {
                    minirt::sleep(clock.ms(150)).await;
                    clock.say(format!("  worker {id} finished job {job}")).await;
                    queue.task_done().expect("one task_done per job");
                }
            })
        })
        .collect();
    for job in 1..=6 {
        let asked = Instant::now();
        queue.put(job).await.expect("the queue is open");
        let waited = asked.elapsed();
        if waited > clock.ms(10) {
            clock
                .say(format!(
                    "put job {job}: waited {waited:.0?} for room in the queue"
                ))
                .await;
        } else {
            clock.say(format!("put job {job}")).await;
        }
    }
    queue.join().await;
    clock.say("join: every job is done").await;
    queue.shutdown();
    minirt::join_all(workers).await;
}

async fn lock_scene(clock: Clock) {
    clock
        .scene("4. a fair lock: first come, first served")
        .await;
    let counter = Rc::new(Mutex::new(0));
    let order = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let (counter, order) = (counter.clone(), order.clone());
            minirt::spawn(async move {
                let mut guard = counter.lock().await;
                clock.say(format!("  {name} holds the lock")).await;
                // Hold it across a sleep: the others wait their turn, in order.
                minirt::sleep(clock.ms(100)).await;
                *guard += 1;
                order.borrow_mut().push(name);
            })
        })
        .collect();
    minirt::join_all(tasks).await;
    clock
        .say(format!(
            "counter = {}, turns taken in order {:?}",
            *counter.lock().await,
            order.borrow()
        ))
        .await;
}

async fn oneshot_scene(clock: Clock) {
    clock
        .scene("5. a oneshot completed by a plain OS thread")
        .await;
    let (sender, receiver) = oneshot::channel();
    let delay = clock.ms(300);
    let thread = std::thread::spawn(move || {
        std::thread::sleep(delay);
        let _ = sender.set_result("666");
    });
    clock
        .say("awaiting a value that another thread will set")
        .await;
    let value = receiver.await.expect("the thread sets it");
    clock
        .say(format!("set_result from the thread woke us: {value:?}"))
        .await;
    thread.join().expect("the thread finishes");
}

async fn blocking_scene(clock: Clock) {
    clock
        .scene("6. spawn_blocking: blocking work off the loop")
        .await;
    let ticker = minirt::spawn(async move {
        loop {
            minirt::sleep(clock.ms(200)).await;
            clock.say("  tick (the loop is free)").await;
        }
    });
    let delay = clock.ms(700);
    let sum = minirt::spawn_blocking(move || {
        std::thread::sleep(delay); // a synchronous call, like a database driver's
        (1..=1_000_000u64).sum::<u64>()
    })
    .await
    .expect("the job does not panic");
    ticker.abort();
    clock.say(format!("the pool thread computed {sum}")).await;
}

async fn tcp_scene(clock: Clock) -> std::io::Result<()> {
    clock
        .scene("7. TCP: an echo server and a client on loopback")
        .await;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    clock.say(format!("listening on {addr}")).await;
    let server = minirt::spawn(async move {
        let (stream, peer) = listener.accept().await?;
        clock.say(format!("  server: accepted {peer}")).await;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).await? > 0 {
            reader.get_mut().write_all(line.as_bytes()).await?;
            line.clear();
        }
        clock.say("  server: the client closed; done").await;
        std::io::Result::Ok(())
    });
    let stream = TcpStream::connect(addr).await?;
    let mut reader = BufReader::new(stream);
    for word in ["hello", "minirt"] {
        reader
            .get_mut()
            .write_all(format!("{word}\n").as_bytes())
            .await?;
        let mut echo = String::new();
        reader.read_line(&mut echo).await?;
        clock
            .say(format!(
                "client: sent {word:?}, got back {:?}",
                echo.trim_end()
            ))
            .await;
    }
    drop(reader);
    server.await.expect("the server task does not panic")
}
