//! The first program of seed 002: print, wait, print.
//!
//! ```text
//! cargo run --example hello
//! ```
//!
//! The asyncio original is:
//!
//! ```python
//! async def main():
//!     print("Hello")
//!     await asyncio.sleep(1)
//!     print("World")
//! asyncio.run(main())
//! ```
//!
//! Until minirt has timers, the wait is a second task: `main` spawns a worker, and each
//! `yield_now` hands the thread to it, so the two lines of output interleave with the worker's.

fn main() {
    minirt::run(async {
        println!("Hello");
        let worker = minirt::spawn(async {
            for step in 1..=3 {
                println!("  (another task runs while main waits: step {step})");
                minirt::yield_now().await;
            }
            "done"
        });
        let result = worker.await.expect("the worker does not panic");
        println!("World (the worker said {result:?})");
    });
}
