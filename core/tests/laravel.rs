//! A real Laravel 10 application on Laravel Octane with ephpm's driver
//! (`sapi/php/octane/`), started the way users start it:
//! `ephpm php artisan octane:ephpm`. Checked over HTTP: the app boots once
//! per worker and nothing leaks between requests; Octane's events run;
//! Octane::table(), the octane cache store, ticks and intervals live in the
//! KV and are shared by every core; Octane::concurrently() runs its tasks
//! in parallel on other PHP threads; octane:ephpm-status, -reload and -stop
//! work. Also the same app in classic mode (the benches' baseline).
//! The app comes from `tools/assemble-laravel.sh`; ci/test.sh passes its
//! directory in `EPHPM_LARAVEL_APP`.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{php_available, read_response, Resp, Server, BIN};
use serde_json::Value;

/// A writable copy of the assembled application; `None` (skipped) without it.
fn app(into: &Path) -> Option<PathBuf> {
    let src = common::required_dir("EPHPM_LARAVEL_APP", "tools/assemble-laravel.sh, as ci/test.sh does")?;
    let dest = into.join("app");
    let ok = Command::new("cp").arg("-a").arg(&src).arg(&dest).status().unwrap();
    assert!(ok.success());
    // Everything octane:ephpm does not set: no MySQL listener (parallel
    // tests would race for its port).
    std::fs::write(dest.join("ephpm.toml"), "[db.sqlite]\nlisten = \"\"\n[php.ini]\ndisplay_errors = \"0\"\n").unwrap();
    Some(dest)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn artisan(app: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("php").arg("artisan").args(args).current_dir(app).env("EPHPM_BINARY", BIN);
    cmd
}

fn request(addr: SocketAddr, req: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
    read_response(&mut std::io::BufReader::new(s), false)
}

fn get(addr: SocketAddr, target: &str) -> Resp {
    request(addr, &format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
}

fn json(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// The running octane:ephpm, killed when dropped (a failed assertion
/// must not leave it, or the ephpm it started, running).
struct Octane(Child);

impl Drop for Octane {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// octane:ephpm on `port`, its output in `log`; returns once /api/hello answers.
fn start_octane(app: &Path, port: u16, log: &Path) -> (Octane, SocketAddr) {
    let out = std::fs::File::create(log).unwrap();
    let port_s = port.to_string();
    let admin = free_port().to_string();
    let mut child = artisan(
        app,
        &[
            "octane:ephpm",
            "--port",
            &port_s,
            "--admin-port",
            &admin,
            "--cores",
            "2",
            "--workers",
            "8",
            "--max-requests",
            "0",
        ],
    )
    .stdout(Stdio::from(out.try_clone().unwrap()))
    .stderr(Stdio::from(out))
    .spawn()
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() && get(addr, "/api/hello").status == 200 {
            return (Octane(child), addr);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("octane:ephpm did not serve within 60 s:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

#[test]
fn octane_on_ephpm_serves_laravel_with_shared_tables_cache_ticks_and_tasks() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(app) = app(dir.path()) else { return };
    let log = dir.path().join("octane.log");
    let (mut octane, addr) = start_octane(&app, free_port(), &log);

    let hello = json(&get(addr, "/api/hello"));
    assert_eq!(hello["hello"], "world", "{hello}");
    assert!(hello["framework"].as_str().unwrap().starts_with("10.48"), "{hello}");
    assert_eq!(hello["worker"], "1", "{hello}");

    // Each request runs in a fresh sandbox of the booted app: an instance or
    // a config value set by one request is gone in the next; the worker's
    // own state (a static) persists; Octane's request events run.
    let mut seen_reuse = false;
    for i in 0..16 {
        let s = json(&get(addr, &format!("/api/state?v={i}")));
        assert_eq!(s["leaked_instance"], false, "{s}");
        assert_eq!(s["leaked_config"], Value::Null, "{s}");
        let events = &s["events"];
        assert_eq!(events["WorkerStarting"], 1, "{s}");
        assert!(events["RequestReceived"].as_u64().is_some_and(|n| n >= 1), "{s}");
        if s["served_by_this_worker"].as_u64().unwrap() > 1 {
            // This worker finished an earlier request: its terminate ran.
            assert!(events["RequestTerminated"].as_u64().is_some_and(|n| n >= 1), "{s}");
            seen_reuse = true;
        }
    }
    assert!(seen_reuse, "no worker served two requests: the app is not kept booted");

    // Octane::table() on the KV: one table for every thread of both cores.
    assert_eq!(json(&get(addr, "/api/table/set/k1?name=alice&votes=3"))["set"], true);
    for _ in 0..20 {
        get(addr, "/api/table/incr/k1");
    }
    let row = json(&get(addr, "/api/table/get/k1"));
    assert_eq!(row["row"]["votes"], 23, "{row}");
    assert_eq!(row["row"]["name"], "alice", "{row}");
    assert_eq!(row["count"], 1, "{row}");
    assert_eq!(json(&get(addr, "/api/table/get/none"))["row"], false);
    let long = "x".repeat(1001);
    assert_eq!(get(addr, &format!("/api/table/set/k2?name={long}")).status, 500, "a value over the column size");

    // The octane cache store: shared, atomic increments.
    assert_eq!(json(&get(addr, "/api/cache/put?k=greeting&v=hello"))["put"], true);
    for _ in 0..6 {
        assert_eq!(json(&get(addr, "/api/cache/get?k=greeting"))["value"], "hello");
    }
    let counts: Vec<u64> =
        (0..10).map(|_| json(&get(addr, "/api/cache/incr?k=n"))["value"].as_u64().unwrap()).collect();
    assert_eq!(counts, (1..=10).collect::<Vec<_>>());

    // Octane::concurrently(): two 300 ms tasks take ~300 ms, not 600.
    let c = json(&get(addr, "/api/concurrently?ms=300"));
    assert_eq!(c["results"], serde_json::json!({"a": "a", "b": "b", "c": 42}), "{c}");
    assert!(c["elapsed_ms"].as_u64().unwrap() < 550, "the tasks ran one after another: {c}");

    // Ticks (octane:ephpm sends one a second) and a refreshed interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ticks = loop {
        let t = json(&get(addr, "/api/ticks"));
        if t["ticks"].as_u64().unwrap_or(0) >= 2 || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(ticks["ticks"].as_u64().unwrap_or(0) >= 2, "{ticks}");
    assert!(ticks["interval"].as_f64().is_some(), "{ticks}");

    // An exception is a 500 from Laravel's handler; the next request is served.
    assert_eq!(get(addr, "/api/fail").status, 500);
    assert_eq!(get(addr, "/api/hello").status, 200);
    let body = "x=1&y=two";
    let echo = json(&request(
        addr,
        &format!(
            "POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    ));
    assert_eq!(echo["input"], serde_json::json!({"x": "1", "y": "two"}), "{echo}");
    assert_eq!(echo["raw"], body, "{echo}");

    // The server inspector: status, a rolling reload, stop.
    let status = artisan(&app, &["octane:ephpm-status"]).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stdout));
    let reload = artisan(&app, &["octane:ephpm-reload"]).output().unwrap();
    assert!(reload.status.success(), "{}", String::from_utf8_lossy(&reload.stdout));
    assert_eq!(get(addr, "/api/hello").status, 200);
    let stop = artisan(&app, &["octane:ephpm-stop"]).output().unwrap();
    assert!(stop.status.success(), "{}", String::from_utf8_lossy(&stop.stdout));
    let deadline = Instant::now() + Duration::from_secs(15);
    let exited = loop {
        if let Some(s) = octane.0.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(exited.is_some(), "octane:ephpm still running after octane:ephpm-stop:\n{log}");
    assert!(log.contains("shutdown complete") && !log.contains("corrupted"), "{log}");
    let status = artisan(&app, &["octane:ephpm-status"]).output().unwrap();
    assert!(!status.status.success(), "still running after stop");
}

#[test]
fn the_server_stops_when_octane_ephpm_dies() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(app) = app(dir.path()) else { return };
    let port = free_port();
    let (octane, addr) = start_octane(&app, port, &dir.path().join("octane.log"));
    drop(octane);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "ephpm outlived the octane:ephpm that started it");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_same_application_runs_in_classic_mode() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(app) = app(dir.path()) else { return };
    let srv = Server::start_root("auto", &app.join("public"), "[php.ini]\ndisplay_errors = \"0\"\n");
    let hello = json(&srv.get("/api/hello", ""));
    assert_eq!((hello["hello"].as_str(), hello["worker"].as_str()), (Some("world"), Some("0")), "{hello}");
    let welcome = srv.get("/", "");
    assert_eq!(welcome.status, 200);
    assert!(welcome.text().contains("Laravel"), "{}", welcome.text());
}
