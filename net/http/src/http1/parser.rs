//! Request-head parsing and RFC 9112 framing rules.
//!
//! httparse does the tokenizing (it rejects NUL, bare CR and other control
//! bytes in names and values); this module adds what httparse leaves to the
//! server: size limits, Host, message framing (Content-Length versus
//! Transfer-Encoding), keep-alive and Expect.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::limits::Limits;

/// A request method. Common ones are matched without allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
    /// PATCH
    Patch,
    /// CONNECT
    Connect,
    /// TRACE
    Trace,
    /// Any other valid token; its text is in [`RequestHead::method_str`].
    Other,
}

impl Method {
    fn from_token(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            "CONNECT" => Method::Connect,
            "TRACE" => Method::Trace,
            _ => Method::Other,
        }
    }
}

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    #[default]
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Why a request head was refused; each maps to one status code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// 400: malformed syntax or framing; the text says what.
    BadRequest(&'static str),
    /// 431: request line and headers exceed the size limit.
    HeadTooLarge,
    /// 431: more header fields than allowed.
    TooManyHeaders,
    /// 413: the declared Content-Length exceeds the body limit.
    BodyTooLarge,
    /// 501: a transfer coding other than chunked.
    UnsupportedTransferCoding,
    /// 417: an Expect value other than 100-continue.
    ExpectationFailed,
    /// 505: an HTTP major version other than 1.
    VersionNotSupported,
}

impl ParseError {
    /// The status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::BadRequest(_) => 400,
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => 431,
            ParseError::BodyTooLarge => 413,
            ParseError::UnsupportedTransferCoding => 501,
            ParseError::ExpectationFailed => 417,
            ParseError::VersionNotSupported => 505,
        }
    }

    /// A short explanation for the response body and the log.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::BadRequest(why) => why,
            ParseError::HeadTooLarge => "request header fields too large",
            ParseError::TooManyHeaders => "too many header fields",
            ParseError::BodyTooLarge => "request body larger than server.max_body_size",
            ParseError::UnsupportedTransferCoding => "only the chunked transfer coding is supported",
            ParseError::ExpectationFailed => "only Expect: 100-continue is supported",
            ParseError::VersionNotSupported => "only HTTP/1.x is supported",
        }
    }
}

