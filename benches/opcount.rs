//! Cost per operation, counted rather than timed: one micro-operation repeated `N` times on
//! minirt or on tokio's `current_thread` runtime, with a counting global allocator.
//!
//! ```sh
//! cargo bench --bench opcount -- spawn_join minirt 10000     # allocations per operation
//! # instructions per operation: run it under callgrind twice, with N and with 0, and divide
//! # the difference by N (setup and teardown cancel out); docs/why-fast.md has the loop.
//! ```
//!
//! Instruction counts under callgrind and allocation counts are deterministic, so the figures
//! do not depend on how loaded the machine is. `docs/why-fast.md` quotes them.
//!
//! Operations (the same code shape on both runtimes):
//! - `spawn_join`: spawn an empty task and await its `JoinHandle`;
//! - `yield`: one `yield_now().await` in the main future;
//! - `yield_task`: one `yield_now().await` in a spawned task (a task's own wake and re-poll);
//! - `mutex`: lock and unlock an uncontended async mutex;
//! - `queue`: put one item on an unbounded queue (tokio: `mpsc::unbounded_channel`) and get it;
//! - `queue_task`, `queue_bounded_task`: the suite's queue workloads, per item: a producer
//!   task puts `N` items on an unbounded (or bounded(100)) queue, the main future gets them all
//!   (tokio: `mpsc::unbounded_channel`, `mpsc::channel(100)`);
//! - `spawn_wake`: spawn a task that waits on a oneshot, complete the oneshot from the main
//!   future, await the task (a same-thread wake through a channel);
//! - `spawn_burst`: per task, spawn [`BURST`] empty tasks at once, then await them all: task
//!   memory in bursts, which overflow `malloc`'s small per-thread cache (what minirt's
//!   `recycle` feature is for; `docs/why-fast.md`, "What the recycler buys").
//! - `sleep_cancel`: make a one-second sleep, poll it once (it arms a timer), drop it (the
//!   timer is cancelled): what a timeout costs around an operation that finishes in time;
//! - `sleep_fire`: sleep one millisecond in paused time (both runtimes started paused, so the
//!   count does not depend on how long the OS takes to wake the thread): arm, jump, fire, wake.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts every allocation (and reallocation) made through the global allocator.
///
/// The counters are bumped with a relaxed load and a store, not a `fetch_add`: an atomic
/// read-modify-write here would add two to every operation's count of atomics. The operations
/// run on one thread (neither runtime starts another for them), so no increment is lost.
struct Counting;

fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Relaxed);
}

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; the counters
// are plain atomics, which allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump(&ALLOCATIONS, 1);
        bump(&BYTES, layout.size() as u64);
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from `System` through `alloc` or `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump(&ALLOCATIONS, 1);
        bump(&BYTES, new_size as u64);
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Tasks spawned at once by `spawn_burst` (and its warm-up).
const BURST: u64 = 1_000;

thread_local! {
    /// The minirt runtime's handle, for `spawn_handle`.
    static HANDLE: std::cell::RefCell<Option<minirt::Handle>> = const { std::cell::RefCell::new(None) };
}

async fn minirt_op(op: &str, n: u64) {
    match op {
        "spawn_join" => {
            for i in 0..n {
                black_box(minirt::spawn(async move { black_box(i) }).await.unwrap());
            }
        }
        "yield" => {
            for _ in 0..n {
                minirt::yield_now().await;
            }
        }
        "yield_task" => {
            let task = minirt::spawn(async move {
                for _ in 0..n {
                    minirt::yield_now().await;
                }
            });
            task.await.unwrap();
        }
        "mutex" => {
            let mutex = minirt::sync::Mutex::new(0u64);
            for _ in 0..n {
                *mutex.lock().await += 1;
            }
            black_box(mutex.into_inner());
        }
        "queue" => {
            let queue = minirt::sync::Queue::new();
            for i in 0..n {
                queue.put(i).await.unwrap();
                black_box(queue.get().await.unwrap());
            }
        }
        "queue_task" | "queue_bounded_task" => {
            let queue = std::rc::Rc::new(if op == "queue_task" {
                minirt::sync::Queue::new()
            } else {
                minirt::sync::Queue::bounded(100)
            });
            let producer = queue.clone();
            let task = minirt::spawn(async move {
                for i in 0..n {
                    producer.put(i).await.unwrap();
                }
            });
            for _ in 0..n {
                black_box(queue.get().await.unwrap());
            }
            task.await.unwrap();
        }
        "spawn_handle" => {
            let handle = HANDLE
                .with(|h| h.borrow().clone())
                .expect("set by `report`");
            for i in 0..n {
                black_box(handle.spawn(async move { black_box(i) }).await.unwrap());
            }
        }
        "spawn_burst" => {
            for start in (0..n).step_by(BURST as usize) {
                let tasks: Vec<_> = (start..n.min(start + BURST))
                    .map(|i| minirt::spawn(async move { black_box(i) }))
                    .collect();
                for task in tasks {
                    black_box(task.await.unwrap());
                }
            }
        }
        "sleep_cancel" => {
            for _ in 0..n {
                let mut sleep = std::pin::pin!(minirt::sleep(std::time::Duration::from_secs(1)));
                poll_once(sleep.as_mut()).await;
            }
        }
        "sleep_fire" => {
            for _ in 0..n {
                minirt::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        "spawn_wake" => {
            for i in 0..n {
                let (tx, rx) = minirt::sync::oneshot::channel();
                let task = minirt::spawn(async move { rx.await.unwrap() });
                minirt::yield_now().await;
                tx.set_result(i).unwrap();
                black_box(task.await.unwrap());
            }
        }
        other => panic!("unknown operation {other:?}"),
    }
}

async fn tokio_op(op: &str, n: u64) {
    match op {
        "spawn_join" => {
            for i in 0..n {
                black_box(tokio::spawn(async move { black_box(i) }).await.unwrap());
            }
        }
        "yield" => {
            for _ in 0..n {
                tokio::task::yield_now().await;
            }
        }
        "yield_task" => {
            let task = tokio::spawn(async move {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
            });
            task.await.unwrap();
        }
        "mutex" => {
            let mutex = tokio::sync::Mutex::new(0u64);
            for _ in 0..n {
                *mutex.lock().await += 1;
            }
            black_box(mutex.into_inner());
        }
        "queue" => {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for i in 0..n {
                tx.send(i).unwrap();
                black_box(rx.recv().await.unwrap());
            }
        }
        "queue_task" => {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let task = tokio::spawn(async move {
                for i in 0..n {
                    tx.send(i).unwrap();
                }
            });
            for _ in 0..n {
                black_box(rx.recv().await.unwrap());
            }
            task.await.unwrap();
        }
        "queue_bounded_task" => {
            let (tx, mut rx) = tokio::sync::mpsc::channel(100);
            let task = tokio::spawn(async move {
                for i in 0..n {
                    tx.send(i).await.unwrap();
                }
            });
            for _ in 0..n {
                black_box(rx.recv().await.unwrap());
            }
            task.await.unwrap();
        }
        "spawn_handle" => {
            let handle = tokio::runtime::Handle::current();
            for i in 0..n {
                black_box(handle.spawn(async move { black_box(i) }).await.unwrap());
            }
        }
        "spawn_burst" => {
            for start in (0..n).step_by(BURST as usize) {
                let tasks: Vec<_> = (start..n.min(start + BURST))
                    .map(|i| tokio::spawn(async move { black_box(i) }))
                    .collect();
                for task in tasks {
                    black_box(task.await.unwrap());
                }
            }
        }
        "sleep_cancel" => {
            for _ in 0..n {
                let mut sleep =
                    std::pin::pin!(tokio::time::sleep(std::time::Duration::from_secs(1)));
                poll_once(sleep.as_mut()).await;
            }
        }
        "sleep_fire" => {
            for _ in 0..n {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        "spawn_wake" => {
            for i in 0..n {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let task = tokio::spawn(async move { rx.await.unwrap() });
                tokio::task::yield_now().await;
                tx.send(i).unwrap();
                black_box(task.await.unwrap());
            }
        }
        other => panic!("unknown operation {other:?}"),
    }
}

/// Polls `future` once, from inside the runtime, and ignores the result.
async fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) {
    let mut future = Some(future);
    std::future::poll_fn(|cx| {
        let _ = future.take().unwrap().poll(cx);
        std::task::Poll::Ready(())
    })
    .await
}

const OPERATIONS: [&str; 12] = [
    "spawn_join",
    "yield",
    "yield_task",
    "mutex",
    "queue",
    "queue_task",
    "queue_bounded_task",
    "spawn_wake",
    "spawn_handle",
    "spawn_burst",
    "sleep_cancel",
    "sleep_fire",
];

fn main() {
    // `cargo bench` passes `--bench`; skip flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (op, peer, n) = match args.as_slice() {
        [op, peer, n] => (op.as_str(), peer.as_str(), n.parse::<u64>().expect("N")),
        // `cargo bench` with no arguments (CI's `cargo bench --no-run` only builds it): a
        // short run of everything, so the program stays exercised.
        [] => {
            for op in OPERATIONS {
                for peer in ["minirt", "tokio"] {
                    report(op, peer, 1_000);
                }
            }
            return;
        }
        _ => panic!("usage: opcount <operation> <minirt|tokio> <N>; operations: {OPERATIONS:?}"),
    };
    report(op, peer, n);
}

fn report(op: &str, peer: &str, n: u64) {
    // Warm up once (the run queue's and the owned list's first growth, and a burst's), then
    // count.
    let warm_up = if op == "spawn_burst" { BURST } else { 64 };
    let rt_minirt;
    let rt_tokio;
    match peer {
        "minirt" => {
            rt_minirt = minirt::Runtime::builder()
                .start_paused(op == "sleep_fire")
                .build()
                .unwrap();
            HANDLE.with(|h| *h.borrow_mut() = Some(rt_minirt.handle()));
            rt_minirt.block_on(minirt_op(op, warm_up));
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let bytes = BYTES.load(Ordering::Relaxed);
            rt_minirt.block_on(minirt_op(op, n));
            print(op, peer, n, before, bytes);
        }
        "tokio" => {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            // Only the timer rows get tokio's time driver, so the others count what they did.
            if op.starts_with("sleep") {
                builder.enable_time().start_paused(op == "sleep_fire");
            }
            rt_tokio = builder.build().unwrap();
            rt_tokio.block_on(tokio_op(op, warm_up));
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let bytes = BYTES.load(Ordering::Relaxed);
            rt_tokio.block_on(tokio_op(op, n));
            print(op, peer, n, before, bytes);
        }
        other => panic!("unknown peer {other:?}"),
    }
}

fn print(op: &str, peer: &str, n: u64, allocations_before: u64, bytes_before: u64) {
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    let bytes = BYTES.load(Ordering::Relaxed) - bytes_before;
    let per = |total: u64| if n == 0 { 0.0 } else { total as f64 / n as f64 };
    println!(
        "{op} {peer} n={n}: {:.2} allocations/op, {:.1} bytes/op",
        per(allocations),
        per(bytes)
    );
}
