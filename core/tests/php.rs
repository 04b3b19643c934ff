//! PHP over real HTTP: the SAPI behaves as under php-fpm, failures are
//! contained, requests are isolated. Fixtures: tests/fixtures/php/.

mod common;

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{backends, php_available, php_fixtures, read_response, Resp, Server};
use serde_json::Value;

fn start(io: &str, extra: &str) -> Server {
    Server::start_root(io, &php_fixtures(), extra)
}

fn json(r: &Resp) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

fn get(srv: &Server, target: &str) -> Resp {
    srv.request(&format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
}

fn headers_named<'a>(r: &'a Resp, name: &str) -> Vec<&'a str> {
    r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
}

#[test]
fn server_variables_are_the_full_cgi_set() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1");
        let mut extra = String::new();
        for i in 0..60 {
            extra.push_str(&format!("X-Extra-{i}: v{i}\r\n"));
        }
        // user "alice", password "pa:ss".
        let req = format!(
            "GET /server.php/extra/path?a=1&b=two HTTP/1.1\r\nHost: example.test:8443\r\nX-Multi: one\r\n\
             X-Multi: two\r\nAuthorization: Basic YWxpY2U6cGE6c3M=\r\nX_Sneaky: 1\r\n{extra}Connection: close\r\n\r\n"
        );
        let r = srv.request(&req);
        assert_eq!(r.status, 200, "{io}: {}", r.text());
        let v = json(&r);
        let s = &v["server"];
        let root = std::fs::canonicalize(php_fixtures()).unwrap();
        let root = root.to_str().unwrap();
        let expect = [
            ("REQUEST_METHOD", "GET".to_string()),
            ("REQUEST_URI", "/server.php/extra/path?a=1&b=two".into()),
            ("QUERY_STRING", "a=1&b=two".into()),
            ("SCRIPT_NAME", "/server.php".into()),
            ("SCRIPT_FILENAME", format!("{root}/server.php")),
            ("PHP_SELF", "/server.php/extra/path".into()),
            ("PATH_INFO", "/extra/path".into()),
            ("PATH_TRANSLATED", format!("{root}/extra/path")),
            ("DOCUMENT_ROOT", root.into()),
            ("SERVER_NAME", "example.test".into()),
            ("SERVER_PORT", srv.addr.port().to_string()),
            ("SERVER_ADDR", "127.0.0.1".into()),
            ("SERVER_PROTOCOL", "HTTP/1.1".into()),
            ("GATEWAY_INTERFACE", "CGI/1.1".into()),
            ("REQUEST_SCHEME", "http".into()),
            ("REMOTE_ADDR", "127.0.0.1".into()),
            ("CONTENT_TYPE", "".into()),
            ("CONTENT_LENGTH", "".into()),
            ("HTTP_HOST", "example.test:8443".into()),
            ("HTTP_X_MULTI", "one, two".into()),
            ("PHP_AUTH_USER", "alice".into()),
            ("PHP_AUTH_PW", "pa:ss".into()),
            ("AUTH_TYPE", "Basic".into()),
            ("HTTP_X_EXTRA_59", "v59".into()),
        ];
        for (k, want) in expect {
            assert_eq!(s[k].as_str(), Some(want.as_str()), "{io}: $_SERVER['{k}'] in {s}");
        }
        assert!(s["SERVER_SOFTWARE"].as_str().unwrap().starts_with("ephpm/"), "{io}");
        assert!(s["REMOTE_PORT"].as_str().unwrap().parse::<u16>().unwrap() > 0, "{io}");
        assert!(s["REQUEST_TIME"].as_i64().unwrap() > 1_700_000_000, "{io}");
        assert!(s["REQUEST_TIME_FLOAT"].as_f64().unwrap() > 1_700_000_000.0, "{io}");
        assert!(s.get("HTTPS").is_none() && s.get("HTTP_X_SNEAKY").is_none(), "{io}: {s}");
        assert_eq!(v["getenv_method"], "GET", "{io}");
    }
}

