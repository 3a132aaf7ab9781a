//! The fault matrix of `examples/job_queue` on Redis: the real binaries against real faults.
//!
//! Workers killed with SIGKILL at seeded points; the broker stopped (SIGSTOP), killed and
//! restarted with and without AOF, answering `LOADING`, `BUSY` and `TRYAGAIN`; fake brokers
//! that never answer, answer garbage, nest replies deeply or send huge ones; poison messages of
//! every shape; the broker's disk full (a tmpfs) or its memory (`maxmemory`, `OOM`) with a
//! dead worker's jobs to reap; stdout and stderr closed, `/dev/full` and
//! full pipes nobody reads, at every exit path. The example's header lists each guarantee and
//! the test here that proves it.
//!
//! Tests that pick random points print their seed; replay one with
//! `JQ_SEED=N cargo test --test fault_job_queue NAME`. Each test starts its own
//! `redis-server` (skipped with a message where it is not installed; the full disk needs root
//! to mount its tmpfs, and is skipped with a message otherwise).
mod example_support;
#[path = "fault_job_queue/support.rs"]
mod support;

use std::net::TcpStream;
use std::process::ExitStatus;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use example_support::Running;
use redis_protocol::resp2::types::OwnedFrame as Frame;
use serde_json::Value;
use support::{
    Client, FakeBroker, Persistence, Redis, Rng, Sink, error_then_proxy, read_command, seed,
    start_submit, start_sunk, start_worker, stop_worker, wait_for_key, write_counted,
};

#[path = "../examples/job_queue/message.rs"]
#[allow(dead_code)]
mod message;

/// How long a process that should end may take to, on this loaded machine.
const EXIT_BOUND: Duration = Duration::from_secs(15);

