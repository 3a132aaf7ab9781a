//! Where lines come from: TCP clients, or standard input.
//!
//! A connection's lines that have already arrived are taken together: they go to the journal
//! in one group, and their replies out in one write. A client that sends lines without waiting
//! for each reply (as any log shipper does) so costs one fsync per burst, not one per line.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use minirt::JoinHandle;
use minirt::io::{self, BufReader};
use minirt::net::{TcpListener, TcpStream};

use crate::record::{LineSplitter, Piece};
use crate::{Collector, IDLE, OK, STOPPING_WRITE_GRACE, say, warn};

/// At most this many lines of one connection are taken together.
const MAX_TAKEN_TOGETHER: usize = 256;

/// A client's socket, shared with its task, and the task.
type Connection = (Rc<TcpStream>, JoinHandle<()>);

/// The open connections, so that shutdown can end their input and wait for them.
#[derive(Default)]
pub struct Connections {
    next_id: Cell<u64>,
    open: RefCell<HashMap<u64, Connection>>,
}

/// Accepts clients until the task is aborted, one task each.
pub async fn accept_clients(
    listener: TcpListener,
    collector: Rc<Collector>,
    conns: Rc<Connections>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Replies go out whole, one write per batch of lines: send each at once
                // (Nagle's wait for an ACK would stall a client that reads replies in bursts).
                let _ = stream.set_nodelay(true);
                let stream = Rc::new(stream);
                let id = conns.next_id.get();
                conns.next_id.set(id + 1);
                let client =
                    serve_client(stream.clone(), peer, collector.clone(), conns.clone(), id);
                let task = minirt::spawn(client);
                // The task starts at the loop's next turn, so it is listed before it can end.
                conns.open.borrow_mut().insert(id, (stream, task));
            }
            // Out of file descriptors, say: pause, so as not to spin on a ready listener.
            Err(e) => {
                warn(&format!("accept failed: {e}; retrying in 100 ms")).await;
                minirt::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_client(
    stream: Rc<TcpStream>,
    peer: SocketAddr,
    collector: Rc<Collector>,
    conns: Rc<Connections>,
    id: u64,
) {
    if let Err(why) = read_lines(&stream, &collector).await {
        log(&format!("{peer}: {why}; closing"));
    }
    conns.open.borrow_mut().remove(&id);
}

/// What one read of a line gave.
enum Read {
    Piece(Piece),
    End,
    Idle,
    Failed(String),
}

async fn read_piece(reader: &mut BufReader<&TcpStream>, idle: Duration) -> Read {
    let mut line = Vec::new();
    // `read_until` keeps a half-read line in the reader, so a timeout loses nothing.
    match minirt::timeout(idle, reader.read_until(b'\n', &mut line)).await {
        Ok(Ok(0)) => Read::End,
        Ok(Ok(_)) => Read::Piece(Piece::Line(line)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => Read::Piece(Piece::TooLong),
        Ok(Err(e)) => Read::Failed(e.to_string()),
        Err(_) => Read::Idle,
    }
}

/// Reads lines until end of input, replying to each. `Err` says why the connection was cut.
async fn read_lines(stream: &TcpStream, collector: &Collector) -> Result<(), String> {
    let idle = collector.idle_timeout;
    // Room for the line ending, `\r\n`; `take_lines` checks the length without it.
    let mut reader = BufReader::with_limit(stream, collector.max_line + 2);
    loop {
        let mut pieces = Vec::new();
        let mut end = None;
        // The first line may take the idle timeout to come; the others are here already.
        loop {
            match read_piece(&mut reader, idle).await {
                Read::Piece(piece) => pieces.push(piece),
                Read::End => end = Some(Ok(())),
                Read::Failed(e) => end = Some(Err(e)),
                Read::Idle => {
                    let _ = send(stream, IDLE, collector).await;
                    return Err(format!("idle for {idle:?}"));
                }
            }
            let more = reader.buffer().contains(&b'\n');
            if end.is_some() || !more || pieces.len() >= MAX_TAKEN_TOGETHER {
                break;
            }
        }
        if !pieces.is_empty() {
            let replies = collector.take_lines(pieces).await;
            send(stream, &replies.concat(), collector).await?;
        }
        if let Some(end) = end {
            return end;
        }
    }
}

/// Writes replies, giving up on a client that has not read anything for the idle timeout,
/// or, once stopping, past a short grace.
async fn send(mut stream: &TcpStream, replies: &str, collector: &Collector) -> Result<(), String> {
    let idle = collector.idle_timeout;
    let write = async {
        match minirt::timeout(idle, io::write_all(&mut stream, replies.as_bytes())).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("not reading its replies for {idle:?}")),
        }
    };
    let cut = async {
        collector.replies_cut().await;
        Err(format!(
            "stopping, and not reading its replies for {STOPPING_WRITE_GRACE:?}"
        ))
    };
    futures_lite::future::or(write, cut).await
}

/// Ends every connection's input: each task still gets the bytes that already reached us (the
/// kernel keeps them), queues and answers those lines, then reads end of input and finishes.
pub async fn finish_connections(conns: &Connections) {
    let open: Vec<_> = conns.open.borrow_mut().drain().map(|(_, c)| c).collect();
    say(&format!(
        "no new connections; finishing {} open ones",
        open.len()
    ))
    .await;
    let mut tasks = Vec::new();
    for (stream, task) in open {
        let _ = stream.shutdown(Shutdown::Read); // fails only if the client already left
        tasks.push(task);
    }
    minirt::join_all(tasks).await;
}

/// Reads what standard input has now (up to 64 KiB; blocks until it has something).
fn read_stdin_chunk() -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0; 64 * 1024];
    loop {
        match std::io::stdin().lock().read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Queues standard input's lines until its end. Reading blocks, so each read is a pool job;
/// the lines of one read are taken together.
pub async fn read_stdin(collector: Rc<Collector>) {
    let mut splitter = LineSplitter::new(collector.max_line + 2);
    let mut number = 0;
    loop {
        let mut pieces = Vec::new();
        let end = match minirt::spawn_blocking(read_stdin_chunk).await {
            Ok(Ok(chunk)) if chunk.is_empty() => {
                pieces.extend(splitter.finish());
                true
            }
            Ok(Ok(chunk)) => {
                splitter.push(&chunk, &mut pieces);
                false
            }
            Ok(Err(e)) => return warn(&format!("cannot read standard input: {e}")).await,
            Err(e) => return warn(&format!("reading standard input failed: {e}")).await,
        };
        let replies: Vec<Cow<'static, str>> = collector.take_lines(pieces).await;
        for reply in replies {
            number += 1;
            if reply != OK {
                let reply = reply.trim_end();
                warn(&format!("line {number} of standard input: {reply}")).await;
            }
        }
        if end {
            return;
        }
    }
}

/// For the per-connection log: writes `text` to stdout if its buffer has room now, or drops
/// it, so that a flood of connections never waits for a slow reader of stdout.
fn log(text: &str) {
    let _ = minirt::io::stdout().try_write_all(format!("{text}\n").as_bytes());
}