#[test]
fn get_post_cookies_files_and_raw_input() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1");
        let body = "name=J%C3%BCrgen&list%5B%5D=a&list%5B%5D=b&shared=post";
        let r = srv.request(&format!(
            "POST /input.php?q=1&shared=get HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nCookie: c1=one; c2=two\r\nCookie: c3=three\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        let v = json(&r);
        assert_eq!(v["get"]["q"], "1", "{io}");
        assert_eq!(v["post"]["name"], "Jürgen", "{io}");
        assert_eq!(v["post"]["list"], serde_json::json!(["a", "b"]), "{io}");
        assert_eq!(v["cookie"], serde_json::json!({"c1": "one", "c2": "two", "c3": "three"}), "{io}");
        // No request_order in PHP's defaults: variables_order (EGPCS)
        // applies, so POST beats GET and cookies are in it.
        assert_eq!(v["request"]["shared"], "post", "{io}");
        assert_eq!(v["request"]["c1"], "one", "{io}");
        assert_eq!(v["input"], body, "{io}");

        // A chunked JSON body reaches php://input whole.
        let json_body = format!("{{\"k\":\"{}\"}}", "v".repeat(100_000));
        let mut req = b"POST /input.php HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
        for piece in json_body.as_bytes().chunks(7000) {
            req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            req.extend_from_slice(piece);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let mut s = srv.connect();
        s.write_all(&req).unwrap();
        let r = read_response(&mut BufReader::new(s), false);
        let v = json(&r);
        assert_eq!(v["input_md5"], format!("{:x}", md5(json_body.as_bytes())), "{io}");
        assert_eq!(v["post"], serde_json::json!([]), "{io}");

        // Expect: 100-continue: the body is asked for when PHP reads it.
        let mut s = srv.connect();
        s.write_all(b"POST /input.php HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n").unwrap();
        let mut buf = [0u8; 25];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n", "{io}");
        s.write_all(b"hello").unwrap();
        let v = json(&read_response(&mut BufReader::new(s), false));
        assert_eq!(v["input"], "hello", "{io}");

        // Multipart with a file, through the real curl.
        let upload = srv.dir.path().join("upload.bin");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&upload, &data).unwrap();
        let out = std::process::Command::new("curl")
            .args(["-sS", "-F", "field=value", "-F"])
            .arg(format!("doc=@{};type=application/x-test", upload.display()))
            .arg(srv.url("/input.php"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{io}: curl: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["post"]["field"], "value", "{io}");
        let f = &v["files"]["doc"];
        assert_eq!(
            (f["name"].as_str(), f["size"].as_u64(), f["error"].as_u64()),
            (Some("upload.bin"), Some(300_000), Some(0)),
            "{io}: {f}"
        );
        assert_eq!(f["type"], "application/x-test", "{io}");
        assert_eq!(f["uploaded"], true, "{io}");
        assert_eq!(f["md5"], format!("{:x}", md5(&data)), "{io}");
        let tmp = f["tmp_name"].as_str().unwrap();
        assert!(!Path::new(tmp).exists(), "{io}: the upload {tmp} was not removed after the request");
    }
}

#[test]
fn request_bodies_stream_into_php() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1\nmax_body_size = \"256MiB\"\n[php.ini]\npost_max_size = \"256M\"\nupload_max_filesize = \"256M\"");
        // The script starts (and reads) while the body is still arriving:
        // the rest is sent only once it has started. (PUT: for POST, PHP
        // itself reads the whole body before the script, into php://input's
        // memory-then-file buffer, as under php-fpm.)
        let marker = srv.dir.path().join("started");
        let total = 4 << 20;
        let body: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
        let mut s = srv.connect();
        let head = format!(
            "PUT /stream_input.php?marker={} HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n",
            marker.display()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body[..100_000]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "{io}: the script did not start before the body was complete");
            std::thread::sleep(Duration::from_millis(10));
        }
        s.write_all(&body[100_000..]).unwrap();
        let r = read_response(&mut BufReader::new(s), false);
        assert_eq!(r.text(), format!("{total} {:x}", md5(&body)), "{io}");

        // A 96 MiB upload goes to PHP's temporary file as it arrives: the
        // server's peak memory grows by far less than the upload.
        let upload = srv.dir.path().join("big.bin");
        let data: Vec<u8> = (0..(96u32 << 20)).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        std::fs::write(&upload, &data).unwrap();
        let pid = server_pid(&srv);
        let before = peak_rss_kib(pid);
        let out = std::process::Command::new("curl")
            .args(["-sS", "-F"])
            .arg(format!("doc=@{}", upload.display()))
            .arg(srv.url("/input.php"))
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{io}: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(v["files"]["doc"]["size"].as_u64(), Some(96 << 20), "{io}");
        assert_eq!(v["files"]["doc"]["md5"], format!("{:x}", md5(&data)), "{io}");
        let grown = peak_rss_kib(pid).saturating_sub(before);
        assert!(grown < 32 << 10, "{io}: peak RSS grew by {grown} KiB for a 96 MiB upload");
    }
}

