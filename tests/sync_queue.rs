//! The queues under a real runtime: many tasks, FIFO service, cancellation by abort, and
//! asyncio's documentation example.
mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::spawn_counted;

use minirt::sync::{LifoQueue, PriorityQueue, Queue};

/// Yields until `ready()` holds. Tests use it to wait until spawned tasks have reached their
/// first `.await` (each bumps a counter just before it), however the runtime batches its polls.
async fn yield_until(ready: impl Fn() -> bool) {
    while !ready() {
        minirt::yield_now().await;
    }
}

/// asyncio's docs example: three workers drain a queue, `join` waits until every item has been
/// marked done, and then the workers are cancelled.
#[test]
fn three_workers_drain_a_queue_then_join() {
    minirt::run(async {
        let queue = Queue::new();
        let total = Rc::new(RefCell::new(Vec::new()));
        for job in 1..=20u32 {
            queue.put_nowait(job).unwrap();
        }
        let workers: Vec<_> = (0..3)
            .map(|id| {
                let (queue, total) = (queue.clone(), total.clone());
                minirt::spawn(async move {
                    loop {
                        let job = queue.get().await.unwrap();
                        for _ in 0..job % 4 {
                            minirt::yield_now().await; // uneven "work"
                        }
                        total.borrow_mut().push((id, job));
                        queue.task_done().unwrap();
                    }
                })
            })
            .collect();
        queue.join().await;
        assert!(queue.is_empty());
        let mut jobs: Vec<u32> = total.borrow().iter().map(|&(_, job)| job).collect();
        jobs.sort();
        assert_eq!(jobs, (1..=20).collect::<Vec<_>>());
        let busy: std::collections::HashSet<_> = total.borrow().iter().map(|&(id, _)| id).collect();
        assert_eq!(busy.len(), 3, "all three workers took jobs");
        for worker in &workers {
            worker.abort(); // asyncio: worker.cancel()
        }
        for worker in workers {
            assert!(worker.await.unwrap_err().is_cancelled());
        }
    });
}

/// The same, ended by `shutdown` instead of cancellation: each worker's loop ends cleanly.
#[test]
fn workers_end_cleanly_on_shutdown() {
    minirt::run(async {
        let queue = Queue::bounded(4);
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let queue = queue.clone();
                minirt::spawn(async move {
                    let mut taken = Vec::new();
                    while let Ok(job) = queue.get().await {
                        taken.push(job);
                        minirt::yield_now().await;
                        queue.task_done().unwrap();
                    }
                    taken
                })
            })
            .collect();
        for job in 0..100 {
            queue.put(job).await.unwrap(); // waits while the workers are behind
        }
        queue.join().await;
        queue.shutdown();
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    });
}

/// Getters that start waiting in order are served in order.
#[test]
fn waiting_getters_are_served_fifo() {
    let order = minirt::run(async {
        let queue = Queue::new();
        let got = Rc::new(RefCell::new(Vec::new()));
        let started = Rc::new(Cell::new(0));
        let getters: Vec<_> = (0..50)
            .map(|id| {
                let (queue, got, started) = (queue.clone(), got.clone(), started.clone());
                minirt::spawn(async move {
                    started.set(started.get() + 1);
                    let item = queue.get().await.unwrap();
                    got.borrow_mut().push((id, item));
                })
            })
            .collect();
        yield_until(|| started.get() == 50).await; // every getter has queued up, in order
        for item in 0..50 {
            queue.put_nowait(item).unwrap();
        }
        for getter in getters {
            getter.await.unwrap();
        }
        got.take()
    });
    assert_eq!(order, (0..50).map(|i| (i, i)).collect::<Vec<_>>());
}

/// Putters blocked on a full queue get in in the order they started waiting.
#[test]
fn blocked_putters_are_served_fifo() {
    let items = minirt::run(async {
        let queue = Queue::bounded(1);
        queue.put_nowait(-1).unwrap();
        let started = Rc::new(Cell::new(0));
        let putters: Vec<_> = (0..30)
            .map(|i| {
                let (queue, started) = (queue.clone(), started.clone());
                minirt::spawn(async move {
                    started.set(started.get() + 1);
                    queue.put(i).await.unwrap()
                })
            })
            .collect();
        yield_until(|| started.get() == 30).await;
        let mut items = Vec::new();
        for _ in 0..31 {
            items.push(queue.get().await.unwrap());
        }
        for putter in putters {
            putter.await.unwrap();
        }
        items
    });
    assert_eq!(items, (-1..30).collect::<Vec<_>>());
}

