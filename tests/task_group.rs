//! `TaskGroup` under a real runtime, porting the cases of CPython's
//! `Lib/test/test_asyncio/test_taskgroups.py` that apply to it. asyncio's tests time their
//! children with `sleep`; here the order is set with events instead, so that nothing depends on
//! how fast the machine is. Each case names the CPython test it ports.
//!
//! Not ported, because the behaviour they test does not exist here: 15 to 18 (the body of the
//! `async with` is cancelled by the group and handles it; minirt does not cancel the task that
//! owns the group), 19 to 21a (several failures gathered in an `ExceptionGroup`, and
//! `KeyboardInterrupt`/`BaseException` precedence; minirt returns the first failure), 11 and
//! 12 (cancelling nested bodies: here that is `cancelling_the_task_in_join_all_...`), and
//! `test_taskgroup_task_name` (a group's tasks are spawned without names).
mod common;

use std::cell::Cell;
use std::future::pending;
use std::rc::Rc;
use std::time::Duration;

use minirt::sync::Event;
use minirt::{GroupError, Runtime, TaskGroup};

/// Counts how many of the futures holding it were dropped before they finished: the
/// `except CancelledError` branches of the asyncio tests.
#[derive(Clone, Default)]
struct Cancelled(Rc<Cell<usize>>);

impl Cancelled {
    fn count(&self) -> usize {
        self.0.get()
    }
    /// Waits for ever, counting the drop that cancels it.
    async fn wait_forever<T>(self) -> T {
        let guard = CountOnDrop(self.0);
        pending::<()>().await;
        drop(guard);
        unreachable!()
    }
}

struct CountOnDrop(Rc<Cell<usize>>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Runs `body` on a fresh runtime and checks that no task outlives it.
fn run(body: impl Future<Output = ()>) {
    let _watchdog = common::watchdog(Duration::from_secs(30));
    let rt = Runtime::new().unwrap();
    rt.block_on(body);
    assert_eq!(rt.alive_tasks(), 0, "a task outlived the test");
}

/// Awaits an event that a task of the group sets, then returns `value`.
async fn after(event: Rc<Event>, value: u32) -> u32 {
    event.wait().await;
    value
}

/// test_taskgroup_01: two children's results, here in the order they finish.
#[test]
fn results_come_back_in_completion_order() {
    run(async {
        let group = TaskGroup::new();
        let (first, second) = (Rc::new(Event::new()), Rc::new(Event::new()));
        group.spawn(after(second.clone(), 11));
        group.spawn(after(first.clone(), 42));
        first.set();
        assert_eq!(group.join_next().await.unwrap().unwrap(), 42);
        second.set();
        assert_eq!(group.join_next().await.unwrap().unwrap(), 11);
        assert!(group.join_next().await.is_none());
        assert!(group.is_empty());
    });
}

/// test_taskgroup_02: a child spawned while another already runs is waited for too.
#[test]
fn join_all_waits_for_children_spawned_while_it_waits() {
    run(async {
        let group = Rc::new(TaskGroup::new());
        let go = Rc::new(Event::new());
        group.spawn({
            let (group, go) = (group.clone(), go.clone());
            async move {
                go.wait().await;
                group.spawn(async { 11 }); // test_taskgroup_24: a child adds work
                42
            }
        });
        go.set();
        let all = group.join_all().await.unwrap();
        assert_eq!(all, [42, 11]);
    });
}

/// test_taskgroup_03: a child cancelled on its own does not fail the group, and the group
/// goes on.
#[test]
fn a_cancelled_child_is_not_a_failure() {
    run(async {
        let group = TaskGroup::new();
        let cancelled = Cancelled::default();
        group.spawn(cancelled.clone().wait_forever());
        minirt::yield_now().await;
        group.abort_all();
        group.spawn(async { 11 });
        assert_eq!(group.join_all().await.unwrap(), [11]);
        assert_eq!(cancelled.count(), 1);
        assert!(!group.is_failed());
    });
}

/// test_taskgroup_04, test_cancel_children_on_child_error: a child that panics cancels its
/// siblings, and the first failure comes back.
#[test]
fn a_panic_cancels_the_siblings_and_comes_back() {
    run(async {
        let group = TaskGroup::new();
        let cancelled = Cancelled::default();
        let crash = Rc::new(Event::new());
        for _ in 0..3 {
            group.spawn(cancelled.clone().wait_forever());
        }
        group.spawn({
            let crash = crash.clone();
            async move {
                crash.wait().await;
                panic!("1 / 0")
            }
        });
        minirt::yield_now().await;
        assert!(!group.is_failed());
        crash.set();
        let err = group.join_all().await.unwrap_err();
        assert!(err.is_panic());
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"1 / 0"));
        assert_eq!(cancelled.count(), 3, "every sibling was cancelled");
        assert!(group.is_failed() && group.is_empty());
    });
}

