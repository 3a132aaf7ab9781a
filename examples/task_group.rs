//! A `TaskGroup` and a `Condition` at work: asyncio 3.11's structured concurrency, in minirt.
//!
//! ```text
//! cargo run --example task_group
//! ```
//!
//! A small kitchen, in two scenes:
//!
//! 1. Three cooks run in a `TaskGroup`. Each needs some eggs from a shared pantry, a
//!    `Mutex<u32>` with a `Condition` next to it: a cook waits with `wait_for` until the pantry
//!    holds enough, under the lock, and takes them. A supplier delivers a few eggs at a time
//!    and calls `notify_all`. `join_all` hands the dishes back in the order they were finished,
//!    as `async with TaskGroup()` waits for every child.
//! 2. A `TaskGroup::fallible()` group, whose tasks return `Result`: one cook finds the oven
//!    broken and returns `Err`. The group cancels the other cooks at once (their `Drop` says
//!    so) and `try_join_all` returns that first error, as asyncio's `TaskGroup` cancels the
//!    siblings of a child that raised.
//!
//! Nothing is printed while the loop runs (a slow stdout reader would stall every task):
//! the scenes write to a log, printed once the runtime is done.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use minirt::TaskGroup;
use minirt::sync::{Condition, Mutex};

/// Lines to print once the loop has finished.
type Log = Rc<RefCell<Vec<String>>>;

fn main() {
    if let Some(arg) = std::env::args().nth(1) {
        eprintln!("task_group: takes no arguments, got {arg:?}\nusage: task_group");
        std::process::exit(2);
    }
    let log: Log = Rc::default();
    minirt::run(kitchen(log.clone()));
    for line in log.borrow().iter() {
        println!("{line}");
    }
}

async fn kitchen(log: Log) {
    let start = Instant::now();
    let say = {
        let log = log.clone();
        move |line: String| {
            let stamp = format!("[{:>6.0?}]", start.elapsed());
            log.borrow_mut().push(format!("{stamp} {line}"));
        }
    };
    let say = Rc::new(say);

    say("1. three cooks share a pantry guarded by a Condition".into());
    let pantry = Rc::new((Mutex::new(0u32), Condition::new()));
    let cooks = TaskGroup::new();
    for (cook, eggs) in [("omelette", 3), ("cake", 4), ("pancakes", 2)] {
        let (pantry, say) = (pantry.clone(), say.clone());
        cooks.spawn(async move {
            let (stock, delivered) = &*pantry;
            let mut stock = delivered.wait_for(stock.lock().await, |n| *n >= eggs).await;
            *stock -= eggs;
            say(format!("   {cook} took {eggs} eggs, {} left", *stock));
            drop(stock);
            minirt::sleep(Duration::from_millis(10)).await; // cooking
            cook
        });
    }
    for batch in [2, 3, 4] {
        minirt::sleep(Duration::from_millis(20)).await;
        let (stock, delivered) = &*pantry;
        *stock.lock().await += batch;
        say(format!("   supplier delivered {batch} eggs"));
        delivered.notify_all();
    }
    let dishes = cooks.join_all().await.expect("no cook panicked");
    say(format!(
        "   dishes, in the order they were finished: {dishes:?}"
    ));

    say("2. a fallible group: one Err cancels the others".into());
    let group = TaskGroup::fallible();
    for cook in ["soup", "roast"] {
        let say = say.clone();
        group.spawn(async move {
            let _cancelled = OnCancel(cook, say.clone());
            minirt::sleep(Duration::from_secs(3600)).await; // a long stew
            std::mem::forget(_cancelled);
            Ok(cook)
        });
    }
    group.spawn(async {
        minirt::sleep(Duration::from_millis(20)).await;
        Err("the oven is broken")
    });
    match group.try_join_all().await {
        Ok(dishes) => say(format!("   unexpected success: {dishes:?}")),
        Err(error) => say(format!("   the group failed: {error}")),
    }
}

/// Says that a cook was cancelled when its task is dropped before it finished.
struct OnCancel<F: Fn(String)>(&'static str, Rc<F>);

impl<F: Fn(String)> Drop for OnCancel<F> {
    fn drop(&mut self) {
        (self.1)(format!("   {} was cancelled", self.0));
    }
}
