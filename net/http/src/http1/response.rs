//! Responses and their serialization.

use std::fs::File;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

use super::{date, status};

/// A stream of body chunks, sent with chunked transfer coding.
pub type ChunkStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>>>>;

/// A response body.
pub enum ResponseBody {
    /// No body (Content-Length: 0 where a body is allowed).
    Empty,
    /// An in-memory body.
    Bytes(Bytes),
    /// `len` bytes of a file from `offset`, read in chunks as it is sent.
    File {
        /// The open file.
        file: File,
        /// First byte to send.
        offset: u64,
        /// Number of bytes to send.
        len: u64,
    },
    /// A body of unknown length, sent chunked (or until close to HTTP/1.0).
    Stream(ChunkStream),
    /// The answer to a HEAD request whose handler produced no body: the
    /// length a GET would carry when known (Content-Length), else none
    /// (the head then says chunked, as a GET's would).
    HeadOnly(Option<u64>),
}

impl ResponseBody {
    /// The length when known in advance.
    pub fn len(&self) -> Option<u64> {
        match self {
            ResponseBody::Empty => Some(0),
            ResponseBody::Bytes(b) => Some(b.len() as u64),
            ResponseBody::File { len, .. } => Some(*len),
            ResponseBody::Stream(_) => None,
            ResponseBody::HeadOnly(len) => *len,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

/// A response as handlers build it; the connection adds framing headers.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields other than Date, Server, Content-Length,
    /// Transfer-Encoding and Connection, which the connection writes.
    pub headers: Vec<(&'static str, Bytes)>,
    /// Further header lines, already serialized ("Name: value\r\n" each),
    /// as PHP produces them.
    pub raw_headers: Bytes,
    /// The body.
    pub body: ResponseBody,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    /// A response with no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::with_capacity(8),
            raw_headers: Bytes::new(),
            body: ResponseBody::Empty,
            close: false,
        }
    }

    /// A plain-text response (used for errors and built-in routes).
    pub fn text(status: u16, body: impl Into<Bytes>) -> Self {
        let mut r = Response::new(status);
        r.headers.push(("Content-Type", Bytes::from_static(b"text/plain; charset=utf-8")));
        r.body = ResponseBody::Bytes(body.into());
        r
    }

    /// An error response: the status, its reason and an explanation.
    pub fn error(status: u16, why: &str) -> Self {
        Response::text(status, format!("{} {}: {}\n", status, status::reason(status), why))
    }

    /// Replaces the body with `bytes`.
    pub fn with_body(mut self, bytes: Bytes) -> Self {
        self.body = ResponseBody::Bytes(bytes);
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<Bytes>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// How the connection frames a body it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body and no Content-Length (1xx, 204, and 304).
    None,
    /// Content-Length.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0 with unknown length).
    Close,
}

/// Appends `name: value\r\n` for each header.
pub(crate) fn write_fields(out: &mut Vec<u8>, headers: &[(&'static str, Bytes)]) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes the status line and headers of `resp` into `out`. Returns how the
/// body must be framed.
pub fn write_head(out: &mut Vec<u8>, resp: &Response, http11: bool, keep_alive: bool) -> BodyFraming {
    write_head_with(out, resp, http11, keep_alive, b"")
}

/// [`write_head`] with header lines the connection adds to every
/// response (`extra`: complete lines, each ending in CRLF).
pub fn write_head_with(
    out: &mut Vec<u8>,
    resp: &Response,
    http11: bool,
    keep_alive: bool,
    extra: &[u8],
) -> BodyFraming {
    let framing = if status::forbids_body(resp.status) {
        BodyFraming::None
    } else {
        match resp.body.len() {
            Some(n) => BodyFraming::Length(n),
            None if http11 => BodyFraming::Chunked,
            None => BodyFraming::Close,
        }
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(resp.status));
    out.push(b' ');
    out.extend_from_slice(status::reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\nServer: ephpm\r\nDate: ");
    date::append_now(out);
    out.extend_from_slice(b"\r\n");
    write_fields(out, &resp.headers);
    out.extend_from_slice(&resp.raw_headers);
    out.extend_from_slice(extra);
    match framing {
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_u64(out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        BodyFraming::None | BodyFraming::Close => {}
    }
    let keep_alive = keep_alive && framing != BodyFraming::Close;
    match (keep_alive, http11) {
        (false, _) => out.extend_from_slice(b"Connection: close\r\n"),
        (true, false) => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        (true, true) => {}
    }
    out.extend_from_slice(b"\r\n");
    framing
}

/// Writes a complete error response that closes the connection: the status,
/// `Connection: close`, and a plain-text body saying why.
pub fn write_error(out: &mut Vec<u8>, status: u16, why: &str) {
    let mut resp = Response::error(status, why);
    resp.close = true;
    write_head(out, &resp, true, false);
    if let ResponseBody::Bytes(b) = &resp.body {
        out.extend_from_slice(b);
    }
}

/// Appends one chunk in chunked transfer coding.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    push_hex(out, data.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last-chunk and the end of the (empty) trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut tmp = [0u8; 20];
    out.extend_from_slice(format_u64(&mut tmp, n));
}

/// Writes `n` in decimal into the end of `buf` and returns the digits,
/// without allocating.
pub fn format_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn push_hex(out: &mut Vec<u8>, n: u64) {
    let s = format!("{n:x}");
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_text(resp: &Response, http11: bool, ka: bool) -> (String, BodyFraming) {
        let mut out = Vec::new();
        let f = write_head(&mut out, resp, http11, ka);
        (String::from_utf8(out).unwrap(), f)
    }

    #[test]
    fn fixed_length_keep_alive() {
        let (t, f) = head_text(&Response::text(200, "hi"), true, true);
        assert!(t.starts_with("HTTP/1.1 200 OK\r\nServer: ephpm\r\nDate: "));
        assert!(t.contains("\r\nContent-Length: 2\r\n"));
        assert!(!t.contains("Connection"));
        assert_eq!(f, BodyFraming::Length(2));
    }

    #[test]
    fn not_modified_has_no_length_and_close_is_announced() {
        let (t, f) = head_text(&Response::new(304), true, false);
        assert!(!t.contains("Content-Length"));
        assert!(t.contains("Connection: close\r\n"));
        assert_eq!(f, BodyFraming::None);
    }

    #[test]
    fn streams_are_chunked_for_11_and_close_delimited_for_10() {
        let mut r = Response::new(200);
        r.body = ResponseBody::Stream(Box::pin(futures_util::stream::empty()));
        let (t, f) = head_text(&r, true, true);
        assert!(t.contains("Transfer-Encoding: chunked"));
        assert_eq!(f, BodyFraming::Chunked);
        let (t, f) = head_text(&r, false, true);
        assert!(t.contains("Connection: close"));
        assert_eq!(f, BodyFraming::Close);
    }

    #[test]
    fn chunk_encoding() {
        let mut out = Vec::new();
        write_chunk(&mut out, &[b'a'; 26]);
        write_chunk(&mut out, b"");
        out.extend_from_slice(LAST_CHUNK);
        assert_eq!(out, [b"1a\r\n".as_slice(), &[b'a'; 26], b"\r\n0\r\n\r\n"].concat());
    }
}
