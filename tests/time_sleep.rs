//! `sleep` and `sleep_until`: never early, edge durations, reset, and concurrency.
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[test]
fn sleep_never_completes_early() {
    minirt::run(async {
        for ms in [1, 2, 5, 10, 25] {
            let requested = Duration::from_millis(ms);
            let start = Instant::now();
            minirt::sleep(requested).await;
            assert!(start.elapsed() >= requested, "{ms} ms sleep woke early");
        }
    });
}

#[test]
fn sleeps_run_concurrently_not_in_sequence() {
    let start = Instant::now();
    minirt::run(async {
        let handles: Vec<_> = (0..50)
            .map(|_| minirt::spawn(minirt::sleep(Duration::from_millis(100))))
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(100));
    // 50 sleeps in sequence would take 5 s; concurrently they take about 100 ms.
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[test]
fn timers_fire_in_deadline_order() {
    let order = minirt::run(async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = [30u64, 10, 20, 0, 5]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                minirt::spawn(async move {
                    minirt::sleep(Duration::from_millis(ms)).await;
                    order.borrow_mut().push(ms);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        order.take()
    });
    assert_eq!(order, [0, 5, 10, 20, 30]);
}

#[test]
fn zero_and_past_deadlines_complete_at_once() {
    minirt::run(async {
        minirt::sleep(Duration::ZERO).await;
        let past = Instant::now() - Duration::from_millis(5);
        let sleep = minirt::time::sleep_until(past);
        assert!(sleep.is_elapsed());
        sleep.await;
    });
}

#[test]
fn duration_max_waits_without_overflow() {
    minirt::run(async {
        let sleep = minirt::sleep(Duration::MAX);
        assert!(!sleep.is_elapsed());
        let out = minirt::timeout(Duration::from_millis(10), sleep).await;
        assert!(out.is_err(), "a Duration::MAX sleep never completes");
    });
}

#[test]
fn reset_moves_an_armed_sleep_earlier_and_later() {
    minirt::run(async {
        let start = Instant::now();
        let mut sleep = minirt::sleep(Duration::from_secs(3600));
        // Arm it first, then move it.
        assert!(
            minirt::timeout(Duration::from_millis(1), &mut sleep)
                .await
                .is_err()
        );
        sleep.reset(Instant::now() + Duration::from_millis(20));
        sleep.await;
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(start.elapsed() < Duration::from_secs(60));

        let mut sleep = minirt::sleep(Duration::from_millis(1));
        let later = Instant::now() + Duration::from_millis(30);
        sleep.reset(later);
        sleep.await;
        assert!(Instant::now() >= later);
    });
}

#[test]
fn a_timer_wakes_a_runtime_parked_with_nothing_else_to_do() {
    let start = Instant::now();
    minirt::run(minirt::sleep(Duration::from_millis(50)));
    assert!(start.elapsed() >= Duration::from_millis(50));
}

/// Issue 14: timers due within 50 µs of each other (`GATHER` in `src/time/mod.rs`) fire in
/// one wake-up of the loop. 400 deadlines 10 µs apart need at most 4 ms / 50 µs + 1 = 81
/// wake-ups, two turns each (one fires the timers, the next runs their tasks). A loop that
/// woke for each distinct deadline turned 400-800 times here; a slower machine only gathers
/// more per wake-up.
#[test]
fn dense_timers_are_gathered_into_few_wake_ups() {
    const TIMERS: u64 = 400;
    let rt = minirt::Runtime::new().unwrap();
    rt.block_on(async {
        // Far enough ahead that every task has armed its timer before the first is due.
        let first = Instant::now() + Duration::from_millis(50);
        let sleepers: Vec<_> = (0..TIMERS)
            .map(|i| {
                let deadline = first + Duration::from_micros(10 * i);
                minirt::spawn(async move {
                    minirt::time::sleep_until(deadline).await;
                    assert!(Instant::now() >= deadline, "timer {i} fired early");
                })
            })
            .collect();
        for sleeper in sleepers {
            sleeper.await.unwrap();
        }
    });
    let turns = rt.metrics().ticks;
    assert!(
        turns <= 200,
        "{turns} turns of the loop for {TIMERS} timers due within 4 ms of each other"
    );
}
