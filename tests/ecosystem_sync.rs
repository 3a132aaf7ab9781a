//! async-channel and async-lock on minirt, across tasks and across threads: their waiters are
//! plain wakers, which minirt's tasks give them. Values are checked, not just counted.
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// Four producers and three consumers on a bounded channel of four: every value arrives once,
/// the producers wait for room (the channel never holds more than its bound), and the
/// consumers end when the last producer is gone.
#[test]
fn async_channel_many_producers_and_consumers_on_one_runtime() {
    let received = minirt::run(async {
        let (tx, rx) = async_channel::bounded::<(u32, u32)>(4);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let tx = tx.clone();
                minirt::spawn(async move {
                    for i in 0..250 {
                        tx.send((p, i)).await.unwrap();
                        assert!(tx.len() <= 4);
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                minirt::spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(item) = rx.recv().await {
                        got.push(item);
                        if got.len() % 7 == 0 {
                            minirt::yield_now().await;
                        }
                    }
                    got
                })
            })
            .collect();
        for producer in producers {
            producer.await.unwrap();
        }
        let mut all = Vec::new();
        for consumer in consumers {
            let got = consumer.await.unwrap();
            assert!(!got.is_empty(), "each consumer took a share");
            all.extend(got);
        }
        all
    });
    let mut by_producer: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (p, i) in received {
        by_producer.entry(p).or_default().push(i);
    }
    for (p, mut values) in by_producer.clone() {
        values.sort();
        assert_eq!(values, (0..250).collect::<Vec<_>>(), "producer {p}");
    }
    assert_eq!(by_producer.len(), 4);
}

/// A channel between a plain thread and a minirt task: the thread blocks on its end, the task
/// awaits on its own; the task's waker is woken from the thread (minirt's inbox).
#[test]
fn async_channel_between_a_thread_and_a_task() {
    let (to_task, from_thread) = async_channel::bounded::<u64>(1);
    let (to_thread, from_task) = async_channel::bounded::<u64>(1);
    let thread = std::thread::spawn(move || {
        for i in 0..200 {
            to_task.send_blocking(i).unwrap();
            assert_eq!(from_task.recv_blocking().unwrap(), i * i);
        }
    });
    minirt::run(async move {
        while let Ok(i) = from_thread.recv().await {
            to_thread.send(i * i).await.unwrap();
        }
    });
    thread.join().unwrap();
}

/// async-lock's `Mutex` held across `.await`s by many tasks: no update is lost; its `RwLock`
/// lets readers in together and a writer alone; its `Semaphore` caps how many run at once; its
/// `Barrier` lets all through together.
#[test]
fn async_lock_mutex_rwlock_semaphore_and_barrier_across_tasks() {
    minirt::run(async {
        let counter = Rc::new(async_lock::Mutex::new(0u64));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let counter = counter.clone();
                minirt::spawn(async move {
                    for _ in 0..50 {
                        let mut guard = counter.lock().await;
                        let seen = *guard;
                        minirt::yield_now().await; // others run, and must wait for the lock
                        *guard = seen + 1;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*counter.lock().await, 1000);

        let table = Rc::new(async_lock::RwLock::new(Vec::<u32>::new()));
        let readers_inside = Rc::new(std::cell::Cell::new(0));
        let most_readers = Rc::new(std::cell::Cell::new(0));
        let mut tasks = Vec::new();
        for i in 0..10u32 {
            let (table, inside, most) =
                (table.clone(), readers_inside.clone(), most_readers.clone());
            tasks.push(minirt::spawn(async move {
                if i % 3 == 0 {
                    let mut rows = table.write().await;
                    assert_eq!(inside.get(), 0, "a writer is alone");
                    rows.push(i);
                    minirt::yield_now().await;
                } else {
                    let rows = table.read().await;
                    inside.set(inside.get() + 1);
                    most.set(most.get().max(inside.get()));
                    minirt::sleep(Duration::from_millis(2)).await;
                    let _ = rows.len();
                    inside.set(inside.get() - 1);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*table.read().await, vec![0, 3, 6, 9]);
        assert!(most_readers.get() > 1, "readers shared the lock");

        let permits = Rc::new(async_lock::Semaphore::new(3));
        let running = Rc::new(std::cell::Cell::new(0));
        let peak = Rc::new(std::cell::Cell::new(0));
        let barrier = Rc::new(async_lock::Barrier::new(12));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (permits, running, peak, barrier) = (
                    permits.clone(),
                    running.clone(),
                    peak.clone(),
                    barrier.clone(),
                );
                minirt::spawn(async move {
                    {
                        let _permit = permits.acquire().await;
                        running.set(running.get() + 1);
                        peak.set(peak.get().max(running.get()));
                        minirt::sleep(Duration::from_millis(1)).await;
                        running.set(running.get() - 1);
                    }
                    barrier.wait().await.is_leader()
                })
            })
            .collect();
        let mut leaders = 0;
        for task in tasks {
            leaders += usize::from(task.await.unwrap());
        }
        assert_eq!(
            peak.get(),
            3,
            "at most three held a permit at once, and three did"
        );
        assert_eq!(leaders, 1, "the barrier named one leader");
    });
}
