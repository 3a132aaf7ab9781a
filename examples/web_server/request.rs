//! HTTP/1.1 requests as the server reads them, and the answers it writes: pure functions over
//! bytes (no I/O, no database), so that the fuzz target `fuzz/fuzz_targets/http_request.rs`
//! includes this file as it is.
//!
//! `httparse` reads the request line and the headers; this file decides what they mean, and
//! refuses what it will not serve, each with its status (RFC 9112):
//!
//! - a head over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] headers: 431;
//! - an HTTP/1.1 request with no `Host`, or any request with two: 400;
//! - a `Content-Length` that is not digits, or two that differ: 400;
//! - `Transfer-Encoding` other than `chunked`: 501; with a `Content-Length` too (the shape of
//!   request smuggling), or in HTTP/1.0: 400;
//! - a body over `--max-body` bytes: 413, on the head alone when it says `Content-Length`,
//!   and as the chunks arrive when it is chunked (whose framing may take at most
//!   [`chunked_wire_limit`] bytes on the wire, so that tiny chunks with long extensions cannot
//!   make the server hold much more than the body).
//!
//! Every refusal closes the connection after its answer: after a request it could not frame,
//! the server cannot know where the next one starts.

use std::io::Write as _;

/// A request line and headers may take this much; more is 431.
pub const MAX_HEAD: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 64;
/// The longest line of a chunked body's framing: a chunk's size and extensions, or a trailer.
pub const MAX_CHUNK_LINE: usize = 1024;

pub struct Head {
    pub method: String,
    pub path: String,
    /// Bytes of request line and headers, through the blank line.
    pub len: usize,
    pub body: Framing,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

/// How the body after the head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes (0 when there is no body).
    Length(usize),
    /// `Transfer-Encoding: chunked`: see [`decode_chunked`].
    Chunked,
}

/// Parses the head at the start of `input`: `Ok(None)` if it is not all there yet, `Err` with
/// the answer for a request we refuse.
pub fn parse_head(input: &[u8], max_body: usize) -> Result<Option<Head>, Response> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let window = &input[..input.len().min(MAX_HEAD)];
    let len = match request.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if window.len() < MAX_HEAD => return Ok(None),
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            let message = format!("request head over {MAX_HEAD} bytes or {MAX_HEADERS} headers");
            return Err(Response::text(431, message));
        }
        Err(e) => return Err(Response::text(400, format!("malformed request: {e}"))),
    };
    let http_1_1 = request.version == Some(1);
    let (mut close, mut keep_alive, mut content_length) = (false, false, None);
    let (mut expect_continue, mut hosts) = (false, 0);
    let mut codings: Vec<String> = Vec::new();
    for header in request.headers.iter() {
        let name = header.name;
        let value = String::from_utf8_lossy(header.value);
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse::<usize>()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()));
            if length.is_none() || content_length.is_some_and(|seen| Some(seen) != length) {
                return Err(Response::text(400, "invalid Content-Length"));
            }
            content_length = length;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let listed = value.split(',').map(str::trim).filter(|c| !c.is_empty());
            codings.extend(listed.map(str::to_ascii_lowercase));
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    if hosts > 1 || (http_1_1 && hosts == 0) {
        let message = "an HTTP/1.1 request needs exactly one Host header (RFC 9112, 3.2)";
        return Err(Response::text(400, message));
    }
    let body = if codings.is_empty() {
        let length = content_length.unwrap_or(0);
        if length > max_body {
            let message = format!("request body over the limit of {max_body} bytes");
            return Err(Response::text(413, message));
        }
        Framing::Length(length)
    } else if content_length.is_some() || !http_1_1 {
        let message = "Transfer-Encoding with a Content-Length, or in HTTP/1.0: ambiguous framing";
        return Err(Response::text(400, message));
    } else if codings != ["chunked"] {
        let message = "only the chunked transfer coding is supported";
        return Err(Response::text(501, message));
    } else {
        Framing::Chunked
    };
    Ok(Some(Head {
        method: request.method.unwrap_or_default().to_owned(),
        path: request.path.unwrap_or_default().to_owned(),
        len,
        body,
        // HTTP/1.1 keeps the connection open unless told not to; HTTP/1.0 closes unless asked.
        keep_alive: !close && (http_1_1 || keep_alive),
        expect_continue,
    }))
}

/// How many bytes a chunked body of at most `max_body` decoded bytes may take on the wire:
/// the body, plus room for framing that is not absurd.
pub fn chunked_wire_limit(max_body: usize) -> usize {
    max_body.saturating_mul(2).saturating_add(64 * 1024)
}