/// The siblings are cancelled when the child fails, not when somebody joins: asyncio's done
/// callback, here from inside the failing child's poll.
#[test]
fn siblings_are_cancelled_without_anybody_joining() {
    run(async {
        let group = TaskGroup::new();
        let cancelled = Cancelled::default();
        group.spawn(cancelled.clone().wait_forever());
        group.spawn(async { panic!("boom") });
        while cancelled.count() == 0 {
            minirt::yield_now().await;
        }
        assert!(group.is_failed());
        // Completion order: the panic, then the cancelled sibling.
        assert!(group.join_next().await.unwrap().unwrap_err().is_panic());
        assert!(group.join_next().await.unwrap().unwrap_err().is_cancelled());
    });
}

/// The `Result` variant: a child's `Err` cancels the rest and comes back first.
#[test]
fn in_a_fallible_group_an_err_cancels_the_siblings() {
    run(async {
        let group = TaskGroup::fallible();
        let cancelled = Cancelled::default();
        group.spawn(async { Ok(1) });
        group.spawn(cancelled.clone().wait_forever());
        group.spawn(async { Err("bad input") });
        group.spawn(async { Err("later failure") });
        let err = group.try_join_all().await.unwrap_err();
        assert_eq!(err, GroupError::Failed("bad input"));
        assert_eq!(cancelled.count(), 1);
    });
}

#[test]
fn in_a_fallible_group_a_panic_is_a_failure_too() {
    run(async {
        let group = TaskGroup::<Result<(), ()>>::fallible();
        group.spawn(async { panic!("boom") });
        assert!(group.try_join_all().await.unwrap_err().is_panic());
    });
}

/// `try_join_all` on a group made with `new` fails when it sees the `Err`, and cancels the
/// rest then.
#[test]
fn try_join_all_fails_on_err_in_a_plain_group_too() {
    run(async {
        let group = TaskGroup::new();
        let cancelled = Cancelled::default();
        group.spawn(cancelled.clone().wait_forever::<Result<u8, u8>>());
        group.spawn(async { Err(7) });
        assert_eq!(group.try_join_all().await, Err(GroupError::Failed(7)));
        assert_eq!(cancelled.count(), 1);
    });
}

#[test]
fn all_ok_gives_every_value() {
    run(async {
        let group = TaskGroup::fallible();
        for i in 0..5 {
            group.spawn(async move { Ok::<_, ()>(i) });
        }
        assert_eq!(group.try_join_all().await, Ok(vec![0, 1, 2, 3, 4]));
    });
}

/// test_cancellation, test_taskgroup_07, test_taskgroup_22: the task waiting for the group is
/// cancelled; its children are cancelled with it.
#[test]
fn cancelling_the_task_in_join_all_cancels_the_children() {
    run(async {
        let cancelled = Cancelled::default();
        let runner = minirt::spawn({
            let cancelled = cancelled.clone();
            async move {
                let group = TaskGroup::new();
                for _ in 0..5 {
                    group.spawn(cancelled.clone().wait_forever::<()>());
                }
                group.join_all().await
            }
        });
        minirt::yield_now().await;
        minirt::yield_now().await;
        runner.abort();
        assert!(runner.await.unwrap_err().is_cancelled());
        while cancelled.count() < 5 {
            minirt::yield_now().await;
        }
    });
}

/// test_taskgroup_09, test_taskgroup_10: the body fails (here: returns early, dropping the
/// group); the children are cancelled.
#[test]
fn dropping_the_group_aborts_its_children() {
    run(async {
        let cancelled = Cancelled::default();
        let finished = Rc::new(Cell::new(false));
        {
            let group = TaskGroup::new();
            group.spawn(cancelled.clone().wait_forever::<()>());
            group.spawn(cancelled.clone().wait_forever());
            minirt::yield_now().await;
            group.spawn({
                let finished = finished.clone();
                async move { finished.set(true) } // never polled
            });
        }
        while cancelled.count() < 2 {
            minirt::yield_now().await;
        }
        minirt::yield_now().await;
        assert!(!finished.get(), "a child ran after the group was dropped");
    });
}

/// test_taskgroup_13, test_taskgroup_14: nested groups. A child of the outer group joins an
/// inner group whose child panics; the failure travels up as a panic of the outer child, and
/// the outer group cancels its other children.
#[test]
fn a_failure_in_a_nested_group_fails_the_outer_group() {
    run(async {
        let outer = TaskGroup::new();
        let cancelled = Cancelled::default();
        outer.spawn(cancelled.clone().wait_forever());
        outer.spawn(async {
            let inner = TaskGroup::new();
            inner.spawn(async { panic!("inner crash") });
            if let Err(e) = inner.join_all().await {
                std::panic::resume_unwind(e.into_panic());
            }
        });
        let err = outer.join_all().await.unwrap_err();
        assert_eq!(
            err.into_panic().downcast_ref::<&str>(),
            Some(&"inner crash")
        );
        assert_eq!(cancelled.count(), 1);
    });
}

