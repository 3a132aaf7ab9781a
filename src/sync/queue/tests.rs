use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use proptest::prelude::*;

use super::*;
use crate::sync::testing::{CountingWaker, poll_once};

fn counts(wakers: &[CountingWaker]) -> Vec<usize> {
    wakers.iter().map(CountingWaker::count).collect()
}

#[test]
fn each_kind_hands_items_out_in_its_order() {
    let fifo = Queue::new();
    let lifo = LifoQueue::new();
    let prio = PriorityQueue::new();
    for x in [2, 3, 1] {
        fifo.put_nowait(x).unwrap();
        lifo.put_nowait(x).unwrap();
        prio.put_nowait(x).unwrap();
    }
    let drain = |get: &dyn Fn() -> Result<i32, GetError>| {
        std::iter::from_fn(|| get().ok()).collect::<Vec<_>>()
    };
    assert_eq!(drain(&|| fifo.get_nowait()), [2, 3, 1]);
    assert_eq!(drain(&|| lifo.get_nowait()), [1, 3, 2]);
    assert_eq!(drain(&|| prio.get_nowait()), [1, 2, 3]);
}

#[test]
fn clones_are_handles_to_one_queue() {
    let q = Queue::new();
    q.clone().put_nowait(1).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(
        format!("{q:?}"),
        "Queue { len: 1, maxsize: None, unfinished: 1, shutdown: false }"
    );
}

#[test]
#[should_panic(expected = "maxsize >= 1")]
fn bounded_zero_panics() {
    let _ = Queue::<u8>::bounded(0);
}

#[test]
fn waiting_getters_are_served_in_order_and_newcomers_cannot_steal() {
    let q = Queue::new();
    let wakers: Vec<_> = (0..3).map(|_| CountingWaker::new()).collect();
    let mut gets: Vec<_> = (0..3).map(|_| Box::pin(q.get())).collect();
    for (g, w) in gets.iter_mut().zip(&wakers) {
        assert!(w.poll(g.as_mut()).is_pending());
    }
    q.put_nowait('a').unwrap();
    q.put_nowait('b').unwrap();
    assert_eq!(counts(&wakers), [1, 1, 0]);
    assert_eq!(
        q.len(),
        0,
        "promised items are not counted: nobody else can take them"
    );
    assert!(q.is_empty());
    assert_eq!(
        q.get_nowait(),
        Err(GetError::Empty),
        "both items are promised"
    );
    // Whoever polls first takes the front item; both were promised one.
    assert_eq!(wakers[1].poll(gets[1].as_mut()), Poll::Ready(Ok('a')));
    assert_eq!(wakers[0].poll(gets[0].as_mut()), Poll::Ready(Ok('b')));
    assert!(wakers[2].poll(gets[2].as_mut()).is_pending());
    q.put_nowait('c').unwrap();
    assert_eq!(wakers[2].poll(gets[2].as_mut()), Poll::Ready(Ok('c')));
}

/// The trap from issue 16: asyncio's `while not q.empty(): q.get_nowait()` must end, and every
/// `get_nowait` it makes must succeed, while an item is promised to a woken getter.
#[test]
fn len_is_empty_and_get_nowait_agree_while_an_item_is_promised() {
    let q = Queue::new();
    let w = CountingWaker::new();
    let mut get = Box::pin(q.get());
    assert!(w.poll(get.as_mut()).is_pending());
    q.put_nowait(1).unwrap(); // promised to the waiting getter
    q.put_nowait(2).unwrap();
    q.put_nowait(3).unwrap();
    assert_eq!(q.len(), 2);
    let mut drained = Vec::new();
    while !q.is_empty() {
        drained.push(q.get_nowait().expect("is_empty said there was one"));
        assert!(drained.len() <= 2, "the loop spins");
    }
    // Whoever pops first takes the front item; one item is left for the promised getter.
    assert_eq!(drained, [1, 2]);
    assert_eq!(q.len(), 0);
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
    assert_eq!(w.poll(get.as_mut()), Poll::Ready(Ok(3)));
}

