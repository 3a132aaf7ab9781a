//! Seed 003's TCP echo server: every line a client sends comes straight back to it.
//!
//! It shows a listener with an accept loop, one task per connection (asyncio's
//! `create_task`), `BufReader::read_line` with a line limit (`readline`), `write_all` (asyncio's
//! `write` plus `drain`), closing on end of input, and Ctrl-C to stop.
//!
//! ```text
//! cargo run --example echo_server                    # listens on 127.0.0.1:8888
//! cargo run --example echo_server -- 0.0.0.0:9000    # or on the address you give
//! cargo run --example echo_server -- --threads 2     # one runtime and accept loop per thread
//! ```
//!
//! With `--threads N`, N threads (`minirt::ThreadPerCore`) each accept on their own
//! `SO_REUSEPORT` listener on the one address, and the kernel spreads the connections over them.
//! Thread 0 binds first, then has each other thread bind through its `Handle`.
//!
//! Try it by hand from another terminal. With netcat, type lines and see them come back
//! (Ctrl-D closes the connection):
//!
//! ```text
//! nc 127.0.0.1 8888
//! ```
//!
//! With Python:
//!
//! ```text
//! python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", 8888));
//! s.sendall(b"hello\n"); print(s.recv(100))'
//! ```
//!
//! The asyncio original, tidied up:
//!
//! ```python
//! async def handle_echo(reader, writer):
//!     while True:
//!         if reader.at_eof():
//!             break
//!         data = await reader.readline()
//!         addr = writer.get_extra_info('peername')
//!         print(f"received {data.decode()!r} from {addr}")
//!         writer.write(data)
//!         await writer.drain()
//!     print("close the connection")
//!     writer.close()
//!
//! async def main():
//!     server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
//!     async with server:
//!         await server.serve_forever()
//! ```
//!
//! Unlike the original, a line is at most 64 KiB (a longer one, or one that is not UTF-8, gets
//! an error line back and the connection goes on), and a client that vanishes ends only its
//! own task.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::process::ExitCode;

use minirt::io::BufReader;
use minirt::net::{TcpListener, TcpStream};

const DEFAULT_ADDR: &str = "127.0.0.1:8888";
const USAGE: &str =
    "usage: echo_server [ADDRESS:PORT] [--threads N]   (default 127.0.0.1:8888, 1 thread)";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut threads = 1;
    if let Some(at) = args.iter().position(|a| a == "--threads") {
        match args.get(at + 1).and_then(|n| n.parse().ok()) {
            Some(n) if n > 0 => threads = n,
            _ => {
                eprintln!("echo_server: --threads wants a number of threads\n{USAGE}");
                return ExitCode::from(2);
            }
        }
        args.drain(at..at + 2);
    }
    let addr = match args.as_slice() {
        [] => DEFAULT_ADDR,
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [addr] if !addr.starts_with('-') => addr.as_str(),
        _ => {
            eprintln!("echo_server: unexpected arguments {args:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if threads > 1 {
        return run_threads(addr, threads);
    }
    minirt::run(async {
        let listener = match TcpListener::bind(addr) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("echo_server: cannot listen on {addr:?}: {e}\n{USAGE}");
                return ExitCode::FAILURE;
            }
        };
        // Listen for Ctrl-C before announcing the address: a client (or a test) that reacts
        // to the announcement with a Ctrl-C must find the handler in place.
        let ctrl_c = minirt::signal::ctrl_c();
        match listener.local_addr() {
            Ok(local) => println!("listening on {local}\nCtrl-C stops the server"),
            Err(e) => eprintln!("echo_server: serving, but on what address? {e}"),
        }
        // The server runs as its own task, so that `main` can wait for Ctrl-C meanwhile.
        let _server = minirt::spawn(serve(listener));
        match ctrl_c.await {
            Ok(()) => println!("\nstopping"),
            Err(e) => eprintln!("echo_server: cannot watch for Ctrl-C ({e}); stopping"),
        }
        // Returning ends the runtime, which drops every connection's task, and with it the
        // connection.
        ExitCode::SUCCESS
    })
}

/// `--threads N`: a runtime per thread, each with its own accept loop. Every thread watches for
/// Ctrl-C (each gets it); thread 0 binds `addr`, then has each other thread bind the same
/// address with `SO_REUSEPORT`, before it announces the address.
fn run_threads(addr: &str, threads: usize) -> ExitCode {
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        eprintln!("echo_server: with --threads, give an IP address and port, not {addr:?}");
        return ExitCode::from(2);
    };
    let outcomes = minirt::ThreadPerCore::new(threads).run(|shard| async move {
        // Each entry runs before any job another thread sends it (the loop polls its main
        // future first), so every thread watches for Ctrl-C before thread 0 announces.
        let ctrl_c = minirt::signal::ctrl_c();
        if shard.index() == 0 {
            if let Err(e) = start_all(addr, shard.handles()).await {
                eprintln!("echo_server: cannot listen on {addr}: {e}");
                shard.stop_all();
                return Err(e);
            }
        }
        ctrl_c.await?;
        if shard.index() == 0 {
            println!("\nstopping");
        }
        Ok(())
    });
    match outcomes {
        Ok(outcomes) if outcomes.iter().all(|o| matches!(o, Ok(Ok(())))) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("echo_server: cannot start the threads: {e}");
            ExitCode::FAILURE
        }
    }
}

/// On thread 0: binds `addr`, starts serving, and has every other thread do the same on the
/// address bound (port 0 picks one port for all), through their handles.
async fn start_all(addr: SocketAddr, handles: &[minirt::Handle]) -> io::Result<()> {
    let listener = TcpListener::bind_reuse_port(addr)?;
    let bound = listener.local_addr()?;
    drop(minirt::spawn(serve(listener)));
    for other in &handles[1..] {
        // Built and run on the other thread: its listener and tasks stay there.
        let started = other.spawn_fn(move || async move {
            let listener = TcpListener::bind_reuse_port(bound)?;
            drop(minirt::spawn(serve(listener)));
            io::Result::Ok(())
        });
        started
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
    }
    println!(
        "listening on {bound} with {} threads\nCtrl-C stops the server",
        handles.len()
    );
    Ok(())
}

/// Accepts connections forever, one task each.
async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Dropping the handle detaches the task: it runs on its own.
                drop(minirt::spawn(handle_echo(stream, peer)));
            }
            // Out of file descriptors, or a connection that died in the backlog: the
            // listener is still fine. Pause a little, so that a process out of fds does not
            // spin on a listener that stays readable, then go on.
            Err(e) => {
                eprintln!("accept failed: {e}; retrying in 100 ms");
                minirt::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Echoes lines until the client closes its side.
async fn handle_echo(stream: TcpStream, peer: SocketAddr) {
    println!("{peer} connected");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        let reply = match reader.read_line(&mut line).await {
            Ok(0) => break, // end of input: the client is done
            Ok(_) => {
                println!("received {:?} from {peer}", line.trim_end());
                line.as_str()
            }
            Err(e) if e.kind() == ErrorKind::InvalidData => {
                println!("bad line from {peer}: {e}");
                line = format!("error: {e}\n");
                line.as_str()
            }
            Err(e) => {
                println!("{peer}: {e}");
                break;
            }
        };
        // The writer is the reader's inner stream: a BufReader passes writes through.
        if let Err(e) = reader.get_mut().write_all(reply.as_bytes()).await {
            println!("{peer}: {e}");
            break;
        }
    }
    println!("close the connection with {peer}");
}
