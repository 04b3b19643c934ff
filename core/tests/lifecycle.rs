//! Start-up, configuration, CLI and graceful shutdown of the real binary.

mod common;

use std::io::{BufReader, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_0() {
    for io in backends() {
        let mut srv = Server::start(io, "");
        // An idle keep-alive connection and one with a request half sent.
        let mut idle = srv.connect();
        idle.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut BufReader::new(idle.try_clone().unwrap()), false).status, 200);
        let mut busy = srv.connect();
        busy.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let pid_done = std::thread::scope(|sc| {
            let h = sc.spawn(|| srv.terminate());
            std::thread::sleep(Duration::from_millis(300));
            // The in-flight request still completes, and says it closes.
            busy.write_all(b"\r\n").unwrap();
            let resp = read_response(&mut BufReader::new(busy.try_clone().unwrap()), false);
            assert_eq!(resp.status, 200, "{io}");
            assert_eq!(resp.header("connection"), Some("close"));
            h.join().unwrap()
        });
        assert!(pid_done.success(), "{io}: exit status {pid_done:?}");
        assert!(closed_by_server(&mut idle));
        assert!(std::net::TcpStream::connect(srv.addr).is_err(), "{io}: still accepting after shutdown");
        assert!(srv.wait_log("shutdown complete"), "{}", srv.log());
    }
}

/// An idle server that has run PHP stops at once on SIGTERM: its PHP
/// threads are told their cores are gone, none is left running.
#[test]
fn sigterm_stops_an_idle_php_server_at_once() {
    if !common::php_available() {
        return;
    }
    for io in backends() {
        let mut srv = Server::start_root(io, &common::php_fixtures(), "cores = 2");
        for _ in 0..4 {
            assert_eq!(srv.get("/hello.php", "").status, 200, "{io}");
        }
        let started = Instant::now();
        assert!(srv.terminate().success(), "{io}");
        let took = started.elapsed();
        let log = srv.log();
        assert!(!log.contains("PHP threads still running"), "{io}: {log}");
        assert!(took < Duration::from_millis(1500), "{io}: an idle server took {took:?} to stop");
    }
}

#[test]
fn both_backends_are_logged() {
    for io in backends() {
        let srv = Server::start(io, "");
        let want = if io == "uring" { "io_uring" } else { "epoll" };
        assert!(srv.log().contains(&format!("2 cores, {want})")), "{}", srv.log());
    }
}

#[test]
fn env_overrides_apply() {
    let srv =
        Server::start_env("epoll", "", &[("EPHPM_SERVER__HELLO_ROUTE", "/from-env"), ("EPHPM_LOG__REQUESTS", "true")]);
    // The built-in hello route answers at the path the environment set.
    let moved = srv.get("/from-env", "");
    assert_eq!(moved.status, 200);
    assert!(moved.text().starts_with("Hello"), "not the hello route: {}", moved.text());
    assert!(srv.wait_log("/from-env"), "request log line missing: {}", srv.log());
}

#[test]
fn config_check_prints_effective_config_or_fails_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[server]\nlisten = \"127.0.0.1:9999\"\n").unwrap();
    let out = Command::new(BIN).args(["config", "check", "--config"]).arg(&good).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("listen = \"127.0.0.1:9999\"") && text.contains("max_body_size = \"8MiB\""), "{text}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = \"127.0.0.1:9999\"\nmax_body_sise = \"1MiB\"\n").unwrap();
    let out = Command::new(BIN).args(["config", "check", "--config"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_body_sise") && err.contains("bad.toml"), "{err}");

    let out = Command::new(BIN)
        .args(["config", "check"])
        .env("EPHPM_SERVER__TIMEOUTS__HEADER", "quick")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("EPHPM_SERVER__TIMEOUTS__HEADER"));
}

#[test]
fn serve_refuses_bad_flags_and_busy_ports() {
    let out = Command::new(BIN).args(["serve", "--io", "kqueue"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.io"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN).args(["serve", "--listen", &addr]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&addr));
}

#[test]
fn default_root_is_public_then_the_example_app() {
    let dir = tempfile::tempdir().unwrap();
    let run = |cwd: &std::path::Path| {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--cores", "1"]).current_dir(cwd);
        spawn_and_wait(cmd)
    };
    let (mut child, addr, _log) = run(dir.path());
    let body = http_get(addr, "/");
    assert!(body.contains("ephpm is running"), "{body}");
    child.kill().unwrap();
    child.wait().unwrap();

    std::fs::create_dir(dir.path().join("public")).unwrap();
    std::fs::write(dir.path().join("public/index.html"), "mine").unwrap();
    let (mut child, addr, _log) = run(dir.path());
    assert!(http_get(addr, "/").ends_with("mine"));
    child.kill().unwrap();
    child.wait().unwrap();
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let start = Instant::now();
    let _ = std::io::Read::read_to_string(&mut s, &mut out);
    assert!(start.elapsed() < Duration::from_secs(5));
    out
}

#[test]
fn json_logs_are_one_object_per_line() {
    let srv = Server::start("epoll", "[log]\nformat = \"json\"\nrequests = true");
    assert_eq!(srv.get("/small.txt", "").status, 200);
    assert!(srv.wait_log("/small.txt"), "{}", srv.log());
    let log = srv.log();
    let request_line = log.lines().find(|l| l.contains("/small.txt")).expect("request logged");
    assert!(request_line.starts_with('{') && request_line.ends_with('}'), "{request_line}");
    assert!(request_line.contains("\"status\":200"), "{request_line}");
    assert!(log.lines().any(|l| l.starts_with('{') && l.contains("listening on")));
}
