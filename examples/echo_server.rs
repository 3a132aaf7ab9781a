//! Seed 003's TCP echo server: every line a client sends comes straight back to it.
//!
//! It shows a listener with an accept loop, one task per connection (asyncio's
//! `create_task`), `BufReader::read_line` with a line limit (`readline`), `write_all` (asyncio's
//! `write` plus `drain`), closing on end of input, and Ctrl-C to stop.
//!
//! ```text
//! cargo run --example echo_server                    # listens on 127.0.0.1:8888
//! cargo run --example echo_server -- 0.0.0.0:9000    # or on the address you give
//! cargo run --example echo_server -- --quiet         # no line per request (for load tests)
//! cargo run --example echo_server -- --threads 2     # one runtime and accept loop per thread
//! cargo run --example echo_server -- --idle-timeout-secs 5   # cut silent clients sooner
//! ```
//!
//! With `--threads N`, N threads (`minirt::ThreadPerCore`) each accept on their own
//! `SO_REUSEPORT` listener on the one address, and the kernel spreads the connections over them.
//! Thread 0 binds first, then has each other thread bind through its `Handle`. Another
//! process already listening on the address is an error (exit 1), as without `--threads`:
//! `SO_REUSEPORT` alone would let a second server take a share of the clients without a
//! word. Test: `example_echo_server::with_threads_a_second_server_on_the_same_address_is_refused`.
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
//!
//! **Every wait on a client has a deadline.** A client must send each whole line, and take
//! each echo, within `--idle-timeout-secs` (60 by default), or it is disconnected: one that
//! connects and says nothing, one that sends a byte now and then but never a whole line, and
//! one that sends and never reads its echoes would otherwise hold a connection (a file
//! descriptor) for ever, and enough of them would keep every other client out. Test:
//! `example_echo_server::silent_clients_are_cut_and_a_server_out_of_file_descriptors_serves_again`.
//!
//! **No exit path panics**: `--help` and a usage error go through minirt's stdout and stderr,
//! never `println!`, which panics on a full or closed stream (`echo_server --help >/dev/full`
//! exited 101). Test: `example_echo_server::help_and_usage_errors_survive_a_full_stdout_and_stderr`.
//!
//! **SIGTERM** (`kill`) is not Ctrl-C: minirt listens for SIGINT only, so SIGTERM ends the
//! server at once, as SIGKILL does. It holds nothing to lose: the open connections are reset.
//!
//! **Logging never stalls the echo.** The original's `print` blocks its loop whenever the
//! reader of stdout is slow. Here a connection puts its log line in a bounded queue without
//! waiting, and a logging task writes the queue to `minirt::io::stdout()` (a bounded buffer
//! that a writer thread empties). A slow reader is absorbed by the queue (16,384 lines); a
//! reader that stopped reading fills it, and then lines are dropped and counted (the count is
//! printed at the end), while every client is still echoed. A closed stdout
//! (`echo_server | head -1`) only silences the log, and Ctrl-C still exits 0. `--quiet` turns
//! the per-line log off. With `--threads N`, each thread has a log queue and logging task of
//! its own, all writing to the one `minirt::io::stdout()`.

use std::cell::{Cell, OnceCell};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use minirt::io::BufReader;
use minirt::net::{TcpListener, TcpStream};
use minirt::sync::Queue;

const DEFAULT_ADDR: &str = "127.0.0.1:8888";
const USAGE: &str = "usage: echo_server [--quiet] [--threads N] [--idle-timeout-secs N] \
                     [ADDRESS:PORT]   (default 127.0.0.1:8888, 1 thread, 60 s)";

/// How many log lines may wait for stdout before new ones are dropped.
const LOG_BACKLOG: usize = 16 * 1024;
/// Log lines are cut to this many bytes (a 64 KiB line is echoed whole, not logged whole).
const LOG_LINE_MAX: usize = 200;

/// How long the last words (the address, "stopping") may wait for a slow reader of stdout.
const SAY_TIMEOUT: Duration = Duration::from_secs(1);

