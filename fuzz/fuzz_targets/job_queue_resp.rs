//! Fuzzes the broker's replies as job_queue reads them: `examples/job_queue/resp.rs`, the
//! scanner that checks depth and size caps before `redis-protocol` decodes anything.
//!
//! The input's first byte chooses how the rest arrives (in pieces of 1 to 255 bytes, or all at
//! once); the rest is what a broker sends. Whatever the bytes and the cut, reading must never
//! crash, recurse deeper than the cap, or buffer more than a capped reply, and every cut must
//! give the same replies and the same error as reading it all at once.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../examples/job_queue/resp.rs"]
#[allow(dead_code)]
mod resp;

use resp::{Frame, MAX_DEPTH, MAX_ITEMS, MAX_REPLY, ReplyError, Scanner};

/// What reading a stream gives: each reply, then how it ended.
#[derive(Debug, PartialEq)]
enum End {
    /// The stream ended inside a reply (or between two).
    Waiting,
    Failed(ReplyError),
}

fn depth_and_items(frame: &Frame) -> (usize, usize) {
    // Iterative, like the scanner: a test that recursed would prove nothing about depth.
    let (mut deepest, mut items) = (0, 0);
    let mut stack = vec![(frame, 0)];
    while let Some((frame, depth)) = stack.pop() {
        items += 1;
        deepest = deepest.max(depth);
        if let Frame::Array(children) = frame {
            stack.extend(children.iter().map(|c| (c, depth + 1)));
        }
    }
    (deepest, items)
}

/// Reads `data` arriving `piece` bytes at a time, as `Conn::read_frame` does.
fn read(data: &[u8], piece: usize) -> (Vec<Frame>, End) {
    let mut scanner = Scanner::default();
    let (mut buf, mut frames, mut fed) = (Vec::new(), Vec::new(), 0);
    loop {
        match resp::decode(&mut scanner, &buf) {
            Ok(Some((frame, used))) => {
                assert!(used <= MAX_REPLY && used <= buf.len());
                let (depth, items) = depth_and_items(&frame);
                assert!(depth <= MAX_DEPTH, "a reply {depth} arrays deep");
                assert!(items <= MAX_ITEMS, "{items} elements");
                buf.drain(..used);
                frames.push(frame);
            }
            Ok(None) if fed == data.len() => return (frames, End::Waiting),
            Ok(None) => {
                // The buffer holds at most one capped reply and the piece being read.
                assert!(buf.len() <= MAX_REPLY + piece, "{} bytes buffered", buf.len());
                let n = piece.min(data.len() - fed);
                buf.extend_from_slice(&data[fed..fed + n]);
                fed += n;
            }
            Err(e) => {
                // When the scanner passed the reply and only decoding failed, the two must
                // still agree on its framing: the decoder's own framing (no UTF-8 check of
                // error replies yet) takes exactly the bytes the scanner took.
                if let Ok(Some(len)) = Scanner::default().scan(&buf) {
                    let framed = redis_protocol::resp2::decode::decode_range(&buf[..len]);
                    let used = framed.ok().flatten().map(|(_, used)| used);
                    assert_eq!(used, Some(len), "{e}");
                }
                return (frames, End::Failed(e));
            }
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let [how, data @ ..] = input else { return };
    let whole = read(data, data.len().max(1));
    if *how != 0 {
        let cut = read(data, usize::from(*how));
        assert_eq!(cut, whole, "in pieces of {how}");
    }
});