#[test]
fn broken_or_unread_bodies_never_hang_or_pass_as_complete() {
    if !php_available() {
        return;
    }
    for io in backends() {
        // One thread: whatever goes wrong, the next request needs it.
        let srv = start(io, "cores = 1\nmax_body_size = \"64MiB\"\n[php]\nthreads_per_core = 1");
        // A script that never reads a large body and writes 6 MB: neither
        // side may wait on the other.
        let body = vec![b'b'; 3 << 20];
        let mut s = srv.connect();
        let head = format!("PUT /big.php?kib=6000 HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).unwrap();
        let writer = {
            let mut s = s.try_clone().unwrap();
            std::thread::spawn(move || {
                let _ = s.write_all(&body);
            })
        };
        let r = read_response(&mut BufReader::new(s), false);
        assert_eq!((r.status, r.body.len()), (200, 6000 * 1024), "{io}");
        writer.join().unwrap();
        assert_eq!(get(&srv, "/hello.php").text(), "Hello from PHP\n", "{io}: the thread is free again");

        // A client that leaves half-way through its body: the script is
        // aborted when it reads past what arrived; it never sees a short
        // body as the whole one.
        let marker = srv.dir.path().join(format!("complete-{io}"));
        let mut s = srv.connect();
        let head = format!(
            "PUT /put_record.php?marker={} HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n",
            marker.display()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&[b'x'; 100_000]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        drop(s);
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            !marker.exists(),
            "{io}: the script took a cut-off body for the whole: {:?}",
            std::fs::read_to_string(&marker)
        );
        // The same for form bodies PHP reads before the script starts (the
        // script is not run), again and again on the one thread.
        let cut_off: [&[u8]; 2] = [
            b"POST /input.php HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500000\r\n\r\na=1&b=",
            b"POST /input.php HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=xx\r\nContent-Length: 500000\r\n\r\n--xx\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nabc",
        ];
        for round in 0..3 {
            for req in cut_off {
                let mut s = srv.connect();
                s.write_all(req).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                drop(s);
                std::thread::sleep(Duration::from_millis(150));
            }
            assert_eq!(get(&srv, "/hello.php").text(), "Hello from PHP\n", "{io}: round {round}");
        }
        let r = srv.request("PUT /put_record.php?marker=/dev/null HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
        assert_eq!(r.text(), "3", "{io}");
    }
}

/// The pid of the server process.
fn server_pid(srv: &Server) -> u32 {
    srv.pid()
}

/// The peak resident memory of `pid` (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn response_headers_status_and_cookies() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1");
        let r = get(&srv, "/headers.php?case=replace");
        assert_eq!(headers_named(&r, "X-One"), ["second"], "{io}");
        assert_eq!(headers_named(&r, "X-Two"), ["a", "b"], "{io}");
        assert_eq!(headers_named(&r, "X-Tight"), ["no-space"], "{io}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=UTF-8"), "{io}");
        assert!(r.header("x-powered-by").unwrap().starts_with("PHP/8.4"), "{io}");
        let r = get(&srv, "/headers.php?case=status-line");
        assert_eq!((r.status, r.text().as_str()), (404, "missing"), "{io}");
        let r = get(&srv, "/headers.php?case=location");
        assert_eq!((r.status, r.header("location")), (302, Some("/elsewhere")), "{io}");
        let r = get(&srv, "/headers.php?case=location-301");
        assert_eq!((r.status, r.header("location")), (301, Some("/moved")), "{io}");
        let r = get(&srv, "/headers.php?case=code");
        assert_eq!((r.status, r.text().as_str()), (418, "418"), "{io}");
        let r = get(&srv, "/headers.php?case=cookies");
        let cookies = headers_named(&r, "Set-Cookie");
        assert_eq!(cookies.len(), 3, "{io}: {cookies:?}");
        assert_eq!(cookies[0], "a=1", "{io}");
        assert!(cookies[1].starts_with("b=two%20words; path=/p; HttpOnly"), "{io}: {cookies:?}");
        let r = get(&srv, "/headers.php?case=sent");
        assert_eq!(r.text(), "before=no after=yes", "{io}");
        let r = get(&srv, "/headers.php?case=remove");
        assert!(r.header("x-gone").is_none() && r.header("x-powered-by").is_none(), "{io}: {:?}", r.headers);
        assert_eq!(r.header("x-kept"), Some("1"), "{io}");
        let r = get(&srv, "/headers.php?case=status-header");
        assert_eq!((r.status, r.header("status")), (403, None), "{io}");
        // HEAD runs the script but sends no body; it states the length a
        // GET would carry when the script set one, and never claims 0.
        let r = srv.request("HEAD /hello.php HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_eq!((r.status, r.body.len()), (200, 0), "{io}");
        assert_eq!(r.header("content-length"), None, "{io}: {:?}", r.headers);
        let r = srv.request("HEAD /headers.php?case=length HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_eq!(r.header("content-length"), Some("5"), "{io}: {:?}", r.headers);
        let r = get(&srv, "/headers.php?case=length");
        assert_eq!(r.text(), "hello", "{io}");
    }
}

#[test]
fn failures_are_contained_and_answered_as_php_fpm_does() {
    if !php_available() {
        return;
    }
    for io in backends() {
        // One thread: every failure hits the thread the next request uses.
        // display_errors off, as in production: PHP answers 500, no body.
        let srv = start(io, "cores = 1\n[php]\nthreads_per_core = 1\n[php.ini]\ndisplay_errors = \"0\"");
        let cases: &[(&str, u16, &str)] = &[
            ("exit", 200, "partial output"),
            ("die", 200, "died with a message"),
            ("fatal", 500, ""),
            ("exception", 500, ""),
            ("memory", 500, ""),
            ("timeout", 500, ""),
            ("recursion", 500, ""),
            // Output went out first, so the status was already sent.
            ("fatal-after-output", 200, "before fatal "),
        ];
        for (case, status, body) in cases {
            let r = get(&srv, &format!("/fail.php?case={case}"));
            assert_eq!((r.status, r.text().as_str()), (*status, *body), "{io}: {case}");
            let ok = get(&srv, "/hello.php");
            assert_eq!((ok.status, ok.text().as_str()), (200, "Hello from PHP\n"), "{io}: after {case}");
        }
        let r = get(&srv, "/parse_error.php");
        assert_eq!((r.status, r.body.len()), (500, 0), "{io}");
        // The messages went to the server's log instead (written by the
        // log thread, so they may trail the responses a little).
        for needle in [
            "Call to undefined function undefined_function_here()",
            "Uncaught RuntimeException: uncaught here",
            "Allowed memory size of 16777216 bytes exhausted",
            "Maximum execution time of 1 second exceeded",
            // Userland recursion lives on PHP's VM stack: memory_limit ends it.
            "exhausted (tried to allocate 262144 bytes) in",
            "syntax error",
        ] {
            assert!(srv.wait_log(needle), "{io}: the log lacks {needle}:\n{}", srv.log());
        }

        // display_errors on (PHP's default): the message is the body and
        // the status stays 200, as php-fpm answers.
        let srv = start(io, "cores = 1\n[php]\nthreads_per_core = 1");
        let r = get(&srv, "/fail.php?case=fatal");
        assert_eq!(r.status, 200, "{io}");
        assert!(r.text().contains("Call to undefined function undefined_function_here()"), "{io}: {}", r.text());
        let r = get(&srv, "/parse_error.php");
        assert!(r.text().contains("Parse error"), "{io}: {}", r.text());
        assert_eq!(get(&srv, "/hello.php").status, 200, "{io}");
    }
}

#[test]
fn requests_on_one_thread_are_isolated() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1\n[php]\nthreads_per_core = 1");
        for n in 0..4 {
            let v = json(&get(&srv, &format!("/isolation.php?n={n}")));
            let want = serde_json::json!({
                "global": false, "static": 1, "constant": false, "function": false,
                "class": false, "ini": "14", "env": false, "thread": n.to_string(),
            });
            assert_eq!(v, want, "{io}: request {n}");
        }
    }
}

