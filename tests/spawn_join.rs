//! Spawning and joining: results, FIFO order, nesting, and tasks that outlive a `block_on`.
use std::cell::RefCell;
use std::rc::Rc;

#[test]
fn join_returns_the_output() {
    let out = minirt::run(async {
        let a = minirt::spawn(async { 1 });
        let b = minirt::spawn(async { String::from("two") });
        (a.await.unwrap(), b.await.unwrap())
    });
    assert_eq!(out, (1, "two".to_string()));
}

#[test]
fn tasks_run_in_spawn_order() {
    let order = minirt::run(async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let order = order.clone();
                minirt::spawn(async move { order.borrow_mut().push(i) })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        order.take()
    });
    assert_eq!(order, (0..10).collect::<Vec<_>>());
}

#[test]
fn yielding_tasks_take_turns() {
    let order = minirt::run(async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let order = order.clone();
                minirt::spawn(async move {
                    for i in 0..3 {
                        order.borrow_mut().push(format!("{name}{i}"));
                        minirt::yield_now().await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        order.take()
    });
    assert_eq!(order, ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn nested_spawns_complete() {
    fn depth(n: u32) -> minirt::JoinHandle<u32> {
        minirt::spawn(async move {
            if n == 0 {
                0
            } else {
                depth(n - 1).await.unwrap() + 1
            }
        })
    }
    assert_eq!(minirt::run(async { depth(500).await.unwrap() }), 500);
}

#[test]
fn many_tasks_join_and_free_their_slots() {
    // Miri interprets every step: a few hundred tasks exercise the same paths.
    const TASKS: u64 = if cfg!(miri) { 300 } else { 10_000 };
    let rt = minirt::Runtime::new().unwrap();
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|i| minirt::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..TASKS).sum());
    assert_eq!(rt.alive_tasks(), 0);
}

#[test]
fn tasks_survive_between_block_on_calls() {
    let rt = minirt::Runtime::new().unwrap();
    let early = rt.spawn(async { 7 });
    let ran = Rc::new(RefCell::new(false));
    let flag = ran.clone();
    let late = rt.block_on(async move {
        let handle = minirt::spawn(async move {
            minirt::yield_now().await;
            *flag.borrow_mut() = true;
        });
        Some(handle)
    });
    let late = late.unwrap();
    assert_eq!(
        rt.alive_tasks(),
        2,
        "block_on returned before either task ran"
    );
    assert_eq!(rt.block_on(early).unwrap(), 7);
    rt.block_on(late).unwrap();
    assert!(*ran.borrow());
}

#[test]
fn a_join_handle_awaited_from_another_task() {
    let out = minirt::run(async {
        let inner = minirt::spawn(async { 5 });
        let outer = minirt::spawn(async move { inner.await.unwrap() * 2 });
        outer.await.unwrap()
    });
    assert_eq!(out, 10);
}
