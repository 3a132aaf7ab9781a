//! `join_all`, `try_join_all` and `wait`, on the paused clock (issue 27): which future finishes
//! first is decided by exact deadlines, not by how busy the machine is.
use minirt::ReturnWhen;
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

/// Runs `future` on a runtime whose clock is paused.
fn run<F: Future>(future: F) -> F::Output {
    minirt::Runtime::builder()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(future)
}

async fn after(ms: u64, value: u32) -> u32 {
    minirt::sleep(Duration::from_millis(ms)).await;
    value
}

#[test]
fn join_all_keeps_input_order_and_runs_concurrently() {
    let (out, elapsed) = run(async {
        let start = minirt::time::now();
        let out = minirt::join_all([after(60, 1), after(20, 2), after(40, 3)]).await;
        (out, minirt::time::now() - start)
    });
    assert_eq!(out, [1, 2, 3]);
    assert_eq!(
        elapsed,
        Duration::from_millis(60),
        "concurrently: in sequence it takes 120 ms"
    );
}

#[test]
fn join_all_of_nothing_is_empty() {
    let out: Vec<u8> = run(minirt::join_all(Vec::<std::future::Ready<u8>>::new()));
    assert!(out.is_empty());
}

#[test]
fn join_all_futures_may_borrow_local_data() {
    let total = Cell::new(0);
    run(async {
        let add = |n| {
            let total = &total;
            async move { total.set(total.get() + n) }
        };
        minirt::join_all([add(1), add(2), add(3)]).await;
    });
    assert_eq!(total.get(), 6);
}

struct DropFlag(Rc<Cell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn try_join_all_returns_the_first_error_and_drops_the_rest() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let out: Result<Vec<u32>, &str> = run(async move {
        let slow = async move {
            let _flag = DropFlag(d);
            minirt::sleep(Duration::from_secs(60)).await;
            Ok(1)
        };
        let failing = async {
            minirt::sleep(Duration::from_millis(5)).await;
            Err("failed")
        };
        let futures: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = _>>>> =
            vec![Box::pin(slow), Box::pin(failing)];
        minirt::try_join_all(futures).await
    });
    assert_eq!(out, Err("failed"));
    assert!(dropped.get(), "the still-running future was cancelled");
}

#[test]
fn try_join_all_collects_every_ok_in_order() {
    let ok_after = |ms, value| async move { Ok::<_, ()>(after(ms, value).await) };
    let out = run(minirt::try_join_all([ok_after(10, 1), ok_after(1, 2)]));
    assert_eq!(out, Ok(vec![1, 2]));
}

#[test]
fn wait_first_completed_returns_the_fastest_and_leaves_the_rest_running() {
    run(async {
        let handles = vec![
            minirt::spawn(after(50, 0)),
            minirt::spawn(after(5, 1)),
            minirt::spawn(after(50, 2)),
        ];
        let outcome = minirt::wait(handles, ReturnWhen::FirstCompleted).await;
        assert_eq!(outcome.done.len(), 1);
        assert_eq!(outcome.done[0].0, 1);
        assert_eq!(*outcome.done[0].1.as_ref().unwrap(), 1);
        let pending: Vec<usize> = outcome.pending.iter().map(|p| p.0).collect();
        assert_eq!(pending, [0, 2]);
        for (index, handle) in outcome.pending {
            assert_eq!(
                handle.await.unwrap(),
                index as u32,
                "pending tasks kept running"
            );
        }
    });
}

#[test]
fn wait_first_exception_returns_on_a_panic() {
    run(async {
        let handles = vec![
            minirt::spawn(after(200, 0)),
            minirt::spawn(async {
                minirt::sleep(Duration::from_millis(5)).await;
                panic!("task 1 failed")
            }),
        ];
        let outcome = minirt::wait(handles, ReturnWhen::FirstException).await;
        assert_eq!(outcome.done.len(), 1);
        assert!(outcome.done[0].1.as_ref().unwrap_err().is_panic());
        assert_eq!(outcome.pending.len(), 1);
    });
}

#[test]
fn wait_first_exception_counts_a_cancelled_task() {
    run(async {
        let cancelled = minirt::spawn(after(200, 0));
        cancelled.abort();
        let handles = vec![cancelled, minirt::spawn(after(200, 1))];
        let outcome = minirt::wait(handles, ReturnWhen::FirstException).await;
        assert!(outcome.done[0].1.as_ref().unwrap_err().is_cancelled());
        assert_eq!(outcome.pending.len(), 1);
    });
}

#[test]
fn wait_first_exception_without_failures_waits_for_all() {
    run(async {
        let handles = vec![minirt::spawn(after(5, 0)), minirt::spawn(after(15, 1))];
        let outcome = minirt::wait(handles, ReturnWhen::FirstException).await;
        assert_eq!(outcome.done.len(), 2);
        assert!(outcome.pending.is_empty());
    });
}

#[test]
fn wait_all_completed_returns_every_result() {
    run(async {
        let handles: Vec<_> = (0..5)
            .map(|i| minirt::spawn(after(5 * i, i as u32)))
            .collect();
        let outcome = minirt::wait(handles, ReturnWhen::AllCompleted).await;
        let mut indices: Vec<usize> = outcome.done.iter().map(|d| d.0).collect();
        indices.sort();
        assert_eq!(indices, [0, 1, 2, 3, 4]);
        assert!(outcome.pending.is_empty());
    });
}
