//! `Condition` and `Barrier` under a real runtime, porting cases of CPython's
//! `test_locks.py` (`ConditionTests`, `BarrierTests`).
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::spawn_counted;
use minirt::sync::{Barrier, Condition, Mutex};

async fn yield_until(ready: impl Fn() -> bool) {
    while !ready() {
        minirt::yield_now().await;
    }
}

/// ConditionTests.test_wait / test_notify: notify(n) wakes the n longest waiters, in order,
/// each with the lock held when its wait returns.
#[test]
fn condition_notify_wakes_waiters_in_order_with_the_lock() {
    minirt::run(async {
        let shared = Rc::new((Mutex::new(Vec::new()), Condition::new()));
        let started = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let shared = shared.clone();
                spawn_counted(&started, async move {
                    let (log, cond) = &*shared;
                    let mut guard = cond.wait(log.lock().await).await;
                    guard.push(i);
                    minirt::yield_now().await; // still holding the lock: others cannot push
                    guard.push(i);
                })
            })
            .collect();
        yield_until(|| started.get() == 3).await;
        let (log, cond) = &*shared;
        assert_eq!(cond.waiting(), 3);
        cond.notify(1);
        yield_until(|| log.try_lock().is_some_and(|l| l.len() == 2)).await;
        assert_eq!(*log.lock().await, [0, 0]);
        cond.notify(2);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*log.lock().await, [0, 0, 1, 1, 2, 2]);
    });
}

/// ConditionTests.test_wait_for: the predicate is checked under the lock after each wakeup.
#[test]
fn condition_wait_for_checks_the_predicate_after_each_notify() {
    minirt::run(async {
        let shared = Rc::new((Mutex::new(0), Condition::new()));
        let checks = Rc::new(Cell::new(0));
        let waiter = minirt::spawn({
            let (shared, checks) = (shared.clone(), checks.clone());
            async move {
                let (n, cond) = &*shared;
                let guard = cond
                    .wait_for(n.lock().await, |n| {
                        checks.set(checks.get() + 1);
                        *n == 3
                    })
                    .await;
                *guard
            }
        });
        for _ in 0..3 {
            yield_until(|| shared.1.waiting() == 1).await;
            *shared.0.lock().await += 1;
            shared.1.notify_all();
        }
        assert_eq!(waiter.await.unwrap(), 3);
        assert_eq!(checks.get(), 4, "once before waiting, once per notify");
    });
}

/// ConditionTests.test_cancelled_error_wakeup: a waiter aborted after it was notified passes
/// the notification to the next one, so `notify(1)` is not lost.
#[test]
fn condition_aborted_notified_waiter_passes_the_notification_on() {
    minirt::run(async {
        let shared = Rc::new((Mutex::new(()), Condition::new()));
        let started = Rc::new(Cell::new(0));
        let woke = Rc::new(RefCell::new(Vec::new()));
        let waiters: Vec<_> = (0..2)
            .map(|i| {
                let (shared, woke) = (shared.clone(), woke.clone());
                spawn_counted(&started, async move {
                    let (lock, cond) = &*shared;
                    drop(cond.wait(lock.lock().await).await);
                    woke.borrow_mut().push(i);
                })
            })
            .collect();
        yield_until(|| started.get() == 2).await;
        shared.1.notify(1);
        waiters[0].abort(); // notified, cancelled before it ran
        let mut waiters = waiters.into_iter();
        assert!(waiters.next().unwrap().await.unwrap_err().is_cancelled());
        waiters.next().unwrap().await.unwrap();
        assert_eq!(*woke.borrow(), [1]);
    });
}

/// BarrierTests.test_barrier / test_wait_more_times: every task of a round gets a distinct
/// index, the barrier is reused round after round.
#[test]
fn barrier_rounds_give_distinct_arrival_indices() {
    minirt::run(async {
        const PARTIES: usize = 4;
        let barrier = Rc::new(Barrier::new(PARTIES));
        let rounds = Rc::new(RefCell::new(vec![Vec::new(); 3]));
        let tasks: Vec<_> = (0..PARTIES)
            .map(|_| {
                let (barrier, rounds) = (barrier.clone(), rounds.clone());
                minirt::spawn(async move {
                    for round in 0..3 {
                        let index = barrier.wait().await.unwrap();
                        rounds.borrow_mut()[round].push(index);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        for mut indices in rounds.take() {
            indices.sort();
            assert_eq!(indices, [0, 1, 2, 3]);
        }
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// BarrierTests.test_abort / test_reset: abort breaks the waiters and later arrivals; reset
/// makes the barrier usable again.
#[test]
fn barrier_abort_breaks_everyone_and_reset_repairs() {
    minirt::run(async {
        let barrier = Rc::new(Barrier::new(3));
        let started = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                spawn_counted(&started, async move { barrier.wait().await })
            })
            .collect();
        yield_until(|| started.get() == 2).await;
        assert_eq!(barrier.n_waiting(), 2);
        barrier.abort();
        for w in waiters {
            assert!(w.await.unwrap().unwrap_err().is_broken());
        }
        assert!(barrier.wait().await.unwrap_err().is_broken());
        barrier.reset();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                minirt::spawn(async move { barrier.wait().await })
            })
            .collect();
        minirt::yield_now().await;
        assert_eq!(barrier.wait().await, Ok(2));
        for w in waiters {
            assert!(w.await.unwrap().is_ok());
        }
    });
}
