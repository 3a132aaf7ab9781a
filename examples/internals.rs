//! The runtime's main paths, one small scene each, to record as a trace and look at.
//!
//! ```text
//! MINIRT_TRACE=spawn.json cargo run --release --example internals -- spawn
//! python3 docs/tools/trace_svg.py spawn.json spawn.svg     # or open it in ui.perfetto.dev
//! ```
//!
//! Scenes, as drawn in `docs/internals.md`:
//! - `spawn`: a task spawns a child, awaits its `JoinHandle`, and is woken when the child ends;
//! - `same_thread`: a task waits on an `Event` that another task sets;
//! - `other_thread`: a task waits on a oneshot that a plain thread completes;
//! - `io`: a task reads a socket with nothing in it, and is woken when bytes arrive;
//! - `timer`: a task sleeps 5 ms;
//! - `mutex`: two tasks wait for a held lock; the first in line is handed it and aborted
//!   before it runs, so the lock passes to the second.
//!
//! Each scene prints what it did once the runtime has returned (never on the loop).

use std::rc::Rc;
use std::time::Duration;

use minirt::net::{TcpListener, TcpStream};
use minirt::sync::{Event, Mutex};

const SCENES: [&str; 6] = [
    "spawn",
    "same_thread",
    "other_thread",
    "io",
    "timer",
    "mutex",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scene = match args.as_slice() {
        [scene] if SCENES.contains(&scene.as_str()) => scene.clone(),
        _ => {
            eprintln!("usage: internals <{}>", SCENES.join("|"));
            std::process::exit(2);
        }
    };
    let said = minirt::run(async move {
        match scene.as_str() {
            "spawn" => spawn().await,
            "same_thread" => same_thread().await,
            "other_thread" => other_thread().await,
            "io" => io().await,
            "timer" => timer().await,
            _ => mutex().await,
        }
    });
    println!("{said}");
}

async fn spawn() -> String {
    let parent = minirt::spawn_named("parent", async {
        let child = minirt::spawn_named("child", async { 42 });
        child.await.unwrap()
    });
    format!("spawn: the child returned {}", parent.await.unwrap())
}

async fn same_thread() -> String {
    let event = Rc::new(Event::new());
    let waiter = minirt::spawn_named("waiter", {
        let event = event.clone();
        async move { event.wait().await }
    });
    let setter = minirt::spawn_named("setter", async move {
        minirt::yield_now().await;
        event.set();
    });
    setter.await.unwrap();
    waiter.await.unwrap();
    "same_thread: the waiter was woken by the setter".to_string()
}

async fn other_thread() -> String {
    let (tx, rx) = minirt::sync::oneshot::channel();
    let (go, wait_for_go) = std::sync::mpsc::channel();
    let waiter = minirt::spawn_named("waiter", rx);
    let thread = std::thread::Builder::new()
        .name("plain-thread".into())
        .spawn(move || {
            wait_for_go.recv().unwrap();
            // A plain thread may sleep; the loop parks meanwhile, which the trace shows.
            std::thread::sleep(Duration::from_millis(2));
            tx.set_result("from a plain thread").unwrap();
        })
        .unwrap();
    // One yield: the waiter has then been polled once and waits on the oneshot.
    minirt::yield_now().await;
    go.send(()).unwrap();
    let value = waiter.await.unwrap().unwrap();
    minirt::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    format!("other_thread: the waiter got {value:?}")
}

async fn io() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = minirt::spawn_named("reader", async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0; 16];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let writer = minirt::spawn_named("writer", async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // Let the reader find the socket empty and wait first.
        minirt::sleep(Duration::from_millis(2)).await;
        stream.write_all(b"hello").await.unwrap();
    });
    writer.await.unwrap();
    format!("io: the reader read {:?}", reader.await.unwrap())
}

async fn timer() -> String {
    let sleeper = minirt::spawn_named("sleeper", async {
        let start = std::time::Instant::now();
        minirt::sleep(Duration::from_millis(5)).await;
        start.elapsed()
    });
    let slept = sleeper.await.unwrap();
    format!("timer: slept {slept:?} for 5ms")
}

async fn mutex() -> String {
    let lock = Rc::new(Mutex::new(Vec::new()));
    let guard = lock.lock().await;
    let first = minirt::spawn_named("first in line", {
        let lock = lock.clone();
        async move { lock.lock().await.push("first") }
    });
    let second = minirt::spawn_named("second in line", {
        let lock = lock.clone();
        async move { lock.lock().await.push("second") }
    });
    // Let both queue up behind the held lock.
    minirt::yield_now().await;
    // The unlock hands the lock to the first in line and wakes it; abort it before it runs.
    drop(guard);
    first.abort();
    let first = first.await;
    second.await.unwrap();
    let got = lock.lock().await.clone();
    format!(
        "mutex: the first waiter was {}, the lock went to {got:?}",
        if first.is_err_and(|e| e.is_cancelled()) {
            "cancelled"
        } else {
            "not cancelled"
        }
    )
}