/// How each connection is served: the same on every thread.
#[derive(Clone, Copy)]
struct Serving {
    /// No line per request.
    quiet: bool,
    /// How long a client may take to send a whole line, or to take its echo.
    idle: Duration,
}

fn main() -> ExitCode {
    let code = run();
    // Let what is still in stdout's and stderr's buffers out, but do not hang on a reader
    // that stopped.
    minirt::io::flush_stdio(SAY_TIMEOUT);
    code
}

/// Writes `text` to stdout (`false`) or stderr (`true`) through minirt's bounded buffer,
/// without waiting: `println!` panics on a full or closed stream. `main` lets the buffers
/// out, for a second at most, before it returns.
fn print_to(stderr: bool, text: &str) {
    let bytes = text.as_bytes();
    let _ = if stderr {
        minirt::io::stderr().try_write_all(bytes)
    } else {
        minirt::io::stdout().try_write_all(bytes)
    };
}

/// Says a usage error on stderr, and exits 2.
fn usage_error(message: &str) -> ExitCode {
    print_to(true, &format!("echo_server: {message}\n{USAGE}\n"));
    ExitCode::from(2)
}

fn run() -> ExitCode {
    let mut serving = Serving {
        quiet: false,
        idle: Duration::from_secs(60),
    };
    let mut threads = 1;
    let mut addr = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print_to(false, &format!("{USAGE}\n"));
                return ExitCode::SUCCESS;
            }
            "-q" | "--quiet" => serving.quiet = true,
            "--threads" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => threads = n,
                _ => return usage_error("--threads wants a number of threads"),
            },
            "--idle-timeout-secs" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n @ 1..=86_400) => serving.idle = Duration::from_secs(n),
                _ => return usage_error("--idle-timeout-secs wants a number from 1 to 86400"),
            },
            a if !a.starts_with('-') && addr.is_none() => addr = Some(arg),
            _ => return usage_error(&format!("unexpected argument {arg:?}")),
        }
    }
    let addr = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    if threads > 1 {
        return run_threads(&addr, threads, serving);
    }
    minirt::run(async move {
        let listener = match TcpListener::bind(&*addr) {
            Ok(listener) => listener,
            Err(e) => {
                let text = format!("echo_server: cannot listen on {addr:?}: {e}\n{USAGE}");
                say(minirt::io::stderr(), &text).await;
                return ExitCode::FAILURE;
            }
        };
        // Listen for Ctrl-C before announcing the address: a client (or a test) that reacts
        // to the announcement with a Ctrl-C must find the handler in place.
        let ctrl_c = minirt::signal::ctrl_c();
        let announce = match listener.local_addr() {
            Ok(local) => format!("listening on {local}\nCtrl-C stops the server"),
            Err(e) => format!("echo_server: serving, but on what address? {e}"),
        };
        let log = Log::new(serving.quiet);
        // The server runs as its own task, so that `main` can wait for Ctrl-C meanwhile.
        let _server = minirt::spawn(serve(listener, log.clone(), serving.idle));
        say(minirt::io::stdout(), &announce).await;
        let bye = match ctrl_c.await {
            Ok(()) => "stopping".to_string(),
            Err(e) => format!("echo_server: cannot watch for Ctrl-C ({e}); stopping"),
        };
        stop(&log, Some(bye)).await;
        // Returning ends the runtime, which drops every connection's task, and with it the
        // connection.
        ExitCode::SUCCESS
    })
}

