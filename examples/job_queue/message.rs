//! A job message, as it travels through the broker, and the record a message that cannot be
//! read becomes on the dead-letter list.
//!
//! A message is JSON: `{"id":"B:17","batch":"B","task":"add","args":[17,17],"retries":0}`.
//! Anyone who can reach the broker can push anything onto the queue, so [`Message::decode`]
//! takes raw bytes and checks everything: UTF-8, JSON (`serde_json` stops at 128 levels of
//! nesting), the shape, and the size of each field. What fails is never fatal: the worker
//! sets the bytes aside on `jq:dead` as a [`dead_record`], hex-encoded, with the reason.
//!
//! Pure (no I/O), so `fuzz/fuzz_targets/job_queue_message.rs` runs it on arbitrary bytes.

use serde_json::{Map, Value, json};

/// The most bytes in a job id or a batch name.
pub const MAX_NAME: usize = 200;
/// The most arguments a message may carry (every task here takes one or two).
pub const MAX_ARGS: usize = 16;
/// How much of an unreadable message a dead-letter record shows as text, besides its hex.
const PREVIEW_CHARS: usize = 200;

/// One job, or one more attempt of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub batch: String,
    pub task: String,
    pub args: Vec<u64>,
    pub retries: u32,
}

impl Message {
    /// Reads a message from the broker's bytes.
    ///
    /// # Errors
    /// Why the bytes are not a message, for the dead-letter record.
    pub fn decode(raw: &[u8]) -> Result<Message, String> {
        let text = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?;
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(fields) = value else {
            return Err("not a JSON object".into());
        };
        let id = name(&fields, "id")?;
        let batch = name(&fields, "batch")?;
        let task = name(&fields, "task")?;
        let numbers = match fields.get("args") {
            Some(Value::Array(numbers)) if numbers.len() <= MAX_ARGS => numbers,
            Some(Value::Array(_)) => return Err(format!("more than {MAX_ARGS} \"args\"")),
            _ => return Err("no array \"args\"".into()),
        };
        let args = numbers.iter().map(Value::as_u64).collect::<Option<_>>();
        let args = args.ok_or("\"args\" must hold whole numbers from 0 to 2^64-1")?;
        let retries = fields.get("retries").and_then(Value::as_u64);
        let retries = retries.and_then(|r| u32::try_from(r).ok());
        let retries = retries.ok_or("no whole number \"retries\" below 2^32")?;
        Ok(Message {
            id,
            batch,
            task,
            args,
            retries,
        })
    }

    /// The message as the broker carries it. [`decode`](Self::decode) reads it back as it was.
    pub fn to_json(&self) -> String {
        let Message {
            id,
            batch,
            task,
            args,
            retries,
        } = self;
        json!({"id": id, "batch": batch, "task": task, "args": args, "retries": retries})
            .to_string()
    }

    /// What the job is, apart from its id and attempt: `add[1,2]`. A stored result keeps it
    /// (as `"job"`), so that a second message with the same id but another call is told apart
    /// from a rerun of the same one.
    pub fn call(&self) -> String {
        let args = Value::from(self.args.clone()).to_string();
        format!("{}{args}", self.task)
    }

    /// The exact text `"job":"add[1,2]"` that a result of this call holds, compact JSON
    /// being what `serde_json` writes: the broker's script looks for it in a stored result.
    pub fn call_in_result(&self) -> String {
        format!("\"job\":{}", Value::from(self.call()))
    }
}

/// A string field that names something: 1 to [`MAX_NAME`] bytes, no control characters.
fn name(fields: &Map<String, Value>, field: &str) -> Result<String, String> {
    let text = fields.get(field).and_then(Value::as_str);
    let text = text.ok_or_else(|| format!("no string {field:?}"))?;
    if text.is_empty() || text.len() > MAX_NAME {
        return Err(format!("{field:?} must be 1 to {MAX_NAME} bytes long"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field:?} holds a control character"));
    }
    Ok(text.to_string())
}

/// The record for a message set aside on the dead-letter list: why, by whom, when, and the
/// message's bytes as they were (`raw_hex`), with as much as reads as text for a human.
pub fn dead_record(raw: &[u8], why: &str, worker: &str, unix_ms: u64) -> String {
    let preview: String = String::from_utf8_lossy(raw)
        .chars()
        .take(PREVIEW_CHARS)
        .collect();
    json!({
        "reason": why,
        "worker": worker,
        "at_unix_ms": unix_ms,
        "bytes": raw.len(),
        "preview": preview,
        "raw_hex": hex(raw),
    })
    .to_string()
}

/// The record for a message too big to read, moved as it was to `kept_on`.
pub fn oversize_record(
    len: u64,
    limit: usize,
    kept_on: &str,
    worker: &str,
    unix_ms: u64,
) -> String {
    json!({
        "reason": format!("a message of {len} bytes, over the cap of {limit}: not read, moved as it was to {kept_on}"),
        "worker": worker,
        "at_unix_ms": unix_ms,
        "bytes": len,
        "kept_on": kept_on,
    })
    .to_string()
}

/// Lowercase hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    text
}

/// The bytes of [`hex`]'s text, or `None` if it is not hex.
#[allow(dead_code)] // used by the tests and the fuzz target, which include this file
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}
