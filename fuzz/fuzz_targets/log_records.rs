//! Fuzzes the log collector's journal records (`examples/log_collector/record.rs`, included
//! as it is): the reader of a journal file must take any bytes (torn, corrupt, huge lengths)
//! without panicking or allocating for a length it has not checked, account for every byte,
//! and never return a record that was not written.
//!
//! The first input byte chooses the mode. Even: the rest is a journal file, as is. Odd: the
//! rest is cut into messages, which are written as records; the file is then cut short at a
//! point, and has one byte flipped, both chosen by the input. Every record read back must be
//! one that was written, in order, and with nothing flipped, all of them.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)] // the line half is `log_lines`'s
#[path = "../../examples/log_collector/record.rs"]
mod record;

use record::{Entry, Frame, Frames, LEVELS, Record, decode_payload, encode};

/// Reads `bytes` as a journal: the records that decode, checking that the frames cover every
/// byte once, in order.
fn read(bytes: &[u8]) -> Vec<Record> {
    let mut at = 0;
    let mut records = Vec::new();
    for frame in Frames::new(bytes) {
        let (offset, len) = match frame {
            Frame::Whole { offset, payload } => {
                if let Ok(record) = decode_payload(payload) {
                    records.push(record);
                }
                (offset, record::HEADER + payload.len())
            }
            Frame::Unreadable { offset, len } | Frame::Torn { offset, len } => (offset, len),
        };
        assert_eq!(offset, at, "frames leave no gap");
        assert!(len > 0, "a frame moves on");
        at += len;
    }
    assert_eq!(at, bytes.len(), "frames cover the file");
    records
}

fuzz_target!(|input: &[u8]| {
    let [mode, rest @ ..] = input else { return };
    if mode % 2 == 0 {
        read(rest);
        return;
    }
    // Records of the messages in `rest`, split at 0xff bytes (not UTF-8: replaced).
    let [cut, flip, rest @ ..] = rest else { return };
    let written: Vec<Record> = rest
        .split(|&b| b == 0xff)
        .enumerate()
        .map(|(i, message)| Record {
            run: 7,
            seq: i as u64 + 1,
            entry: Entry {
                level: LEVELS[i % 4],
                message: String::from_utf8_lossy(message).replace('\0', "?"),
                accepted_at: 1_700_000_000.0 + i as f64,
            },
        })
        .collect();
    let mut bytes = Vec::new();
    for r in &written {
        encode(r, &mut bytes);
    }
    assert_eq!(read(&bytes), written, "a whole journal reads back as written");
    // Cut short, and one byte flipped: what is read is written records, in order.
    let len = bytes.len() * usize::from(*cut) / 255;
    bytes.truncate(len);
    let flipped = (!bytes.is_empty() && *flip != 0).then(|| {
        let i = usize::from(*flip) * 7919 % bytes.len();
        bytes[i] ^= *flip;
        i
    });
    let got = read(&bytes);
    let mut next = 0;
    for r in &got {
        let found = written[next..].iter().position(|w| w == r);
        let found = found.unwrap_or_else(|| panic!("{r:?} was never written (flipped {flipped:?})"));
        next += found + 1;
    }
    if flipped.is_none() {
        // Only cut: every record that lies whole before the cut is read.
        let whole = written
            .iter()
            .scan(0, |end, r| {
                let mut one = Vec::new();
                encode(r, &mut one);
                *end += one.len();
                Some(*end)
            })
            .take_while(|&end| end <= len)
            .count();
        assert_eq!(got.len(), whole, "cut at {len}");
    }
});