#[test]
fn sessions_round_trip_and_lock() {
    if !php_available() {
        return;
    }
    for io in backends() {
        // The default files handler, and the KV store's.
        let kv = "[php.ini]\n\"session.save_handler\" = \"ephpm\"\n\"session.use_strict_mode\" = \"1\"\n[kv.redis]\nlisten = \"127.0.0.1:0\"";
        for handler in ["", kv] {
            let srv = start(io, &format!("cores = 2\n[php]\nthreads_per_core = 4\n{handler}"));
            session_checks(&srv, &format!("{io} {handler:.30}"));
            if !handler.is_empty() {
                // Strict mode: an id the server never issued is replaced.
                let r = srv.request("GET /session.php HTTP/1.1\r\nHost: t\r\nCookie: PHPSESSID=chosenbyattacker123\r\nConnection: close\r\n\r\n");
                let cookie = r.header("set-cookie").expect("a fresh session id");
                assert!(!cookie.contains("chosenbyattacker123"), "{io}: {cookie}");
                let log = srv.log();
                let addr = log.split("redis://").nth(1).unwrap().split_whitespace().next().unwrap();
                let port = addr.rsplit(':').next().unwrap();
                let out = std::process::Command::new("redis-cli")
                    .args(["-p", port, "KEYS", "PHPSESSION:*"])
                    .output()
                    .unwrap();
                let keys = String::from_utf8_lossy(&out.stdout);
                assert_eq!(keys.lines().count(), 2, "{io}: two sessions in the KV store: {keys}");
                let key = keys.lines().find(|k| {
                    let out = std::process::Command::new("redis-cli").args(["-p", port, "GET", k]).output().unwrap();
                    String::from_utf8_lossy(&out.stdout).trim() == "n|i:4;"
                });
                let key = key.expect("the session of the checks");
                let out = std::process::Command::new("redis-cli").args(["-p", port, "GET", key]).output().unwrap();
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n|i:4;", "{io}");
                let out = std::process::Command::new("redis-cli").args(["-p", port, "TTL", key]).output().unwrap();
                let ttl: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
                assert!((1400..=1440).contains(&ttl), "{io}: TTL {ttl} from session.gc_maxlifetime");
            }
        }
    }
}

