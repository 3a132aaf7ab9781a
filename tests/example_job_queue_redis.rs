//! Runs `examples/job_queue` across processes on a real Redis: worker processes, a submitter,
//! a worker killed with SIGKILL, a broker stopped and one killed and restarted, bad messages.
//!
//! Each test starts its own `redis-server` on a free port, in a temporary directory, with no
//! persistence, and stops it by its PID at the end. `.ci/run` installs Debian's `redis-server`;
//! where it cannot be had, the tests say so and skip.
mod example_support;
#[path = "fault_job_queue/support.rs"]
mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use redis_protocol::resp2::types::OwnedFrame as Frame;
use support::{Redis, start_submit, start_worker, stop_worker, wait_for_key, wait_for_results};

/// The retries job `i` of the mixed plan makes, and whether it ends in failure: the example's
/// `plan`, stated again from the outside.
fn planned_retries(i: u64) -> (u64, bool) {
    match i % 10 {
        _ if i % 100 == 99 => (2, true), // slow: 3 attempts, all time out
        7 | 9 => (1, false),             // flaky(1), crunch that panics once
        8 => (2, false),                 // flaky(2)
        _ => (0, false),
    }
}

#[test]
fn a_worker_killed_halfway_loses_no_job_and_records_each_result_once() {
    let Some(redis) = Redis::start("jq_killed_worker") else {
        return;
    };
    let mut client = redis.client();
    let (victim, victim_id) = start_worker(&redis, "8");
    let (mut survivor, _) = start_worker(&redis, "8");
    let (submit, batch) = start_submit(&redis, &["--jobs", "2000"]);

    wait_for_results(&mut client, &batch, 1000);
    let mut victim = victim;
    victim.child.kill().unwrap(); // SIGKILL: no goodbye, jobs left on its processing list
    victim.child.wait().unwrap();
    let in_hand: i64 = (0..8)
        .map(|slot| client.int(&["LLEN", &format!("jq:processing:{victim_id}:{slot}")]))
        .sum();
    assert!(in_hand > 0, "the worker was killed with no job in hand");
    let reaped = format!("worker {victim_id} missed its heartbeat");
    let reaped = survivor.wait_for_line(&reaped, Duration::from_secs(60));
    assert!(
        reaped.contains(&format!("reaped {in_hand} job(s)")),
        "{reaped}"
    );

    let (status, stdout) = submit.wait_exit(Duration::from_secs(300));
    assert!(status.success(), "{stdout}");
    let numbers = example_support::summary(&stdout, "jobs: ");
    assert_eq!(numbers["jobs"], 2000, "{stdout}");
    assert_eq!(numbers["missing"], 0, "{stdout}");
    assert_eq!(numbers["succeeded"], 1980, "{stdout}");
    assert_eq!(numbers["failed"], 20, "{stdout}");
    assert_eq!(numbers["retries"], 820, "{stdout}");

    // From the broker itself: one result per job, with the planned retries.
    for i in 0..2000 {
        let key = format!("jq:result:{batch}:{i}");
        let text = client
            .text(&["GET", &key])
            .unwrap_or_else(|| panic!("no {key}"));
        let result: serde_json::Value = serde_json::from_str(&text).unwrap();
        let (retries, fails) = planned_retries(i);
        assert_eq!(result["retries"], retries, "job {i}: {text}");
        assert_eq!(result.get("error").is_some(), fails, "job {i}: {text}");
    }
    assert_eq!(client.int(&["LLEN", "jq:queue"]), 0);
    // Nothing is left in any worker's hands (an empty list does not exist in Redis).
    let processing = client.call(&["KEYS", "jq:processing:*"]);
    assert_eq!(processing, Frame::Array(Vec::new()));
    // The victim is forgotten some seconds after its reap (`FORGET_AFTER` in
    // examples/job_queue/scripts.rs), while the survivor's reaper runs.
    let deadline = Instant::now() + Duration::from_secs(40);
    while client.int(&["HLEN", "jq:workers"]) > 1 {
        assert!(
            Instant::now() < deadline,
            "the dead worker was never forgotten"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop_worker(survivor);
    // A clean stop says goodbye: no worker is left registered.
    assert_eq!(client.int(&["HLEN", "jq:workers"]), 0);
}

#[test]
fn a_second_ctrl_c_stops_a_worker_at_once() {
    let Some(redis) = Redis::start("jq_second_ctrl_c") else {
        return;
    };
    let (mut worker, _) = start_worker(&redis, "1");
    // With the broker stopped, nothing in hand can finish: only a cold shutdown ends the worker.
    redis.signal("-STOP");
    worker.interrupt();
    worker.wait_for_line("Ctrl-C again to stop now", Duration::from_secs(30));
    worker.interrupt();
    let (status, _) = worker.wait_exit(Duration::from_secs(30));
    redis.signal("-CONT");
    assert_eq!(status.code(), Some(130), "{status}");
}

#[test]
fn workers_ride_out_a_stopped_broker_and_a_restarted_one() {
    let Some(mut redis) = Redis::start("jq_stopped_broker") else {
        return;
    };
    let mut client = redis.client();
    let (mut first, _) = start_worker(&redis, "4");
    let (mut second, _) = start_worker(&redis, "4");

    // Stopped (SIGSTOP) for two seconds in the middle of a batch: everything waits, then goes on.
    let (submit, batch) = start_submit(&redis, &["--jobs", "2000", "--task", "flaky"]);
    wait_for_results(&mut client, &batch, 300);
    redis.signal("-STOP");
    std::thread::sleep(Duration::from_secs(2));
    redis.signal("-CONT");
    let (status, stdout) = submit.wait_exit(Duration::from_secs(300));
    assert!(status.success(), "{stdout}");
    let numbers = example_support::summary(&stdout, "jobs: ");
    assert_eq!(numbers["succeeded"], 2000, "{stdout}");
    assert_eq!(numbers["retries"], 2000, "{stdout}"); // each flaky job fails once
    assert_eq!(numbers["missing"], 0, "{stdout}");

    // Killed and restarted two seconds later, empty: the workers reconnect and carry on.
    drop(client);
    redis.kill_and_restart(Duration::from_secs(2));
    for worker in [&mut first, &mut second] {
        worker.wait_for_line("reconnected to the broker", Duration::from_secs(30));
    }
    let (submit, _) = start_submit(&redis, &["--jobs", "200", "--task", "add"]);
    let (status, stdout) = submit.wait_exit(Duration::from_secs(120));
    assert!(status.success(), "{stdout}");
    let numbers = example_support::summary(&stdout, "jobs: ");
    assert_eq!(numbers["succeeded"], 200, "{stdout}");
    stop_worker(first);
    stop_worker(second);
}

#[test]
fn bad_messages_are_reported_and_never_stall_a_worker() {
    let Some(redis) = Redis::start("jq_bad_messages") else {
        return;
    };
    let mut client = redis.client();
    let unknown = r#"{"id":"t:0","batch":"t","task":"nosuch","args":[],"retries":0}"#;
    let short = r#"{"id":"t:1","batch":"t","task":"add","args":[1],"retries":0}"#;
    let good = r#"{"id":"t:2","batch":"t","task":"add","args":[2,3],"retries":0}"#;
    client.call(&["LPUSH", "jq:queue", "not json", unknown, short, good]);

    let (mut worker, _) = start_worker(&redis, "1");
    worker.wait_for_line("invalid message: not JSON", Duration::from_secs(30));
    assert!(wait_for_key(&mut client, "jq:result:t:0").contains(r#"unknown task \"nosuch\""#));
    let short_result = wait_for_key(&mut client, "jq:result:t:1");
    assert!(
        short_result.contains("invalid message: add takes 2 argument(s), not 1"),
        "{short_result}"
    );
    assert!(wait_for_key(&mut client, "jq:result:t:2").contains(r#""ok":5"#));
    // The dead-letter record keeps the message's bytes, in hex.
    let record = client.text(&["LINDEX", "jq:dead", "0"]).unwrap();
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["raw_hex"], "6e6f74206a736f6e", "{record}"); // "not json"
    assert!(
        record["reason"].as_str().unwrap().contains("not JSON"),
        "{record}"
    );
    let stdout = stop_worker(worker);
    assert!(stdout.contains("failed: 2"), "{stdout}");
}

#[test]
fn broker_arguments_and_an_unreachable_broker_are_clear_errors() {
    let usage: [(&[&str], &str); 5] = [
        (
            &["worker", "--broker", "http://x:1"],
            "it must start with redis://",
        ),
        (
            &["worker", "--broker", "redis://h:99999"],
            "the port must be a number",
        ),
        (&["worker"], "worker needs --broker redis://HOST:PORT"),
        (
            &["submit", "--broker", "redis://h:1", "--task", "nosuch"],
            "unknown task name",
        ),
        (
            &["worker", "--broker", "redis://h:1", "--jobs", "3"],
            "unexpected argument \"--jobs\"",
        ),
    ];
    for (args, message) in usage {
        let output = example_support::run("job_queue", args, Duration::from_secs(30));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: job_queue"), "{args:?}: {stderr}");
    }

    // Nothing listens on the local port of a connection we hold open, and, while we hold it,
    // nobody can start listening there (a port handed out and taken back could be taken).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let held = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}");
    let output = example_support::run(
        "job_queue",
        &["submit", "--broker", &url],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is unreachable"), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach the broker at {url}/0")),
        "{stderr}"
    );
    assert!(stderr.contains("attempts in"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_job_left_on_a_slots_list_by_a_broken_connection_is_done_after_reconnecting() {
    let Some(redis) = Redis::start("jq_left_on_list") else {
        return;
    };
    let mut client = redis.client();
    let (mut worker, id) = start_worker(&redis, "1");
    // As if the broker had moved a message for slot 0 and the reply had been lost with the
    // connection: the worker is alive, so no reaper will take it; the slot must.
    let own = format!("jq:processing:{id}:0");
    let job = r#"{"id":"r:0","batch":"r","task":"add","args":[20,22],"retries":0}"#;
    client.call(&["LPUSH", &own, job]);
    let killed = client.int(&["CLIENT", "KILL", "TYPE", "normal"]);
    assert!(killed > 0, "the worker had no connection to kill");
    worker.wait_for_line("reconnected to the broker", Duration::from_secs(30));
    let result = wait_for_key(&mut client, "jq:result:r:0");
    assert!(result.contains(r#""ok":42"#), "{result}");
    assert_eq!(client.int(&["LLEN", &own]), 0);
    stop_worker(worker);
}

#[test]
fn submit_with_no_worker_gives_up_at_its_timeout() {
    let Some(redis) = Redis::start("jq_no_worker") else {
        return;
    };
    let url = redis.url();
    let args = ["submit", "--broker", &url, "--jobs", "5", "--timeout", "1"];
    let output = example_support::run("job_queue", &args, Duration::from_secs(60));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("gave up waiting: 0 of 5 jobs reported"),
        "{stderr}"
    );
    // The jobs stay queued for a worker that comes later.
    assert_eq!(redis.client().int(&["LLEN", "jq:queue"]), 5);
}

#[test]
fn add_that_overflows_is_a_failed_result_not_a_wrapped_sum() {
    let Some(redis) = Redis::start("jq_overflow") else {
        return;
    };
    let mut client = redis.client();
    let (worker, _) = start_worker(&redis, "1");
    let max = u64::MAX.to_string();
    let overflow =
        format!(r#"{{"id":"o:0","batch":"o","task":"add","args":[{max},1],"retries":0}}"#);
    let fits = format!(r#"{{"id":"o:1","batch":"o","task":"add","args":[{max},0],"retries":0}}"#);
    client.call(&["LPUSH", "jq:queue", &overflow, &fits]);
    let result = wait_for_key(&mut client, "jq:result:o:0");
    assert!(
        result.contains("overflow: 18446744073709551615 + 1 does not fit in 64 bits"),
        "{result}"
    );
    assert!(!result.contains(r#""ok""#), "{result}");
    let result = wait_for_key(&mut client, "jq:result:o:1");
    assert!(result.contains(&format!(r#""ok":{max}"#)), "{result}");
    stop_worker(worker);
}

/// A job id names one call. The first result stands; the same call again (a rerun) is a
/// duplicate; another call under the same id is set aside as a conflict, not run into a
/// result nobody can tell from the first.
#[test]
fn a_job_id_sent_again_with_other_arguments_is_set_aside_as_a_conflict() {
    let Some(redis) = Redis::start("jq_same_id") else {
        return;
    };
    let mut client = redis.client();
    let (worker, _) = start_worker(&redis, "1");
    let message = |args: &str| {
        format!(r#"{{"id":"d:0","batch":"d","task":"add","args":{args},"retries":0}}"#)
    };
    client.call(&["LPUSH", "jq:queue", &message("[1,2]")]);
    assert!(wait_for_key(&mut client, "jq:result:d:0").contains(r#""ok":3"#));
    client.call(&["LPUSH", "jq:queue", &message("[3,4]"), &message("[1,2]")]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.int(&["LLEN", "jq:done:d"]) < 2 || client.int(&["LLEN", "jq:dead"]) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "not both handled in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = client.text(&["GET", "jq:result:d:0"]).unwrap();
    assert!(
        result.contains(r#""ok":3"#),
        "the first result stands: {result}"
    );
    let record = client.text(&["LINDEX", "jq:dead", "0"]).unwrap();
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    let reason = record["reason"].as_str().unwrap();
    assert!(
        reason.contains("conflict") && reason.contains("add[3,4]"),
        "{record}"
    );
    let said = stop_worker(worker);
    let counts = support::worker_counts(&said);
    assert_eq!(
        (
            counts["processed"],
            counts["duplicates"],
            counts["conflicts"],
            counts["dead"]
        ),
        (2, 1, 1, 1),
        "{said}"
    );
}
