//! The node API: bearer-token checks, every endpoint's JSON, counters that
//! move with traffic, `/metrics` accepted by the real `promtool`, and the
//! access log in both formats.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{php_available, Server, BIN};
use serde_json::Value;

const TOKEN: &str = "node-api-test-token";

/// A server with every listener on a free port and the node API on.
fn start(extra: &str) -> Server {
    Server::start(
        "auto",
        &format!(
            "fallback = \"\"\n[kv.redis]\nlisten = \"127.0.0.1:0\"\n[db.sqlite]\nlisten = \"127.0.0.1:0\"\npath = \"db.sqlite\"\n\
             [node_api]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n{extra}"
        ),
    )
}

/// GET `path` with an optional Authorization header value: status,
/// head and body.
fn api(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String, String) {
    api_with(addr, path, auth, "")
}

/// As [`api`], with extra header lines.
fn api_with(addr: SocketAddr, path: &str, auth: Option<&str>, headers: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: node\r\n{auth}{headers}Connection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// GET `path` with the token; the JSON document.
fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, head, body) = api(addr, path, Some(&format!("Bearer {TOKEN}")));
    assert_eq!(status, 200, "{path}: {head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}):\n{body}"))
}

fn num(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("no number at {pointer} in {v:#}"))
}

/// The sum of a counter family's samples in an OpenMetrics text.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn redis(addr: SocketAddr, cmd: &[&str]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!("*{}\r\n", cmd.len());
    for a in cmd {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn log_addr(srv: &Server, marker: &str) -> SocketAddr {
    assert!(srv.wait_log(marker), "{marker} not in the log:\n{}", srv.log());
    srv.log().split(marker).nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_missing_or_wrong_token_gets_401() {
    let srv = start("");
    let addr = srv.node_api_addr();
    for path in ["/health", "/metrics", "/api/workers", "/api/config", "/nope"] {
        let (status, head, _) = api(addr, path, None);
        assert_eq!(status, 401, "{path} without a token: {head}");
        assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
        assert_eq!(api(addr, path, Some("Bearer wrong-token")).0, 401, "{path} with a wrong token");
        assert_eq!(api(addr, path, Some(TOKEN)).0, 401, "{path} with the token but no Bearer scheme");
    }
    assert_eq!(api(addr, "/health", Some(&format!("Bearer {TOKEN}"))).0, 200);
    assert_eq!(api(addr, "/nope", Some(&format!("Bearer {TOKEN}"))).0, 404);
}

#[test]
fn endpoints_return_json_and_counters_move_with_traffic() {
    let srv = start("");
    let api_addr = srv.node_api_addr();
    let resp_addr = log_addr(&srv, "RESP listening on redis://");
    let mysql_addr = srv.mysql_addr();

    let health = json(api_addr, "/health");
    assert_eq!(health["status"], "ok", "{health:#}");
    assert_eq!((health["live"].as_bool(), health["ready"].as_bool()), (Some(true), Some(true)));
    assert_eq!(num(&health, "/cores/responding"), num(&health, "/cores/total"));
    assert_eq!(health["db"]["writer_alive"], true);

    let before = json(api_addr, "/api/connections");
    let requests_before = num(&before, "/total/requests");

    for _ in 0..20 {
        assert_eq!(srv.get("/small.txt", "").status, 200);
    }
    assert_eq!(srv.get("/missing.txt", "").status, 404);
    // Refused before its head is read: counted all the same.
    assert!(srv.raw(b"NOT HTTP AT ALL\r\n\r\n").starts_with(b"HTTP/1.1 400"));
    let php = php_available();
    if php {
        for _ in 0..5 {
            assert_eq!(srv.get("/index.php", "").status, 200);
        }
    }
    assert!(redis(resp_addr, &["SET", "k", "v"]).starts_with("+OK"));
    assert!(redis(resp_addr, &["GET", "k"]).contains('v'));
    assert!(redis(resp_addr, &["GET", "nothing-here"]).starts_with("$-1"));
    let out = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", &mysql_addr.port().to_string(), "-uroot", "-e"])
        .arg("CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2); SELECT * FROM t WHERE a = 2")
        .output()
        .expect("mariadb client (apt-get install mariadb-client)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let conns = json(api_addr, "/api/connections");
    let expected = 22 + if php { 5 } else { 0 };
    // The four requests of this test's own earlier reads are not HTTP
    // traffic of the server under test: the node API counts apart.
    assert_eq!(num(&conns, "/total/requests") - requests_before, expected, "{conns:#}");
    assert!(num(&conns, "/total/bytes_out") > 20 * 1024, "{conns:#}");
    assert!(num(&conns, "/total/bytes_in") > 0, "{conns:#}");
    assert!(num(&conns, "/total/accepted") >= expected);
    assert_eq!(num(&conns, "/latency/count"), expected, "{conns:#}");
    assert!(conns["latency"]["p999_ms"].as_f64().unwrap() >= conns["latency"]["p50_ms"].as_f64().unwrap());
    assert_eq!(conns["cores"].as_array().unwrap().len(), 2);

    let latency = json(api_addr, "/api/latency");
    assert_eq!(num(&latency, "/http_request/merged/count"), expected, "{latency:#}");
    for key in ["p50_ms", "p90_ms", "p99_ms", "p999_ms"] {
        assert!(latency["http_request"]["merged"][key].as_f64().unwrap() > 0.0, "{key}: {latency:#}");
    }
    assert!(num(&latency, "/db_query/merged/count") >= 3, "{latency:#}");

    let workers = json(api_addr, "/api/workers");
    assert_eq!(workers["cores"].as_array().unwrap().len(), 2, "{workers:#}");
    if php {
        assert_eq!(num(&workers, "/total/requests"), 5, "{workers:#}");
        assert_eq!(num(&workers, "/total/threads"), num(&workers, "/total/alive"));
        assert_eq!(num(&workers, "/total/execution/count"), 5, "{workers:#}");
        assert!(num(&workers, "/total/memory_bytes") > 0, "{workers:#}");
        for key in ["busy", "idle", "queue_depth", "restarts", "queue_wait", "memory_bytes", "thread_memory_bytes"] {
            assert!(workers["cores"][0].get(key).is_some(), "{key}: {workers:#}");
        }
    }

    let kv = json(api_addr, "/api/kv/stats");
    assert_eq!(num(&kv, "/total/keys"), 1, "{kv:#}");
    assert_eq!((num(&kv, "/total/hits"), num(&kv, "/total/misses")), (1, 1), "{kv:#}");
    assert_eq!(num(&kv, "/total/commands"), 3, "{kv:#}");
    assert!(num(&kv, "/total/memory_bytes") > 0);
    for key in ["evictions", "expirations"] {
        assert!(kv["total"].get(key).is_some(), "{key}: {kv:#}");
    }
    assert_eq!(kv["shards"].as_array().unwrap().len(), 2);

    let digests = json(api_addr, "/api/db/digests");
    let list = digests["digests"].as_array().unwrap();
    let select =
        list.iter().find(|d| d["digest"] == "SELECT * FROM t WHERE a = ?").unwrap_or_else(|| panic!("{digests:#}"));
    assert_eq!((num(select, "/count"), num(select, "/rows")), (1, 1), "{select:#}");
    assert!(select["max_ms"].as_f64().unwrap() >= select["min_ms"].as_f64().unwrap());

    let slow = json(api_addr, "/api/db/slow");
    assert!(slow["queries"].is_array() && slow["threshold_ms"].as_f64() == Some(1000.0), "{slow:#}");

    let pool = json(api_addr, "/api/db/pool");
    assert_eq!((pool["mode"].as_str(), pool["writer"]["alive"].as_bool()), (Some("sqlite"), Some(true)), "{pool:#}");
    assert!(num(&pool, "/writer/jobs") >= 2, "{pool:#}");
    assert_eq!(num(&pool, "/readers"), 2);

    let config = json(api_addr, "/api/config");
    assert_eq!(config["node_api"]["token"], "***", "the token must be redacted: {config:#}");
    assert_eq!(config["db"]["users"][0]["password"], "***");
    assert_eq!(config["server"]["cores"], "2");
}

#[test]
fn metrics_pass_promtool_under_load() {
    let srv = start("");
    let api_addr = srv.node_api_addr();
    let bearer = format!("Bearer {TOKEN}");
    // What Prometheus asks for: OpenMetrics.
    let accept = "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n";
    let (status, head, om) = api_with(api_addr, "/metrics", Some(&bearer), accept);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("application/openmetrics-text; version=1.0.0"), "{head}");
    assert!(om.ends_with("# EOF\n") && om.contains("# TYPE ephpm_http_requests counter"), "{om}");
    assert!(om.contains("# UNIT ephpm_http_request_duration_seconds seconds"), "{om}");
    // Anyone else: the classic text format (what promtool parses).
    let (status, head, first) = api(api_addr, "/metrics", Some(&bearer));
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");

    // Bounded load from two threads while the scrapes happen.
    let addr = srv.addr;
    let load: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(3);
                let mut n = 0u32;
                while n < 2000 && Instant::now() < deadline {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
                    let _ = s.read_to_end(&mut Vec::new());
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (_, _, under_load) = api(api_addr, "/metrics", Some(&format!("Bearer {TOKEN}")));
    let sent: u32 = load.into_iter().map(|t| t.join().unwrap()).sum();
    let (_, _, after) = api(api_addr, "/metrics", Some(&format!("Bearer {TOKEN}")));

    for family in [
        "ephpm_http_requests_total",
        "ephpm_http_request_duration_seconds_bucket",
        "ephpm_http_received_bytes_total",
        "ephpm_http_sent_bytes_total",
        "ephpm_http_connections_open",
        "ephpm_kv_commands_total",
        "ephpm_kv_memory_bytes",
        "ephpm_kv_mesh_batches_total",
        "ephpm_kv_mesh_messages_total",
        "ephpm_db_queries_total",
        "ephpm_db_query_duration_seconds_count",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "ephpm_build_info",
    ] {
        assert!(after.lines().any(|l| l.starts_with(family)), "{family} missing:\n{after}");
    }
    if php_available() {
        for family in ["ephpm_php_threads", "ephpm_php_queue_wait_seconds_bucket", "ephpm_php_execution_seconds_count"]
        {
            assert!(after.lines().any(|l| l.starts_with(family)), "{family} missing:\n{after}");
        }
    }
    let moved = metric_sum(&after, "ephpm_http_requests_total") - metric_sum(&first, "ephpm_http_requests_total");
    assert_eq!(moved as u32, sent, "every request of the load counted");
    assert!(metric_sum(&after, "ephpm_http_sent_bytes_total") > metric_sum(&first, "ephpm_http_sent_bytes_total"));

    // Every family name appears once.
    let mut names: Vec<&str> = after.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    let total = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), total, "a family is declared twice");

    for scrape in [&under_load, &after] {
        let Some(report) = promtool(scrape) else { return };
        assert!(report.0, "promtool check metrics failed:\n{}\n{scrape}", report.1);
    }
}

/// Runs `promtool check metrics` on `text`: (passed, output). `None` when
/// promtool is missing outside CI (CI installs it).
fn promtool(text: &str) -> Option<(bool, String)> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("promtool not installed (apt-get install prometheus): check skipped");
            return None;
        }
        Err(e) => panic!("promtool is required in CI: {e}"),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // promtool exits 3 for lint warnings only; errors are exit 1.
    Some((out.status.code() == Some(0), report))
}