fn session_checks(srv: &Server, what: &str) {
    let r = get(srv, "/session.php");
    assert_eq!(r.text(), "1", "{what}");
    let cookie = r.header("set-cookie").expect("session cookie").split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("PHPSESSID="), "{what}: {cookie}");
    let again = |q: &str| {
        srv.request(&format!(
            "GET /session.php{q} HTTP/1.1\r\nHost: t\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        ))
    };
    assert_eq!(again("").text(), "2", "{what}");
    // Two requests of one session at once: the second waits for the
    // first's lock, so the counts are sequential, never equal.
    let started = Instant::now();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| again("?sleep=600").text());
        std::thread::sleep(Duration::from_millis(100));
        let b = s.spawn(|| again("?sleep=0").text());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.as_str(), b.as_str()), ("3", "4"), "{what}");
    assert!(started.elapsed() >= Duration::from_millis(600), "{what}");
}

#[test]
fn finish_request_answers_and_the_script_goes_on() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1");
        let marker = srv.dir.path().join("finished.json");
        let started = Instant::now();
        let r = get(&srv, &format!("/finish.php?marker={}", marker.display()));
        assert_eq!((r.status, r.text().as_str()), (200, "answered"), "{io}");
        assert!(started.elapsed() < Duration::from_millis(600), "{io}: the response waited for the script");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !marker.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "[true,false]", "{io}");
    }
}

