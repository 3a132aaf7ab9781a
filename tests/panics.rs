//! A panicking task is caught and reported through its handle; the runtime goes on.
#[test]
fn a_panic_reaches_the_join_handle() {
    let (err, after) = minirt::run(async {
        let bad = minirt::spawn(async { panic!("task exploded") });
        let good = minirt::spawn(async { 1 });
        (bad.await.unwrap_err(), good.await.unwrap())
    });
    assert!(err.is_panic() && !err.is_cancelled());
    assert_eq!(err.to_string(), "task panicked: task exploded");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"task exploded"));
    assert_eq!(after, 1);
}

#[test]
fn a_formatted_panic_message_is_shown() {
    let err = minirt::run(async {
        let n = 3;
        minirt::spawn(async move { panic!("bad value {n}") })
            .await
            .unwrap_err()
    });
    assert_eq!(err.to_string(), "task panicked: bad value 3");
}

#[test]
fn a_detached_panicking_task_does_not_stop_the_runtime() {
    let out = minirt::run(async {
        drop(minirt::spawn(async { panic!("nobody listens") }));
        minirt::yield_now().await;
        minirt::spawn(async { "still running" }).await.unwrap()
    });
    assert_eq!(out, "still running");
}

#[test]
fn a_panic_in_a_futures_drop_is_reported() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop exploded");
        }
    }
    let err = minirt::run(async {
        minirt::spawn(async {
            let _guard = PanicOnDrop;
            minirt::yield_now().await;
        })
        .await
        .unwrap_err()
    });
    assert!(err.is_panic());
}

#[test]
fn into_panic_on_a_cancelled_error_is_refused() {
    let err = minirt::run(async {
        let h = minirt::spawn(std::future::pending::<()>());
        h.abort();
        h.await.unwrap_err()
    });
    let err = err.try_into_panic().unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn a_panic_in_the_main_future_propagates_out_of_block_on() {
    let rt = minirt::Runtime::new().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { panic!("main exploded") })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main exploded"));
    // The runtime is still usable after the panic.
    assert_eq!(
        rt.block_on(async { minirt::spawn(async { 2 }).await.unwrap() }),
        2
    );
}
