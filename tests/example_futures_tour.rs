//! Runs `examples/futures_tour` and checks each scene's outcome in its output.
mod example_support;

use std::time::Duration;

#[test]
fn futures_tour_shows_every_scene() {
    let output = example_support::run("futures_tour", &[], Duration::from_secs(60));
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "awaited the future: \"666\"",
        "awaited the future: \"from a thread\"",
        "await failed instead of hanging",
        "default thread pool: \"string\"",
        "10 jobs of 100 ms on 5 threads",
        "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(stdout.contains("(tick: the loop is free while the job blocks)"));
}
