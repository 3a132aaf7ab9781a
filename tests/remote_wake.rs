//! A wake from another thread reaches a parked runtime through the inbox and the poller.
mod common;

use common::Gate;
use std::time::{Duration, Instant};

#[test]
fn a_thread_wakes_a_parked_task() {
    let gate = Gate::new();
    let opener = gate.clone();
    let start = Instant::now();
    let polls = minirt::run(async move {
        let g = gate.clone();
        let task = minirt::spawn(async move { g.wait().await });
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            opener.open();
        });
        task.await.unwrap();
        thread.join().unwrap();
        gate.polls()
    });
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(polls, 2, "one poll to park, one after the wake");
}

#[test]
fn a_thread_wakes_the_main_future() {
    let gate = Gate::new();
    let opener = gate.clone();
    let thread = std::thread::spawn(move || {
        // Open only once the main future has been polled and left its waker: then the loop
        // is parked, or about to park, and only the wake can bring it back.
        while opener.polls() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        opener.open();
    });
    minirt::run(gate.wait());
    thread.join().unwrap();
    assert_eq!(gate.polls(), 2);
}

#[test]
fn wakes_from_several_threads_at_once_each_count() {
    let gates: Vec<Gate> = (0..8).map(|_| Gate::new()).collect();
    let openers = gates.clone();
    minirt::run(async move {
        let tasks: Vec<_> = gates
            .iter()
            .map(|g| {
                let g = g.clone();
                minirt::spawn(async move { g.wait().await })
            })
            .collect();
        minirt::yield_now().await;
        let threads: Vec<_> = openers
            .into_iter()
            .map(|g| std::thread::spawn(move || g.open()))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
    });
}
