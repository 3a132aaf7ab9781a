//! minirt's own sync primitives under many schedules (issue 27, "use it on minirt itself"):
//! each test states an invariant and `minirt::test::check` runs it under 200 seeds in paused
//! time, so a primitive that only holds in FIFO order fails here, with the seed that replays
//! it. Tasks yield and sleep at random-looking points (drawn from their index) so that the
//! seed has interleavings to choose from, and some are cancelled midway (dropping is
//! cancelling) to test the "cancelled waiter passes its turn on" rule.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use minirt::sync::{Barrier, Condition, Event, Mutex, Queue, Semaphore, oneshot};
use minirt::{sleep, spawn, yield_now};

const SEEDS: std::ops::Range<u64> = 0..200;

/// Awaits every task and fails on the first that panicked: an assertion inside a task fails
/// its `JoinHandle`, not the test body, so the body must look.
async fn join(tasks: Vec<minirt::JoinHandle<()>>) {
    for result in minirt::join_all(tasks).await {
        if let Err(error) = result {
            panic!("a task failed: {error}");
        }
    }
}

/// A short pause that varies with `n`: a yield, or a sleep of 0-2 ms of paused time.
async fn pause(n: usize) {
    match n % 4 {
        0 => yield_now().await,
        1 => {}
        k => sleep(Duration::from_millis(k as u64 - 1)).await,
    }
}

#[test]
fn a_mutex_admits_one_holder_and_loses_no_update() {
    minirt::test::check(SEEDS, || async {
        let mutex = Rc::new(Mutex::new(0u32));
        let inside = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (mutex, inside) = (mutex.clone(), inside.clone());
                spawn(async move {
                    for round in 0..3 {
                        let mut guard = mutex.lock().await;
                        inside.set(inside.get() + 1);
                        assert_eq!(inside.get(), 1, "two holders at once");
                        let read = *guard;
                        pause(i + round).await; // hold it across an await
                        *guard = read + 1;
                        inside.set(inside.get() - 1);
                    }
                })
            })
            .collect();
        // One more that gives up waiting midway: its place in line must pass on.
        let quitter = {
            let mutex = mutex.clone();
            spawn(async move {
                let _ = minirt::timeout(Duration::from_millis(1), mutex.lock()).await;
            })
        };
        join(tasks).await;
        quitter.await.unwrap();
        assert_eq!(*mutex.lock().await, 18, "an update was lost");
    });
}

#[test]
fn a_semaphore_never_admits_more_than_its_permits() {
    minirt::test::check(SEEDS, || async {
        let semaphore = Rc::new(Semaphore::new(2));
        let inside = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..7)
            .map(|i| {
                let (semaphore, inside, most) = (semaphore.clone(), inside.clone(), most.clone());
                spawn(async move {
                    pause(i).await;
                    let wait = semaphore.acquire();
                    let permit = if i == 3 {
                        // Cancelled while queued, sometimes: the permit must not leak.
                        match minirt::timeout(Duration::from_millis(1), wait).await {
                            Ok(permit) => permit,
                            Err(_) => return,
                        }
                    } else {
                        wait.await
                    };
                    inside.set(inside.get() + 1);
                    most.set(most.get().max(inside.get()));
                    pause(i + 1).await;
                    inside.set(inside.get() - 1);
                    drop(permit);
                })
            })
            .collect();
        join(tasks).await;
        assert!(most.get() <= 2, "{} holders at once", most.get());
        assert_eq!(semaphore.available_permits(), 2, "a permit leaked");
    });
}

#[test]
fn a_bounded_queue_delivers_every_item_once_in_each_producers_order() {
    minirt::test::check(SEEDS, || async {
        let queue = Rc::new(Queue::bounded(2));
        let producers: Vec<_> = (0..3usize)
            .map(|p| {
                let queue = queue.clone();
                spawn(async move {
                    for n in 0..5usize {
                        pause(p + n).await;
                        queue.put((p, n)).await.unwrap();
                    }
                })
            })
            .collect();
        let received = Rc::new(RefCell::new(Vec::new()));
        let consumers: Vec<_> = (0..2usize)
            .map(|c| {
                let (queue, received) = (queue.clone(), received.clone());
                spawn(async move {
                    while let Ok(item) = queue.get().await {
                        received.borrow_mut().push(item);
                        queue.task_done().unwrap();
                        pause(c).await;
                    }
                })
            })
            .collect();
        join(producers).await;
        queue.join().await;
        queue.shutdown();
        join(consumers).await;
        let received = received.take();
        assert_eq!(received.len(), 15, "every item once: {received:?}");
        for p in 0..3 {
            let from_p: Vec<usize> = received
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(from_p, [0, 1, 2, 3, 4], "producer {p}'s items in order");
        }
    });
}

#[test]
fn a_barrier_releases_whole_rounds_with_one_leader_each() {
    minirt::test::check(SEEDS, || async {
        let barrier = Rc::new(Barrier::new(3));
        let indices = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (barrier, indices) = (barrier.clone(), indices.clone());
                spawn(async move {
                    pause(i).await;
                    let index = barrier.wait().await.expect("never broken here");
                    indices.borrow_mut().push(index);
                })
            })
            .collect();
        join(tasks).await;
        let mut indices = indices.take();
        indices.sort();
        assert_eq!(indices, [0, 0, 1, 1, 2, 2], "two full rounds of three");
    });
}

#[test]
fn a_condition_wakes_waiters_for_every_item_and_loses_none() {
    minirt::test::check(SEEDS, || async {
        let items = Rc::new(Mutex::new(Vec::<u32>::new()));
        let ready = Rc::new(Condition::new());
        let taken = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let (items, ready, taken) = (items.clone(), ready.clone(), taken.clone());
                spawn(async move {
                    for _ in 0..2 {
                        let mut guard = ready.wait_for(items.lock().await, |v| !v.is_empty()).await;
                        guard.pop().unwrap();
                        taken.set(taken.get() + 1);
                        drop(guard);
                        pause(i).await;
                    }
                })
            })
            .collect();
        for n in 0..6 {
            pause(n).await;
            items.lock().await.push(n as u32);
            ready.notify(1);
        }
        join(waiters).await;
        assert_eq!(taken.get(), 6);
    });
}

#[test]
fn an_event_wakes_every_waiter_and_a_oneshot_delivers_once() {
    minirt::test::check(SEEDS, || async {
        let event = Rc::new(Event::new());
        let woken = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..4)
            .map(|i| {
                let (event, woken) = (event.clone(), woken.clone());
                spawn(async move {
                    pause(i).await;
                    event.wait().await;
                    woken.set(woken.get() + 1);
                })
            })
            .collect();
        let (sender, receiver) = oneshot::channel();
        let setter = {
            let event = event.clone();
            spawn(async move {
                pause(2).await;
                event.set();
                sender.set_result(7).unwrap();
            })
        };
        assert_eq!(receiver.await.unwrap(), 7);
        join(waiters).await;
        setter.await.unwrap();
        assert_eq!(woken.get(), 4);
    });
}