/// `--threads N`: a runtime per thread, each with its own accept loop and its own [`Log`].
/// Every thread watches for Ctrl-C (each gets it); thread 0 binds `addr`, then has each other
/// thread bind the same address with `SO_REUSEPORT`, before it announces the address.
fn run_threads(addr: &str, threads: usize, serving: Serving) -> ExitCode {
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        return usage_error(&format!(
            "with --threads, give an IP address and port, not {addr:?}"
        ));
    };
    let outcomes = minirt::ThreadPerCore::new(threads).run(|shard| async move {
        // Each entry runs before any job another thread sends it (the loop polls its main
        // future first), so every thread watches for Ctrl-C before thread 0 announces.
        let ctrl_c = minirt::signal::ctrl_c();
        let log = Log::for_this_thread(serving.quiet);
        if shard.index() == 0 {
            match start_all(addr, shard.handles(), serving).await {
                Ok(bound) => {
                    let announce = format!(
                        "listening on {bound} with {} threads\nCtrl-C stops the server",
                        shard.handles().len()
                    );
                    say(minirt::io::stdout(), &announce).await;
                }
                Err(e) => {
                    let text = format!("echo_server: cannot listen on {addr}: {e}");
                    say(minirt::io::stderr(), &text).await;
                    shard.stop_all();
                    return Err(e);
                }
            }
        }
        let stopped = ctrl_c.await;
        // Thread 0 says goodbye; the others speak only if their log dropped lines.
        let bye = (shard.index() == 0).then(|| match &stopped {
            Ok(()) => "stopping".to_string(),
            Err(e) => format!("echo_server: cannot watch for Ctrl-C ({e}); stopping"),
        });
        stop(&log, bye).await;
        stopped
    });
    match outcomes {
        Ok(outcomes) if outcomes.iter().all(|o| matches!(o, Ok(Ok(())))) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            print_to(
                true,
                &format!("echo_server: cannot start the threads: {e}\n"),
            );
            ExitCode::FAILURE
        }
    }
}

/// On thread 0: binds `addr`, starts serving, and has every other thread do the same on the
/// address bound (port 0 picks one port for all), through their handles. Returns that address.
async fn start_all(
    addr: SocketAddr,
    handles: &[minirt::Handle],
    serving: Serving,
) -> io::Result<SocketAddr> {
    // A plain bind first: `SO_REUSEPORT` alone would let this server share the port with
    // another one (a second run, an old version left running) without a word, each getting
    // a share of the clients. It fails if one is there; it is let go at once.
    let probe = std::net::TcpListener::bind(addr)?;
    let addr = probe.local_addr()?;
    drop(probe);
    let listener = TcpListener::bind_reuse_port(addr)?;
    let bound = listener.local_addr()?;
    let log = Log::for_this_thread(serving.quiet);
    drop(minirt::spawn(serve(listener, log, serving.idle)));
    for other in &handles[1..] {
        // Built and run on the other thread: its listener, log and tasks stay there.
        let started = other.spawn_fn(move || async move {
            let listener = TcpListener::bind_reuse_port(bound)?;
            let log = Log::for_this_thread(serving.quiet);
            drop(minirt::spawn(serve(listener, log, serving.idle)));
            io::Result::Ok(())
        });
        started
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
    }
    Ok(bound)
}