#[test]
fn is_full_agrees_with_put_nowait_while_a_place_is_promised() {
    let q = Queue::bounded(1);
    q.put_nowait(0).unwrap();
    let w = CountingWaker::new();
    let mut put = Box::pin(q.put(1));
    assert!(w.poll(put.as_mut()).is_pending());
    assert_eq!(q.get_nowait(), Ok(0)); // the free place is promised to the putter
    assert!(q.is_full());
    assert!(q.put_nowait(9).unwrap_err().is_full());
    assert_eq!(w.poll(put.as_mut()), Poll::Ready(Ok(())));
    assert!(q.is_full());
}

#[test]
fn shutdown_immediate_empties_the_queue_and_fails_every_getter_at_once() {
    let q = Queue::bounded(3);
    let wakers: Vec<_> = (0..4).map(|_| CountingWaker::new()).collect();
    // A getter promised an item (woken, not yet run), and one still waiting.
    let mut promised = Box::pin(q.get());
    assert!(wakers[0].poll(promised.as_mut()).is_pending());
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    q.put_nowait(3).unwrap();
    let mut putter = Box::pin(q.put(4));
    assert!(wakers[1].poll(putter.as_mut()).is_pending());
    let mut joiner = Box::pin(q.join());
    assert!(wakers[2].poll(joiner.as_mut()).is_pending());

    assert_eq!(q.shutdown_immediate(), [1, 2, 3], "the promised item too");
    assert_eq!(counts(&wakers), [1, 1, 1, 0]);
    assert_eq!(q.len(), 0);
    assert!(!q.is_full(), "the places came back");
    assert_eq!(
        wakers[0].poll(promised.as_mut()),
        Poll::Ready(Err(QueueShutdown))
    );
    let Poll::Ready(Err(err)) = wakers[1].poll(putter.as_mut()) else {
        panic!("the putter is refused")
    };
    assert_eq!(err.into_inner(), 4);
    assert!(wakers[2].poll(joiner.as_mut()).is_ready(), "join released");
    assert_eq!(poll_once(pin!(q.get())), Poll::Ready(Err(QueueShutdown)));
    assert_eq!(q.get_nowait(), Err(GetError::Shutdown));
    assert!(q.put_nowait(5).unwrap_err().is_shutdown());
    assert!(
        q.task_done().is_err(),
        "the removed items were counted done"
    );
    assert!(q.shutdown_immediate().is_empty(), "twice is fine");
}

#[test]
fn shutdown_immediate_leaves_items_taken_before_unfinished() {
    let q = Queue::new();
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    assert_eq!(q.get_nowait(), Ok(1)); // a worker holds it, not yet done
    assert_eq!(q.shutdown_immediate(), [2]);
    assert!(
        poll_once(pin!(q.join())).is_pending(),
        "item 1 is unfinished"
    );
    q.task_done().unwrap();
    assert!(poll_once(pin!(q.join())).is_ready());
}

#[test]
fn getter_promised_an_item_and_cancelled_after_shutdown_immediate_passes_nothing_on() {
    let q = Queue::new();
    let w = CountingWaker::new();
    let mut promised = Box::pin(q.get());
    assert!(w.poll(promised.as_mut()).is_pending());
    q.put_nowait(1).unwrap();
    assert_eq!(q.shutdown_immediate(), [1]);
    drop(promised);
    assert_eq!(
        q.len(),
        0,
        "the withdrawn promise did not come back as an item"
    );
    assert_eq!(q.get_nowait(), Err(GetError::Shutdown));
}

#[test]
fn shutdown_immediate_after_shutdown_takes_what_was_left() {
    let q = LifoQueue::new();
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    q.shutdown();
    assert_eq!(q.shutdown_immediate(), [2, 1], "in get order");
    assert_eq!(q.get_nowait(), Err(GetError::Shutdown));
}

