//! Runs `examples/task_group` and checks each scene's outcome in its output.
mod example_support;

use std::time::Duration;

#[test]
fn task_group_shows_both_scenes() {
    let output = example_support::run("task_group", &[], Duration::from_secs(60));
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "pancakes took 2 eggs",
        "omelette took 3 eggs",
        "cake took 4 eggs",
        "dishes, in the order they were finished: [\"pancakes\", \"omelette\", \"cake\"]",
        "soup was cancelled",
        "roast was cancelled",
        "the group failed: a task of the group failed: the oven is broken",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}
