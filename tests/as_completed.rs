//! `as_completed` under a real runtime: completion order, the `Stream` impl, borrowing, and
//! cancellation by dropping.
use std::cell::Cell;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;

use futures_core::Stream;
use minirt::sync::Event;

/// Waits for `gate`, then returns `value`.
async fn after(gate: &Event, value: u32) -> u32 {
    gate.wait().await;
    value
}

#[test]
fn outputs_come_in_completion_order_and_futures_may_borrow() {
    minirt::run(async {
        let gates: Vec<Event> = (0..3).map(|_| Event::new()).collect();
        let mut done = minirt::as_completed(gates.iter().zip(0..).map(|(g, i)| after(g, i)));
        assert!(
            minirt::timeout(std::time::Duration::ZERO, done.next())
                .await
                .is_err()
        );
        for i in [2, 0, 1] {
            gates[i].set();
            assert_eq!(done.next().await, Some(i as u32));
        }
        assert_eq!(done.next().await, None);
        assert!(done.is_empty());
    });
}

#[test]
fn futures_finishing_in_one_poll_come_in_input_order() {
    minirt::run(async {
        let gate = Event::new();
        let mut done = minirt::as_completed((0..4).map(|i| after(&gate, i)));
        gate.set();
        let mut got = Vec::new();
        while let Some(i) = done.next().await {
            got.push(i);
        }
        assert_eq!(got, [0, 1, 2, 3]);
    });
}

#[test]
fn it_is_a_stream_with_an_exact_size_hint() {
    minirt::run(async {
        let mut done = minirt::as_completed([std::future::ready(1), std::future::ready(2)]);
        assert_eq!(done.size_hint(), (2, Some(2)));
        let mut got = Vec::new();
        while let Some(x) = poll_fn(|cx| Pin::new(&mut done).poll_next(cx)).await {
            got.push(x);
            assert_eq!(done.size_hint().0, 2 - got.len());
        }
        assert_eq!(got, [1, 2]);
    });
}

#[test]
fn spawned_tasks_join_in_completion_order() {
    minirt::run(async {
        let gates: Vec<_> = (0..3).map(|_| Rc::new(Event::new())).collect();
        let handles = gates.iter().zip(0..).map(|(gate, i)| {
            let gate = gate.clone();
            minirt::spawn(async move {
                gate.wait().await;
                i
            })
        });
        let mut done = minirt::as_completed(handles.collect::<Vec<_>>());
        for i in [1, 2, 0] {
            gates[i].set();
            assert_eq!(done.next().await.unwrap().unwrap(), i as u32);
        }
    });
}

/// Counts drops of the futures still holding it.
struct CountOnDrop(Rc<Cell<usize>>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn dropping_the_stream_cancels_the_futures_still_running() {
    minirt::run(async {
        let dropped = Rc::new(Cell::new(0));
        let gate = Event::new();
        let futures = (0..3).map(|i| {
            let guard = CountOnDrop(dropped.clone());
            let gate = &gate;
            async move {
                if i > 0 {
                    gate.wait().await;
                }
                drop(guard);
                i
            }
        });
        let mut done = minirt::as_completed(futures.collect::<Vec<_>>());
        assert_eq!(done.next().await, Some(0));
        assert_eq!(dropped.get(), 1);
        drop(done);
        assert_eq!(dropped.get(), 3, "the two waiting futures were dropped");
    });
}

/// Dropping `next()` (a timeout, a select) loses no output: it is yielded by the next call.
#[test]
fn a_dropped_next_loses_nothing() {
    minirt::run(async {
        let gate = Event::new();
        let mut done = minirt::as_completed([after(&gate, 1), after(&gate, 2)]);
        assert!(
            minirt::timeout(std::time::Duration::ZERO, done.next())
                .await
                .is_err()
        );
        gate.set();
        // The first poll finds both finished; take one, then drop a `next` before polling.
        assert_eq!(done.next().await, Some(1));
        drop(done.next());
        assert_eq!(done.next().await, Some(2));
        assert_eq!(done.next().await, None);
    });
}
