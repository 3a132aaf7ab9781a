//! `sleep` and `sleep_until`: never early, edge durations, reset, and concurrency. Most run on
//! the paused clock (issue 27), where every timer fires at its exact deadline and an assertion
//! can name the instant; the ones that are about the real clock (never early, a parked loop
//! woken by its timer) stay on it.
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use minirt::time::{self, sleep_until};
use minirt::{Runtime, sleep};

fn paused() -> Runtime {
    Runtime::builder().start_paused(true).build().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Real time: a sleep completes at or after its deadline, whatever the OS does.
#[test]
fn sleep_never_completes_early() {
    minirt::run(async {
        for n in [1, 2, 5, 10, 25] {
            let requested = ms(n);
            let start = Instant::now();
            sleep(requested).await;
            assert!(start.elapsed() >= requested, "{n} ms sleep woke early");
        }
    });
}

/// Real time: a loop with nothing but a timer sleeps until it, then wakes.
#[test]
fn a_timer_wakes_a_runtime_parked_with_nothing_else_to_do() {
    let start = Instant::now();
    minirt::run(sleep(ms(50)));
    assert!(start.elapsed() >= ms(50));
}

#[test]
fn sleeps_run_concurrently_not_in_sequence() {
    paused().block_on(async {
        let start = time::now();
        let handles: Vec<_> = (0..50).map(|_| minirt::spawn(sleep(ms(100)))).collect();
        for h in handles {
            h.await.unwrap();
        }
        // 50 sleeps in sequence would end at 5 s.
        assert_eq!(time::now() - start, ms(100));
    });
}

#[test]
fn timers_fire_in_deadline_order() {
    let fired = paused().block_on(async {
        let start = time::now();
        let fired = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = [30u64, 10, 20, 0, 5]
            .into_iter()
            .map(|n| {
                let fired = fired.clone();
                minirt::spawn(async move {
                    sleep(ms(n)).await;
                    fired.borrow_mut().push((n, time::now() - start));
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        fired.take()
    });
    let expected: Vec<_> = [0, 5, 10, 20, 30].into_iter().map(|n| (n, ms(n))).collect();
    assert_eq!(fired, expected, "in deadline order, each at its deadline");
}

#[test]
fn zero_and_past_deadlines_complete_at_once() {
    paused().block_on(async {
        let start = time::now();
        sleep(Duration::ZERO).await;
        let past = start - ms(5);
        let sleep = sleep_until(past);
        assert!(sleep.is_elapsed());
        sleep.await;
        assert_eq!(time::now(), start, "no time passed");
    });
}

#[test]
fn duration_max_waits_without_overflow() {
    paused().block_on(async {
        let start = time::now();
        let sleep = sleep(Duration::MAX);
        assert!(!sleep.is_elapsed());
        let out = minirt::timeout(ms(10), sleep).await;
        assert!(out.is_err(), "a Duration::MAX sleep never completes");
        assert_eq!(time::now() - start, ms(10));
    });
}

#[test]
fn reset_moves_an_armed_sleep_earlier_and_later() {
    paused().block_on(async {
        let start = time::now();
        let mut sleep = sleep(Duration::from_secs(3600));
        // Arm it first, then move it earlier.
        assert!(minirt::timeout(ms(1), &mut sleep).await.is_err());
        sleep.reset(start + ms(20));
        (&mut sleep).await;
        assert_eq!(time::now() - start, ms(20));

        // A fired sleep, reset later, waits again.
        sleep.reset(start + ms(50));
        sleep.await;
        assert_eq!(time::now() - start, ms(50));

        // Unarmed, moved later before its first poll.
        let mut sleep = minirt::sleep(ms(1));
        sleep.reset(start + ms(80));
        sleep.await;
        assert_eq!(time::now() - start, ms(80));
    });
}