/// A parsed request head. Reused across the requests of a connection so
/// that parsing allocates nothing once its buffers have grown.
#[derive(Debug, Default)]
pub struct RequestHead {
    raw: Vec<u8>,
    method: Option<Method>,
    method_range: Range<usize>,
    target: Range<usize>,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    headers: Vec<(Range<usize>, Range<usize>)>,
    /// Body framing.
    pub framing: Framing,
    /// Whether the connection may stay open after this request.
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue`.
    pub expect_continue: bool,
    /// The request came over HTTP/2 (its head was rebuilt from the
    /// HEADERS frame in HTTP/1.1 form and parsed by the same rules).
    pub http2: bool,
}

impl RequestHead {
    /// The method.
    pub fn method(&self) -> Method {
        self.method.unwrap_or(Method::Other)
    }

    /// The method as sent.
    pub fn method_str(&self) -> &str {
        self.str_at(&self.method_range)
    }

    /// The request target in origin form (`/path?query`), or `*`.
    pub fn target(&self) -> &str {
        self.str_at(&self.target)
    }

    /// The path part of the target, still percent-encoded.
    pub fn path(&self) -> &str {
        let t = self.target();
        t.split_once('?').map_or(t, |(p, _)| p)
    }

    /// The query string (without `?`), empty when absent.
    pub fn query(&self) -> &str {
        self.target().split_once('?').map_or("", |(_, q)| q)
    }

    /// Every header as (name, value), in order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (self.str_at(n), &self.raw[v.clone()]))
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The first value of header `name` as text, if it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Frees the buffers kept for reuse (while a connection idles).
    pub fn release(&mut self) {
        self.raw = Vec::new();
        self.headers = Vec::new();
    }

    /// The protocol as PHP's SERVER_PROTOCOL and the access log name it.
    pub fn protocol(&self) -> &'static str {
        match (self.http2, self.minor_version) {
            (true, _) => "HTTP/2.0",
            (false, 1) => "HTTP/1.1",
            (false, _) => "HTTP/1.0",
        }
    }

    /// Whether the request is HTTP/1.1 (rather than 1.0).
    pub fn is_http11(&self) -> bool {
        self.minor_version == 1
    }

    fn str_at(&self, r: &Range<usize>) -> &str {
        // Method, target and names passed httparse's token checks: ASCII.
        std::str::from_utf8(&self.raw[r.clone()]).unwrap_or("")
    }

    /// Parses a request head at the start of `buf`. `Ok(None)` means more
    /// bytes are needed; `Ok(Some(n))` means the head was `n` bytes long.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, ParseError> {
        // Tolerate empty lines before a request line (RFC 9112 section 2.2).
        let skip = buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
        let buf = &buf[skip..];
        // Uninitialized slots: zeroing 128 headers (4 KiB) per request
        // showed up in profiles; httparse only reads the slots it wrote.
        let mut slots: [MaybeUninit<httparse::Header>; 128] = [const { MaybeUninit::uninit() }; 128];
        let mut heap_slots: Vec<MaybeUninit<httparse::Header>>;
        let slots: &mut [MaybeUninit<httparse::Header>] = if limits.max_headers <= slots.len() {
            &mut slots[..limits.max_headers]
        } else {
            heap_slots = (0..limits.max_headers).map(|_| MaybeUninit::uninit()).collect();
            &mut heap_slots
        };
        let mut req = httparse::Request::new(&mut []);
        let len = match req.parse_with_uninit_headers(buf, slots) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                // Skipped empty lines count too, or a client could grow the
                // buffer with CRLFs for the whole header timeout.
                if skip + buf.len() > limits.max_head_size {
                    return Err(ParseError::HeadTooLarge);
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
            Err(httparse::Error::Version) => return Err(version_error(buf)),
            Err(e) => return Err(ParseError::BadRequest(bad_request_text(e))),
        };
        if skip + len > limits.max_head_size {
            return Err(ParseError::HeadTooLarge);
        }
        let base = buf.as_ptr() as usize;
        let range_of = |s: &[u8]| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        self.raw.clear();
        self.raw.extend_from_slice(&buf[..len]);
        let method = req.method.unwrap_or("");
        self.method = Some(Method::from_token(method));
        self.method_range = range_of(method.as_bytes());
        self.minor_version = req.version.unwrap_or(1);
        self.http2 = false;
        self.target = range_of(req.path.unwrap_or("").as_bytes());
        self.headers.clear();
        for h in req.headers.iter() {
            self.headers.push((range_of(h.name.as_bytes()), range_of(h.value)));
        }
        self.normalize_target()?;
        self.apply_framing(limits)?;
        Ok(Some(skip + len))
    }

    /// Accepts origin-form, `*` (OPTIONS only) and absolute-form targets;
    /// absolute-form is reduced to origin-form (RFC 9112 section 3.2.2).
    fn normalize_target(&mut self) -> Result<(), ParseError> {
        let t = &self.raw[self.target.clone()];
        if t.first() == Some(&b'/') {
            return Ok(());
        }
        if t == b"*" {
            return if self.method() == Method::Options {
                Ok(())
            } else {
                Err(ParseError::BadRequest("`*` target is only valid with OPTIONS"))
            };
        }
        let lower = t.to_ascii_lowercase();
        let scheme_len = if lower.starts_with(b"http://") {
            7
        } else if lower.starts_with(b"https://") {
            8
        } else {
            return Err(ParseError::BadRequest("request target must start with `/`"));
        };
        let after = &t[scheme_len..];
        match after.iter().position(|b| *b == b'/' || *b == b'?') {
            Some(p) if after[p] == b'/' => self.target.start += scheme_len + p,
            _ => return Err(ParseError::BadRequest("absolute-form target without a path")),
        }
        Ok(())
    }

    fn apply_framing(&mut self, limits: &Limits) -> Result<(), ParseError> {
        let mut content_length: Option<u64> = None;
        let mut transfer_encoding = false;
        let mut chunked_last = false;
        let mut other_coding = false;
        let mut hosts = 0;
        let mut close = false;
        let mut keep_alive = false;
        let mut expect_continue = false;
        for (name, value) in self.headers() {
            if name.eq_ignore_ascii_case("content-length") {
                for part in value.split(|b| *b == b',') {
                    let n = parse_decimal(trim(part)).ok_or(ParseError::BadRequest("invalid Content-Length"))?;
                    if content_length.is_some_and(|c| c != n) {
                        return Err(ParseError::BadRequest("conflicting Content-Length values"));
                    }
                    content_length = Some(n);
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding = true;
                for coding in value.split(|b| *b == b',').map(trim).filter(|c| !c.is_empty()) {
                    if chunked_last {
                        // Something after chunked: the length is undecidable.
                        return Err(ParseError::BadRequest("chunked must be the final transfer coding"));
                    }
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        chunked_last = true;
                    } else {
                        other_coding = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("host") {
                hosts += 1;
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(|b| *b == b',').map(trim) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case("expect") {
                if trim(value).eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = true;
                } else {
                    return Err(ParseError::ExpectationFailed);
                }
            }
        }
        if self.is_http11() && hosts != 1 {
            return Err(ParseError::BadRequest(if hosts == 0 {
                "missing Host header"
            } else {
                "more than one Host header"
            }));
        }
        if hosts > 1 {
            return Err(ParseError::BadRequest("more than one Host header"));
        }
        self.framing = match (transfer_encoding, content_length) {
            (true, Some(_)) => {
                return Err(ParseError::BadRequest("both Content-Length and Transfer-Encoding"));
            }
            (true, None) if !self.is_http11() => {
                return Err(ParseError::BadRequest("Transfer-Encoding in an HTTP/1.0 request"));
            }
            (true, None) if !chunked_last => {
                return Err(ParseError::BadRequest("chunked must be the final transfer coding"));
            }
            (true, None) if other_coding => return Err(ParseError::UnsupportedTransferCoding),
            (true, None) => Framing::Chunked,
            (false, Some(0)) | (false, None) => Framing::None,
            (false, Some(n)) if n > limits.max_body_size => return Err(ParseError::BodyTooLarge),
            (false, Some(n)) => Framing::Length(n),
        };
        self.keep_alive = if self.is_http11() { !close } else { keep_alive && !close };
        self.expect_continue = expect_continue && self.is_http11() && self.framing != Framing::None;
        Ok(())
    }
}

/// Trims optional whitespace (SP / HTAB) around a header value part.
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| *b != b' ' && *b != b'\t').unwrap_or(v.len());
    let end = v.iter().rposition(|b| *b != b' ' && *b != b'\t').map_or(start, |e| e + 1);
    &v[start..end]
}

/// Parses 1*DIGIT without sign, whitespace or overflow.
pub(crate) fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, b| b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0')))
}

fn version_error(buf: &[u8]) -> ParseError {
    // "HTTP/2.0" on an HTTP/1 connection is a version we do not speak (505);
    // anything else in the version slot is malformed (400).
    let line_end = buf.iter().position(|b| *b == b'\r' || *b == b'\n').unwrap_or(buf.len());
    let line = &buf[..line_end];
    let version = line.rsplit(|b| *b == b' ').next().unwrap_or(b"");
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() && *major != b'1' =>
        {
            ParseError::VersionNotSupported
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() && *major != b'1' => {
            ParseError::VersionNotSupported
        }
        _ => ParseError::BadRequest("invalid HTTP version"),
    }
}

fn bad_request_text(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::Status => "invalid request line",
        _ => "malformed request",
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