/// Many producers and consumers through a small queue: every item arrives exactly once, and
/// each producer's items keep their order.
#[test]
fn contention_loses_and_duplicates_nothing() {
    const PRODUCERS: u32 = 8;
    const EACH: u32 = 200;
    let got = minirt::run(async {
        let queue = Queue::bounded(3);
        let got = Rc::new(RefCell::new(Vec::new()));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let queue = queue.clone();
                minirt::spawn(async move {
                    for i in 0..EACH {
                        queue.put((p, i)).await.unwrap();
                        if i % 7 == 0 {
                            minirt::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let consumer = {
            let (queue, got) = (queue.clone(), got.clone());
            minirt::spawn(async move {
                while let Ok(item) = queue.get().await {
                    got.borrow_mut().push(item);
                }
            })
        };
        for producer in producers {
            producer.await.unwrap();
        }
        queue.shutdown();
        consumer.await.unwrap();
        got.take()
    });
    assert_eq!(got.len(), (PRODUCERS * EACH) as usize);
    for p in 0..PRODUCERS {
        let mine: Vec<u32> = got
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|&(_, i)| i)
            .collect();
        assert_eq!(mine, (0..EACH).collect::<Vec<_>>(), "producer {p}");
    }
}

/// A getter aborted after it was promised an item, but before it ran, loses nothing: the
/// promise passes to the next getter.
#[test]
fn aborted_getter_passes_its_item_on() {
    minirt::run(async {
        let queue = Queue::new();
        let started = Rc::new(Cell::new(0));
        let first = spawn_counted(&started, {
            let queue = queue.clone();
            async move { queue.get().await.unwrap() }
        });
        let second = spawn_counted(&started, {
            let queue = queue.clone();
            async move { queue.get().await.unwrap() }
        });
        yield_until(|| started.get() == 2).await; // both wait, `first` in front
        queue.put_nowait("item").unwrap(); // promised to `first`, which is now on the run queue
        first.abort(); // dropped before it can take it
        assert!(first.await.unwrap_err().is_cancelled());
        assert_eq!(second.await.unwrap(), "item");
        assert!(queue.is_empty());
    });
}

/// A putter aborted while blocked inserts nothing.
#[test]
fn aborted_putter_inserts_nothing() {
    minirt::run(async {
        let queue = Queue::bounded(1);
        queue.put_nowait(1).unwrap();
        let started = Rc::new(Cell::new(0));
        let putter = spawn_counted(&started, {
            let queue = queue.clone();
            async move { queue.put(2).await.unwrap() }
        });
        yield_until(|| started.get() == 1).await;
        putter.abort();
        assert!(putter.await.unwrap_err().is_cancelled());
        assert_eq!(queue.get().await.unwrap(), 1);
        assert!(queue.is_empty());
        queue.put_nowait(3).unwrap();
        assert_eq!(queue.len(), 1);
    });
}

#[test]
fn lifo_and_priority_queues_with_workers() {
    minirt::run(async {
        let lifo = LifoQueue::new();
        let prio = PriorityQueue::new();
        for x in [5, 1, 4, 2, 3] {
            lifo.put(x).await.unwrap();
            prio.put(x).await.unwrap();
        }
        lifo.shutdown();
        prio.shutdown();
        let drain = |q: LifoQueue<i32>| async move {
            let mut out = Vec::new();
            while let Ok(x) = q.get().await {
                out.push(x);
            }
            out
        };
        assert_eq!(minirt::spawn(drain(lifo)).await.unwrap(), [3, 2, 4, 1, 5]);
        let mut out = Vec::new();
        while let Ok(x) = prio.get().await {
            out.push(x);
        }
        assert_eq!(out, [1, 2, 3, 4, 5]);
    });
}

#[test]
fn shutdown_immediate_ends_workers_producers_and_joiners_at_once() {
    minirt::run(async {
        let started = Rc::new(Cell::new(0));
        // A full queue: a producer blocks on `put`, a joiner on `join`.
        let full = Queue::bounded(1);
        full.put_nowait(1).unwrap();
        let producer = spawn_counted(&started, {
            let full = full.clone();
            async move { full.put(2).await.map_err(|e| e.into_inner()) }
        });
        let joiner = spawn_counted(&started, {
            let full = full.clone();
            async move { full.join().await }
        });
        // An empty queue: two workers block on `get`.
        let empty = Queue::new();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                spawn_counted(&started, {
                    let empty = empty.clone();
                    async move { empty.get().await }
                })
            })
            .collect();
        yield_until(|| started.get() == 4).await;
        empty.put_nowait("promised").unwrap(); // to the first worker, which has not run yet
        assert_eq!(empty.shutdown_immediate(), ["promised"]);
        assert_eq!(full.shutdown_immediate(), [1]);
        for worker in workers {
            assert!(worker.await.unwrap().unwrap_err().is_shutdown());
        }
        assert_eq!(producer.await.unwrap(), Err(2));
        joiner.await.unwrap();
        assert!(full.is_empty() && !full.is_full());
    });
}
