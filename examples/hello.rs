//! The first program of seed 002: print, sleep one second, print.
//!
//! ```text
//! cargo run --example hello
//! ```
//!
//! The asyncio original:
//!
//! ```python
//! async def main():
//!     print("Hello")
//!     await asyncio.sleep(1)
//!     print("World")
//! asyncio.run(main())
//! ```
//!
//! While `main` sleeps, the runtime's thread is free: a second task prints a dot every 200 ms
//! during the wait, which a blocking `std::thread::sleep` would not allow.

use std::time::{Duration, Instant};

fn main() {
    if let Some(arg) = std::env::args().nth(1) {
        eprintln!("hello: takes no arguments, got {arg:?}\nusage: hello");
        std::process::exit(2);
    }
    minirt::run(async {
        let start = Instant::now();
        println!("Hello");
        let ticker = minirt::spawn(async {
            loop {
                minirt::sleep(Duration::from_millis(200)).await;
                println!("  . (another task runs while main sleeps)");
            }
        });
        minirt::sleep(Duration::from_secs(1)).await;
        ticker.abort();
        println!("World, after {:.2?}", start.elapsed());
    });
}
