//! Runs `examples/hello`: it prints Hello, sleeps about a second, and prints World.
mod example_support;

use std::time::{Duration, Instant};

#[test]
fn hello_prints_sleeps_and_prints() {
    let start = Instant::now();
    let output = example_support::run("hello", &[], Duration::from_secs(30));
    assert!(output.status.success());
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "it slept a second"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"Hello"));
    assert!(lines.last().unwrap().starts_with("World"));
    assert!(
        lines.iter().any(|l| l.contains("another task runs")),
        "{stdout}"
    );
}

#[test]
fn hello_and_futures_tour_refuse_arguments() {
    for name in ["hello", "futures_tour"] {
        let output = example_support::run(name, &["--what"], Duration::from_secs(30));
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("takes no arguments") && !stderr.contains("panicked"));
    }
}
