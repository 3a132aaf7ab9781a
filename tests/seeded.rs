//! Seeded scheduling and the test helper (issue 27): one seed, one order, one trace; many
//! seeds, many orders; a failure that names the seed that replays it.
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use minirt::{Runtime, sleep, yield_now};

/// Three tasks racing: each yields a few times and notes its steps. Returns the order of the
/// steps, as the loop picked them.
async fn three_racing_tasks() -> Vec<(u32, u32)> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..3)
        .map(|task| {
            let log = log.clone();
            minirt::spawn(async move {
                for step in 0..3 {
                    log.borrow_mut().push((task, step));
                    yield_now().await;
                }
                // Two of them share a timer instant: which wakes first is the seed's choice too.
                sleep(Duration::from_millis(if task == 2 { 7 } else { 5 })).await;
                log.borrow_mut().push((task, 9));
            })
        })
        .collect();
    minirt::join_all(tasks).await;
    log.take()
}

fn run_seeded(seed: Option<u64>) -> Vec<(u32, u32)> {
    let mut builder = Runtime::builder().start_paused(true);
    if let Some(seed) = seed {
        builder = builder.seed(seed);
    }
    builder.build().unwrap().block_on(three_racing_tasks())
}

#[test]
fn without_a_seed_the_order_is_fifo_every_time() {
    // Skipped when MINIRT_SEED seeds every runtime (a replay of another test).
    if std::env::var_os("MINIRT_SEED").is_some() {
        return;
    }
    let fifo: Vec<(u32, u32)> = [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
        .into_iter()
        .chain([(0, 2), (1, 2), (2, 2), (0, 9), (1, 9), (2, 9)])
        .collect();
    for _ in 0..5 {
        assert_eq!(run_seeded(None), fifo);
    }
}

#[test]
fn one_seed_gives_one_order() {
    for seed in [0, 1, 42, u64::MAX] {
        assert_eq!(
            run_seeded(Some(seed)),
            run_seeded(Some(seed)),
            "seed {seed}"
        );
    }
}

#[test]
fn twenty_seeds_give_several_orders() {
    let mut orders: Vec<Vec<(u32, u32)>> = (0..20).map(|seed| run_seeded(Some(seed))).collect();
    for order in &orders {
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted.len(), 12, "every step ran once");
        sorted.dedup();
        assert_eq!(sorted.len(), 12);
    }
    orders.sort();
    orders.dedup();
    assert!(
        orders.len() >= 2,
        "20 seeds gave {} distinct orders",
        orders.len()
    );
    // And the timers due at one instant were woken in both orders by some seeds.
    let zero_first = (0..20).any(|seed| {
        let order = run_seeded(Some(seed));
        let pos = |step| order.iter().position(|&s| s == step).unwrap();
        pos((0, 9)) < pos((1, 9))
    });
    let one_first = (0..20).any(|seed| {
        let order = run_seeded(Some(seed));
        let pos = |step| order.iter().position(|&s| s == step).unwrap();
        pos((1, 9)) < pos((0, 9))
    });
    assert!(
        zero_first && one_first,
        "simultaneous timers are shuffled too"
    );
}

fn traced_run(seed: u64, path: &Path) -> Vec<(u32, u32)> {
    let rt = Runtime::builder()
        .start_paused(true)
        .seed(seed)
        .trace(path)
        .build()
        .unwrap();
    let order = rt.block_on(three_racing_tasks());
    drop(rt); // writes the trace
    order
}

#[test]
fn one_seed_gives_one_trace_byte_for_byte() {
    let dir = std::env::temp_dir().join(format!("minirt-seeded-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b, c) = (dir.join("a.json"), dir.join("b.json"), dir.join("c.json"));
    let first = traced_run(7, &a);
    let second = traced_run(7, &b);
    let other = (0..20)
        .map(|seed| (seed, traced_run(seed, &c)))
        .find(|(_, order)| *order != first);
    let (trace_a, trace_b) = (
        std::fs::read_to_string(&a).unwrap(),
        std::fs::read_to_string(&b).unwrap(),
    );
    let trace_c = std::fs::read_to_string(&c).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(first, second);
    assert!(trace_a.contains("\"poll\""), "a real trace");
    assert_eq!(trace_a, trace_b, "the same seed, the same trace");
    let (seed, _) = other.expect("some seed orders differently");
    assert_ne!(trace_a, trace_c, "seed {seed} gives another trace");
}

#[test]
fn explore_names_the_seed_and_the_seed_replays_it() {
    // A lost update: both tasks read, yield, then write back.
    let body = || async {
        let counter = Rc::new(RefCell::new(0));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let counter = counter.clone();
                minirt::spawn(async move {
                    let read = *counter.borrow();
                    if read == 0 {
                        yield_now().await; // sometimes the other task reads meanwhile
                    }
                    *counter.borrow_mut() = read + 1;
                })
            })
            .collect();
        minirt::join_all(tasks).await;
        assert_eq!(*counter.borrow(), 2, "an increment was lost");
    };
    let failure = minirt::test::explore(0..100, body).unwrap_err();
    assert!(failure.message().contains("an increment was lost"));
    let replay = minirt::test::explore([failure.seed()], body).unwrap_err();
    assert_eq!(replay, failure, "the seed replays the same failure");
    let message = std::panic::catch_unwind(|| minirt::test::check(0..100, body))
        .unwrap_err()
        .downcast::<String>()
        .unwrap();
    assert!(
        message.contains(&format!("MINIRT_SEED={} cargo test", failure.seed())),
        "{message}"
    );
}

#[test]
fn check_passes_a_body_that_holds_under_every_seed() {
    minirt::test::check(0..50, || async {
        let counter = Rc::new(RefCell::new(0));
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let counter = counter.clone();
                minirt::spawn(async move {
                    yield_now().await;
                    *counter.borrow_mut() += 1; // read and write with no await between
                })
            })
            .collect();
        minirt::join_all(tasks).await;
        assert_eq!(*counter.borrow(), 3);
    });
}
