//! The page cache (`[server.cache]`) with real PHP scripts: what is
//! stored and for how long, what never is, variants, one refresher for a
//! stale page, purges that reach every core (node API and PHP), metrics.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{php_available, Resp, Server};
use serde_json::Value;

const TOKEN: &str = "cache-test-token";

/// The script whose runs the tests count: each run increments a KV
/// counter named by `?n=` and answers with it, so a body that repeats
/// came from the cache. Query parameters choose the headers it sends.
const PAGE: &str = r#"<?php
$n = ephpm_kv_incr_by('runs:' . ($_GET['n'] ?? 'x'));
if (isset($_GET['cc'])) header('Cache-Control: ' . $_GET['cc']);
if (isset($_GET['cookie'])) setcookie('c', 'v');
if (isset($_GET['vary'])) header('Vary: Accept-Encoding');
if (isset($_GET['etag'])) header('ETag: "v1"');
if (isset($_GET['status'])) http_response_code((int)$_GET['status']);
if (isset($_GET['sleep'])) usleep((int)$_GET['sleep'] * 1000);
if (isset($_GET['stream'])) {
    for ($i = 0; $i < 3; $i++) { echo "part $i of run $n\n"; flush(); }
    exit;
}
echo "run $n\n";
"#;

/// Purges from PHP, as an application would.
const PURGE: &str = r#"<?php
header('Cache-Control: no-store');
echo json_encode(ephpm_cache_purge($_GET['what']));
"#;

fn start(cores: usize, extra: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("page.php"), PAGE).unwrap();
    std::fs::write(dir.path().join("purge.php"), PURGE).unwrap();
    let config = format!(
        "cores = {cores}\nfallback = \"\"\n[server.cache]\nenabled = true\n{extra}\n\
         [node_api]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n"
    );
    (Server::start_root("auto", dir.path(), &config), dir)
}

fn cache_status(r: &Resp) -> &str {
    r.header("cache-status").unwrap_or("")
}

/// POSTs `body` to the node API's purge endpoint: status and JSON.
fn api_purge(addr: SocketAddr, method: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} /api/cache/purge HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn api_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string())
}

fn stats(addr: SocketAddr) -> Value {
    serde_json::from_str(&api_get(addr, "/api/cache/stats")).unwrap()
}

/// Entries held by each core.
fn entries_per_core(addr: SocketAddr) -> Vec<u64> {
    let s = stats(addr);
    s["per_core"].as_array().unwrap().iter().map(|c| c["entries"].as_u64().unwrap()).collect()
}