#[test]
fn metrics_off_keeps_counts_but_skips_per_request_figures() {
    let srv = start("[metrics]\nenabled = false\n");
    let api_addr = srv.node_api_addr();
    for _ in 0..5 {
        assert_eq!(srv.get("/small.txt", "").status, 200);
    }
    let conns = json(api_addr, "/api/connections");
    assert_eq!(num(&conns, "/total/requests"), 5, "{conns:#}");
    assert_eq!(num(&conns, "/latency/count"), 0, "{conns:#}");
    assert_eq!(num(&conns, "/total/bytes_out"), 0, "{conns:#}");
}

#[test]
fn a_node_api_beyond_loopback_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ephpm.toml");
    std::fs::write(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\n[node_api]\nlisten = \"0.0.0.0:0\"\n").unwrap();
    let out = Command::new(BIN).arg("serve").arg("--config").arg(&cfg).current_dir(dir.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node_api.token") && err.contains("ephpm.toml") && err.contains("loopback"), "{err}");
}

#[test]
fn a_second_server_cannot_share_the_node_api_port() {
    let first = start("");
    let port = first.node_api_addr().port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ephpm.toml");
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[db.sqlite]\nlisten = \"\"\n[node_api]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    std::fs::write(&cfg, toml).unwrap();
    let out = Command::new(BIN).arg("serve").arg("--config").arg(&cfg).current_dir(dir.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("node_api.listen"), "{err}");
}

