//! The mutex and the semaphore under a real runtime.
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::spawn_counted;

use minirt::sync::{Mutex, Semaphore};

/// Yields until `ready()` holds: until spawned tasks have reached their first `.await`,
/// however the runtime batches its polls.
async fn yield_until(ready: impl Fn() -> bool) {
    while !ready() {
        minirt::yield_now().await;
    }
}

/// Many tasks hold the lock across an `.await`: no update is lost.
#[test]
fn contended_increments_are_all_kept() {
    let total = minirt::run(async {
        let count = Rc::new(Mutex::new(0u32));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let count = count.clone();
                minirt::spawn(async move {
                    for _ in 0..10 {
                        let mut n = count.lock().await;
                        let seen = *n;
                        minirt::yield_now().await; // everybody else runs meanwhile
                        *n = seen + 1;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        *count.lock().await
    });
    assert_eq!(total, 1000);
}

/// Tasks that start waiting in order get the lock in order.
#[test]
fn lock_is_handed_out_fifo() {
    let order = minirt::run(async {
        let mutex = Rc::new(Mutex::new(Vec::new()));
        let held = mutex.lock().await;
        let started = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let mutex = mutex.clone();
                spawn_counted(&started, async move {
                    let mut order = mutex.lock().await;
                    minirt::yield_now().await;
                    order.push(i);
                })
            })
            .collect();
        yield_until(|| started.get() == 50).await; // all 50 wait, in spawn order
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        mutex.lock().await.clone()
    });
    assert_eq!(order, (0..50).collect::<Vec<_>>());
}

/// A locker aborted after being handed the lock passes it on: nobody is left stuck.
#[test]
fn aborted_waiter_passes_the_lock_on() {
    minirt::run(async {
        let mutex = Rc::new(Mutex::new(0));
        let held = mutex.lock().await;
        let started = Rc::new(Cell::new(0));
        let first = spawn_counted(&started, {
            let mutex = mutex.clone();
            async move { *mutex.lock().await += 1 }
        });
        let second = spawn_counted(&started, {
            let mutex = mutex.clone();
            async move { *mutex.lock().await += 10 }
        });
        yield_until(|| started.get() == 2).await;
        drop(held); // handed to `first`, which is on the run queue
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        second.await.unwrap();
        assert_eq!(*mutex.lock().await, 10);
        assert!(!mutex.is_locked());
    });
}

/// A task that panics while holding the lock releases it.
#[test]
fn panicking_holder_releases_the_lock() {
    minirt::run(async {
        let mutex = Rc::new(Mutex::new(0));
        let panicker = minirt::spawn({
            let mutex = mutex.clone();
            async move {
                let mut n = mutex.lock().await;
                *n = 1;
                panic!("while holding the lock");
            }
        });
        assert!(panicker.await.unwrap_err().is_panic());
        assert_eq!(*mutex.lock().await, 1);
    });
}

/// No more than `n` tasks are inside at once, and all of them get in.
#[test]
fn semaphore_limits_concurrency() {
    minirt::run(async {
        let limit = Rc::new(Semaphore::new(3));
        let inside = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (limit, inside, most) = (limit.clone(), inside.clone(), most.clone());
                minirt::spawn(async move {
                    let _permit = limit.acquire().await;
                    inside.set(inside.get() + 1);
                    most.set(most.get().max(inside.get()));
                    minirt::yield_now().await;
                    minirt::yield_now().await;
                    inside.set(inside.get() - 1);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.get(), 3);
        assert_eq!(limit.available_permits(), 3);
    });
}

/// Permits are handed out in the order tasks started waiting, including ones added later.
#[test]
fn semaphore_serves_fifo_and_aborts_leak_nothing() {
    minirt::run(async {
        let sem = Rc::new(Semaphore::new(0));
        let order = Rc::new(RefCell::new(Vec::new()));
        let started = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                spawn_counted(&started, async move {
                    let _permit = sem.acquire().await;
                    order.borrow_mut().push(i);
                    minirt::yield_now().await;
                })
            })
            .collect();
        yield_until(|| started.get() == 20).await;
        // Both are aborted while waiting; their futures are dropped when the runtime next takes
        // them off the run queue. The permit added now goes to task 0 first, whose drop passes
        // it to task 1, whose drop passes it to task 2.
        tasks[0].abort();
        tasks[1].abort();
        sem.add_permits(1);
        minirt::yield_now().await;
        sem.add_permits(1);
        let mut tasks = tasks.into_iter();
        for _ in 0..2 {
            assert!(tasks.next().unwrap().await.unwrap_err().is_cancelled());
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.borrow(), (2..20).collect::<Vec<_>>());
        assert_eq!(sem.available_permits(), 2, "the permits are all back");
    });
}
