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
//!
//! It prints with `minirt::io::stdout().write_line(..).await`, not `println!`: a `println!`
//! blocks the runtime's thread (every task) for as long as the reader of stdout is not
//! reading. The bytes go out from a writer thread; `flush` at the end waits for them.

use std::time::{Duration, Instant};

fn main() {
    if let Some(arg) = std::env::args().nth(1) {
        eprintln!("hello: takes no arguments, got {arg:?}\nusage: hello");
        std::process::exit(2);
    }
    minirt::run(async {
        let start = Instant::now();
        let out = minirt::io::stdout();
        // A write fails only once the reader of stdout has gone: nobody to tell then.
        let _ = out.write_line("Hello").await;
        let ticker = minirt::spawn(async {
            let out = minirt::io::stdout();
            loop {
                minirt::sleep(Duration::from_millis(200)).await;
                let _ = out
                    .write_line("  . (another task runs while main sleeps)")
                    .await;
            }
        });
        minirt::sleep(Duration::from_secs(1)).await;
        ticker.abort();
        let _ = out
            .write_line(&format!("World, after {:.2?}", start.elapsed()))
            .await;
        // Bytes still in the buffer when main returns would be lost.
        let _ = out.flush().await;
    });
}