#[test]
fn flushed_output_streams_and_large_output_is_whole() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1");
        let mut s = srv.connect();
        let started = Instant::now();
        s.write_all(b"GET /stream.php HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let mut first = [0u8; 512];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("first") {
            let n = s.read(&mut first).unwrap();
            assert!(n > 0, "{io}: closed early");
            got.extend_from_slice(&first[..n]);
        }
        let ttfb = started.elapsed();
        assert!(ttfb < Duration::from_millis(600), "{io}: first piece after {ttfb:?}");
        let head = String::from_utf8_lossy(&got).to_string();
        assert!(head.contains("Transfer-Encoding: chunked"), "{io}: {head}");
        s.read_to_end(&mut got).unwrap();
        assert!(String::from_utf8_lossy(&got).contains("second"), "{io}");

        let r = get(&srv, "/big.php?kib=3000");
        assert_eq!(r.body.len(), 3000 * 1024, "{io}");
        assert!(r.body.iter().all(|&b| b == b'x' || b == b'\n'), "{io}");
    }
}

#[test]
fn a_request_waiting_past_max_wait_gets_503() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1\n[php]\nthreads_per_core = 1\nmax_wait = \"200ms\"");
        std::thread::scope(|s| {
            let busy = s.spawn(|| get(&srv, "/sleep.php?ms=1500"));
            std::thread::sleep(Duration::from_millis(200));
            let r = get(&srv, "/hello.php");
            assert_eq!(r.status, 503, "{io}: {}", r.text());
            assert_eq!(r.header("retry-after"), Some("1"), "{io}");
            assert_eq!(busy.join().unwrap().text(), "slept", "{io}");
        });
        assert_eq!(get(&srv, "/hello.php").status, 200, "{io}");
    }
}

#[test]
fn ini_table_opcache_and_phpinfo() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1\n[php.ini]\nmemory_limit = \"96M\"");
        let v = json(&get(&srv, "/ini.php"));
        assert_eq!(v["memory_limit"], "96M", "{io}");
        assert_eq!(v["opcache"], true, "{io}: OPcache is off");
        assert_eq!((v["sapi"].as_str(), v["sapi_name"].as_str()), (Some("ephpm"), Some("ephpm")), "{io}");
        let r = get(&srv, "/phpinfo.php");
        let t = r.text();
        assert_eq!(r.status, 200, "{io}");
        for needle in [
            "PHP Version 8.4",
            "Server API </td><td class=\"v\">ephpm",
            "Zend OPcache",
            "mysqli",
            "pdo_sqlite",
            "</html>",
        ] {
            assert!(t.contains(needle), "{io}: phpinfo lacks {needle}");
        }
    }
}