/// test_taskgroup_23: the group counts its children down as they are joined.
#[test]
fn len_counts_children_until_they_are_joined() {
    run(async {
        let group = TaskGroup::new();
        for i in 0..10 {
            group.spawn(async move { i });
        }
        assert_eq!(group.len(), 10);
        for left in (0..10).rev() {
            group.join_next().await.unwrap().unwrap();
            assert_eq!(group.len(), left);
        }
    });
}

/// test_taskgroup_25, the hydra: children keep spawning two more into their own group until
/// another child fails. The failure cancels them all, a child spawned after it starts out
/// aborted, and `join_all` ends.
#[test]
fn the_hydra_is_stopped_by_a_failure() {
    run(async {
        let group = Rc::new(TaskGroup::new());
        let heads = Rc::new(Cell::new(0));
        async fn hydra(group: Rc<TaskGroup<()>>, heads: Rc<Cell<usize>>) {
            heads.set(heads.get() + 1);
            minirt::yield_now().await;
            group.spawn(hydra(group.clone(), heads.clone()));
            group.spawn(hydra(group.clone(), heads.clone()));
        }
        group.spawn(hydra(group.clone(), heads.clone()));
        group.spawn({
            let heads = heads.clone();
            async move {
                while heads.get() < 10 {
                    minirt::yield_now().await;
                }
                panic!("hercules")
            }
        });
        assert!(group.join_all().await.unwrap_err().is_panic());
        assert!(heads.get() >= 10);
        let before = heads.get();
        group.spawn(hydra(group.clone(), heads.clone()));
        assert!(
            group.join_next().await.unwrap().unwrap_err().is_cancelled(),
            "spawned after the failure: aborted before it ran"
        );
        assert_eq!(heads.get(), before);
    });
}

#[test]
fn an_empty_group_joins_at_once() {
    run(async {
        let group = TaskGroup::<u8>::new();
        assert!(group.join_next().await.is_none());
        assert_eq!(group.join_all().await.unwrap(), []);
    });
}

/// Many children: `join_next` reads the ready line, it does not poll every child per wake.
#[test]
fn ten_thousand_children_join_in_completion_order() {
    run(async {
        let group = TaskGroup::new();
        let gates: Vec<_> = (0..10_000).map(|_| Rc::new(Event::new())).collect();
        let started = Rc::new(Cell::new(0));
        for (i, gate) in gates.iter().enumerate() {
            let (gate, started) = (gate.clone(), started.clone());
            group.spawn(async move {
                started.set(started.get() + 1);
                gate.wait().await;
                i
            });
        }
        while started.get() < gates.len() {
            minirt::yield_now().await;
        }
        // Finish them in reverse order.
        for gate in gates.iter().rev() {
            gate.set();
        }
        let mut expected = (0..10_000).rev();
        while let Some(result) = group.join_next().await {
            assert_eq!(Some(result.unwrap()), expected.next());
        }
        assert_eq!(expected.next(), None);
    });
}

/// Two tasks join the same group at once: each result goes to one of them, and when the group
/// is empty both return `None`; neither is left waiting.
#[test]
fn two_joiners_share_the_results_and_both_end() {
    run(async {
        let group = Rc::new(TaskGroup::new());
        let go = Rc::new(Event::new());
        group.spawn({
            let go = go.clone();
            async move {
                go.wait().await;
                1
            }
        });
        let joiners: Vec<_> = (0..2)
            .map(|_| {
                let group = group.clone();
                minirt::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(result) = group.join_next().await {
                        got.push(result.unwrap());
                    }
                    got
                })
            })
            .collect();
        minirt::yield_now().await;
        go.set();
        let mut all = Vec::new();
        for joiner in joiners {
            all.extend(joiner.await.unwrap());
        }
        assert_eq!(all, [1]);
    });
}

/// A group taken out of its runtime: the runtime's drop cancels the members (their `Finished`
/// guards fire then), and the group, dropped later, aborts nothing and frees everything.
#[test]
fn a_group_that_outlives_its_runtime_drops_cleanly() {
    let cancelled = Cancelled::default();
    let rt = Runtime::new().unwrap();
    let group = rt.block_on(async {
        let group = TaskGroup::new();
        group.spawn(cancelled.clone().wait_forever::<u8>());
        group.spawn(async { 1 });
        minirt::yield_now().await;
        group
    });
    assert_eq!(group.len(), 2);
    drop(rt);
    assert_eq!(
        cancelled.count(),
        1,
        "the runtime dropped the waiting member"
    );
    drop(group);
}
