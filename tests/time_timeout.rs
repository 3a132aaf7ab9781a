//! `timeout` around a future that finishes in time, one that never does, and one that panics,
//! on the paused clock (issue 27): each deadline is checked at its exact instant.
use std::time::Duration;

use minirt::Runtime;
use minirt::time;

fn paused() -> Runtime {
    Runtime::builder().start_paused(true).build().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_future_that_finishes_in_time_returns_its_output() {
    paused().block_on(async {
        let start = time::now();
        let out = minirt::timeout(Duration::from_secs(5), async {
            minirt::sleep(ms(5)).await;
            "in time"
        })
        .await;
        assert_eq!(out, Ok("in time"));
        assert_eq!(
            time::now() - start,
            ms(5),
            "it did not wait for the timeout"
        );
    });
}

#[test]
fn a_future_that_never_finishes_times_out_after_the_duration() {
    paused().block_on(async {
        let start = time::now();
        let out = minirt::timeout(ms(30), std::future::pending::<()>()).await;
        assert_eq!(time::now() - start, ms(30));
        let err = out.unwrap_err();
        assert_eq!(err.to_string(), "deadline has elapsed");
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn the_deadline_is_exact_to_the_nanosecond() {
    paused().block_on(async {
        let start = time::now();
        let slow = async {
            minirt::sleep(ms(30) + Duration::from_nanos(1)).await;
        };
        assert!(minirt::timeout(ms(30), slow).await.is_err());
        let just_in_time = minirt::sleep(ms(30) - Duration::from_nanos(1));
        assert!(minirt::timeout(ms(30), just_in_time).await.is_ok());
        assert_eq!(time::now() - start, ms(60) - Duration::from_nanos(1));
    });
}

#[test]
fn a_ready_future_wins_even_with_a_zero_timeout() {
    let out = minirt::run(minirt::timeout(Duration::ZERO, async { 1 }));
    assert_eq!(out, Ok(1));
}

#[test]
fn a_panic_inside_timeout_reaches_the_join_handle() {
    let err = paused().block_on(async {
        minirt::spawn(minirt::timeout(Duration::from_secs(1), async {
            minirt::sleep(ms(1)).await;
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
    paused().block_on(async move {
        let guarded = async move {
            let _flag = Flag(d);
            std::future::pending::<()>().await;
        };
        assert!(minirt::timeout(ms(5), guarded).await.is_err());
    });
    assert!(dropped.get());
}

#[test]
fn timeout_at_a_past_deadline_fails_a_pending_future_at_once() {
    paused().block_on(async {
        let start = time::now();
        let out =
            time::timeout_at(start - Duration::from_secs(1), std::future::pending::<()>()).await;
        assert!(out.is_err());
        assert_eq!(time::now(), start);
    });
}