#[test]
fn php_subcommand_runs_a_script_like_php_cli() {
    if !php_available() {
        return;
    }
    let out = std::process::Command::new(common::BIN)
        .args(["php", "-d", "memory_limit=77M"])
        .arg(php_fixtures().join("cli.php"))
        .args(["a", "-b", "c d"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cli 4 a,-b,c d 77M\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to stderr\n");
    assert_eq!(out.status.code(), Some(7));
    let out = std::process::Command::new(common::BIN).args(["php", "/nonexistent.php"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Could not open input file"));
}

/// php.request_timeout: 504 while the script sleeps; the thread serves
/// again once the script returns.
#[test]
fn request_timeout_answers_504_while_a_script_sleeps() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 1\n[php]\nthreads_per_core = 1\nrequest_timeout = \"1s\"\n");
        let started = Instant::now();
        let r = get(&srv, "/sleep.php?ms=2500");
        assert_eq!(r.status, 504, "{io}: {}", r.text());
        assert!(started.elapsed() < Duration::from_millis(2200), "{io}: 504 after {:?}", started.elapsed());
        let r = get(&srv, "/hello.php");
        assert_eq!(r.status, 200, "{io}: {}", r.text());
        assert_eq!(get(&srv, "/sleep.php?ms=10").text(), "slept", "{io}");
    }
}

/// `ephpm php` with php-cli's options, as tooling calls it.
#[test]
fn php_subcommand_takes_php_cli_options() {
    if !php_available() {
        return;
    }
    let php = |args: &[&str]| {
        let out = std::process::Command::new(common::BIN).arg("php").args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, v) = php(&["-v"]);
    assert!(code == Some(0) && v.starts_with("PHP 8.4.") && v.contains("(cli)") && v.contains("(ZTS)"), "{v}");
    let (code, out) = php(&[
        "-d",
        "precision=5",
        "-r",
        "echo M_PI, ' ', json_encode($argv), ' ', $_SERVER['argc']; exit(4);",
        "--",
        "a",
        "-b",
    ]);
    assert_eq!((code, out.as_str()), (Some(4), r#"3.1416 ["Standard input code","a","-b"] 3"#));
    // $_SERVER in a script (this once crashed: a missing C prototype).
    let (code, out) = php(&["-r", "echo isset($_SERVER['PATH']) ? 'env' : 'none';"]);
    assert_eq!((code, out.as_str()), (Some(0), "env"));
    let (_, m) = php(&["-m"]);
    for module in ["[PHP Modules]", "\nCore\n", "\npdo_mysql\n", "\nsession\n", "\nmbstring\n", "[Zend Modules]"] {
        assert!(m.contains(module), "-m lacks {module}: {m}");
    }
    let (_, i) = php(&["-i"]);
    assert!(i.starts_with("phpinfo()") && i.contains("Server API => Command Line Interface"), "{i}");
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good.php"), dir.path().join("bad.php"));
    std::fs::write(&good, "<?php\n$f = function () { return $_SERVER['X'] ?? 1; };\n").unwrap();
    std::fs::write(&bad, "<?php echo 1\n").unwrap();
    let (code, out) = php(&["-l", good.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("No syntax errors detected in"), "{out}");
    let (code, out) = php(&["-l", bad.to_str().unwrap()]);
    assert_eq!(code, Some(255), "{out}");
    assert!(out.contains("Errors parsing") && out.contains("syntax error"), "{out}");
    // Through a link named `php`, ephpm is `ephpm php` (Composer, PHPUnit).
    let link = dir.path().join("php");
    std::os::unix::fs::symlink(common::BIN, &link).unwrap();
    let out = std::process::Command::new(&link).args(["-r", "echo PHP_SAPI;"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cli");
    let (code, _) = php(&["-q"]);
    assert_eq!(code, Some(1));
}

/// MD5 by the real md5sum, to compare with PHP's md5().
fn md5(data: &[u8]) -> Md5Hex {
    let mut child = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    Md5Hex(String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string())
}

struct Md5Hex(String);

impl std::fmt::LowerHex for Md5Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[test]
fn the_example_app_runs_php() {
    if !php_available() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("example/public");
    let srv = Server::start_root("epoll", &root, "cores = 1");
    let r = get(&srv, "/hello.php");
    assert_eq!(r.status, 200);
    let page = r.text();
    for needle in ["PHP on ephpm", "ZTS, SAPI ephpm", "<td>on</td>", "Visits in this session</th><td>1"] {
        assert!(page.contains(needle), "lacks {needle}: {page}");
    }
}

#[test]
fn mixed_load_with_disconnects_leaves_the_server_serving() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let srv = start(io, "cores = 2\n[php]\nthreads_per_core = 2\nmax_wait = \"2s\"");
        let deadline = Instant::now() + Duration::from_secs(2);
        std::thread::scope(|scope| {
            for t in 0..8u32 {
                let srv = &srv;
                scope.spawn(move || {
                    let mut i = 0u32;
                    while Instant::now() < deadline && i < 2000 {
                        i += 1;
                        let Ok(mut s) = std::net::TcpStream::connect(srv.addr) else { continue };
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        let _ = match (t + i) % 5 {
                            // A whole request.
                            0 => s.write_all(b"GET /hello.php HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
                            // Leaves while a large response streams.
                            1 => s.write_all(b"GET /big.php?kib=4000 HTTP/1.1\r\nHost: t\r\n\r\n"),
                            // Leaves half-way through a form body.
                            2 => s.write_all(b"POST /input.php HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 90000\r\n\r\na=b"),
                            // Leaves half-way through a streamed body.
                            3 => s.write_all(b"PUT /stream_input.php?marker=/dev/null HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"),
                            // A session request, read to the end.
                            _ => s.write_all(b"GET /session.php HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
                        };
                        let mut buf = [0u8; 4096];
                        match (t + i) % 5 {
                            0 | 4 => while matches!(s.read(&mut buf), Ok(n) if n > 0) {},
                            1 => drop(s.read(&mut buf)),
                            // Cut-off bodies: leave at once.
                            _ => {}
                        }
                    }
                });
            }
        });
        for _ in 0..8 {
            let r = get(&srv, "/hello.php");
            assert_eq!((r.status, r.text().as_str()), (200, "Hello from PHP\n"), "{io}");
        }
    }
}
