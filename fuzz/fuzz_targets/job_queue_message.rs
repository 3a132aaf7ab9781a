//! Fuzzes job_queue's messages: `examples/job_queue/message.rs`, which reads what anyone may
//! push onto the queue, and writes the dead-letter record for what it cannot read.
//!
//! For any bytes: decoding never panics; a message it accepts has fields within their caps,
//! and reads back the same after `to_json`; the text a result holds to name its call
//! (`"job":"add[1,2]"`, which the broker's script looks for) is found in this call's result
//! and not in another call's; and a dead-letter record is JSON whose hex gives the bytes back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

#[path = "../../examples/job_queue/message.rs"]
#[allow(dead_code)]
mod message;

use message::{MAX_ARGS, MAX_NAME, Message};

/// A result as the worker stores it (`broker.rs`, `finish`).
fn result_of(m: &Message) -> String {
    json!({"task": m.task, "job": m.call(), "retries": m.retries, "worker": "w", "ok": 1})
        .to_string()
}

fuzz_target!(|data: &[u8]| {
    let record = message::dead_record(data, "fuzzed", "w", 0);
    let record: Value = serde_json::from_str(&record).expect("a record is JSON");
    let hex = record["raw_hex"].as_str().expect("raw_hex");
    assert_eq!(message::unhex(hex).as_deref(), Some(data));

    let Ok(m) = Message::decode(data) else { return };
    for name in [&m.id, &m.batch, &m.task] {
        assert!(!name.is_empty() && name.len() <= MAX_NAME);
        assert!(!name.chars().any(char::is_control));
    }
    assert!(m.args.len() <= MAX_ARGS);
    assert_eq!(Message::decode(m.to_json().as_bytes()).as_ref(), Ok(&m));

    let stored = result_of(&m);
    assert!(stored.contains(&m.call_in_result()), "{stored}");
    let mut other = m.clone();
    match other.args.first_mut() {
        Some(first) => *first = first.wrapping_add(1),
        None => other.args.push(0),
    }
    assert!(!stored.contains(&other.call_in_result()), "{stored}");
    let mut renamed = m.clone();
    renamed.task.push('x');
    assert!(!stored.contains(&renamed.call_in_result()), "{stored}");
});
