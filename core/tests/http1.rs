//! HTTP/1.1 protocol behaviour over real sockets, on every I/O backend.

mod common;

use std::io::{BufReader, Write};

use common::*;

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    for io in backends() {
        let srv = Server::start(io, "");
        let s = srv.connect();
        let mut r = BufReader::new(s.try_clone().unwrap());
        for _ in 0..3 {
            (&s).write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let resp = read_response(&mut r, false);
            assert_eq!(resp.status, 200, "{io}");
            assert_eq!(resp.body.len(), 1024);
            assert_eq!(resp.header("server"), Some("ephpm"));
            assert!(resp.header("date").is_some_and(|d| d.ends_with("GMT")));
            assert_eq!(resp.header("connection"), None);
        }
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    for io in backends() {
        let srv = Server::start(io, "");
        let mut s = srv.connect();
        let mut batch = Vec::new();
        for p in ["/small.txt", "/sub/", "/.env", "/index.html"] {
            batch.extend_from_slice(format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        }
        s.write_all(&batch).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let got: Vec<(u16, usize)> =
            (0..4).map(|_| read_response(&mut r, false)).map(|x| (x.status, x.body.len())).collect();
        assert_eq!(got, vec![(200, 1024), (200, 10), (404, 25), (200, 14)], "{io}");
    }
}

#[test]
fn head_has_length_but_no_body() {
    for io in backends() {
        let srv = Server::start(io, "");
        let s = srv.connect();
        (&s).write_all(b"HEAD /small.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut r = BufReader::new(s);
        let head = read_response(&mut r, true);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), Some("1024"));
        // The next response follows directly: HEAD sent no body bytes.
        let next = read_response(&mut r, false);
        assert_eq!(next.text(), "sub index\n", "{io}");
    }
}

#[test]
fn chunked_request_body_is_decoded_and_connection_stays_usable() {
    for io in backends() {
        let srv = Server::start(io, "");
        let s = srv.connect();
        (&s).write_all(
            b"POST /small.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        )
        .unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        // Static files refuse POST, but the body was consumed correctly...
        assert_eq!(read_response(&mut r, false).status, 405);
        // ...so the next request on the connection parses cleanly.
        (&s).write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).status, 200, "{io}");
    }
    if !php_available() {
        return;
    }
    // What the decoder hands on is the body itself: chunks of several
    // sizes, a chunk extension and a trailer, read back by a script.
    for io in backends() {
        let srv = Server::start_root(io, &php_fixtures(), "");
        let s = srv.connect();
        (&s).write_all(
            b"POST /input.php HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n",
        )
        .unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let resp = read_response(&mut r, false);
        assert_eq!(resp.status, 200, "{io}: {}", resp.text());
        let v: serde_json::Value =
            serde_json::from_slice(&resp.body).unwrap_or_else(|e| panic!("{e}: {}", resp.text()));
        assert_eq!(v["input"], "hello 0123456789", "{io}: {v}");
        (&s).write_all(b"GET /hello.php HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).text(), "Hello from PHP\n", "{io}");
    }
}

#[test]
fn expect_100_continue() {
    for io in backends() {
        let srv = Server::start(io, "");
        // A handler that will not read the body answers at once, without
        // 100 Continue (RFC 9110 section 10.1.1), and closes: the client
        // might still send the body.
        let mut s = srv.connect();
        s.write_all(b"PUT /small.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            .unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let resp = read_response(&mut r, false);
        assert_eq!(resp.status, 405, "{io}");
        assert_eq!(resp.header("allow"), Some("GET, HEAD"));
        assert!(closed_by_server(&mut s), "{io}");
    }
}

#[test]
fn connection_close_and_http10() {
    for io in backends() {
        let srv = Server::start(io, "");
        let out = srv.raw(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{io}: {text}");
        assert!(text.contains("Connection: close"));
        // HTTP/1.0 without keep-alive: answered, then closed.
        let out = srv.raw(b"GET /small.txt HTTP/1.0\r\n\r\n");
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200 OK"));
        // HTTP/1.0 with keep-alive: the connection stays open.
        let mut s = srv.connect();
        s.write_all(b"GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let resp = read_response(&mut r, false);
        assert_eq!(resp.header("connection"), Some("keep-alive"));
        s.write_all(b"GET /sub/ HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut r, false).status, 200);
    }
}

#[test]
fn malformed_requests_get_400_and_close_and_the_server_survives() {
    let cases: &[(&[u8], u16)] = &[
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", 505),
        (b"GET / HTTX/1.1\r\nHost: t\r\n\r\n", 400),
        (b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400),
    ];
    for io in backends() {
        let srv = Server::start(io, "");
        for (req, status) in cases {
            let out = srv.raw(req);
            let text = String::from_utf8_lossy(&out);
            let want = format!("HTTP/1.1 {status} ");
            assert!(text.starts_with(&want), "{io}: {:?} gave {text:?}", String::from_utf8_lossy(req));
            assert!(text.contains("Connection: close"), "{io}: {text}");
        }
        // A well-framed request with a bad path is refused without closing.
        assert_eq!(srv.get("/%zz", "").status, 400);
        assert_eq!(srv.get("/small.txt", "").status, 200, "server still serves after bad input");
    }
}
