//! Fuzzes `examples/web_server`'s request handling after httparse (`request.rs`, included as
//! it is): the head's meaning (lengths, `Host`, transfer codings, limits) and chunked bodies.
//! Whatever the bytes: no panic; a head or body that is accepted respects the limits and the
//! input's length; a refusal is a 4xx or 5xx; and feeding a short input a byte at a time
//! changes nothing (a request is never taken before it is whole). A body chunked by the input's own
//! choice of cuts decodes back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../examples/web_server/request.rs"]
mod request;

use request::{Framing, decode_chunked, parse_head};

/// What the server does with `input`: the head's length and the body's (decoded) bytes and
/// end, `Ok(None)` if it needs more, or the refusal's status.
fn handle(input: &[u8], max_body: usize) -> Result<Option<(usize, Vec<u8>, usize)>, u16> {
    let head = match parse_head(input, max_body) {
        Ok(Some(head)) => head,
        Ok(None) => return Ok(None),
        Err(response) => return Err(response.status),
    };
    assert!(head.len <= input.len());
    let after = &input[head.len..];
    match head.body {
        Framing::Length(n) => {
            assert!(n <= max_body);
            Ok((after.len() >= n).then(|| (head.len, after[..n].to_vec(), head.len + n)))
        }
        Framing::Chunked => match decode_chunked(after, max_body) {
            Ok(Some((body, used))) => {
                assert!(body.len() <= max_body);
                assert!(used <= after.len());
                Ok(Some((head.len, body, head.len + used)))
            }
            Ok(None) => Ok(None),
            Err(response) => Err(response.status),
        },
    }
}

fuzz_target!(|input: &[u8]| {
    let [limit, mode, rest @ ..] = input else { return };
    let max_body = usize::from(*limit) * 16;
    if mode % 2 == 0 {
        let whole = handle(rest, max_body);
        if let Err(status) = whole {
            assert!((400..600).contains(&status), "status {status}");
        }
        // The same bytes arriving a few at a time: nothing is taken early. (Every prefix is
        // parsed whole, so only short inputs, to keep each run quick.)
        let prefixes = if rest.len() <= 4096 { rest.len() } else { 0 };
        for end in 0..prefixes {
            match handle(&rest[..end], max_body) {
                Ok(None) => {}
                Ok(Some(early)) => {
                    assert_eq!(Ok(Some(early.clone())), whole, "taken at {end} of {}", rest.len());
                    assert!(early.2 <= end);
                    break;
                }
                Err(_) => break, // refused on a prefix: the whole may be refused too, or not
            }
        }
        return;
    }
    // A body, chunked at cuts the input chooses, then decoded.
    let (cuts, body) = rest.split_at(rest.len().min(8));
    let mut wire = Vec::new();
    let mut at = 0;
    for &cut in cuts {
        let end = (at + usize::from(cut)).min(body.len());
        if end > at {
            wire.extend_from_slice(format!("{:x};x=y\r\n", end - at).as_bytes());
            wire.extend_from_slice(&body[at..end]);
            wire.extend_from_slice(b"\r\n");
            at = end;
        }
    }
    if at < body.len() {
        wire.extend_from_slice(format!("{:X}\r\n", body.len() - at).as_bytes());
        wire.extend_from_slice(&body[at..]);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\nTrailer: t\r\n\r\nGET /next");
    match decode_chunked(&wire, max_body) {
        Ok(Some((decoded, used))) => {
            assert_eq!(decoded, body);
            assert_eq!(&wire[used..], b"GET /next");
        }
        Err(response) => {
            assert!(body.len() > max_body, "refused ({}) within the limit", response.status);
        }
        Ok(None) => panic!("a whole chunked body needs more"),
    }
});
