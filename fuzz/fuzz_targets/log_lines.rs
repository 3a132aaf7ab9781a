//! Fuzzes the log collector's lines (`examples/log_collector/record.rs`, included as it is):
//! `LineSplitter`, which cuts standard input into lines with a limit, against a model written
//! the obvious way, whatever the pieces the input arrives in; and `decode` and `parse_line`,
//! which turn a line into a level and a message.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)] // the record half is `log_records`'s
#[path = "../../examples/log_collector/record.rs"]
mod record;

use record::{LEVELS, LineSplitter, Piece, decode, parse_line, without_ending};

/// The pieces of `data` by the rule: lines end at `\n` (or at the end), a line over `limit`
/// bytes (its `\n` included) is too long.
fn model(data: &[u8], limit: usize) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        rest = &rest[end..];
        out.push(if line.len() > limit {
            Piece::TooLong
        } else {
            Piece::Line(line.to_vec())
        });
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let [limit, piece, data @ ..] = input else { return };
    let limit = usize::from(*limit) + 1;
    let piece = usize::from(*piece % 32) + 1;
    let mut splitter = LineSplitter::new(limit);
    let mut got = Vec::new();
    for chunk in data.chunks(piece) {
        splitter.push(chunk, &mut got);
    }
    got.extend(splitter.finish());
    assert_eq!(got, model(data, limit), "limit {limit}, pieces of {piece}");

    for piece in got {
        let Piece::Line(raw) = piece else { continue };
        assert!(without_ending(&raw).len() <= raw.len());
        let (text, lossy) = decode(&raw);
        assert!(!text.contains('\0'), "NUL is replaced");
        assert_eq!(lossy, std::str::from_utf8(&raw).map_or(true, |t| t.contains('\0')));
        if let Some((level, message)) = parse_line(&text) {
            assert!(LEVELS.contains(&level));
            assert!(!message.trim().is_empty(), "a message has text");
            assert!(text.contains(message));
            assert!(!message.ends_with('\n'));
        } else {
            assert!(text.trim().is_empty(), "only a blank line has no entry: {text:?}");
        }
    }
});
