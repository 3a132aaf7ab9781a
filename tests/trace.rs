//! The scheduling trace: valid Chrome Trace Event JSON, polls that nest per track, wakes that
//! name tasks the trace knows, parks, timers and blocking jobs.
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("minirt-{}-{name}.json", std::process::id()))
}

/// Reads a trace and checks what every trace must satisfy; returns its events.
pub fn check_trace(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("the trace was written");
    let json: Value = serde_json::from_str(&text).expect("the trace is valid JSON");
    let events = json["traceEvents"]
        .as_array()
        .expect("a traceEvents array")
        .clone();
    for event in &events {
        for field in ["name", "ph", "ts", "pid", "tid"] {
            assert!(event.get(field).is_some(), "{field} missing in {event}");
        }
    }
    let named_tracks: HashSet<u64> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["tid"].as_u64().unwrap())
        .collect();
    // Poll begin/end pairs nest properly on each track: B, E, B, E... never B inside B.
    let mut open: HashMap<u64, f64> = HashMap::new();
    for event in events.iter().filter(|e| e["name"] == "poll") {
        let tid = event["tid"].as_u64().unwrap();
        let ts = event["ts"].as_f64().unwrap();
        match event["ph"].as_str().unwrap() {
            "B" => assert!(
                open.insert(tid, ts).is_none(),
                "a poll began inside a poll on {tid}"
            ),
            "E" => {
                let began = open.remove(&tid).expect("a poll ended that never began");
                assert!(ts >= began);
            }
            other => panic!("poll event with phase {other}"),
        }
    }
    assert!(open.is_empty(), "a poll never ended");
    // Every track that has events has a name, and every wake names a known task.
    for event in events.iter().filter(|e| e["ph"] != "M") {
        let tid = event["tid"].as_u64().unwrap();
        assert!(
            named_tracks.contains(&tid),
            "track {tid} has no name: {event}"
        );
    }
    events
}

#[test]
fn a_traced_workload_shows_polls_wakes_parks_timers_and_the_pool() {
    let path = temp_path("workload");
    let rt = minirt::Runtime::builder().trace(&path).build().unwrap();
    rt.block_on(async {
        let sleeper = minirt::spawn_named("sleeper", minirt::sleep(Duration::from_millis(5)));
        let yielder = minirt::spawn(async {
            for _ in 0..3 {
                minirt::yield_now().await;
            }
        });
        let blocking = minirt::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2)));
        let (tx, rx) = minirt::sync::oneshot::channel();
        let remote = minirt::spawn(rx);
        // Let `remote` park on the channel first: a value sent before its first poll would
        // be taken without any wake, and the trace would have no wake from the helper.
        minirt::yield_now().await;
        std::thread::Builder::new()
            .name("helper".into())
            .spawn(move || tx.set_result(1).unwrap())
            .unwrap();
        sleeper.await.unwrap();
        yielder.await.unwrap();
        blocking.await.unwrap();
        remote.await.unwrap().unwrap();
    });
    drop(rt);
    let events = check_trace(&path);
    let names: Vec<String> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("sleeper") && n.contains("tests/trace.rs")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "minirt loop"));
    assert!(
        names.iter().any(|n| n.starts_with("minirt-blocking-")),
        "{names:?}"
    );
    let sources: HashSet<&str> = events
        .iter()
        .filter(|e| e["name"] == "wake")
        .map(|e| e["args"]["source"].as_str().unwrap())
        .collect();
    for source in ["same thread", "timer", "other thread"] {
        assert!(sources.contains(source), "no {source} wake in {sources:?}");
    }
    let from_helper = events
        .iter()
        .any(|e| e["name"] == "wake" && e["args"]["from_thread"] == "helper");
    assert!(from_helper, "the wake from the helper thread names it");
    assert!(events.iter().any(|e| e["name"] == "park" && e["ph"] == "X"));
    assert!(events.iter().any(|e| e["name"] == "timer fired"));
    assert!(events.iter().any(|e| e["name"] == "blocking job"));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_trace_larger_than_its_buffer_is_flushed_and_stays_valid() {
    let path = temp_path("large");
    let rt = minirt::Runtime::builder().trace(&path).build().unwrap();
    rt.block_on(async {
        // Each task makes a spawn, a poll (two lines) and an end: well past the buffer.
        for _ in 0..40 {
            let handles: Vec<_> = (0..1_000).map(|_| minirt::spawn(async {})).collect();
            for h in handles {
                h.await.unwrap();
            }
        }
    });
    drop(rt);
    let events = check_trace(&path);
    let polls = events.iter().filter(|e| e["name"] == "poll").count();
    assert_eq!(polls, 2 * 40_000);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_trace_file_that_cannot_be_created_is_an_error() {
    let err = minirt::Runtime::builder()
        .trace("/nonexistent-dir/trace.json")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}
