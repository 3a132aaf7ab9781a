//! A load generator for a line echo server, as issue 14 measured it from outside the process:
//! `--connections` plain OS threads, each with a blocking std socket, ping-pong a 128-byte
//! line (`compare/line_echo.rs`) for `--seconds`, and the round trips of all of them are
//! counted and timed.
//!
//! ```text
//! cargo bench --bench echo_load -- --addr 127.0.0.1:PORT --connections 64 --seconds 5
//! ```
//!
//! It prints one line, `round_trips_per_s=.. p50_us=.. p99_us=.. p999_us=.. round_trips=..`,
//! and closes every connection when it is done. Only loopback addresses, 1 to 1,024
//! connections and 1 to 60 seconds are accepted. Without `--addr` it exits at once, so that a
//! plain `cargo bench` does not load anything. `benches/echo_latency.sh` runs it against
//! `echo_server`.

#[path = "compare/line_echo.rs"]
mod line_echo;

use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use line_echo::{Until, quantile};

const USAGE: &str = "usage: echo_load --addr 127.0.0.1:PORT [--connections 64] [--seconds 5]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let Some(addr) = value("--addr") else {
        println!("echo_load: a load generator for benches/echo_latency.sh; {USAGE}");
        return ExitCode::SUCCESS;
    };
    let addr = match addr.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_loopback() => addr,
        _ => return usage("--addr must be a loopback IP address and port"),
    };
    let connections = match value("--connections").map_or(Ok(64), |v| v.parse()) {
        Ok(n) if (1..=1024).contains(&n) => n,
        _ => return usage("--connections must be 1 to 1024"),
    };
    let seconds = match value("--seconds").map_or(Ok(5), |v| v.parse()) {
        Ok(s) if (1..=60).contains(&s) => s,
        _ => return usage("--seconds must be 1 to 60"),
    };
    match load(addr, connections, Duration::from_secs(seconds)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("echo_load: {problem}\n{USAGE}");
    ExitCode::from(2)
}

/// Connects every client, starts them together, and prints what they measured.
fn load(addr: SocketAddr, connections: usize, length: Duration) -> std::io::Result<()> {
    let streams = (0..connections)
        .map(|_| TcpStream::connect(addr))
        .collect::<std::io::Result<Vec<_>>>()?;
    // The clients wait at the barrier; the deadline is set just before it opens.
    let start = Arc::new(Barrier::new(connections + 1));
    let deadline = Arc::new(OnceLock::new());
    let clients: Vec<_> = streams
        .into_iter()
        .map(|stream| {
            let (start, deadline) = (start.clone(), deadline.clone());
            std::thread::spawn(move || {
                start.wait();
                let end: Instant = *deadline.get().expect("set before the barrier opens");
                line_echo::ping_pong(stream, Until::Deadline(end))
            })
        })
        .collect();
    let began = Instant::now();
    deadline.get_or_init(|| began + length);
    start.wait();
    let mut times = Vec::new();
    for c in clients {
        times.extend(c.join().expect("a client thread panicked")?);
    }
    let elapsed = began.elapsed();
    times.sort_unstable();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "round_trips_per_s={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} round_trips={}",
        times.len() as f64 / elapsed.as_secs_f64(),
        micros(quantile(&times, 0.5)),
        micros(quantile(&times, 0.99)),
        micros(quantile(&times, 0.999)),
        times.len()
    );
    Ok(())
}
