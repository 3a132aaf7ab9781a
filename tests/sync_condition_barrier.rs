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

/// CPython's `BarrierTests` run `N = 5` tasks.
const N: usize = 5;

/// Spawns `N` tasks running `task` and waits for them all, with a deadline: a task stranded
/// at the barrier fails the test instead of hanging it.
async fn gather_tasks<F: std::future::Future<Output = ()> + 'static>(task: impl Fn() -> F) {
    let tasks: Vec<_> = (0..N).map(|_| minirt::spawn(task())).collect();
    let all = minirt::timeout(std::time::Duration::from_secs(10), minirt::join_all(tasks))
        .await
        .expect("every task gets through the barrier: none waits for ever");
    for result in all {
        result.unwrap();
    }
}

/// BarrierTests.test_reset_barrier_while_tasks_draining: the last task out of a round resets
/// the barrier while the others already wait at the door for the next one. They were not in
/// a round, so the reset breaks none of them, and every task passes twice more.
#[test]
fn barrier_reset_while_tasks_draining_breaks_nobody_at_the_door() {
    minirt::run(async {
        let barrier = Rc::new(Barrier::new(N));
        let (passed, broken, last) = (
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
        );
        let count = Rc::new(Cell::new(0));
        gather_tasks(|| {
            let (barrier, passed, broken, last, count) = (
                barrier.clone(),
                passed.clone(),
                broken.clone(),
                last.clone(),
                count.clone(),
            );
            async move {
                barrier.wait().await.unwrap();
                count.set(count.get() + 1);
                if count.get() == N {
                    // The last task out of the round.
                    barrier.reset();
                    barrier.wait().await.unwrap();
                } else {
                    match barrier.wait().await {
                        Ok(_) => passed.set(passed.get() + 1),
                        Err(_) => broken.set(broken.get() + 1),
                    }
                }
                barrier.wait().await.unwrap();
                last.set(last.get() + 1);
            }
        })
        .await;
        assert!(!barrier.is_broken());
        assert_eq!(passed.get(), N - 1);
        assert_eq!(broken.get(), 0);
        assert_eq!(last.get(), N);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// What a task does when it is the first out of a round after the `N / 2` that waited again.
#[derive(Clone, Copy)]
enum Interrupt {
    /// Resets the barrier and waits again; so do the tasks whose released wait broke.
    Reset,
    /// Aborts the barrier.
    Abort,
}

/// The shape of CPython's two "half draining, half blocking" cases. The first `N / 2` tasks
/// out of a round wait again, at the door (the round still drains); the next one resets or
/// aborts the barrier while the rest of the round's released waits are not taken yet.
/// Returns how many released waits broke, and how many waits at the door.
async fn half_draining_half_blocking(interrupt: Interrupt) -> (Rc<Barrier>, usize, usize) {
    let barrier = Rc::new(Barrier::new(N));
    let (draining_broken, blocking_broken) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let count = Rc::new(Cell::new(0));
    gather_tasks(|| {
        let (barrier, draining_broken, blocking_broken, count) = (
            barrier.clone(),
            draining_broken.clone(),
            blocking_broken.clone(),
            count.clone(),
        );
        async move {
            let rewait = matches!(interrupt, Interrupt::Reset);
            if barrier.wait().await.is_err() {
                // Released, but not run before the interruption.
                draining_broken.set(draining_broken.get() + 1);
                if rewait {
                    barrier.wait().await.unwrap();
                }
                return;
            }
            count.set(count.get() + 1);
            if count.get() <= N / 2 {
                if barrier.wait().await.is_err() {
                    blocking_broken.set(blocking_broken.get() + 1);
                }
                return;
            }
            match interrupt {
                Interrupt::Reset => {
                    barrier.reset();
                    barrier.wait().await.unwrap();
                }
                Interrupt::Abort => barrier.abort(),
            }
        }
    })
    .await;
    (barrier, draining_broken.get(), blocking_broken.get())
}

/// BarrierTests.test_reset_barrier_when_tasks_half_draining_half_blocking: a reset while a
/// round drains breaks the released waits not yet taken (their tasks have not run since the
/// release), and not the tasks waiting at the door for the next round.
#[test]
fn barrier_reset_while_half_draining_half_blocking_breaks_only_the_draining() {
    minirt::run(async {
        let (barrier, draining_broken, blocking_broken) =
            half_draining_half_blocking(Interrupt::Reset).await;
        assert_eq!(draining_broken, N / 2);
        assert_eq!(blocking_broken, 0);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

/// BarrierTests.test_abort_barrier_when_tasks_half_draining_half_blocking: an abort while a
/// round drains breaks both the released waits not yet taken and the tasks at the door.
#[test]
fn barrier_abort_while_half_draining_half_blocking_breaks_both() {
    minirt::run(async {
        let (barrier, draining_broken, blocking_broken) =
            half_draining_half_blocking(Interrupt::Abort).await;
        assert!(barrier.is_broken());
        assert_eq!(draining_broken, N / 2);
        assert_eq!(blocking_broken, N - N / 2 - 1);
        assert_eq!(barrier.n_waiting(), 0);
    });
}
