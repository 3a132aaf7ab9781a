//! Seed 003's first programs: tasks that run concurrently, then gather, wait and timeout.
//!
//! ```text
//! cargo run --example tasks
//! ```
//!
//! The asyncio original:
//!
//! ```python
//! async def say_after(delay, what):
//!     await asyncio.sleep(delay)
//!     print(what)
//!
//! async def main():
//!     task1 = asyncio.create_task(say_after(1, 'hello'))
//!     task2 = asyncio.create_task(say_after(2, 'world'))
//!     print(f"started at {time.strftime('%X')}")
//!     await task1
//!     await task2
//!     print(f"finished at {time.strftime('%X')}")
//! ```
//!
//! Both tasks sleep at the same time, so the program takes about 2 s (the longer delay), not
//! 3 s (the sum). Then it shows `join_all` (asyncio's `gather`), `wait` with
//! `FirstCompleted`, and `timeout` (asyncio's `wait_for`). Pass `--scale 0.1` to run ten
//! times faster.
//!
//! Lines go out through `minirt::io::stdout()` (see `say`), never `println!`, which would
//! block every task while the reader of stdout is slow.

use std::time::{Duration, Instant};

use minirt::ReturnWhen;

async fn say_after(delay: Duration, what: &str) -> String {
    minirt::sleep(delay).await;
    say(&format!("  {what}")).await;
    what.to_string()
}

/// Prints `line` without blocking the loop: it waits (as a task) only while stdout's buffer
/// is full. An error means the reader of stdout has gone, and there is nobody to tell.
async fn say(line: &str) {
    let _ = minirt::io::stdout().write_line(line).await;
}

fn main() {
    let scale = match parse_scale(std::env::args().skip(1)) {
        Ok(scale) => scale,
        Err(message) => {
            eprintln!("tasks: {message}\nusage: tasks [--scale FACTOR]   (FACTOR > 0, default 1)");
            std::process::exit(2);
        }
    };
    let secs = move |s: f64| Duration::from_secs_f64(s * scale);

    minirt::run(async move {
        let start = Instant::now();
        let at = move || format!("{:>5.2}s", start.elapsed().as_secs_f64());

        say(&format!("[{}] create_task x2, then await both", at())).await;
        let task1 = minirt::spawn(say_after(secs(1.0), "hello"));
        let task2 = minirt::spawn(say_after(secs(2.0), "world"));
        task1.await.unwrap();
        task2.await.unwrap();
        say(&format!(
            "[{}] finished: about the longer delay, not the sum",
            at()
        ))
        .await;

        say(&format!(
            "[{}] join_all (gather): results in input order",
            at()
        ))
        .await;
        let words = minirt::join_all([
            say_after(secs(0.3), "three"),
            say_after(secs(0.1), "one"),
            say_after(secs(0.2), "two"),
        ])
        .await;
        say(&format!("[{}] gathered {words:?}", at())).await;

        say(&format!(
            "[{}] wait(FirstCompleted): the first to finish wins",
            at()
        ))
        .await;
        let racers = vec![
            minirt::spawn(say_after(secs(0.5), "tortoise")),
            minirt::spawn(say_after(secs(0.1), "hare")),
        ];
        let outcome = minirt::wait(racers, ReturnWhen::FirstCompleted).await;
        let (index, winner) = &outcome.done[0];
        say(&format!(
            "[{}] first completed: racer {index}, {:?}",
            at(),
            winner.as_ref().unwrap()
        ))
        .await;
        for (_, still_running) in outcome.pending {
            still_running.abort();
        }

        say(&format!(
            "[{}] timeout (wait_for): give up after {:?}",
            at(),
            secs(0.2)
        ))
        .await;
        match minirt::timeout(secs(0.2), say_after(secs(5.0), "too late")).await {
            Ok(_) => say(&format!("[{}] finished in time?!", at())).await,
            Err(elapsed) => say(&format!("[{}] timed out: {elapsed}", at())).await,
        }
        // Bytes still in the buffer when main returns would be lost.
        let _ = minirt::io::stdout().flush().await;
    });
}

fn parse_scale(mut args: impl Iterator<Item = String>) -> Result<f64, String> {
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(1.0),
        (Some("--scale"), Some(value), None) => match value.parse::<f64>() {
            Ok(scale) if scale > 0.0 && scale.is_finite() => Ok(scale),
            _ => Err(format!("--scale wants a positive number, not {value:?}")),
        },
        (Some(other), _, _) => Err(format!("unexpected argument {other:?}")),
    }
}
