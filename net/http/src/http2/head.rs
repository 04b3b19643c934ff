//! An HTTP/2 request's head in HTTP/1.1 form: rebuilt from the decoded
//! HEADERS and parsed by the HTTP/1.1 parser, so that every rule (sizes,
//! header counts, Host, Content-Length) and every accessor the handlers
//! use is the same for both protocols.

use http::header::{CONNECTION, CONTENT_LENGTH, COOKIE, EXPECT, HOST, TRANSFER_ENCODING, UPGRADE};

use crate::http1::{Limits, ParseError, RequestHead};

/// Fills `head` from `parts`; `has_body` says whether DATA frames follow.
pub fn rebuild(
    parts: &http::request::Parts,
    has_body: bool,
    limits: &Limits,
    raw: &mut Vec<u8>,
    head: &mut RequestHead,
) -> Result<(), ParseError> {
    if parts.method == http::Method::CONNECT {
        return Err(ParseError::BadRequest("CONNECT is not supported"));
    }
    let uri = &parts.uri;
    let target = match uri.path_and_query() {
        Some(pq) if pq.as_str() == "*" && parts.method == http::Method::OPTIONS => "*",
        Some(pq) if pq.as_str().starts_with('/') => pq.as_str(),
        _ => "/",
    };
    raw.clear();
    raw.extend_from_slice(parts.method.as_str().as_bytes());
    raw.push(b' ');
    raw.extend_from_slice(target.as_bytes());
    raw.extend_from_slice(b" HTTP/1.1\r\n");
    // :authority stands for Host (RFC 9113, section 8.3.1).
    let authority = uri.authority().map(|a| a.as_str());
    if let Some(a) = authority {
        push_field(raw, b"host", a.as_bytes());
    }
    let mut cookies = 0;
    for (name, value) in &parts.headers {
        if *name == HOST && authority.is_some() {
            continue;
        }
        if *name == COOKIE {
            cookies += 1;
            continue;
        }
        // Connection-specific fields are malformed in HTTP/2 (the codec
        // refuses most); Expect has no meaning without 100 Continue.
        if [CONNECTION, TRANSFER_ENCODING, UPGRADE, EXPECT].contains(name) || name.as_str() == "keep-alive" {
            continue;
        }
        push_field(raw, name.as_str().as_bytes(), value.as_bytes());
    }
    if cookies > 0 {
        // Split cookie fields are joined with "; " (RFC 9113, 8.2.3).
        raw.extend_from_slice(b"cookie: ");
        for (i, v) in parts.headers.get_all(COOKIE).iter().enumerate() {
            if i > 0 {
                raw.extend_from_slice(b"; ");
            }
            raw.extend_from_slice(v.as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
    }
    if has_body && !parts.headers.contains_key(CONTENT_LENGTH) {
        // A body of unannounced length: framed like a chunked one, so its
        // length is unknown to the handlers (the codec does the framing).
        push_field(raw, b"transfer-encoding", b"chunked");
    }
    raw.extend_from_slice(b"\r\n");
    match head.parse(raw, limits)? {
        Some(_) => {
            head.http2 = true;
            Ok(())
        }
        None => Err(ParseError::BadRequest("incomplete request head")),
    }
}

fn push_field(raw: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    raw.extend_from_slice(name);
    raw.extend_from_slice(b": ");
    raw.extend_from_slice(value);
    raw.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            max_head_size: 16 << 10,
            max_headers: 100,
            max_body_size: 1 << 20,
            header_timeout: Duration::from_secs(1),
            keep_alive_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn authority_becomes_host_and_cookies_are_joined() {
        let req = http::Request::builder()
            .method("POST")
            .uri("https://example.com:8443/a/b?c=1")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("x-thing", "v")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let (mut raw, mut head) = (Vec::new(), RequestHead::default());
        rebuild(&parts, true, &limits(), &mut raw, &mut head).unwrap();
        assert!(head.http2);
        assert_eq!(head.protocol(), "HTTP/2.0");
        assert_eq!(head.target(), "/a/b?c=1");
        assert_eq!(head.header_str("host"), Some("example.com:8443"));
        assert_eq!(head.header_str("cookie"), Some("a=1; b=2"));
        assert_eq!(head.header_str("x-thing"), Some("v"));
        assert_eq!(head.framing, crate::http1::Framing::Chunked);
    }

    #[test]
    fn limits_apply_as_for_http1() {
        let mut b = http::Request::builder().uri("https://h/");
        for i in 0..101 {
            b = b.header(format!("x-{i}"), "v");
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        let (mut raw, mut head) = (Vec::new(), RequestHead::default());
        let e = rebuild(&parts, false, &limits(), &mut raw, &mut head).unwrap_err();
        assert_eq!(e.status(), 431);
    }
}
