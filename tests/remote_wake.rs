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
    // A lost wake would leave `run` parked forever: the watchdog turns that into a failure.
    let _watchdog = common::watchdog(Duration::from_secs(60));
    let gate = Gate::new();
    let opener = gate.clone();
    let thread = std::thread::spawn(move || {
        // Open once the main future has been polled: then the loop is parked, or about to
        // park, and only the wake can bring it back.
        while opener.polls() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        opener.open();
    });
    minirt::run(gate.wait());
    thread.join().unwrap();
    // Two polls: one to park, one after the wake. One, when the open landed between the
    // first poll's count and its check (Miri's scheduler finds that interleaving).
    let polls = gate.polls();
    assert!(
        polls == 1 || polls == 2,
        "{polls} polls: woken more than once"
    );
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

/// The state letter of a thread, from `/proc/<pid>/task/<tid>/stat` (`thread` as read from
/// `/proc/thread-self` on that thread). `S` is asleep: for the runtime's thread here, parked in
/// the poller.
fn thread_state(thread: &std::path::Path) -> char {
    let stat =
        std::fs::read_to_string(std::path::Path::new("/proc").join(thread).join("stat")).unwrap();
    // The name, in parentheses, may hold spaces; the state comes right after it.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.chars().next().unwrap()
}

/// Issue 14: a task woken from another thread while the loop is parked is polled in the very
/// next turn of the loop, not two turns later. Before the fix the wake went into the inbox,
/// and the inbox was drained only after the next turn had found the run queue empty.
#[test]
#[cfg_attr(miri, ignore = "reads /proc to see the runtime's thread asleep")]
fn a_task_woken_while_parked_is_polled_in_the_next_turn() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    let rt = std::rc::Rc::new(minirt::Runtime::new().unwrap());
    let gate = Gate::new();
    let opener = gate.clone();
    let me = std::fs::read_link("/proc/thread-self").unwrap();
    let thread = std::thread::spawn(move || {
        // Open once the task has left its waker and the runtime's thread sleeps: then only
        // the poller, interrupted by this wake, can bring the loop back.
        while opener.polls() == 0 || thread_state(&me) != 'S' {
            std::thread::yield_now();
        }
        opener.open();
    });
    let metrics = rt.clone();
    let task = rt.spawn(async move {
        let parked_in = metrics.metrics().ticks;
        gate.wait().await;
        metrics.metrics().ticks - parked_in
    });
    let turns = rt.block_on(task).unwrap();
    thread.join().unwrap();
    assert_eq!(
        turns, 1,
        "turns of the loop between the task's wait and its wake-up poll"
    );
}