#[test]
fn a_fresh_response_is_served_until_it_expires() {
    if !php_available() {
        return;
    }
    let (srv, _dir) = start(1, "");
    let path = "/page.php?n=fresh&cc=max-age=2";
    let first = srv.get(path, "");
    assert_eq!((first.status, first.text().as_str()), (200, "run 1\n"));
    assert_eq!(cache_status(&first), "ephpm; fwd=uri-miss; stored");
    let again = srv.get(path, "");
    assert_eq!(again.text(), "run 1\n", "served from the cache");
    assert_eq!(cache_status(&again), "ephpm; hit");
    assert!(again.header("age").is_some_and(|a| a == "0" || a == "1"), "{:?}", again.headers);
    assert_eq!(again.header("cache-control"), Some("max-age=2"), "the script's headers are kept");
    // HEAD from the stored response states the GET's length.
    let head = srv.request(&format!("HEAD {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    assert_eq!((head.status, head.header("content-length")), (200, Some("6")));
    assert_eq!(cache_status(&head), "ephpm; hit");
    // Another host is another page; the host's case is not.
    let other = srv.request(&format!("GET {path} HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"));
    assert_eq!(other.text(), "run 2\n");
    let upper = srv.request(&format!("GET {path} HTTP/1.1\r\nHost: OTHER\r\nConnection: close\r\n\r\n"));
    assert_eq!(upper.text(), "run 2\n");
    std::thread::sleep(Duration::from_millis(2100));
    let later = srv.get(path, "");
    assert_eq!(later.text(), "run 3\n", "expired after max-age");
    // A query string is part of the key.
    assert_eq!(srv.get("/page.php?n=fresh&cc=max-age=2&x", "").text(), "run 4\n");
}

#[test]
fn what_may_not_be_stored_or_served_is_not() {
    if !php_available() {
        return;
    }
    let (srv, _dir) = start(1, "");
    let twice = |path: &str, headers: &str| {
        let a = srv.get(path, headers);
        let b = srv.get(path, headers);
        assert_ne!(a.text(), b.text(), "{path} with {headers:?} must run the script each time: {b:?}");
        b
    };
    for cc in ["no-store", "private", "no-cache", "max-age=0"] {
        twice(&format!("/page.php?n={cc}&cc={cc}"), "");
    }
    let r = twice("/page.php?n=cookie&cookie=1", "");
    assert_eq!(cache_status(&r), "ephpm; fwd=uri-miss; detail=set-cookie");
    let r = twice("/page.php?n=500&status=500", "");
    assert_eq!(cache_status(&r), "ephpm; fwd=uri-miss; detail=status");
    let r = twice("/page.php?n=302&status=302", "");
    assert_eq!(r.status, 302);

    // A stored page is not served to a logged-in user, a request with
    // credentials, or a POST; and they do not replace it.
    let anon = "/page.php?n=anon";
    assert_eq!(srv.get(anon, "").text(), "run 1\n");
    for headers in [
        "Cookie: a=1; wordpress_logged_in_0123abc=admin%7C1\r\n",
        "Cookie: PHPSESSID=abc\r\n",
        "Authorization: Basic dTpw\r\n",
    ] {
        let r = srv.get(anon, headers);
        assert_ne!(r.text(), "run 1\n", "{headers:?} must bypass the cache");
        assert!(cache_status(&r).starts_with("ephpm; fwd=bypass"), "{:?}", r.headers);
    }
    assert_eq!(srv.get(anon, "Cookie: other=1\r\n").text(), "run 1\n", "a cookie not listed does not bypass");
    // A POST to the page runs the script and invalidates the stored copy.
    let post =
        srv.request(&format!("POST {anon} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
    assert_eq!(cache_status(&post), "ephpm; fwd=bypass; detail=method");
    let after = srv.get(anon, "");
    assert_eq!(cache_status(&after), "ephpm; fwd=uri-miss; stored", "the POST invalidated it: {after:?}");
}

#[test]
fn variants_streams_and_conditional_requests() {
    if !php_available() {
        return;
    }
    let (srv, _dir) = start(1, "");
    let path = "/page.php?n=vary&vary=1";
    let gz = "Accept-Encoding: gzip\r\n";
    assert_eq!(srv.get(path, gz).text(), "run 1\n");
    let plain = srv.get(path, "");
    assert_eq!((plain.text().as_str(), cache_status(&plain)), ("run 2\n", "ephpm; fwd=vary-miss; stored"));
    assert_eq!(srv.get(path, gz).text(), "run 1\n");
    assert_eq!(srv.get(path, "").text(), "run 2\n");

    // A streamed (flushed) response is stored once it ended whole.
    let first = srv.get("/page.php?n=stream&stream=1", "");
    assert!(first.chunked, "the script flushed: {first:?}");
    let again = srv.get("/page.php?n=stream&stream=1", "");
    assert_eq!((again.text(), cache_status(&again)), (first.text(), "ephpm; hit"));
    assert_eq!(again.text().lines().count(), 3);

    // If-None-Match with the stored ETag: 304 from the cache.
    srv.get("/page.php?n=etag&etag=1", "");
    let r = srv.get("/page.php?n=etag&etag=1", "If-None-Match: \"v1\"\r\n");
    assert_eq!((r.status, r.header("etag"), cache_status(&r)), (304, Some("\"v1\""), "ephpm; hit"));
    assert!(r.body.is_empty());
}

#[test]
fn a_stale_page_is_refreshed_by_one_request_while_the_others_get_it_stale() {
    if !php_available() {
        return;
    }
    let (srv, _dir) = start(1, "");
    let path = "/page.php?n=swr&sleep=400&cc=max-age%3D1%2C%20stale-while-revalidate%3D30";
    assert_eq!(srv.get(path, "").text(), "run 1\n");
    std::thread::sleep(Duration::from_millis(1200));
    let addr = srv.addr;
    let start = Instant::now();
    let answers: Vec<(String, String, Duration)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|i| {
                s.spawn(move || {
                    // The first goes alone; the rest arrive while it runs.
                    std::thread::sleep(Duration::from_millis(if i == 0 { 0 } else { 100 }));
                    let mut c = TcpStream::connect(addr).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    write!(c, "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
                    let r = common::read_response(&mut std::io::BufReader::new(c), false);
                    (r.text(), cache_status(&r).to_string(), start.elapsed())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let refreshed: Vec<_> = answers.iter().filter(|a| a.1 == "ephpm; fwd=stale; stored").collect();
    let stale: Vec<_> = answers.iter().filter(|a| a.1 == "ephpm; hit; detail=stale").collect();
    assert_eq!((refreshed.len(), stale.len()), (1, 7), "{answers:#?}");
    assert_eq!(refreshed[0].0, "run 2\n");
    assert!(stale.iter().all(|a| a.0 == "run 1\n" && a.2 < Duration::from_millis(400)), "{answers:#?}");
    let next = srv.get(path, "");
    assert_eq!((next.text().as_str(), cache_status(&next)), ("run 2\n", "ephpm; hit"));
}

/// Requests `path` on new connections until every core holds it (a new
/// connection lands on either core).
fn fill_every_core(srv: &Server, api: SocketAddr, path: &str, cores: usize) {
    for _ in 0..200 {
        srv.get(path, "");
        if entries_per_core(api).iter().filter(|&&n| n > 0).count() == cores {
            return;
        }
    }
    panic!("{path} never reached every core: {:?}", entries_per_core(api));
}

#[test]
fn purges_reach_every_core_before_they_return() {
    if !php_available() {
        return;
    }
    let (srv, _dir) = start(2, "");
    let api = srv.node_api_addr();
    fill_every_core(&srv, api, "/page.php?n=p1", 2);
    srv.get("/page.php?n=keep", "");
    let (status, v) = api_purge(api, "POST", r#"{"url": "/page.php?n=p1"}"#);
    assert_eq!((status, v["purged"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!(v["per_core"], serde_json::json!([1, 1]));
    for _ in 0..6 {
        let r = srv.get("/page.php?n=p1", "");
        assert!(r.text() != "run 1\n", "a core still served the purged page: {r:?}");
    }

    // From PHP: a prefix, on every core.
    fill_every_core(&srv, api, "/page.php?n=p2", 2);
    let before: u64 = entries_per_core(api).iter().sum();
    let r = srv.get("/purge.php?what=/page.php*", "");
    assert_eq!(r.text().trim(), before.to_string(), "every stored page under the prefix: {r:?}");
    assert_eq!(entries_per_core(api), vec![0, 0]);
    let r = srv.get("/purge.php?what=nonsense", "").text();
    assert!(r.ends_with("false") && r.contains("ephpm_cache_purge(): `nonsense` is not `*`"), "refused: {r}");

    // The node API checks what it is sent.
    for (method, body, want) in [
        ("POST", "{\"bogus\": 1}", 400),
        ("POST", "not json", 400),
        ("POST", "{\"url\": \"relative\"}", 400),
        ("POST", "{\"all\": false}", 400),
        ("GET", "", 405),
    ] {
        let (status, v) = api_purge(api, method, body);
        assert_eq!(status, want, "{method} {body}: {v}");
    }
    srv.get("/page.php?n=p3", "");
    let (status, v) = api_purge(api, "POST", r#"{"all": true}"#);
    assert!(status == 200 && v["purged"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(entries_per_core(api), vec![0, 0]);

    // The figures reach /metrics.
    let metrics = api_get(api, "/metrics");
    for name in ["ephpm_page_cache_hits_total", "ephpm_page_cache_misses_total", "ephpm_page_cache_purged_total"] {
        assert!(metrics.contains(&format!("{name}{{core=\"1\"}}")), "{name} missing:\n{metrics}");
    }
    let s = stats(api);
    assert!(s["total"]["purged"].as_u64().unwrap() >= 4 && s["total"]["hits"].as_u64().unwrap() >= 1, "{s:#}");
}

#[test]
fn a_bad_cache_setting_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ephpm.toml");
    for (body, key) in [
        ("[server.cache]\nbypass_cookies = [\"a[\"]\n", "server.cache.bypass_cookies"),
        ("[server.cache]\nmax_size = \"1MiB\"\nmax_entry_size = \"2MiB\"\n", "server.cache.max_entry_size"),
        ("[server.cache]\ndefault_ttl = \"soon\"\n", "default_ttl"),
    ] {
        std::fs::write(&cfg, format!("[server]\nlisten = \"127.0.0.1:0\"\n{body}")).unwrap();
        let out = std::process::Command::new(common::BIN).args(["serve", "--config"]).arg(&cfg).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(key) && err.contains("ephpm.toml"), "{body}: {err}");
    }
}
