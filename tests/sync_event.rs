//! The event under a real runtime.

use std::cell::Cell;
use std::rc::Rc;

use minirt::sync::Event;

/// Yields until `ready()` holds. Tests use it to wait until spawned tasks have reached their
/// first `.await` (each bumps a counter just before it), however the runtime batches its polls.
async fn yield_until(ready: impl Fn() -> bool) {
    while !ready() {
        minirt::yield_now().await;
    }
}

#[test]
fn set_releases_every_waiter() {
    minirt::run(async {
        let event = Rc::new(Event::new());
        let released = Rc::new(Cell::new(0));
        let started = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..100)
            .map(|_| {
                let (event, released, started) = (event.clone(), released.clone(), started.clone());
                minirt::spawn(async move {
                    started.set(started.get() + 1);
                    event.wait().await;
                    released.set(released.get() + 1);
                })
            })
            .collect();
        yield_until(|| started.get() == 100).await;
        assert_eq!(released.get(), 0);
        event.set();
        event.clear(); // too late to stop the ones already woken
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(released.get(), 100);
    });
}

#[test]
fn aborted_waiters_do_not_disturb_the_others() {
    minirt::run(async {
        let event = Rc::new(Event::new());
        let started = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..10)
            .map(|i| {
                let (event, started) = (event.clone(), started.clone());
                minirt::spawn(async move {
                    started.set(started.get() + 1);
                    event.wait().await;
                    i
                })
            })
            .collect();
        yield_until(|| started.get() == 10).await;
        for waiter in waiters.iter().step_by(2) {
            waiter.abort();
        }
        yield_until(|| waiters.iter().step_by(2).all(|w| w.is_finished())).await;
        event.set();
        for (i, waiter) in waiters.into_iter().enumerate() {
            match waiter.await {
                Ok(got) => assert_eq!(got, i),
                Err(err) => assert!(err.is_cancelled() && i % 2 == 0),
            }
        }
        event.wait().await; // latched: returns at once
    });
}
