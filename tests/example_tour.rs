//! Runs `examples/tour --fast` and checks that every scene did what it says.
mod example_support;

use std::time::Duration;

#[test]
fn the_tour_visits_every_part_of_the_runtime() {
    let output = example_support::run("tour", &["--fast"], Duration::from_secs(60));
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let position = |needle: &str| {
        stdout
            .find(needle)
            .unwrap_or_else(|| panic!("missing {needle:?} in:\n{stdout}"))
    };
    // Scene 1: tasks finish in the order of their sleeps.
    assert!(position("quick done") < position("medium done"));
    assert!(position("medium done") < position("slow done"));
    position(r#"join_all gives them back in spawn order: ["slow", "quick", "medium"]"#);
    position("under a 400 ms timeout: deadline has elapsed");
    position("waited");
    position("join: every job is done");
    position(r#"turns taken in order ["a", "b", "c"]"#);
    position(r#"set_result from the thread woke us: "666""#);
    position("tick (the loop is free)");
    position("the pool thread computed 500000500000");
    position(r#"client: sent "minirt", got back "minirt""#);
    position("tour over");
    // The metrics summary at the end.
    position("tasks: ");
    position("wakes: ");
    position("blocking pool: ");
}

#[test]
fn the_tour_rejects_unknown_arguments() {
    let output = example_support::run("tour", &["--slow"], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("usage: tour")
    );
}