#[test]
fn cancelled_getter_loses_no_item() {
    let q = Queue::new();
    let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
    let mut first = Box::pin(q.get());
    let mut second = Box::pin(q.get());
    assert!(w1.poll(first.as_mut()).is_pending());
    assert!(w2.poll(second.as_mut()).is_pending());
    q.put_nowait(1).unwrap();
    assert_eq!(w1.count(), 1);
    drop(first); // promised the item, cancelled before it ran
    assert_eq!(w2.count(), 1, "the promise moved to the next getter");
    assert_eq!(w2.poll(second.as_mut()), Poll::Ready(Ok(1)));

    // With no getter behind it, the item stays for anyone.
    let mut lone = Box::pin(q.get());
    assert!(w1.poll(lone.as_mut()).is_pending());
    q.put_nowait(2).unwrap();
    drop(lone);
    assert_eq!(q.get_nowait(), Ok(2));

    // Cancelled while still waiting: nothing changes.
    let mut idle = Box::pin(q.get());
    assert!(w1.poll(idle.as_mut()).is_pending());
    drop(idle);
    q.put_nowait(3).unwrap();
    assert_eq!(q.get_nowait(), Ok(3));
}

#[test]
fn bounded_putters_wait_in_order_and_newcomers_cannot_take_a_promised_place() {
    let q = Queue::bounded(1);
    q.put_nowait(0).unwrap();
    let wakers: Vec<_> = (0..2).map(|_| CountingWaker::new()).collect();
    let mut puts: Vec<_> = (1..=2).map(|i| Box::pin(q.put(i))).collect();
    for (p, w) in puts.iter_mut().zip(&wakers) {
        assert!(w.poll(p.as_mut()).is_pending());
    }
    assert_eq!(q.get_nowait(), Ok(0));
    assert_eq!(counts(&wakers), [1, 0]);
    assert!(
        q.is_full(),
        "the free place is promised: put_nowait cannot have it"
    );
    assert!(
        q.put_nowait(9).unwrap_err().is_full(),
        "the free place is promised"
    );
    assert!(wakers[1].poll(puts[1].as_mut()).is_pending());
    assert_eq!(wakers[0].poll(puts[0].as_mut()), Poll::Ready(Ok(())));
    assert_eq!(q.get_nowait(), Ok(1));
    assert_eq!(wakers[1].poll(puts[1].as_mut()), Poll::Ready(Ok(())));
    assert_eq!(q.get_nowait(), Ok(2));
}

#[test]
fn cancelled_putter_inserts_nothing_and_passes_its_place_on() {
    let q = Queue::bounded(1);
    let item = Rc::new(());
    q.put_nowait(Rc::new(())).unwrap();
    let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
    let mut first = Box::pin(q.put(item.clone()));
    let mut second = Box::pin(q.put(Rc::new(())));
    assert!(w1.poll(first.as_mut()).is_pending());
    assert!(w2.poll(second.as_mut()).is_pending());
    drop(q.get_nowait().unwrap());
    assert_eq!(w1.count(), 1);
    drop(first); // promised the place, cancelled before it ran
    assert_eq!(
        Rc::strong_count(&item),
        1,
        "the cancelled put's item was dropped, not inserted"
    );
    assert_eq!(w2.count(), 1, "the place moved to the next putter");
    assert!(w2.poll(second.as_mut()).is_ready());
    assert_eq!(q.len(), 1);

    // With no putter behind it, the place is simply free again.
    let mut lone = Box::pin(q.put(Rc::new(())));
    assert!(w1.poll(lone.as_mut()).is_pending());
    drop(q.get_nowait().unwrap());
    drop(lone);
    assert!(q.is_empty());
    assert!(q.put_nowait(Rc::new(())).is_ok());
}

