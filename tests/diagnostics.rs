//! Slow-poll warnings and the lost-wakeup hint, read from the stderr of a child process
//! (this same test binary, re-run with an environment variable naming the scenario).
use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::task::{Context, Poll};
use std::time::Duration;

const SCENARIO: &str = "MINIRT_DIAGNOSTICS_SCENARIO";

/// Runs `test` in a child process with `SCENARIO=scenario` and returns its stderr.
fn stderr_of(test: &str, scenario: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .output()
        .unwrap();
    assert!(output.status.success(), "the scenario failed: {output:?}");
    String::from_utf8(output.stderr).unwrap()
}

fn in_child(scenario: &str) -> bool {
    std::env::var(SCENARIO).as_deref() == Ok(scenario)
}

#[test]
fn a_slow_poll_is_reported_and_fast_ones_are_not() {
    if in_child("slow") {
        let rt = minirt::Runtime::builder()
            .slow_poll_threshold(Duration::from_millis(20))
            .build()
            .unwrap();
        rt.block_on(async {
            let slow = minirt::spawn_named("sleepy", async {
                std::thread::sleep(Duration::from_millis(60)); // blocks the loop
            });
            let fast = minirt::spawn_named("quick", async {
                for _ in 0..10 {
                    minirt::yield_now().await;
                }
            });
            slow.await.unwrap();
            fast.await.unwrap();
        });
        return;
    }
    let stderr = stderr_of("a_slow_poll_is_reported_and_fast_ones_are_not", "slow");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("slow poll")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("\"sleepy\""), "{stderr}");
    assert!(
        warnings[0].contains("tests/diagnostics.rs"),
        "names the spawn location"
    );
    assert!(!stderr.contains("quick"));
}

#[test]
fn the_slow_poll_threshold_can_come_from_the_environment() {
    if in_child("env") {
        minirt::run(async {
            minirt::spawn(async { std::thread::sleep(Duration::from_millis(40)) })
                .await
                .unwrap();
        });
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_slow_poll_threshold_can_come_from_the_environment",
            "--nocapture",
        ])
        .env(SCENARIO, "env")
        .env("MINIRT_SLOW_POLL_MS", "10")
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("slow poll: task spawned at tests/diagnostics.rs"),
        "{stderr}"
    );
}

/// A leaf future with the classic bug: it returns `Pending` without storing the waker.
struct Forgetful;
impl Future for Forgetful {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

#[test]
fn a_lost_wakeup_is_hinted_once_and_correct_futures_are_not() {
    if !cfg!(debug_assertions) {
        return; // the hint exists in debug builds only
    }
    if in_child("lost") {
        minirt::run(async {
            let lost = minirt::spawn_named("forgetful", Forgetful);
            let (tx, rx) = minirt::sync::oneshot::channel::<()>();
            let correct = minirt::spawn_named("correct", rx);
            let sleeper = minirt::spawn_named("sleeper", minirt::sleep(Duration::from_millis(5)));
            for _ in 0..3 {
                minirt::yield_now().await;
            }
            lost.abort();
            tx.set_result(()).unwrap();
            correct.await.unwrap().unwrap();
            sleeper.await.unwrap();
            assert!(lost.await.unwrap_err().is_cancelled());
        });
        return;
    }
    let stderr = stderr_of(
        "a_lost_wakeup_is_hinted_once_and_correct_futures_are_not",
        "lost",
    );
    let hints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("kept no waker"))
        .collect();
    assert_eq!(hints.len(), 1, "{stderr}");
    assert!(hints[0].contains("\"forgetful\""));
    assert!(hints[0].contains("tests/diagnostics.rs"));
}
