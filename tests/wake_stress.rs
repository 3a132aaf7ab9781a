//! Thousands of tasks, each woken many times from several threads at once: every wake is
//! honoured (each task sees every increment), and the test is bounded in count and time.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const TASKS: usize = 1_000;
const THREADS: usize = 4;
const ROUNDS: usize = 20;
const TOTAL_PER_TASK: usize = THREADS * ROUNDS;

struct Board {
    sent: Vec<AtomicUsize>,
    wakers: Vec<Mutex<Option<Waker>>>,
    polls: Vec<AtomicUsize>,
}

/// Completes once it has seen every increment sent to its slot.
struct Counter {
    board: Arc<Board>,
    slot: usize,
}

impl Future for Counter {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let board = &self.board;
        board.polls[self.slot].fetch_add(1, Ordering::Relaxed);
        *board.wakers[self.slot].lock().unwrap() = Some(cx.waker().clone());
        // Registered first, then re-checked: an increment made before the store is seen
        // here; one made after it finds the waker.
        if board.sent[self.slot].load(Ordering::SeqCst) == TOTAL_PER_TASK {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn every_wake_from_every_thread_is_honoured() {
    let board = Arc::new(Board {
        sent: (0..TASKS).map(|_| AtomicUsize::new(0)).collect(),
        wakers: (0..TASKS).map(|_| Mutex::new(None)).collect(),
        polls: (0..TASKS).map(|_| AtomicUsize::new(0)).collect(),
    });
    let (done_tx, done_rx) = mpsc::channel();
    let b = board.clone();
    let runner = std::thread::spawn(move || {
        minirt::run(async move {
            let tasks: Vec<_> = (0..TASKS)
                .map(|slot| {
                    minirt::spawn(Counter {
                        board: b.clone(),
                        slot,
                    })
                })
                .collect();
            let wakers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let b = b.clone();
                    std::thread::spawn(move || {
                        for round in 0..ROUNDS {
                            for i in 0..TASKS {
                                // Each thread walks the tasks in its own order.
                                let slot = (i * (2 * t + 1) + round) % TASKS;
                                b.sent[slot].fetch_add(1, Ordering::SeqCst);
                                let waker = b.wakers[slot].lock().unwrap().clone();
                                if let Some(w) = waker {
                                    w.wake();
                                }
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            for w in wakers {
                w.join().unwrap();
            }
        });
        done_tx.send(()).unwrap();
    });
    // A generous bound: the test takes well under a second; a lost wake hangs forever.
    done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("a task never saw its last wake: a wakeup was lost");
    runner.join().unwrap();
    for slot in 0..TASKS {
        let polls = board.polls[slot].load(Ordering::Relaxed);
        assert!(
            (1..=TOTAL_PER_TASK + 1).contains(&polls),
            "task {slot} was polled {polls} times for {TOTAL_PER_TASK} wakes"
        );
    }
}
