//! Runs `examples/internals`, one scene per path of `docs/internals.md`, with `MINIRT_TRACE`,
//! and checks that each trace shows what the page says it shows.
mod example_support;

use std::time::Duration;

use serde_json::Value;

/// Runs one scene with tracing on; returns its stdout line and the trace's events.
fn scene(name: &str) -> (String, Vec<Value>) {
    // One folder per scene (they run in parallel), removed after.
    let dir = std::env::temp_dir().join(format!("minirt-internals-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    let running = example_support::start_with_env(
        "internals",
        &[name],
        &[("MINIRT_TRACE", path.to_str().unwrap())],
    );
    let (status, stdout) = running.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "{name}: {status}");
    let trace: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (stdout, trace["traceEvents"].as_array().unwrap().clone())
}

/// The track id of the task whose name contains `name`.
fn track(events: &[Value], name: &str) -> u64 {
    events
        .iter()
        .find(|e| e["name"] == "thread_name" && e["args"]["name"].as_str().unwrap().contains(name))
        .unwrap_or_else(|| panic!("no track named {name:?}"))["tid"]
        .as_u64()
        .unwrap()
}

fn count(events: &[Value], tid: u64, name: &str) -> usize {
    events
        .iter()
        .filter(|e| e["tid"] == tid && e["name"] == name && e["ph"] != "E")
        .count()
}

fn wakes(events: &[Value], tid: u64) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["tid"] == tid && e["name"] == "wake")
        .collect()
}

#[test]
fn spawn_scene_polls_the_child_and_wakes_the_parent_on_the_same_thread() {
    let (stdout, events) = scene("spawn");
    assert!(stdout.contains("returned 42"), "{stdout}");
    let (parent, child) = (track(&events, "parent"), track(&events, "child"));
    assert_eq!(
        count(&events, child, "poll"),
        1,
        "the child ends in one poll"
    );
    assert_eq!(
        count(&events, parent, "poll"),
        2,
        "waits, then reads the output"
    );
    let woken = wakes(&events, parent);
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0]["args"]["source"], "same thread");
}

#[test]
fn same_thread_scene_wakes_the_waiter_from_the_setter() {
    let (_, events) = scene("same_thread");
    let waiter = track(&events, "waiter");
    let woken = wakes(&events, waiter);
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0]["args"]["source"], "same thread");
}

#[test]
fn other_thread_scene_wakes_through_the_inbox_from_the_named_thread() {
    let (stdout, events) = scene("other_thread");
    assert!(stdout.contains("from a plain thread"), "{stdout}");
    let waiter = track(&events, "waiter");
    let woken = wakes(&events, waiter);
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0]["args"]["source"], "other thread");
    assert_eq!(woken[0]["args"]["from_thread"], "plain-thread");
}

#[test]
fn io_scene_wakes_the_reader_from_the_reactor() {
    let (stdout, events) = scene("io");
    assert!(stdout.contains("\"hello\""), "{stdout}");
    let reader = track(&events, "reader");
    let sources: Vec<&str> = wakes(&events, reader)
        .iter()
        .map(|e| e["args"]["source"].as_str().unwrap())
        .collect();
    assert!(
        !sources.is_empty() && sources.iter().all(|s| *s == "io"),
        "{sources:?}"
    );
}

#[test]
fn timer_scene_parks_then_fires_the_timer() {
    let (_, events) = scene("timer");
    let sleeper = track(&events, "sleeper");
    let woken = wakes(&events, sleeper);
    assert_eq!(woken.len(), 1);
    assert_eq!(woken[0]["args"]["source"], "timer");
    assert!(events.iter().any(|e| e["name"] == "timer fired"));
    assert!(events.iter().any(|e| e["name"] == "park"));
}

#[test]
fn mutex_scene_passes_the_lock_on_from_the_cancelled_waiter() {
    let (stdout, events) = scene("mutex");
    assert!(
        stdout.contains("first waiter was cancelled") && stdout.contains("[\"second\"]"),
        "{stdout}"
    );
    let (first, second) = (
        track(&events, "first in line"),
        track(&events, "second in line"),
    );
    assert_eq!(
        count(&events, first, "poll"),
        1,
        "woken, but cancelled before a second poll"
    );
    assert_eq!(count(&events, first, "end"), 1);
    assert_eq!(
        count(&events, second, "poll"),
        2,
        "queued, then handed the lock"
    );
}

#[test]
fn internals_refuses_an_unknown_scene() {
    let running = example_support::start("internals", &["nope"]);
    let (status, _) = running.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(2));
}
