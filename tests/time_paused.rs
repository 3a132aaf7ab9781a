//! The paused clock (issue 27): time that moves only by `advance` or, when the loop has nothing
//! to do, by jumping to the next timer. Every assertion here is on exact instants of the
//! runtime's clock, which no load on the machine can move.
mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use minirt::time;
use minirt::{Runtime, sleep};

fn paused() -> Runtime {
    Runtime::builder().start_paused(true).build().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// CPU time this thread has used: unlike wall time, a loaded machine does not add to it.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(result, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn an_hour_of_sleep_takes_no_real_time() {
    let rt = paused();
    let (wall, cpu) = (Instant::now(), thread_cpu_time());
    let slept = rt.block_on(async {
        let start = time::now();
        sleep(secs(3600)).await;
        time::now() - start
    });
    let (wall, cpu) = (wall.elapsed(), thread_cpu_time() - cpu);
    assert_eq!(
        slept,
        secs(3600),
        "the runtime's clock moved exactly an hour"
    );
    assert!(cpu < ms(100), "an hour of paused sleep cost {cpu:?} of CPU");
    assert!(wall < secs(5), "and {wall:?} of wall time: it did not wait");
}

#[test]
fn advance_fires_timers_in_deadline_order_each_at_its_own_instant() {
    let rt = paused();
    rt.block_on(async {
        let start = time::now();
        let fired = Rc::new(RefCell::new(Vec::new()));
        for (name, after) in [("c", 30), ("a", 10), ("b", 20), ("d", 90)] {
            let fired = fired.clone();
            drop(minirt::spawn(async move {
                sleep(secs(after)).await;
                fired.borrow_mut().push((name, time::now() - start));
            }));
        }
        time::advance(secs(60)).await;
        assert_eq!(time::now() - start, secs(60));
        assert_eq!(
            *fired.borrow(),
            [("a", secs(10)), ("b", secs(20)), ("c", secs(30))],
            "in deadline order, each seeing its own deadline; d is not due yet"
        );
        time::advance(secs(30)).await;
        assert_eq!(fired.borrow().last(), Some(&("d", secs(90))));
    });
}

#[test]
fn timers_at_one_instant_fire_together_and_nothing_fires_early() {
    let rt = paused();
    rt.block_on(async {
        let start = time::now();
        let a = minirt::spawn(async move {
            sleep(ms(1500)).await;
            time::now() - start
        });
        let b = minirt::spawn(async move {
            time::sleep_until(start + ms(1500)).await;
            time::now() - start
        });
        let early = minirt::spawn(async move {
            sleep(ms(1499)).await;
            time::now() - start
        });
        assert_eq!(early.await.unwrap(), ms(1499));
        assert_eq!(a.await.unwrap(), ms(1500));
        assert_eq!(b.await.unwrap(), ms(1500));
    });
}

#[test]
fn timeout_expires_at_its_exact_deadline() {
    let rt = paused();
    rt.block_on(async {
        let start = time::now();
        let out = minirt::timeout(ms(250), std::future::pending::<()>()).await;
        assert!(out.is_err());
        assert_eq!(time::now() - start, ms(250));
        let fast = minirt::timeout(secs(1), async {
            sleep(ms(999)).await;
            7
        })
        .await;
        assert_eq!(fast, Ok(7), "done a millisecond before the deadline");
        assert_eq!(time::now() - start, ms(1249));
    });
}

// The interval's missed-tick behaviours at exact instants: tests/time_interval.rs.

#[test]
fn pause_and_resume_inside_a_running_runtime() {
    minirt::run(async {
        assert!(!time::is_paused());
        time::pause();
        assert!(time::is_paused());
        let stood = time::now();
        std::thread::sleep(ms(3));
        assert_eq!(
            time::now(),
            stood,
            "real time passes, the runtime's does not"
        );
        time::advance(secs(10)).await;
        assert_eq!(time::now(), stood + secs(10));
        time::resume();
        assert!(!time::is_paused());
        assert!(
            time::now() >= stood + secs(10),
            "a resumed clock never runs backward"
        );
    });
}

#[test]
fn a_running_blocking_job_holds_paused_time() {
    let rt = paused();
    rt.block_on(async {
        let start = time::now();
        // Without the rule, the idle loop would jump an hour ahead while the job runs, and
        // the timeout would win.
        let job = minirt::spawn_blocking(|| {
            std::thread::sleep(ms(20));
            5
        });
        let out = minirt::timeout(secs(3600), job).await;
        assert_eq!(out.map(Result::ok), Ok(Some(5)));
        assert_eq!(
            time::now(),
            start,
            "the clock stood still while the job ran"
        );
    });
}

/// Documented in `time/clock.rs`: a socket with nothing to read does not hold paused time.
#[test]
fn an_idle_socket_does_not_hold_paused_time() {
    let _watchdog = common::watchdog(secs(60));
    let rt = paused();
    rt.block_on(async {
        let listener = minirt::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let start = time::now();
        let accepted = minirt::timeout(secs(30), listener.accept()).await;
        assert!(accepted.is_err(), "nobody connects");
        assert_eq!(time::now() - start, secs(30));
    });
}

#[test]
fn a_ready_socket_is_served_before_time_moves() {
    let _watchdog = common::watchdog(secs(60));
    let rt = paused();
    rt.block_on(async {
        let listener = minirt::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let start = time::now();
        // A connection the loop only learns of from the poller.
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let accepted = minirt::timeout(secs(30), listener.accept()).await;
        assert!(accepted.is_ok());
        assert_eq!(time::now(), start);
    });
}

/// A panic's message, whether it was a `&str` or a `String`.
fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload.downcast_ref::<&str>().unwrap().to_string(),
    }
}

#[test]
fn advance_outside_paused_time_panics_with_a_message() {
    let err = std::panic::catch_unwind(|| {
        minirt::run(async {
            drop(time::advance(secs(1)));
        })
    })
    .unwrap_err();
    assert!(message(err).contains("not paused"));
    let err = std::panic::catch_unwind(time::pause).unwrap_err();
    assert!(message(err).contains("outside a runtime"));
}

#[test]
fn a_handle_reads_and_sleeps_on_its_runtimes_paused_clock() {
    let rt = paused();
    let handle = rt.handle();
    let origin = handle.now();
    std::thread::sleep(ms(2));
    assert_eq!(
        handle.now(),
        origin,
        "another thread sees the clock stand still"
    );
    let sleep = std::thread::spawn(move || handle.sleep(secs(60)))
        .join()
        .unwrap();
    assert_eq!(sleep.deadline(), origin + secs(60));
    rt.block_on(sleep);
    assert_eq!(rt.handle().now(), origin + secs(60));
}

#[test]
fn the_trace_of_a_paused_run_is_stamped_by_the_paused_clock() {
    let dir = std::env::temp_dir().join(format!("minirt-paused-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let rt = Runtime::builder()
        .start_paused(true)
        .trace(&path)
        .build()
        .unwrap();
    rt.block_on(async {
        minirt::spawn(sleep(secs(3600))).await.unwrap();
    });
    drop(rt);
    let trace = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // The timer fired an hour into the runtime's time, whatever the wall clock did.
    let fired = trace
        .lines()
        .find(|l| l.contains("\"timer fired\""))
        .expect("a timer fired");
    let ts: f64 = fired
        .split("\"ts\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3600e6..3600e6 + 1e3).contains(&ts),
        "stamped {ts} µs, an hour and a few logical microseconds"
    );
}
