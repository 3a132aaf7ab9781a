//! Tasks that panic while holding a `MutexGuard` or a semaphore `Permit`, with other tasks
//! queued behind them: the lock or permit is released as the panic unwinds, passed on in
//! FIFO order, never poisoned, and every other task gets through.
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use minirt::sync::{Event, Mutex, Semaphore};

const WAITERS: usize = 10;

/// Yields until `ready()` holds: until spawned tasks have reached their first `.await`.
async fn yield_until(ready: impl Fn() -> bool) {
    while !ready() {
        minirt::yield_now().await;
    }
}

/// The panic message a `JoinError` carries.
fn panic_message(err: minirt::JoinError) -> String {
    let payload = err.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap()
}

#[test]
fn panicking_lock_holders_hand_the_lock_on_in_order() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    minirt::run(async {
        let mutex = Rc::new(Mutex::new(Vec::new()));
        let holding = Rc::new(Event::new());
        let go = Rc::new(Event::new());
        // The first holder keeps the lock across an `.await`, then panics.
        let holder = minirt::spawn({
            let (mutex, holding, go) = (mutex.clone(), holding.clone(), go.clone());
            async move {
                let mut guard = mutex.lock().await;
                guard.push("holder".to_string());
                holding.set();
                go.wait().await;
                panic!("holder panics with the lock");
            }
        });
        holding.wait().await;
        // Ten tasks queue behind it; every even one panics too, right after its turn starts.
        let started = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..WAITERS)
            .map(|i| {
                let (mutex, started) = (mutex.clone(), started.clone());
                minirt::spawn(async move {
                    started.set(started.get() + 1);
                    let mut guard = mutex.lock().await;
                    guard.push(format!("waiter {i}"));
                    minirt::yield_now().await; // held across an `.await`
                    if i % 2 == 0 {
                        panic!("waiter {i} panics with the lock");
                    }
                    i
                })
            })
            .collect();
        yield_until(|| started.get() == WAITERS).await;
        assert!(mutex.is_locked());
        go.set();

        assert_eq!(
            panic_message(holder.await.unwrap_err()),
            "holder panics with the lock"
        );
        for (i, waiter) in waiters.into_iter().enumerate() {
            match waiter.await {
                Ok(got) => assert_eq!(got, i),
                Err(err) => assert_eq!(
                    panic_message(err),
                    format!("waiter {i} panics with the lock")
                ),
            }
        }
        // Released, not poisoned: the writes made before each panic are there, in FIFO order.
        assert!(!mutex.is_locked());
        let guard = mutex.try_lock().expect("the lock is free");
        let expected: Vec<String> = std::iter::once("holder".to_string())
            .chain((0..WAITERS).map(|i| format!("waiter {i}")))
            .collect();
        assert_eq!(*guard, expected);
    });
}

#[test]
fn panicking_permit_holders_give_their_permits_back() {
    let _watchdog = common::watchdog(Duration::from_secs(60));
    const PERMITS: usize = 2;
    minirt::run(async {
        let semaphore = Rc::new(Semaphore::new(PERMITS));
        let inside = Rc::new(Cell::new(0usize));
        let most_inside = Rc::new(Cell::new(0usize));
        let order = Rc::new(RefCell::new(Vec::new()));
        // One task takes both permits and panics while holding them, once others queue.
        let (holding, go) = (Rc::new(Event::new()), Rc::new(Event::new()));
        let greedy = minirt::spawn({
            let (semaphore, holding, go) = (semaphore.clone(), holding.clone(), go.clone());
            async move {
                let _a = semaphore.acquire().await;
                let _b = semaphore.acquire().await;
                holding.set();
                go.wait().await;
                panic!("greedy panics with two permits");
            }
        });
        holding.wait().await;
        assert_eq!(semaphore.available_permits(), 0);
        let started = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..WAITERS)
            .map(|i| {
                let (semaphore, inside, most_inside, order, started) = (
                    semaphore.clone(),
                    inside.clone(),
                    most_inside.clone(),
                    order.clone(),
                    started.clone(),
                );
                minirt::spawn(async move {
                    started.set(started.get() + 1);
                    let _permit = semaphore.acquire().await;
                    order.borrow_mut().push(i);
                    inside.set(inside.get() + 1);
                    most_inside.set(most_inside.get().max(inside.get()));
                    minirt::yield_now().await;
                    inside.set(inside.get() - 1); // before a possible panic: not in the count
                    if i % 3 == 0 {
                        panic!("task {i} panics with a permit");
                    }
                })
            })
            .collect();
        yield_until(|| started.get() == WAITERS).await;
        assert!(order.borrow().is_empty(), "all ten wait");
        go.set();

        assert_eq!(
            panic_message(greedy.await.unwrap_err()),
            "greedy panics with two permits"
        );
        let mut panicked = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            if let Err(err) = task.await {
                assert_eq!(panic_message(err), format!("task {i} panics with a permit"));
                panicked += 1;
            }
        }
        assert_eq!(panicked, WAITERS.div_ceil(3));
        assert_eq!(*order.borrow(), (0..WAITERS).collect::<Vec<_>>(), "FIFO");
        assert!(most_inside.get() <= PERMITS);
        assert_eq!(
            semaphore.available_permits(),
            PERMITS,
            "every permit came back"
        );
        let all: Vec<_> = (0..PERMITS).map(|_| semaphore.try_acquire()).collect();
        assert!(all.iter().all(Option::is_some));
    });
}
