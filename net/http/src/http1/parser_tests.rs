use super::*;

fn parse(s: &str) -> Result<Option<(usize, RequestHead)>, ParseError> {
    let mut h = RequestHead::default();
    h.parse(s.as_bytes(), &Limits::default()).map(|o| o.map(|n| (n, h)))
}

fn head(s: &str) -> RequestHead {
    parse(s).unwrap().unwrap().1
}

#[test]
fn simple_get() {
    let h = head("GET /a/b?x=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    assert_eq!(h.method(), Method::Get);
    assert_eq!(h.target(), "/a/b?x=1");
    assert_eq!(h.path(), "/a/b");
    assert_eq!(h.query(), "x=1");
    assert_eq!(h.header_str("accept"), Some("*/*"));
    assert_eq!(h.framing, Framing::None);
    assert!(h.keep_alive);
}

#[test]
fn partial_then_complete() {
    assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().map(|x| x.0), None);
    let (n, _) = parse("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2").unwrap().unwrap();
    assert_eq!(n, 27);
}

#[test]
fn leading_empty_lines_are_skipped() {
    let (n, h) = parse("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().unwrap();
    assert_eq!(n, 31);
    assert_eq!(h.target(), "/");
}

#[test]
fn framing_rules() {
    let h = head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(5));
    let h = head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(5));
    let h = head("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    for bad in [
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert_eq!(parse(bad).unwrap_err().status(), 400, "{bad:?}");
    }
    let e = parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap_err();
    assert_eq!(e.status(), 501);
}

#[test]
fn body_limit_is_checked_from_content_length() {
    let e = parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8388609\r\n\r\n").unwrap_err();
    assert_eq!(e, ParseError::BodyTooLarge);
}

#[test]
fn malformed_heads_are_400() {
    for bad in [
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n : v\r\n\r\n",
        "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTQ/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET nopath HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e.status(), 400, "{bad:?} gave {e:?}");
    }
}

#[test]
fn other_major_version_is_505() {
    assert_eq!(parse("GET / HTTP/2.0\r\nHost: x\r\n\r\n").unwrap_err().status(), 505);
    assert_eq!(parse("GET / HTTP/1.2\r\nHost: x\r\n\r\n").unwrap_err().status(), 400);
}

#[test]
fn limits() {
    let limits = Limits { max_head_size: 64, max_headers: 2, ..Limits::default() };
    let mut h = RequestHead::default();
    let big = format!("GET /{} HTTP/1.1\r\n", "a".repeat(100));
    assert_eq!(h.parse(big.as_bytes(), &limits), Err(ParseError::HeadTooLarge));
    let many = "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_eq!(h.parse(many.as_bytes(), &limits), Err(ParseError::TooManyHeaders));
    let limits = Limits { max_headers: 300, ..Limits::default() };
    let mut s = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..250 {
        s.push_str(&format!("H{i}: v\r\n"));
    }
    s.push_str("\r\n");
    assert!(h.parse(s.as_bytes(), &limits).unwrap().is_some());
}

#[test]
fn keep_alive_and_expect() {
    assert!(!head("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    let h = head("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    assert!(h.expect_continue);
    let e = parse("PUT / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n").unwrap_err();
    assert_eq!(e.status(), 417);
}

#[test]
fn absolute_form_and_options_star() {
    let h = head("GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(h.target(), "/p?q");
    let h = head("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(h.target(), "*");
}

#[test]
fn reuse_does_not_leak_previous_headers() {
    let mut h = RequestHead::default();
    let l = Limits::default();
    h.parse(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n", &l).unwrap();
    h.parse(b"GET /b HTTP/1.1\r\nHost: y\r\n\r\n", &l).unwrap();
    assert_eq!(h.header("x-a"), None);
    assert_eq!(h.header_str("host"), Some("y"));
}

/// Deterministic pseudo-random inputs: the parser must never panic.
#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let alphabet = b"GET /HTTP1.\r\n:ab \0\x7f\xff,chunked-Length0123456789";
    let mut h = RequestHead::default();
    let limits = Limits { max_head_size: 512, max_headers: 8, ..Limits::default() };
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 200) as usize;
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        let mut y = x;
        for _ in 0..len {
            y = y.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            buf.push(alphabet[(y >> 33) as usize % alphabet.len()]);
        }
        let _ = h.parse(&buf, &limits);
    }
}

#[test]
fn leading_empty_lines_count_against_the_head_limit() {
    let limits = Limits { max_head_size: 64, ..Limits::default() };
    let mut h = RequestHead::default();
    let crlfs = "\r\n".repeat(100);
    assert_eq!(h.parse(crlfs.as_bytes(), &limits), Err(ParseError::HeadTooLarge));
}