/// After Ctrl-C: lets this thread's log catch up (for [`SAY_TIMEOUT`] at most), then says
/// `bye`, with how many log lines were dropped if any.
async fn stop(log: &Log, bye: Option<String>) {
    log.drain().await;
    let dropped = match log.dropped.get() {
        0 => None,
        n => Some(format!("{n} log lines dropped: stdout was not keeping up")),
    };
    let text = match (bye, dropped) {
        (Some(bye), Some(dropped)) => format!("{bye} ({dropped})"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => return,
    };
    say(minirt::io::stdout(), &text).await;
}

/// Writes `text` and waits until it is out, but for [`SAY_TIMEOUT`] at most: for the lines
/// that matter (the address, the goodbye). Errors are ignored: with stdout closed there is
/// nobody to tell.
async fn say<W>(mut out: W, text: &str)
where
    W: futures_io::AsyncWrite + Unpin,
{
    let line = format!("{text}\n");
    let _ = minirt::timeout(SAY_TIMEOUT, async {
        minirt::io::write_all(&mut out, line.as_bytes()).await?;
        minirt::io::flush(&mut out).await
    })
    .await;
}

/// The per-request log: lines that never make a connection's task wait.
///
/// A line goes into a bounded queue (at most [`LOG_BACKLOG`] lines, each cut to
/// [`LOG_LINE_MAX`] bytes, so a few MiB at worst), and a logging task writes the queue to
/// `minirt::io::stdout()`, waiting there as long as stdout makes it wait. A slow reader of
/// stdout is absorbed by the queue; a reader that has stopped (or gone) fills it, and from then
/// on lines are dropped and counted until there is room again.
struct Log {
    queue: Queue<String>,
    quiet: bool,
    /// Lines that found the queue full, and were dropped.
    dropped: Cell<u64>,
}

impl Log {
    fn new(quiet: bool) -> Rc<Log> {
        let log = Rc::new(Log {
            queue: Queue::bounded(LOG_BACKLOG),
            quiet,
            dropped: Cell::new(0),
        });
        let writer = log.clone();
        drop(minirt::spawn(async move {
            let mut out = minirt::io::stdout();
            while let Ok(line) = writer.queue.get().await {
                // With stdout closed the line has nowhere to go: it is dropped all the same.
                let _ = out.write_all(line.as_bytes()).await;
                let _ = writer.queue.task_done();
            }
        }));
        log
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        if self.quiet {
            return;
        }
        let mut line = text.to_string();
        if line.len() > LOG_LINE_MAX {
            let mut cut = LOG_LINE_MAX;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push_str("...");
        }
        line.push('\n');
        if self.queue.put_nowait(line).is_err() {
            self.dropped.set(self.dropped.get() + 1);
        }
    }

    /// This thread's log, made (with its logging task) the first time it is asked for: with
    /// `--threads`, the thread's entry and the accept loop that thread 0 starts there share it.
    fn for_this_thread(quiet: bool) -> Rc<Log> {
        thread_local! {
            static THIS_THREAD: OnceCell<Rc<Log>> = const { OnceCell::new() };
        }
        THIS_THREAD.with(|log| log.get_or_init(|| Log::new(quiet)).clone())
    }

    /// Waits, for [`SAY_TIMEOUT`] at most, until the queued lines are written.
    async fn drain(&self) {
        let _ = minirt::timeout(SAY_TIMEOUT, self.queue.join()).await;
    }
}

/// Accepts connections forever, one task each.
async fn serve(listener: TcpListener, log: Rc<Log>, idle: Duration) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Dropping the handle detaches the task: it runs on its own.
                drop(minirt::spawn(handle_echo(stream, peer, log.clone(), idle)));
            }
            // Out of file descriptors, or a connection that died in the backlog: the
            // listener is still fine. Pause a little, so that a process out of fds does not
            // spin on a listener that stays readable, then go on.
            Err(e) => {
                let text = format!("accept failed: {e}; retrying in 100 ms\n");
                let _ = minirt::io::stderr().try_write_all(text.as_bytes());
                minirt::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Echoes lines until the client closes its side, or takes longer than `idle` to send a
/// whole line or to take its echo.
async fn handle_echo(stream: TcpStream, peer: SocketAddr, log: Rc<Log>, idle: Duration) {
    log.line(format_args!("{peer} connected"));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        let Ok(read) = minirt::timeout(idle, reader.read_line(&mut line)).await else {
            log.line(format_args!("{peer}: no whole line for {idle:?}; closing"));
            break;
        };
        let reply = match read {
            Ok(0) => break, // end of input: the client is done
            Ok(_) => {
                log.line(format_args!("received {:?} from {peer}", line.trim_end()));
                line.as_str()
            }
            Err(e) if e.kind() == ErrorKind::InvalidData => {
                log.line(format_args!("bad line from {peer}: {e}"));
                line = format!("error: {e}\n");
                line.as_str()
            }
            Err(e) => {
                log.line(format_args!("{peer}: {e}"));
                break;
            }
        };
        // The writer is the reader's inner stream: a BufReader passes writes through.
        match minirt::timeout(idle, reader.get_mut().write_all(reply.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                log.line(format_args!("{peer}: {e}"));
                break;
            }
            Err(_) => {
                log.line(format_args!(
                    "{peer}: not reading its echoes for {idle:?}; closing"
                ));
                break;
            }
        }
    }
    log.line(format_args!("close the connection with {peer}"));
}