#[test]
fn shutdown_wakes_everyone_and_getters_drain_first() {
    let q = Queue::bounded(1);
    let (wg, wp) = (CountingWaker::new(), CountingWaker::new());
    let mut get = Box::pin(q.get());
    assert!(wg.poll(get.as_mut()).is_pending());
    q.shutdown();
    assert_eq!(wg.count(), 1);
    assert_eq!(wg.poll(get.as_mut()), Poll::Ready(Err(QueueShutdown)));
    assert!(q.put_nowait(1).unwrap_err().is_shutdown());
    assert!(poll_once(pin!(q.put(1))).is_ready());

    let q = Queue::bounded(2);
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let mut put = Box::pin(q.put(3));
    assert!(wp.poll(put.as_mut()).is_pending());
    q.shutdown();
    q.shutdown(); // twice is fine
    assert_eq!(wp.count(), 1);
    let Poll::Ready(Err(err)) = wp.poll(put.as_mut()) else {
        panic!("put fails after shutdown")
    };
    assert!(err.is_shutdown());
    assert_eq!(err.into_inner(), 3);
    assert_eq!(poll_once(pin!(q.get())), Poll::Ready(Ok(1)));
    assert_eq!(q.get_nowait(), Ok(2));
    assert_eq!(q.get_nowait(), Err(GetError::Shutdown));
    assert_eq!(poll_once(pin!(q.get())), Poll::Ready(Err(QueueShutdown)));
}

#[test]
fn shutdown_after_a_promise_keeps_promised_items_but_refuses_promised_places() {
    let q = Queue::bounded(1);
    let w = CountingWaker::new();
    // A getter promised an item before the shutdown still gets it.
    let mut get = Box::pin(q.get());
    assert!(w.poll(get.as_mut()).is_pending());
    q.put_nowait(1).unwrap();
    // A putter promised a place before the shutdown does not get in.
    let mut put = Box::pin(q.put(2));
    assert!(w.poll(put.as_mut()).is_pending());
    assert_eq!(w.poll(get.as_mut()), Poll::Ready(Ok(1)));
    q.shutdown();
    let Poll::Ready(Err(err)) = w.poll(put.as_mut()) else {
        panic!("refused")
    };
    assert_eq!(err.into_inner(), 2);
    assert!(q.is_empty());
}

#[test]
fn join_waits_for_every_task_done() {
    let q = Queue::new();
    assert!(poll_once(pin!(q.join())).is_ready(), "nothing unfinished");
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let w = CountingWaker::new();
    let mut join = Box::pin(q.join());
    assert!(w.poll(join.as_mut()).is_pending());
    q.get_nowait().unwrap();
    q.get_nowait().unwrap();
    q.task_done().unwrap();
    assert_eq!(w.count(), 0, "one is still unfinished");
    q.task_done().unwrap();
    assert_eq!(w.count(), 1);
    q.put_nowait(3).unwrap(); // a new item before the joiner runs: it was released already
    assert!(w.poll(join.as_mut()).is_ready());
    assert!(
        poll_once(pin!(q.join())).is_pending(),
        "a new joiner waits for item 3"
    );
}

#[test]
fn too_many_task_done_is_an_error_not_an_underflow() {
    let q = Queue::new();
    assert!(q.task_done().is_err());
    q.put_nowait(()).unwrap();
    q.task_done().unwrap();
    assert_eq!(q.task_done(), Err(TaskDoneError(())));
    q.put_nowait(()).unwrap();
    assert!(
        poll_once(pin!(q.join())).is_pending(),
        "the count did not wrap"
    );
}

#[test]
fn dropped_joiner_leaves_nothing_behind() {
    let q = Queue::new();
    q.put_nowait(1).unwrap();
    let w = CountingWaker::new();
    let mut join = Box::pin(q.join());
    assert!(w.poll(join.as_mut()).is_pending());
    drop(join);
    q.task_done().unwrap();
    assert_eq!(w.count(), 0);
    assert!(q.inner.borrow().all_done.is_set());
}