/// Decodes the chunked body at the start of `input` (RFC 9112, 7.1): `Ok(Some((body,
/// consumed)))` once it is all there, `consumed` counting its framing and trailers;
/// `Ok(None)` if more is needed; `Err` with the answer for a body we refuse. Lines must end in
/// CRLF; extensions and trailers are read and ignored.
pub fn decode_chunked(input: &[u8], max_body: usize) -> Result<Option<(Vec<u8>, usize)>, Response> {
    let too_large = || {
        let message = format!("request body over the limit of {max_body} bytes");
        Response::text(413, message)
    };
    let wire_limit = chunked_wire_limit(max_body);
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line) = chunk_line(input, at)? else {
            return if input.len() > wire_limit {
                Err(too_large())
            } else {
                Ok(None)
            };
        };
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = std::str::from_utf8(size_text)
            .unwrap_or_default()
            .trim_end_matches([' ', '\t']);
        let size = (!size_text.is_empty() && size_text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| usize::from_str_radix(size_text, 16).ok())
            .flatten()
            .ok_or_else(|| Response::text(400, "invalid chunk size"))?;
        at += line.len() + 2;
        if size == 0 {
            break;
        }
        if size > max_body - body.len().min(max_body) {
            return Err(too_large());
        }
        let Some(data) = input.get(at..at + size) else {
            return if input.len() > wire_limit {
                Err(too_large())
            } else {
                Ok(None)
            };
        };
        match input.get(at + size..at + size + 2) {
            Some(b"\r\n") => {}
            Some(_) => return Err(Response::text(400, "a chunk does not end in CRLF")),
            None => return Ok(None),
        }
        body.extend_from_slice(data);
        at += size + 2;
        if at > wire_limit {
            return Err(too_large());
        }
    }
    // Trailer fields, until an empty line.
    let trailers_start = at;
    loop {
        let Some(line) = chunk_line(input, at)? else {
            return Ok(None);
        };
        at += line.len() + 2;
        if line.is_empty() {
            return Ok(Some((body, at)));
        }
        if at - trailers_start > MAX_HEAD {
            return Err(Response::text(431, "trailers over the limit"));
        }
    }
}

/// The CRLF-ended line at `at` (without its CRLF), `None` if it is not all there yet.
fn chunk_line(input: &[u8], at: usize) -> Result<Option<&[u8]>, Response> {
    let rest = input.get(at..).unwrap_or_default();
    let window = &rest[..rest.len().min(MAX_CHUNK_LINE + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(end) if end > 0 && window[end - 1] == b'\r' => Ok(Some(&window[..end - 1])),
        Some(_) => Err(Response::text(400, "a bare LF in a chunked body's framing")),
        None if window.len() > MAX_CHUNK_LINE + 1 => {
            Err(Response::text(400, "a chunk line over the limit"))
        }
        None => Ok(None),
    }
}

/// Checks a query's text before SQLite sees it. SQLite ends a statement at a NUL byte, so
/// `SELECT 1\0 DROP ...` would run as `SELECT 1`, silently dropping the rest: refused.
pub fn check_query(sql: &str) -> Result<(), String> {
    match sql.find('\0') {
        Some(at) => Err(format!(
            "a query holds a NUL byte (at byte {at}): SQLite would ignore everything after it"
        )),
        None => Ok(()),
    }
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// The methods a 405 answer names.
    pub allow: Option<&'static str>,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: String) -> Response {
        let body = (body + "\n").into_bytes();
        let allow = None;
        Response {
            status,
            content_type,
            body,
            allow,
        }
    }

    pub fn text(status: u16, text: impl Into<String>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", text.into())
    }

    /// A `200` with `json` (already serialized) as its body.
    pub fn json(json: String) -> Response {
        Response::new(200, "application/json", json)
    }

    pub fn method_not_allowed(allow: &'static str) -> Response {
        let mut response = Response::text(405, format!("only {allow} here"));
        response.allow = Some(allow);
        response
    }

    pub fn write_to(&self, out: &mut Vec<u8>, keep_alive: bool) {
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let _ = write!(out, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        let _ = write!(out, "Content-Type: {}\r\n", self.content_type);
        let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        let _ = write!(out, "Connection: {connection}\r\n");
        if let Some(allow) = self.allow {
            let _ = write!(out, "Allow: {allow}\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}
