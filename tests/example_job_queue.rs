//! Runs `examples/job_queue` on 1,000 jobs and checks that every job is accounted for.
mod example_support;

use std::time::Duration;

#[test]
fn every_job_is_accounted_for() {
    let output = example_support::run("job_queue", &["--jobs", "1000"], Duration::from_secs(60));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("add(4, 4) = 8"), "{stdout}");

    let numbers = example_support::summary(&stdout, "jobs: ");
    assert_eq!(numbers["jobs"], 1000, "{stdout}");
    assert_eq!(numbers["succeeded"] + numbers["failed"], 1000, "{stdout}");
    // Every 100th job (99, 199, ..) times out on all 3 attempts: 10 fail, with 2 retries each.
    assert_eq!(numbers["failed"], 10, "{stdout}");
    // Per 10 jobs: one flaky fails once, one fails twice, one crunch panics once. 10 + 20 + 9 per
    // 100, plus the slow jobs' 20.
    assert_eq!(numbers["retries"], 410, "{stdout}");
    assert!(
        stdout.contains("first failure: job 99: 3 attempts failed: timed out after 50ms"),
        "{stdout}"
    );
    assert!(
        stdout.contains("after shutdown: the app is shut down"),
        "{stdout}"
    );
    // The crashes are simulated and their reports silenced: nothing else panicked.
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_arguments_are_clear_errors() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["--workers", "0"],
            "--workers wants a whole number from 1 to 1000, not \"0\"",
        ),
        (&["--jobs", "many"], "--jobs wants a whole number"),
        (&["--jobs"], "--jobs needs a value"),
        (&["--verbose"], "unexpected argument \"--verbose\""),
    ];
    for (args, message) in cases {
        let output = example_support::run("job_queue", args, Duration::from_secs(30));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: job_queue"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_prints_usage_and_exits_0() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["worker", "--help"],
        &["submit", "-h"],
    ] {
        let output = example_support::run("job_queue", args, Duration::from_secs(30));
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stdout.starts_with("usage: job_queue"), "{args:?}: {stdout}");
        assert!(
            stdout.contains("worker --broker redis://[:PASSWORD@]HOST:PORT"),
            "{stdout}"
        );
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}