fn job(id: &str, task: &str, args: &str) -> String {
    format!(r#"{{"id":"{id}","batch":"t","task":"{task}","args":{args},"retries":0}}"#)
}

/// Waits until `key`'s list holds at least `n` items; returns its length.
fn wait_for_len(client: &mut Client, key: &str, n: i64, within: Duration) -> i64 {
    let deadline = Instant::now() + within;
    loop {
        let len = client.int(&["LLEN", key]);
        if len >= n {
            return len;
        }
        assert!(
            Instant::now() < deadline,
            "{key} holds {len}, not {n}, in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The dead-letter records on `jq:dead`, parsed.
fn dead_records(client: &mut Client) -> Vec<Value> {
    let records = client.list("jq:dead");
    records
        .iter()
        .map(|r| serde_json::from_str(r).unwrap_or_else(|e| panic!("{r}: {e}")))
        .collect()
}

fn assert_not_killed(status: ExitStatus, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.signal().is_none(),
        "{what}: killed by a signal: {status}"
    );
    assert_ne!(status.code(), Some(101), "{what}: panicked");
}

// ---- The harness itself. ----

/// Why `a_second_ctrl_c_stops_a_worker_at_once` once failed in a full run with its own Redis
/// client erroring on a read: the test's port came from a listener bound to port 0 and
/// closed, and another process can take a port in the moment before redis-server binds it.
/// Then redis-server exits (address in use), and the client talks to the stranger instead: a
/// probe listener that resets the connection, or a server that never answers (EAGAIN after
/// the 10 s read timeout). The harness now checks that the server on the port is its own
/// redis-server (`process_id`), and moves to another port if its server could not bind.
#[test]
fn the_tests_redis_is_their_own_even_when_a_stranger_takes_its_port() {
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stranger.local_addr().unwrap().port();
    // Accepts and never answers, like a stopped server; resets each connection when dropped.
    let held = std::thread::spawn(move || {
        stranger.set_nonblocking(true).unwrap();
        let mut held = Vec::new();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok((c, _)) = stranger.accept() {
                held.push(c);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let started = Instant::now();
    let Some(redis) = Redis::start_trying("jq_fault_stranger", port) else {
        return;
    };
    assert_ne!(redis.port, port, "the stranger keeps its port");
    assert_eq!(
        redis.client().call(&["PING"]),
        Frame::SimpleString(b"PONG".to_vec())
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(held);
}

// ---- Poison messages (issue 24, defect 1). ----

#[test]
fn poison_messages_of_every_shape_are_set_aside_with_their_bytes() {
    let Some(redis) = Redis::start("jq_fault_poison") else {
        return;
    };
    let mut client = redis.client();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let long_id = "i".repeat(201);
    let too_many = format!("[{}]", vec!["1"; 17].join(","));
    let poison: Vec<Vec<u8>> = [
        &b"\xff\xfe"[..],
        b"",
        b"not json",
        b"[]",
        b"\"a string\"",
        b"{\"id\":\"p:0\"}",
        job("p:1", "add", "[\"1\",\"2\"]").as_bytes(),
        job("p:2", "add", "[-1,2]").as_bytes(),
        job("p:3", "add", "[1.5,2]").as_bytes(),
        job("p:4", "add", &too_many).as_bytes(),
        br#"{"id":"p:5","batch":"t","task":"add","args":[1,2],"retries":-1}"#,
        br#"{"id":"p:6","batch":"t","task":"add","args":[1,2],"retries":4294967296}"#,
        job("", "add", "[1,2]").as_bytes(),
        job("p:\\u0007", "add", "[1,2]").as_bytes(),
        job(&long_id, "add", "[1,2]").as_bytes(),
        deep.as_bytes(),
        b"{\"id\":\"p:7\",\0}",
    ]
    .iter()
    .map(|p| p.to_vec())
    .collect();
    // Over the 1 MiB cap: never read, moved as it is.
    let oversize = vec![b'z'; 2 * 1024 * 1024 + 7];
    let (first, _) = start_worker(&redis, "2");
    let (second, _) = start_worker(&redis, "2");
    for p in &poison {
        client.call_bytes(&[b"LPUSH", b"jq:queue", p]);
    }
    client.call_bytes(&[b"LPUSH", b"jq:queue", &oversize]);
    let good = job("p:ok", "add", "[20,22]");
    client.call(&["LPUSH", "jq:queue", &good]);

    assert!(wait_for_key(&mut client, "jq:result:p:ok").contains(r#""ok":42"#));
    let total = poison.len() as i64 + 1;
    wait_for_len(&mut client, "jq:dead", total, Duration::from_secs(60));
    let records = dead_records(&mut client);
    assert_eq!(records.len() as i64, total);
    // Each message's bytes, back from its record's hex: exactly the poison pushed.
    let mut kept: Vec<Vec<u8>> = records
        .iter()
        .filter_map(|r| r["raw_hex"].as_str())
        .map(|hex| message::unhex(hex).expect("raw_hex is hex"))
        .collect();
    kept.sort();
    let mut expected = poison.clone();
    expected.sort();
    assert_eq!(
        kept, expected,
        "the records keep every poison message's bytes"
    );
    for r in &records {
        let reason = r["reason"].as_str().unwrap();
        assert!(r["worker"].as_str().is_some() && !reason.is_empty(), "{r}");
    }
    let oversized: Vec<&Value> = records
        .iter()
        .filter(|r| r["kept_on"].is_string())
        .collect();
    assert_eq!(oversized.len(), 1, "{records:?}");
    assert_eq!(oversized[0]["bytes"], oversize.len());
    match client.call(&["LINDEX", "jq:dead:oversize", "0"]) {
        Frame::BulkString(bytes) => assert!(bytes == oversize, "the big one is kept as it was"),
        other => panic!("jq:dead:oversize holds {other:?}"),
    }
    assert_eq!(client.int(&["LLEN", "jq:queue"]), 0);
    // Both workers are alive and stop cleanly; between them they set every message aside.
    let said = [stop_worker(first), stop_worker(second)];
    let told = said
        .iter()
        .any(|s| s.contains("set aside unread on jq:dead:oversize"));
    assert!(told, "{said:?}");
    let dead: u64 = said.iter().map(|s| support::worker_counts(s)["dead"]).sum();
    assert_eq!(dead as i64, total, "{said:?}");
    assert_eq!(client.count_keys("jq:processing:*"), 0);
}

#[test]
fn a_poison_message_left_by_a_dead_worker_is_reaped_then_set_aside_and_the_reaper_lives() {
    let Some(redis) = Redis::start("jq_fault_reaped_poison") else {
        return;
    };
    let mut client = redis.client();
    // A dead worker (registered, no heartbeat) with poison in hand, and garbage in the
    // registry: a name that is not UTF-8, a slot count that is not a number.
    client.call(&["HSET", "jq:workers", "ghost", "1"]);
    client.call_bytes(&[b"LPUSH", b"jq:processing:ghost:0", b"\xff\xfe"]);
    client.call_bytes(&[b"HSET", b"jq:workers", b"\xc3\x28", b"2"]);
    client.call(&["HSET", "jq:workers", "nonsense", "many"]);
    // A dead worker whose processing "list" is not a list: passed over, and forgotten.
    client.call(&["HSET", "jq:workers", "ghost3", "1"]);
    client.call(&["SET", "jq:processing:ghost3:0", "not a list"]);
    let (mut worker, _) = start_worker(&redis, "1");
    worker.wait_for_line(
        "worker ghost missed its heartbeat: reaped 1 job(s)",
        EXIT_BOUND,
    );
    wait_for_len(&mut client, "jq:dead", 1, Duration::from_secs(30));
    let record = &dead_records(&mut client)[0];
    assert_eq!(record["raw_hex"], "fffe", "{record}");
    // The garbage entries were forgotten, and the reaper goes on reaping.
    client.call(&["HSET", "jq:workers", "ghost2", "1"]);
    client.call(&[
        "LPUSH",
        "jq:processing:ghost2:0",
        &job("g:0", "add", "[1,1]"),
    ]);
    assert!(wait_for_key(&mut client, "jq:result:g:0").contains(r#""ok":2"#));
    // The dead are forgotten some seconds after their first reap (`scripts::FORGET_AFTER`),
    // the garbage entries at once: only the live worker is left registered.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while client.int(&["HLEN", "jq:workers"]) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the dead were never forgotten"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let said = stop_worker(worker);
    assert_eq!(support::worker_counts(&said)["reaped"], 2, "{said}");
    assert_eq!(client.int(&["HLEN", "jq:workers"]), 0);
    assert_eq!(client.int(&["HLEN", "jq:reaped"]), 0);
}

/// A worker's pop that lands on its list after a reaper found it dead (it was stalled, or
/// killed with the pop on its way) is not stranded: the worker stays registered for a few
/// seconds after its first reap, and the next rounds move the late message back. Before, the
/// first reap forgot the worker at once, and a message put on its list after that was never
/// looked at again (found in a hostile review).
#[test]
fn a_message_that_lands_on_a_reaped_workers_list_is_reaped_too() {
    let Some(redis) = Redis::start("jq_fault_late_pop") else {
        return;
    };
    let mut client = redis.client();
    // A dead worker: registered, no heartbeat, nothing in hand yet.
    client.call(&["HSET", "jq:workers", "stalled", "1"]);
    let (worker, _) = start_worker(&redis, "1");
    let mut worker = worker;
    worker.wait_for_line(
        "worker stalled missed its heartbeat: reaped 0 job(s)",
        EXIT_BOUND,
    );
    // The pop it had sent lands now, after its first reap.
    client.call(&[
        "LPUSH",
        "jq:processing:stalled:0",
        &job("late:0", "add", "[2,3]"),
    ]);
    assert!(wait_for_key(&mut client, "jq:result:late:0").contains(r#""ok":5"#));
    let said = stop_worker(worker);
    assert_eq!(support::worker_counts(&said)["reaped"], 1, "{said}");
}

// ---- Brokers that break the protocol (defect 2) or never answer (defect 3). ----

/// A fake broker that answers the first command with `reply` (`repeat` times over, then
/// `tail`), and then waits for the client to leave.
fn answering(reply: &'static [u8], repeat: usize, tail: &'static [u8]) -> FakeBroker {
    FakeBroker::start(move |mut stream: TcpStream, written: &AtomicU64| {
        let mut input = Vec::new();
        if read_command(&mut stream, &mut input).is_none() {
            return;
        }
        let mut body = Vec::with_capacity(reply.len() * repeat.min(1 << 20));
        for _ in 0..repeat {
            body.extend_from_slice(reply);
            if body.len() >= 1 << 20 {
                if !write_counted(&mut stream, &body, written) {
                    return;
                }
                body.clear();
            }
        }
        body.extend_from_slice(tail);
        if write_counted(&mut stream, &body, written) {
            let _ = read_command(&mut stream, &mut input); // until the client hangs up
        }
    })
}

#[test]
fn brokers_that_break_the_protocol_or_the_caps_are_errors_naming_them() {
    let cases: Vec<(&str, FakeBroker, &str)> = vec![
        (
            "300,000 nested arrays",
            answering(b"*1\r\n", 300_000, b":1\r\n"),
            "a reply nested deeper than 8 arrays",
        ),
        (
            "a 400 MiB bulk string",
            answering(b"$419430400\r\n", 1, &[b'x'; 64 * 1024]),
            "a bulk string of 419430400 bytes, over the cap",
        ),
        (
            "an array of 2^31 elements",
            answering(b"*2147483648\r\n", 1, b""),
            "an array of 2147483648 elements, over the cap",
        ),
        (
            "a line with no end",
            answering(&[b'+'; 1 << 20], 100, b""),
            "a line of",
        ),
        (
            "HTTP",
            answering(b"HTTP/1.1 400 Bad Request\r\n\r\n", 1, b""),
            "a reply that is not RESP2",
        ),
    ];
    let mut runs = Vec::new();
    for (what, broker, message) in &cases {
        for mode in ["worker", "submit"] {
            let url = broker.url();
            let (what, message) = (what.to_string(), message.to_string());
            runs.push(std::thread::spawn(move || {
                let output =
                    example_support::run("job_queue", &[mode, "--broker", &url], EXIT_BOUND);
                let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
                let case = format!("{mode} against {what}");
                assert_not_killed(output.status, &case);
                assert_eq!(output.status.code(), Some(1), "{case}: {stderr}");
                assert!(stderr.contains(&message), "{case}: {stderr}");
                assert!(
                    stderr.contains(&format!("the broker at {url}/0")),
                    "{case}: {stderr}"
                );
            }));
        }
    }
    for run in runs {
        run.join().unwrap();
    }
    // Memory stayed bounded: the clients stopped reading long before the 400 MiB, or the
    // 100 MiB line, were sent (what went out is at most the cap plus the socket buffers).
    for (what, broker, _) in &cases {
        assert!(
            broker.written() < 48 << 20,
            "{what}: {} bytes sent",
            broker.written()
        );
    }
}

#[test]
fn submit_keeps_its_timeout_against_a_broker_that_never_answers_or_is_stopped() {
    let silent = FakeBroker::start(|mut stream, _| {
        let mut input = Vec::new();
        while read_command(&mut stream, &mut input).is_some() {} // reads, never answers
    });
    let Some(redis) = Redis::start("jq_fault_stalled") else {
        return;
    };
    let url = redis.url();
    let submit = |url: &str| {
        let args = ["submit", "--broker", url, "--jobs", "20", "--timeout", "3"];
        example_support::start_with_stderr("job_queue", &args)
    };
    // Queued, waiting for a worker, when the broker stops; and started once it is stopped.
    let mut waiting = submit(&url);
    waiting.wait_for_line("submitted", EXIT_BOUND);
    let started = Instant::now();
    redis.signal("-STOP");
    let late = submit(&url);
    let never = submit(&silent.url());
    let mut outcomes = Vec::new();
    for (what, running) in [("waiting", waiting), ("late", late), ("never", never)] {
        let (status, output) = running.wait_exit(EXIT_BOUND);
        outcomes.push((what, status, output));
    }
    let took = started.elapsed();
    redis.signal("-CONT");
    for (what, status, output) in outcomes {
        assert_not_killed(status, what);
        assert_eq!(status.code(), Some(1), "{what}: {output}");
        assert!(output.contains("job_queue: "), "{what}: {output}");
    }
    // Each was given 3 s; none ran on much beyond (the bound allows for a loaded machine).
    assert!(
        took < Duration::from_secs(10),
        "the submitters took {took:?}"
    );
}

#[test]
fn a_worker_gives_up_on_a_broker_that_never_answers_at_start_after_its_patience() {
    let silent = FakeBroker::start(|mut stream, _| {
        let mut input = Vec::new();
        while read_command(&mut stream, &mut input).is_some() {}
    });
    let url = silent.url();
    let output = example_support::run(
        "job_queue",
        &["worker", "--broker", &url],
        Duration::from_secs(40),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach the broker at {url}/0")),
        "{stderr}"
    );
    assert!(stderr.contains("did not answer in time"), "{stderr}");
}

// ---- Outages: a broker stopped, loading, busy, killed and restarted (defects 3, 4). ----

#[test]
fn loading_busy_and_tryagain_are_outages_that_workers_and_submit_wait_out() {
    let Some(redis) = Redis::start("jq_fault_loading") else {
        return;
    };
    let errors = [
        "LOADING Redis is loading the dataset in memory",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        "TRYAGAIN Multiple keys request during rehashing of slot",
    ];
    let mut workers = Vec::new();
    let mut submits = Vec::new();
    for error in errors {
        let proxy = error_then_proxy(error, Duration::from_secs(2), redis.port);
        let url = proxy.url();
        let worker = example_support::start_with_stderr(
            "job_queue",
            &["worker", "--broker", &url, "--concurrency", "2"],
        );
        let args = [
            "submit",
            "--broker",
            &url,
            "--jobs",
            "50",
            "--task",
            "add",
            "--timeout",
            "60",
        ];
        submits.push((
            error,
            example_support::start_with_stderr("job_queue", &args),
        ));
        workers.push((proxy, worker));
    }
    for (error, submit) in submits {
        let (status, output) = submit.wait_exit(Duration::from_secs(90));
        assert!(status.success(), "{error}: {output}");
        assert!(
            output.contains("is unreachable"),
            "{error}: the outage was told: {output}"
        );
        let numbers = example_support::summary(&output, "jobs: ");
        assert_eq!(numbers["succeeded"], 50, "{error}: {output}");
    }
    for (_proxy, worker) in workers {
        let said = stop_worker(worker);
        assert!(said.contains("reconnected to the broker"), "{said}");
    }
}

/// The issue's reproduction, scaled to a debug build: AOF on and fsynced, 2 workers, a batch;
/// SIGKILL the broker at a seeded point, restart it 1.5 s later. Every job ends with one
/// result; nothing is left queued or in a dead worker's hands.
#[test]
fn a_broker_killed_and_restarted_with_aof_loses_no_job_and_kills_no_worker() {
    let seed = seed("a_broker_killed_and_restarted_with_aof_loses_no_job_and_kills_no_worker");
    let mut rng = Rng(seed);
    let Some(mut redis) = Redis::start_with_aof("jq_fault_aof_restart") else {
        return;
    };
    // Half a million keys besides the jobs, so that the restarted server spends a while
    // loading them (about half a second here), answering -LOADING meanwhile: a worker or the
    // submitter that reconnects then must wait, not die.
    let mut client = redis.client();
    let pad = "for i = 1, 500000 do redis.call('SET', 'pad:' .. i, 'padding padding padding') end";
    client.call(&["EVAL", pad, "0"]);
    client.call(&["BGREWRITEAOF"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client
        .text(&["INFO", "persistence"])
        .unwrap()
        .contains("aof_rewrite_in_progress:0")
    {
        assert!(Instant::now() < deadline, "the AOF rewrite did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    let jobs = 4000;
    let url = redis.url();
    let workers = [(); 2].map(|()| {
        let args = ["worker", "--broker", &url, "--concurrency", "8"];
        let mut worker = example_support::start_with_stderr("job_queue", &args);
        worker.wait_for_line("ready", Duration::from_secs(30));
        worker
    });
    let args = [
        "submit",
        "--broker",
        &url,
        "--jobs",
        "4000",
        "--task",
        "add",
        "--timeout",
        "240",
    ];
    let mut submit = example_support::start_with_stderr("job_queue", &args);
    submit.wait_for_line("submitted", Duration::from_secs(60));
    std::thread::sleep(rng.between(Duration::from_millis(200), Duration::from_millis(2000)));
    redis.kill();
    std::thread::sleep(Duration::from_millis(1500));
    redis.restart();
    let (status, output) = submit.wait_exit(Duration::from_secs(240));
    assert!(status.success(), "seed {seed}: {output}");
    let numbers = example_support::summary(&output, "jobs: ");
    assert_eq!(numbers["succeeded"], jobs, "seed {seed}: {output}");
    assert_eq!(numbers["missing"], 0, "seed {seed}: {output}");
    let mut client = redis.client();
    assert_eq!(client.int(&["LLEN", "jq:queue"]), 0, "seed {seed}");
    for worker in workers {
        let said = stop_worker(worker); // alive, and leaves cleanly
        // One outage, told once, and its end once: a reply to a command sent before the
        // broker died does not end it.
        let told = |what: &str| said.matches(what).count();
        assert_eq!(told("is unreachable"), 1, "seed {seed}: {said}");
        assert_eq!(told("reconnected to the broker"), 1, "seed {seed}: {said}");
    }
    assert_eq!(client.count_keys("jq:processing:*"), 0, "seed {seed}");
}

#[test]
fn workers_wait_out_a_broker_stopped_longer_than_their_command_timeout() {
    let Some(redis) = Redis::start("jq_fault_long_stop") else {
        return;
    };
    let mut client = redis.client();
    let workers = [start_worker(&redis, "4").0, start_worker(&redis, "4").0];
    let (submit, batch) = start_submit(&redis, &["--jobs", "1500", "--task", "flaky"]);
    support::wait_for_results(&mut client, &batch, 200);
    // Longer than a command may go unanswered (5 s): connections are dropped and commands
    // sent again, on new ones, while the old ones still wait in the stopped server.
    redis.signal("-STOP");
    std::thread::sleep(Duration::from_secs(7));
    redis.signal("-CONT");
    let (status, stdout) = submit.wait_exit(Duration::from_secs(240));
    assert!(status.success(), "{stdout}");
    let numbers = example_support::summary(&stdout, "jobs: ");
    assert_eq!(numbers["succeeded"], 1500, "{stdout}");
    assert_eq!(numbers["retries"], 1500, "{stdout}"); // each flaky job fails once, no more
    assert_eq!(numbers["missing"], 0, "{stdout}");
    for worker in workers {
        stop_worker(worker);
    }
    assert_eq!(client.count_keys("jq:processing:*"), 0);
    assert_eq!(client.int(&["LLEN", "jq:queue"]), 0);
}

/// The broker's disk fills up: with `appendfsync everysec` it refuses writes (`MISCONF`)
/// until it can write its AOF again. Workers and submit wait, and go on once there is room.
/// (With `always`, Redis exits on a failed AOF write: that is a broker killed, above.)
#[test]
fn a_broker_whose_disk_is_full_is_an_outage_waited_out() {
    let test = "jq_fault_full_disk";
    let Some(disk) = support::Tmpfs::mount(test, 8 << 20) else {
        return;
    };
    let Some(redis) = Redis::start_in(test, &disk.path, Persistence::AofEverySec) else {
        return;
    };
    let url = redis.url();
    let mut worker = example_support::start_with_stderr("job_queue", &["worker", "--broker", &url]);
    worker.wait_for_line("ready", EXIT_BOUND);
    let filler = disk.fill(16 * 1024);
    let args = [
        "submit",
        "--broker",
        &url,
        "--jobs",
        "2000",
        "--task",
        "add",
        "--timeout",
        "120",
    ];
    let submit = example_support::start_with_stderr("job_queue", &args);
    worker.wait_for_line("MISCONF", Duration::from_secs(60));
    std::fs::remove_file(filler).unwrap(); // room again
    let (status, output) = submit.wait_exit(Duration::from_secs(150));
    assert!(status.success(), "{output}");
    let numbers = example_support::summary(&output, "jobs: ");
    assert_eq!(numbers["succeeded"], 2000, "{output}");
    assert_eq!(numbers["missing"], 0, "{output}");
    stop_worker(worker);
}

/// How many times the broker has been sent a script (`EVAL`, `EVALSHA`), answered or not.
fn scripts_sent(client: &mut Client) -> u64 {
    let info = client.text(&["INFO", "commandstats"]).unwrap_or_default();
    let sent = |line: &str| -> u64 {
        let fields = line.split_once(':').map_or("", |(_, f)| f);
        let count = |name: &str| -> u64 {
            let field = fields.split(',').find_map(|f| f.strip_prefix(name));
            field.and_then(|n| n.parse().ok()).unwrap_or(0)
        };
        count("calls=") + count("rejected_calls=") + count("failed_calls=")
    };
    let scripts = info
        .lines()
        .filter(|l| l.starts_with("cmdstat_eval:") || l.starts_with("cmdstat_evalsha:"));
    scripts.map(sent).sum()
}

#[test]
fn a_dead_workers_jobs_are_reaped_once_a_broker_out_of_memory_takes_writes_again() {
    let Some(redis) = Redis::start("jq_fault_oom_reap") else {
        return;
    };
    let mut client = redis.client();
    let (worker, _) = start_worker(&redis, "1");
    // A worker with a job in hand, alive for one more second, then dead.
    client.call(&["HSET", "jq:workers", "ghost", "1"]);
    client.call(&[
        "LPUSH",
        "jq:processing:ghost:0",
        &job("oom:0", "add", "[2,3]"),
    ]);
    client.call(&["SET", "jq:alive:ghost", "1", "PX", "1000"]);
    // The broker reaches `maxmemory`: writes that take memory are refused (`OOM`).
    client.call(&["CONFIG", "SET", "maxmemory", "1"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.int(&["EXISTS", "jq:alive:ghost"]) == 1 {
        assert!(Instant::now() < deadline, "the heartbeat did not expire");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The reaper meets the dead worker while the broker is out of memory...
    let before = scripts_sent(&mut client);
    while scripts_sent(&mut client) == before {
        assert!(Instant::now() < deadline, "no reaper came");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...and once there is memory again, the job is done. Before, the reaper's script could
    // not move the job (`LMOVE` refused), and forgot the worker all the same (`HDEL` needs
    // no memory): the job stayed on the dead worker's list for ever.
    client.call(&["CONFIG", "SET", "maxmemory", "0"]);
    assert!(wait_for_key(&mut client, "jq:result:oom:0").contains(r#""ok":5"#));
    assert_eq!(client.count_keys("jq:processing:ghost:*"), 0);
    stop_worker(worker);
}

/// Runs `submit` of `jobs` `add` jobs on `url` (60 s at most), and checks that all succeed.
fn submit_adds(url: &str, jobs: u64) {
    let count = jobs.to_string();
    let args = [
        "submit",
        "--broker",
        url,
        "--jobs",
        &count,
        "--task",
        "add",
        "--timeout",
        "60",
    ];
    let output = example_support::run("job_queue", &args, Duration::from_secs(70));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(
        example_support::summary(&stdout, "jobs: ")["succeeded"],
        jobs
    );
}

#[test]
fn a_broker_with_a_password_is_used_with_it_and_refuses_a_wrong_one_clearly() {
    let Some(redis) = Redis::start("jq_fault_requirepass") else {
        return;
    };
    // This connection stays logged in; every new one must log in.
    redis
        .client()
        .call(&["CONFIG", "SET", "requirepass", "s3cr@t"]);
    let bare = redis.url();
    let with = |password: &str| bare.replacen("redis://", &format!("redis://:{password}@"), 1);
    for (url, said) in [(bare.clone(), "NOAUTH"), (with("wrong"), "WRONGPASS")] {
        let args = ["submit", "--broker", &url, "--jobs", "1", "--timeout", "20"];
        let output = example_support::run("job_queue", &args, EXIT_BOUND);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{url}: {stderr}");
        assert!(stderr.contains(said), "{url}: {stderr}");
        assert!(
            !stderr.contains("s3cr") && !stderr.contains("wrong@"),
            "{stderr}"
        );
    }
    // Before, a URL with a password was refused (exit 2): such a broker could not be used.
    let url = with("s3cr%40t"); // `@` escaped
    let (worker, _) = support::start_worker_at(&url, "2");
    submit_adds(&url, 20);
    assert!(!stop_worker(worker).contains("s3cr"));
}

/// Starts a worker with `--concurrency 100` under a shell's `ulimit` (`-n 64`, `-Sn 64`).
fn worker_with_ulimit(url: &str, ulimit: &str) -> std::process::Child {
    let program = example_support::example_path("job_queue");
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
        .arg(program)
        .args(["worker", "--broker", url, "--concurrency", "100"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_worker_short_of_file_descriptors_raises_its_limit_or_says_so_at_start() {
    use std::io::Read;
    let Some(redis) = Redis::start("jq_fault_ulimit") else {
        return;
    };
    let url = redis.url();
    // Before, it started, then went round in circles: a connection refused for want of a
    // descriptor was taken for a broker outage, which dropped every connection, and so on;
    // none of 200 jobs was done in 30 s.
    let mut refused = worker_with_ulimit(&url, "-n 64");
    let status = example_support::faults::wait_bounded(&mut refused, EXIT_BOUND);
    let mut stderr = String::new();
    refused
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
    assert!(stderr.contains("ulimit -n"), "{stderr}");
    // Only the soft limit low: the worker raises it, and does the jobs.
    let mut worker = worker_with_ulimit(&url, "-Sn 64");
    submit_adds(&url, 200);
    example_support::faults::kill9(&mut worker);
}

// ---- Workers killed at seeded points: nothing lost, one result per job. ----

#[test]
fn workers_killed_at_seeded_points_lose_nothing_and_store_one_result_per_job() {
    let seed = seed("workers_killed_at_seeded_points_lose_nothing_and_store_one_result_per_job");
    let mut rng = Rng(seed);
    let Some(redis) = Redis::start("jq_fault_kills") else {
        return;
    };
    let mut client = redis.client();
    let jobs: u64 = 1500;
    let mut workers: Vec<Running> = (0..2).map(|_| start_worker(&redis, "4").0).collect();
    let (submit, batch) = start_submit(&redis, &["--jobs", "1500", "--task", "flaky"]);
    // Three kill points: as the first jobs are taken, in the middle, and near the end.
    for results in [1, jobs / 2, jobs * 9 / 10] {
        support::wait_for_results(&mut client, &batch, results as usize);
        std::thread::sleep(rng.between(Duration::ZERO, Duration::from_millis(300)));
        let victim = (rng.next() % workers.len() as u64) as usize;
        let mut killed = workers.swap_remove(victim);
        killed.child.kill().unwrap(); // SIGKILL: its jobs in hand stay on its lists
        killed.child.wait().unwrap();
        workers.push(start_worker(&redis, "4").0);
    }
    let (status, stdout) = submit.wait_exit(Duration::from_secs(240));
    assert!(status.success(), "seed {seed}: {stdout}");
    let numbers = example_support::summary(&stdout, "jobs: ");
    assert_eq!(numbers["succeeded"], jobs, "seed {seed}: {stdout}");
    assert_eq!(numbers["missing"], 0, "seed {seed}: {stdout}");
    // One result per job, each of the job's own call, after its one planned retry (a job
    // killed with its worker runs its attempt again, not counted as a retry).
    for i in 0..jobs {
        let key = format!("jq:result:{batch}:{i}");
        let text = client
            .text(&["GET", &key])
            .unwrap_or_else(|| panic!("seed {seed}: no {key}"));
        let result: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(result["ok"], 2, "seed {seed}: job {i}: {text}");
        assert_eq!(result["retries"], 1, "seed {seed}: job {i}: {text}");
    }
    for worker in workers {
        stop_worker(worker);
    }
    assert_eq!(client.int(&["LLEN", "jq:queue"]), 0, "seed {seed}");
    assert_eq!(client.count_keys("jq:processing:*"), 0, "seed {seed}");
    assert_eq!(
        client.count_keys(&format!("jq:result:{batch}:*")),
        jobs as usize
    );
}

// ---- stdout and stderr: closed, /dev/full, full and unread (defects 5, 6). ----

#[test]
fn ctrl_c_stops_a_worker_whose_stdout_is_a_full_pipe_nobody_reads() {
    let Some(redis) = Redis::start("jq_fault_unread_stdout") else {
        return;
    };
    let mut client = redis.client();
    let url = redis.url();
    let args = ["worker", "--broker", &url];
    for interrupts in [1, 2] {
        client.call(&["DEL", "jq:dead"]);
        let mut worker = start_sunk("job_queue", &args, Sink::FullPipe, Sink::Read);
        let deadline = Instant::now() + EXIT_BOUND;
        while client.int(&["HLEN", "jq:workers"]) == 0 {
            assert!(Instant::now() < deadline, "the worker did not register");
            std::thread::sleep(Duration::from_millis(20));
        }
        // 2,000 bad messages: a line each, on a stdout that takes none.
        let mut push = vec!["LPUSH", "jq:queue"];
        push.extend(std::iter::repeat_n("bad", 2000));
        client.call(&push);
        wait_for_len(&mut client, "jq:dead", 2000, Duration::from_secs(60));
        if interrupts == 2 {
            redis.signal("-STOP"); // nothing can finish: only the second Ctrl-C ends it
        }
        for _ in 0..interrupts {
            worker.interrupt();
            std::thread::sleep(Duration::from_millis(300));
        }
        let status = worker.wait_exit(EXIT_BOUND, "a worker after Ctrl-C");
        if interrupts == 2 {
            redis.signal("-CONT");
        }
        assert_not_killed(status, "the worker");
        let code = if interrupts == 1 { 0 } else { 130 };
        assert_eq!(status.code(), Some(code), "after {interrupts} Ctrl-C");
        client.call(&["DEL", "jq:workers"]);
    }
}

/// One way the program ends.
#[derive(Clone, Copy, Debug)]
enum ExitPath {
    Help,
    Usage,
    Demo,
    SubmitDone,
    SubmitGaveUp,
    BrokerGarbage,
    WorkerCtrlC,
}

#[test]
fn every_exit_path_survives_a_closed_full_or_unread_stdout_and_stderr() {
    let Some(redis) = Redis::start("jq_fault_sinks") else {
        return;
    };
    let (helper, _) = start_worker(&redis, "4"); // runs every SubmitDone batch
    let garbage = answering(b"HTTP/1.1 400 Bad Request\r\n\r\n", 1, b"");
    let garbage_url = garbage.url();
    let paths = [
        ExitPath::Help,
        ExitPath::Usage,
        ExitPath::Demo,
        ExitPath::SubmitDone,
        ExitPath::SubmitGaveUp,
        ExitPath::BrokerGarbage,
        ExitPath::WorkerCtrlC,
    ];
    let sinks = [Sink::Closed, Sink::DevFull, Sink::FullPipe];
    let mut cases = Vec::new();
    let mut next_db = 2; // a database of its own for each worker, to see it register
    for path in paths {
        for sink in sinks {
            for (stdout, stderr) in [(sink, Sink::Read), (Sink::Read, sink)] {
                cases.push((path, (stdout, stderr), next_db));
                next_db += matches!(path, ExitPath::WorkerCtrlC) as u32;
            }
        }
    }
    // Eight at a time: 42 debug processes at once would test the machine, not the example.
    let cases = Arc::new(Mutex::new(cases));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let runners: Vec<_> = (0..8)
        .map(|_| {
            let (cases, failures) = (cases.clone(), failures.clone());
            let (port, garbage_url) = (redis.port, garbage_url.clone());
            std::thread::spawn(move || {
                loop {
                    let next = cases.lock().unwrap().pop(); // not held while the case runs
                    let Some((path, sinks, db)) = next else { break };
                    let run = || run_exit_path(path, sinks, port, db, &garbage_url);
                    if let Err(panic) = std::panic::catch_unwind(run) {
                        let text = panic.downcast::<String>().map_or("a panic".into(), |t| *t);
                        failures.lock().unwrap().push(text);
                    }
                }
            })
        })
        .collect();
    for runner in runners {
        runner.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    stop_worker(helper);
}

/// Runs the example to `path`'s end with its streams in `sinks`; `db` is the worker's.
fn run_exit_path(path: ExitPath, sinks: (Sink, Sink), port: u16, db: u32, garbage: &str) {
    let (stdout, stderr) = sinks;
    let what = format!("{path:?} with stdout {stdout:?}, stderr {stderr:?}");
    let url = format!("redis://127.0.0.1:{port}");
    let idle = format!("{url}/1"); // no worker there: submit gives up
    let own = format!("{url}/{db}");
    let (args, code): (Vec<&str>, i32) = match path {
        ExitPath::Help => (vec!["--help"], 0),
        ExitPath::Usage => (vec!["--jobs", "many"], 2),
        ExitPath::Demo => (vec!["--jobs", "20"], 0),
        ExitPath::SubmitDone => (
            vec!["submit", "--broker", &url, "--jobs", "5", "--task", "add"],
            0,
        ),
        ExitPath::SubmitGaveUp => (
            vec!["submit", "--broker", &idle, "--jobs", "5", "--timeout", "1"],
            1,
        ),
        ExitPath::BrokerGarbage => (vec!["submit", "--broker", garbage], 1),
        ExitPath::WorkerCtrlC => (vec!["worker", "--broker", &own], 0),
    };
    let mut running = start_sunk("job_queue", &args, stdout, stderr);
    if let ExitPath::WorkerCtrlC = path {
        // Ready once it has registered: its Ctrl-C handler is in place from its start.
        let mut client = Client::over(TcpStream::connect(("127.0.0.1", port)).unwrap());
        client.call(&["SELECT", &db.to_string()]);
        let deadline = Instant::now() + EXIT_BOUND;
        while client.int(&["HLEN", "jq:workers"]) == 0 {
            assert!(
                Instant::now() < deadline,
                "{what}: the worker did not register"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        running.interrupt();
    }
    let status = running.wait_exit(EXIT_BOUND, &what);
    assert_not_killed(status, &what);
    assert_eq!(status.code(), Some(code), "{what}");
    if stderr == Sink::Read {
        let mut text = String::new();
        use std::io::Read;
        let _ = running
            .child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut text);
        assert!(!text.contains("panicked"), "{what}: {text}");
    }
}