#[test]
fn access_log_writes_combined_and_json_lines() {
    for format in ["combined", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let srv = Server::start(
            "auto",
            &format!(
                "fallback = \"\"\n[log]\nrequests = true\naccess_log = \"{}\"\naccess_format = \"{format}\"\n",
                path.display()
            ),
        );
        let r = srv.get("/small.txt?x=1", "User-Agent: test \"agent\"/1.0\r\nReferer: http://ref.example/\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(srv.get("/missing", "").status, 404);
        // Lines reach the file within the flush interval.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut text = String::new();
        while Instant::now() < deadline {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{format}: {text}");
        if format == "combined" {
            let l = lines.iter().find(|l| l.contains("/small.txt")).unwrap();
            assert!(l.starts_with("127.0.0.1 - - ["), "{l}");
            assert!(
                l.ends_with(
                    "] \"GET /small.txt?x=1 HTTP/1.1\" 200 1024 \"http://ref.example/\" \"test \\x22agent\\x22/1.0\""
                ),
                "{l}"
            );
            assert!(lines.iter().any(|l| l.contains("\"GET /missing HTTP/1.1\" 404 ")), "{text}");
        } else {
            let v: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
            let small = v.iter().find(|v| v["target"] == "/small.txt?x=1").unwrap_or_else(|| panic!("{text}"));
            assert_eq!((small["status"].as_u64(), small["bytes"].as_u64()), (Some(200), Some(1024)));
            assert_eq!(small["user_agent"], "test \"agent\"/1.0");
            assert_eq!(small["referer"], "http://ref.example/");
            assert!(small["micros"].as_u64().is_some() && small["time"].as_str().unwrap().ends_with('Z'));
        }
    }
}
