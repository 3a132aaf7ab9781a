//! Misuse fails with a clear panic message, never undefined behaviour.
use std::panic::{AssertUnwindSafe, catch_unwind};

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn spawn_outside_a_runtime_panics_clearly() {
    let payload = catch_unwind(|| drop(minirt::spawn(async {}))).unwrap_err();
    assert!(
        panic_message(payload).contains("minirt::spawn called outside a runtime"),
        "the message names the mistake"
    );
}

#[test]
fn block_on_inside_block_on_panics_clearly() {
    let outer = minirt::Runtime::new().unwrap();
    let inner = minirt::Runtime::new().unwrap();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        outer.block_on(async { inner.block_on(async {}) })
    }))
    .unwrap_err();
    assert!(
        panic_message(payload).contains("`block_on` called while a runtime is already running")
    );
    // Both runtimes still work afterwards: the thread-local context was restored.
    assert_eq!(outer.block_on(async { 1 }), 1);
    assert_eq!(inner.block_on(async { 2 }), 2);
}

#[test]
fn a_runtime_can_be_created_and_dropped_inside_a_task() {
    let out = minirt::run(async {
        let inner = minirt::Runtime::new().unwrap();
        let h = inner.spawn(std::future::pending::<()>());
        drop(inner);
        // `spawn` still reaches the outer runtime after the inner one shut down.
        let h2 = minirt::spawn(async { 9 });
        (h.await.unwrap_err().is_cancelled(), h2.await.unwrap())
    });
    assert_eq!(out, (true, 9));
}
