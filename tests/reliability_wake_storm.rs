//! A wake storm: 8 threads wake 10,000 tasks at random (a fixed-seed xorshift) for a fixed
//! count of wakes. No wake is lost (every task sees the last generation sent to it) and none
//! is duplicated (a task is polled at most once per wake, plus its first poll).
mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const TASKS: usize = 10_000;
const THREADS: usize = 8;
const WAKES_PER_THREAD: usize = 250_000;

/// xorshift64: a fixed sequence of targets from a fixed seed, so a failure replays exactly.
struct XorShift(u64);

impl XorShift {
    fn for_thread(thread: usize) -> XorShift {
        XorShift(0x9E37_79B9_7F4A_7C15 ^ (thread as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// What one task and the waking threads share.
#[derive(Default)]
struct Slot {
    /// Bumped by a waking thread before each wake: the generation the task must see.
    generation: AtomicU64,
    /// The task's latest waker.
    waker: Mutex<Option<Waker>>,
    /// Wake calls made on this task's wakers.
    wakes: AtomicU64,
    /// Times the task's future was polled.
    polls: AtomicU64,
}

/// Completes once it has seen generation `last`; returns how many distinct generations it saw.
struct Watcher {
    slot: Arc<Slot>,
    last: u64,
    seen: Option<u64>,
    distinct: u64,
}

impl Future for Watcher {
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let slot = self.slot.clone();
        slot.polls.fetch_add(1, Ordering::SeqCst);
        {
            let mut stored = slot.waker.lock().unwrap();
            match &*stored {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *stored = Some(cx.waker().clone()),
            }
        }
        // The waker is stored first, then the generation read: a bump before the store is
        // seen here, one after it finds the waker.
        let generation = slot.generation.load(Ordering::SeqCst);
        if self.seen != Some(generation) {
            self.seen = Some(generation);
            self.distinct += 1;
        }
        if generation == self.last {
            Poll::Ready(self.distinct)
        } else {
            Poll::Pending
        }
    }
}

/// One waking thread: bumps a random task's generation, then wakes it, in one of three ways
/// the random number also picks: a clone woken by value off the lock, `wake_by_ref` under the
/// lock, or a clone woken by reference off the lock and then dropped on this thread.
fn storm(slots: &[Arc<Slot>], thread: usize, start: &Barrier) {
    let mut rng = XorShift::for_thread(thread);
    start.wait();
    for _ in 0..WAKES_PER_THREAD {
        let r = rng.next();
        let slot = &slots[(r % TASKS as u64) as usize];
        slot.generation.fetch_add(1, Ordering::SeqCst);
        let stored = slot.waker.lock().unwrap();
        let waker = stored
            .as_ref()
            .expect("every task was polled before the storm");
        slot.wakes.fetch_add(1, Ordering::SeqCst);
        match (r >> 32) % 3 {
            0 => {
                let waker = waker.clone();
                drop(stored);
                waker.wake();
            }
            1 => waker.wake_by_ref(),
            _ => {
                let waker = waker.clone();
                drop(stored);
                waker.wake_by_ref();
                drop(waker);
            }
        }
    }
}

#[test]
fn eight_threads_waking_ten_thousand_tasks_lose_and_duplicate_nothing() {
    let _watchdog = common::watchdog(Duration::from_secs(300));
    // Replay the threads' choices to know each task's last generation in advance.
    let mut last = vec![0u64; TASKS];
    for thread in 0..THREADS {
        let mut rng = XorShift::for_thread(thread);
        for _ in 0..WAKES_PER_THREAD {
            last[(rng.next() % TASKS as u64) as usize] += 1;
        }
    }
    let slots: Arc<Vec<Arc<Slot>>> = Arc::new((0..TASKS).map(|_| Arc::default()).collect());
    let rt = minirt::Runtime::new().unwrap();
    let started = Instant::now();
    let distinct: Vec<u64> = rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                minirt::spawn(Watcher {
                    slot: slots[i].clone(),
                    last: last[i],
                    seen: None,
                    distinct: 0,
                })
            })
            .collect();
        // Every task stores its first waker before the storm starts.
        while slots.iter().any(|s| s.polls.load(Ordering::SeqCst) == 0) {
            minirt::yield_now().await;
        }
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (slots, start) = (slots.clone(), start.clone());
                std::thread::spawn(move || storm(&slots, t, &start))
            })
            .collect();
        let mut distinct = Vec::with_capacity(TASKS);
        for handle in handles {
            distinct.push(handle.await.unwrap());
        }
        for thread in threads {
            thread.join().unwrap();
        }
        distinct
    });
    let elapsed = started.elapsed();

    let (mut total_polls, mut total_wakes) = (0, 0);
    for (i, slot) in slots.iter().enumerate() {
        let polls = slot.polls.load(Ordering::SeqCst);
        let wakes = slot.wakes.load(Ordering::SeqCst);
        assert_eq!(
            slot.generation.load(Ordering::SeqCst),
            last[i],
            "task {i}: the replay and the storm disagree"
        );
        assert!(
            polls <= wakes + 1,
            "task {i} was polled {polls} times for {wakes} wakes: a duplicated poll"
        );
        assert!(
            (1..=polls).contains(&distinct[i]),
            "task {i} saw {} distinct generations in {polls} polls",
            distinct[i]
        );
        total_polls += polls;
        total_wakes += wakes;
    }
    let metrics = rt.metrics();
    assert_eq!(
        metrics.polls, total_polls,
        "the runtime counts exactly the polls the tasks saw"
    );
    // Every poll after a task's first came from one inbox entry; wakes that found the task
    // already queued made none.
    assert!(
        total_polls - TASKS as u64 <= metrics.wakes_other_thread,
        "{total_polls} polls from only {} queued wakes",
        metrics.wakes_other_thread
    );
    assert!(metrics.wakes_other_thread <= total_wakes);
    assert_eq!(metrics.tasks_alive, 0);
    eprintln!(
        "{total_wakes} wakes from {THREADS} threads to {TASKS} tasks in {elapsed:.1?}: \
         {total_polls} polls, {} queued wakes, {} distinct generations seen",
        metrics.wakes_other_thread,
        distinct.iter().sum::<u64>()
    );
}
