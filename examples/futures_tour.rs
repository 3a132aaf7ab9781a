//! Seed 004, asyncio's `Future`, in minirt: a value that someone else completes later.
//!
//! ```text
//! cargo run --example futures_tour
//! ```
//!
//! It walks through four scenes and prints what happens, with timings:
//!
//! 1. `set_after`: a future completed by `set_result` from another task after a delay. In
//!    asyncio: `fut = loop.create_future()`, then `fut.set_result("666")` in a task, then
//!    `await fut`. In minirt the future is a `oneshot` channel: the `Sender` sets the result,
//!    the `Receiver` is awaited.
//! 2. The same from a plain OS thread: the oneshot is the one thread-safe primitive, which is
//!    how asyncio's `wrap_future` bridges `concurrent.futures` into the loop.
//! 3. A future whose sender is dropped: asyncio's cancelled future. Awaiting it fails instead
//!    of hanging forever (the seed's "an empty Future loops forever").
//! 4. `run_in_executor(None, func1)`: a blocking function (`time.sleep(2)` in the seed; 300 ms
//!    here) runs on the blocking pool with `spawn_blocking`, while a ticker task shows that the
//!    loop keeps running. Ten jobs on a pool of five threads show the seed's
//!    `ThreadPoolExecutor(max_workers=5)`.
//!
//! It prints through `minirt::io::stdout()` (see `say`): `println!` would stop every task
//! while the reader of stdout is slow.
//!
//! Try changing the durations, or `max_blocking_threads`, and watch the timings move.

use std::time::{Duration, Instant};

use minirt::sync::oneshot;

fn main() {
    if let Some(arg) = std::env::args().nth(1) {
        eprintln!("futures_tour: takes no arguments, got {arg:?}\nusage: futures_tour");
        std::process::exit(2);
    }
    let runtime = minirt::Runtime::builder()
        .max_blocking_threads(5)
        .build()
        .expect("the OS gives us a poller");
    runtime.block_on(tour());
}

async fn tour() {
    let start = Instant::now();
    let at = move || format!("[{:>6.0?}]", start.elapsed());

    say(&format!("{} 1. a future completed by another task", at())).await;
    let (fut, receiver) = oneshot::channel::<String>();
    minirt::spawn(set_after(fut, Duration::from_millis(200)));
    let data = receiver.await.expect("set_after sets a result");
    say(&format!("{}    awaited the future: {data:?}", at())).await;

    say(&format!(
        "{} 2. a future completed by a plain OS thread",
        at()
    ))
    .await;
    let (fut, receiver) = oneshot::channel::<String>();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        fut.set_result("from a thread".to_string())
            .expect("the receiver is waiting");
    });
    let data = receiver.await.expect("the thread sets a result");
    say(&format!("{}    awaited the future: {data:?}", at())).await;
    thread.join().unwrap();

    say(&format!(
        "{} 3. a future whose sender is dropped: cancelled",
        at()
    ))
    .await;
    let (fut, receiver) = oneshot::channel::<String>();
    minirt::spawn(async move {
        minirt::sleep(Duration::from_millis(50)).await;
        drop(fut); // gives up without a result
    });
    match receiver.await {
        Ok(value) => say(&format!("{}    unexpected value {value:?}", at())).await,
        Err(error) => {
            say(&format!(
                "{}    await failed instead of hanging: {error}",
                at()
            ))
            .await
        }
    }

    say(&format!(
        "{} 4. run_in_executor: blocking work on the pool",
        at()
    ))
    .await;
    let ticker = minirt::spawn(async move {
        loop {
            minirt::sleep(Duration::from_millis(100)).await;
            say(&format!(
                "{}    (tick: the loop is free while the job blocks)",
                at()
            ))
            .await;
        }
    });
    let result = minirt::spawn_blocking(func1)
        .await
        .expect("func1 does not panic");
    say(&format!("{}    default thread pool: {result:?}", at())).await;
    ticker.abort();

    let pool_start = Instant::now();
    let jobs = (0..10).map(|value| minirt::spawn_blocking(move || func(value)));
    let values: Vec<u32> = minirt::join_all(jobs)
        .await
        .into_iter()
        .map(|r| r.expect("func does not panic"))
        .collect();
    say(&format!(
        "{}    10 jobs of 100 ms on 5 threads took {:.0?} (two rounds): {values:?}",
        at(),
        pool_start.elapsed()
    ))
    .await;
    // Bytes still in the buffer when main returns would be lost.
    let _ = minirt::io::stdout().flush().await;
}

/// Prints `line` through `minirt::io::stdout()`, not `println!`: a task waits here only
/// while stdout's buffer is full, and the other tasks run meanwhile (a `println!` would stop
/// them all while the reader of stdout is slow). An error means the reader has gone.
async fn say(line: &str) {
    let _ = minirt::io::stdout().write_line(line).await;
}

/// The seed's `set_after`: waits, then completes the future.
async fn set_after(fut: oneshot::Sender<String>, delay: Duration) {
    minirt::sleep(delay).await;
    // `set_result` gives the value back if nobody listens any more.
    let _ = fut.set_result("666".to_string());
}

/// The seed's `func1`: a blocking call, as a synchronous library would make it.
fn func1() -> &'static str {
    std::thread::sleep(Duration::from_millis(300));
    "string"
}

/// The seed's `func(value)` for the thread pool demo.
fn func(value: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(100));
    value
}
