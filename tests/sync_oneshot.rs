//! The oneshot channel under a real runtime, completed by tasks and by plain threads.

use std::thread;

use minirt::sync::oneshot;

/// The seed program: a bare future, completed by `set_result` from another task.
#[test]
fn set_result_from_another_task() {
    let got = minirt::run(async {
        let (tx, rx) = oneshot::channel();
        let setter = minirt::spawn(async move {
            minirt::yield_now().await;
            tx.set_result("666").unwrap();
        });
        let got = rx.await;
        setter.await.unwrap();
        got
    });
    assert_eq!(got, Ok("666"));
}

/// asyncio's `wrap_future`: a plain OS thread completes what a task awaits.
#[test]
fn set_result_from_a_std_thread() {
    minirt::run(async {
        for i in 0..50u64 {
            let (tx, rx) = oneshot::channel();
            let worker = thread::spawn(move || tx.set_result(i * i));
            assert_eq!(rx.await, Ok(i * i));
            worker.join().unwrap().unwrap();
        }
    });
}

#[test]
fn dropped_sender_fails_the_receiver() {
    minirt::run(async {
        let (tx, rx) = oneshot::channel::<u8>();
        let dropper = thread::spawn(move || drop(tx));
        assert!(rx.await.is_err());
        dropper.join().unwrap();
    });
}

/// A producer waiting in `closed()` learns that the receiving task was cancelled.
#[test]
fn sender_sees_the_receiving_task_cancelled() {
    minirt::run(async {
        let (mut tx, rx) = oneshot::channel::<u32>();
        let receiver = minirt::spawn(rx);
        let producer = minirt::spawn(async move {
            tx.closed().await;
            tx.set_result(1).unwrap_err()
        });
        minirt::yield_now().await;
        receiver.abort();
        assert!(receiver.await.unwrap_err().is_cancelled());
        assert_eq!(producer.await.unwrap(), 1, "the value came back");
    });
}

/// Many channels completed from one thread while tasks wait on them.
#[test]
fn many_waiting_tasks_completed_from_one_thread() {
    let total = minirt::run(async {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..200u64).map(|_| oneshot::channel()).unzip();
        let tasks: Vec<_> = receivers
            .into_iter()
            .map(|rx| minirt::spawn(async move { rx.await.unwrap() }))
            .collect();
        minirt::yield_now().await;
        let feeder = thread::spawn(move || {
            for (i, tx) in senders.into_iter().enumerate() {
                tx.set_result(i as u64).unwrap();
            }
        });
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        feeder.join().unwrap();
        total
    });
    assert_eq!(total, (0..200).sum());
}
