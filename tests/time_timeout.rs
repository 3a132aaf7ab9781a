//! `timeout` around a future that finishes in time, one that never does, and one that panics.
use std::time::{Duration, Instant};

#[test]
fn a_future_that_finishes_in_time_returns_its_output() {
    let out = minirt::run(async {
        minirt::timeout(Duration::from_secs(5), async {
            minirt::sleep(Duration::from_millis(5)).await;
            "in time"
        })
        .await
    });
    assert_eq!(out, Ok("in time"));
}

#[test]
fn a_future_that_never_finishes_times_out_after_the_duration() {
    let start = Instant::now();
    let out = minirt::run(minirt::timeout(
        Duration::from_millis(30),
        std::future::pending::<()>(),
    ));
    let err = out.unwrap_err();
    assert_eq!(err.to_string(), "deadline has elapsed");
    assert!(start.elapsed() >= Duration::from_millis(30));
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn a_ready_future_wins_even_with_a_zero_timeout() {
    let out = minirt::run(minirt::timeout(Duration::ZERO, async { 1 }));
    assert_eq!(out, Ok(1));
}

#[test]
fn a_panic_inside_timeout_reaches_the_join_handle() {
    let err = minirt::run(async {
        minirt::spawn(minirt::timeout(Duration::from_secs(1), async {
            minirt::sleep(Duration::from_millis(1)).await;
            panic!("inside timeout");
        }))
        .await
        .unwrap_err()
    });
    assert!(err.is_panic());
    assert_eq!(err.to_string(), "task panicked: inside timeout");
}

#[test]
fn the_timed_out_future_is_dropped() {
    struct Flag(std::rc::Rc<std::cell::Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = std::rc::Rc::new(std::cell::Cell::new(false));
    let d = dropped.clone();
    minirt::run(async move {
        let guarded = async move {
            let _flag = Flag(d);
            std::future::pending::<()>().await;
        };
        assert!(
            minirt::timeout(Duration::from_millis(5), guarded)
                .await
                .is_err()
        );
    });
    assert!(dropped.get());
}

#[test]
fn timeout_at_a_past_deadline_fails_a_pending_future_at_once() {
    let out = minirt::run(minirt::time::timeout_at(
        Instant::now() - Duration::from_secs(1),
        std::future::pending::<()>(),
    ));
    assert!(out.is_err());
}