/// What the model test does to a queue.
#[derive(Debug, Clone)]
enum Op {
    Put(u8),
    Get,
    TaskDone,
    Shutdown,
    ShutdownImmediate,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Put),
        3 => Just(Op::Get),
        2 => Just(Op::TaskDone),
        1 => Just(Op::Shutdown),
        1 => Just(Op::ShutdownImmediate),
    ]
}

/// Runs `ops` against a queue and a plain reference model, comparing every answer.
fn check_against_model<S: Storage<Item = u8>>(
    queue: GenericQueue<S>,
    maxsize: Option<usize>,
    ops: &[Op],
    mut model_push: impl FnMut(u8),
    mut model_pop: impl FnMut() -> Option<u8>,
) -> Result<(), TestCaseError> {
    let (mut len, mut unfinished, mut shut) = (0usize, 0usize, false);
    for op in ops {
        match *op {
            Op::Put(x) => {
                let expected = if shut {
                    Err(PutError::Shutdown(x))
                } else if maxsize.is_some_and(|m| len >= m) {
                    Err(PutError::Full(x))
                } else {
                    model_push(x);
                    len += 1;
                    unfinished += 1;
                    Ok(())
                };
                prop_assert_eq!(queue.put_nowait(x), expected);
            }
            Op::Get => {
                let expected = match model_pop() {
                    Some(x) => {
                        len -= 1;
                        Ok(x)
                    }
                    None if shut => Err(GetError::Shutdown),
                    None => Err(GetError::Empty),
                };
                prop_assert_eq!(queue.get_nowait(), expected);
            }
            Op::TaskDone => {
                let expected = if unfinished == 0 {
                    Err(TaskDoneError(()))
                } else {
                    Ok(())
                };
                unfinished = unfinished.saturating_sub(1);
                prop_assert_eq!(queue.task_done(), expected);
            }
            Op::Shutdown => {
                shut = true;
                queue.shutdown();
            }
            Op::ShutdownImmediate => {
                shut = true;
                let expected: Vec<u8> = std::iter::from_fn(&mut model_pop).collect();
                unfinished = unfinished.saturating_sub(expected.len());
                len = 0;
                prop_assert_eq!(queue.shutdown_immediate(), expected);
            }
        }
        prop_assert_eq!(queue.len(), len);
        prop_assert_eq!(queue.is_empty(), len == 0);
        prop_assert_eq!(queue.is_full(), maxsize.is_some_and(|m| len >= m));
        prop_assert_eq!(queue.is_shutdown(), shut);
        prop_assert_eq!(poll_once(pin!(queue.join())).is_ready(), unfinished == 0);
    }
    Ok(())
}

fn maxsize() -> impl Strategy<Value = Option<usize>> {
    proptest::option::of(1usize..6)
}

fn with_maxsize<S: Storage>(maxsize: Option<usize>) -> GenericQueue<S> {
    GenericQueue::with_maxsize(maxsize)
}

proptest! {
    #[test]
    fn fifo_queue_matches_a_vecdeque(max in maxsize(), ops in prop::collection::vec(op(), 0..64)) {
        let model = RefCell::new(VecDeque::new());
        check_against_model(with_maxsize::<Fifo<u8>>(max), max, &ops,
            |x| model.borrow_mut().push_back(x), || model.borrow_mut().pop_front())?;
    }

    #[test]
    fn lifo_queue_matches_a_vec(max in maxsize(), ops in prop::collection::vec(op(), 0..64)) {
        let model = RefCell::new(Vec::new());
        check_against_model(with_maxsize::<Lifo<u8>>(max), max, &ops,
            |x| model.borrow_mut().push(x), || model.borrow_mut().pop())?;
    }

    #[test]
    fn priority_queue_matches_a_binary_heap(max in maxsize(), ops in prop::collection::vec(op(), 0..64)) {
        let model = RefCell::new(BinaryHeap::new());
        check_against_model(with_maxsize::<Priority<u8>>(max), max, &ops,
            |x| model.borrow_mut().push(Reverse(x)), || model.borrow_mut().pop().map(|Reverse(x)| x))?;
    }
}
