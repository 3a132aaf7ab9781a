//! The two line echo servers of issue 14's outside-process test, for `benches/echo_latency.sh`:
//! minirt, and a tokio `current_thread` twin with the same code. Both run the handler in
//! `compare/line_echo.rs` (`BufReader::read_line`, then `write_all`, no printing), one task
//! per connection.
//!
//! ```text
//! cargo bench --bench echo_server -- --serve minirt --addr 127.0.0.1:0 --connections 64
//! cargo bench --bench echo_server -- --serve tokio --addr 127.0.0.1:0 --connections 64
//! ```
//!
//! It prints `listening on ADDR`, accepts exactly `--connections` connections (1 to 1,024),
//! serves them until every client has closed, prints `served N lines` and exits. A watchdog
//! ends the process after `--max-seconds` (default 120) whatever happens, and only loopback
//! addresses are accepted. Without `--serve` it exits at once, so that a plain `cargo bench`
//! does not start a server.

#[path = "compare/line_echo.rs"]
mod line_echo;

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: echo_server --serve minirt|tokio [--addr 127.0.0.1:0] \
                     [--connections 64] [--max-seconds 120]";
const MAX_CONNECTIONS: usize = 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let Some(runtime) = value("--serve") else {
        println!("echo_server: a server for benches/echo_latency.sh; {USAGE}");
        return ExitCode::SUCCESS;
    };
    let addr = match value("--addr")
        .unwrap_or("127.0.0.1:0".into())
        .parse::<SocketAddr>()
    {
        Ok(addr) if addr.ip().is_loopback() => addr,
        _ => return usage("--addr must be a loopback IP address and port"),
    };
    let connections = match value("--connections").map_or(Ok(64), |v| v.parse()) {
        Ok(n) if (1..=MAX_CONNECTIONS).contains(&n) => n,
        _ => return usage("--connections must be 1 to 1024"),
    };
    let max_seconds = match value("--max-seconds").map_or(Ok(120), |v| v.parse()) {
        Ok(s) if (1..=600).contains(&s) => s,
        _ => return usage("--max-seconds must be 1 to 600"),
    };
    // The bound in time, whatever the clients do: off the loop thread, so it costs the
    // server nothing.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(max_seconds));
        eprintln!("echo_server: stopped by the watchdog after {max_seconds} s");
        std::process::exit(3);
    });
    let served = match runtime.as_str() {
        "minirt" => serve_minirt(addr, connections),
        "tokio" => serve_tokio(addr, connections),
        _ => return usage("--serve takes minirt or tokio"),
    };
    match served {
        Ok(lines) => {
            println!("served {lines} lines");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("echo_server: {problem}\n{USAGE}");
    ExitCode::from(2)
}

/// Tells the script where to connect. Called once, before the first accept: nothing is
/// printed while connections are served.
fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}

fn serve_minirt(addr: SocketAddr, connections: usize) -> io::Result<u64> {
    minirt::run(async move {
        let listener = minirt::net::TcpListener::bind(addr)?;
        announce(listener.local_addr()?)?;
        let mut handlers = Vec::with_capacity(connections);
        for _ in 0..connections {
            let (stream, _) = listener.accept().await?;
            handlers.push(minirt::spawn(line_echo::serve_minirt(stream)));
        }
        let mut lines = 0;
        for h in handlers {
            lines += h.await.expect("a connection's task panicked")?;
        }
        Ok(lines)
    })
}

fn serve_tokio(addr: SocketAddr, connections: usize) -> io::Result<u64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        announce(listener.local_addr()?)?;
        let mut handlers = Vec::with_capacity(connections);
        for _ in 0..connections {
            let (stream, _) = listener.accept().await?;
            handlers.push(tokio::spawn(line_echo::serve_tokio(stream)));
        }
        let mut lines = 0;
        for h in handlers {
            lines += h.await.expect("a connection's task panicked")?;
        }
        Ok(lines)
    })
}
