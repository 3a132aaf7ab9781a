//! Runs `examples/tasks` ten times faster than real time and checks what it shows.
mod example_support;

use std::time::{Duration, Instant};

#[test]
fn tasks_run_concurrently_and_combinators_behave() {
    let start = Instant::now();
    let output = example_support::run("tasks", &["--scale", "0.1"], Duration::from_secs(30));
    let elapsed = start.elapsed();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let position = |needle: &str| {
        stdout
            .find(needle)
            .unwrap_or_else(|| panic!("missing {needle:?} in:\n{stdout}"))
    };
    assert!(position("  hello") < position("  world"));
    assert!(position("  one") < position("  two") && position("  two") < position("  three"));
    position("gathered [\"three\", \"one\", \"two\"]");
    position("first completed: racer 1, \"hare\"");
    position("timed out: deadline has elapsed");
    // The two say_after tasks overlap: 0.2 s at this scale, where in sequence they'd take 0.3.
    // In all it sleeps 0.2 + 0.03 + 0.01 + 0.02 = 0.26 s at least.
    assert!(elapsed >= Duration::from_millis(260), "{elapsed:?}");
}

#[test]
fn a_bad_argument_is_a_clear_error() {
    let output = example_support::run("tasks", &["--scale", "-1"], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--scale wants a positive number"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}
