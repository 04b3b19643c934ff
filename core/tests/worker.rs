//! Worker mode over real HTTP: one boot serves many requests with nothing
//! leaking between them; crashes, exit(), time-outs, max_requests and
//! max_memory restart only the worker; a script that cannot boot gets 503
//! with Retry-After and recovers; rolling restarts under wrk fail no
//! request; FrankenPHP worker scripts run unmodified; a symlinked release
//! is resolved again at each restart. Fixtures: tests/fixtures/worker/.

mod common;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{backends, have, php_available, read_response, refuses, Resp, Server};
use serde_json::Value;

/// A fresh copy of the worker fixtures (tests add and remove files).
fn fixtures() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/worker");
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// A server on `root` running `script` as the worker, with the node API
/// on a free port; `server` goes into `[server]`, `rest` after it.
fn start(io: &str, root: &Path, script: &str, server: &str, rest: &str) -> Server {
    let config = format!(
        "cores = 1\nfallback = \"/{script}\"\n{server}\n[node_api]\nlisten = \"127.0.0.1:0\"\n\
         [php]\nthreads_per_core = 1\n[php.ini]\ndisplay_errors = \"0\"\n[php.worker]\nscript = \"{script}\"\n{rest}"
    );
    Server::start_root(io, root, &config)
}

fn http(addr: SocketAddr, req: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    read_response(&mut BufReader::new(s), req.starts_with("HEAD "))
}

fn get(srv: &Server, target: &str) -> Resp {
    srv.request(&format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
}

fn json(r: &Resp) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", r.status, r.text()))
}

fn state(srv: &Server) -> Value {
    let r = get(srv, "/state");
    assert_eq!(r.status, 200, "{}", r.text());
    json(&r)
}

fn api(srv: &Server, method: &str, path: &str) -> Resp {
    http(
        srv.node_api_addr(),
        &format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
    )
}

fn restarts(srv: &Server, reason: &str) -> u64 {
    let v = json(&api(srv, "GET", "/api/workers"));
    v["worker"]["restarts"][reason].as_u64().unwrap_or_else(|| panic!("no restarts.{reason}: {v}"))
}

/// Polls `f` for up to `limit`.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn one_boot_serves_many_requests_and_nothing_leaks_between_them() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let dir = fixtures();
        let srv = start(io, dir.path(), "worker.php", "", "");
        let body = "p=2&q=x";
        let first = srv.request(&format!(
            "POST /state?a=1 HTTP/1.1\r\nHost: t\r\nCookie: k=v\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        assert_eq!(first.status, 200, "{io}: {}", first.text());
        let first = json(&first);
        assert_eq!(first["get"]["a"], "1", "{io}: {first}");
        assert_eq!(first["post"]["q"], "x", "{io}: {first}");
        assert_eq!(first["cookie"]["k"], "v", "{io}: {first}");
        assert_eq!(first["request"]["p"], "2", "{io}: {first}");
        assert_eq!(first["input"], body, "{io}: {first}");
        assert_eq!(first["worker"], "1", "{io}: {first}");
        assert_eq!(first["frankenphp_worker"], "1", "{io}: {first}");
        assert_eq!(first["boot_server"]["EPHPM_WORKER"], "1", "{io}: {first}");

        let created = get(&srv, "/header");
        assert_eq!((created.status, created.header("x-set-once")), (201, Some("yes")), "{io}");
        assert!(created.header("set-cookie").is_some_and(|c| c.starts_with("c=v")), "{io}");

        let next = state(&srv);
        assert_eq!(next["boot"], first["boot"], "{io}: the worker booted again: {next}");
        assert_eq!(next["served"], 3, "{io}: {next}");
        for key in ["get", "post", "cookie", "request", "files"] {
            assert_eq!(next[key], serde_json::json!([]), "{io}: ${key} leaked: {next}");
        }
        assert_eq!(next["input"], "", "{io}: {next}");
        assert_eq!(next["method"], "GET", "{io}: {next}");
        assert_eq!(next["status"], 200, "{io}: the status leaked: {next}");
        let headers = next["headers_list"].to_string();
        assert!(!headers.contains("X-Set-Once") && !headers.contains("Set-Cookie"), "{io}: headers leaked: {headers}");
        assert_eq!(next["ob_level"], 0, "{io}: {next}");

        // Sessions: saved at the end of each request, closed before the next.
        let s1 = get(&srv, "/session");
        let cookie = s1.header("set-cookie").expect("a session cookie").split(';').next().unwrap().to_string();
        let s2 =
            srv.request(&format!("GET /session HTTP/1.1\r\nHost: t\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"));
        assert_eq!((s1.text(), s2.text()), ("1".into(), "2".into()), "{io}");
        assert_eq!(state(&srv)["session"], 1, "{io}: the session stayed open (PHP_SESSION_NONE is 1)");

        // Uploads: $_FILES for this request only, the temp file removed after.
        let part = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\
                    Content-Type: text/plain\r\n\r\nhello upload\r\n--XyZ--\r\n";
        let up = srv.request(&format!(
            "POST /state HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{part}",
            part.len()
        ));
        let up = json(&up);
        assert_eq!(up["files"]["f"]["name"], "a.txt", "{io}: {up}");
        assert_eq!(up["files"]["f"]["size"], 12, "{io}: {up}");
        assert_eq!(up["files"]["f"]["exists"], true, "{io}: {up}");
        assert_eq!(state(&srv)["files"], serde_json::json!([]), "{io}: $_FILES leaked");

        assert_eq!(get(&srv, "/finish").text(), "finished", "{io}");
        assert_eq!(get(&srv, "/flush").text(), "one,two", "{io}");
        assert_eq!(
            get(&srv, "/nested").text(),
            "ephpm_handle_request() cannot be called from inside a request handler",
            "{io}"
        );
        let last = state(&srv);
        assert_eq!(last["boot"], first["boot"], "{io}: {last}");
        assert_eq!(restarts(&srv, "crash") + restarts(&srv, "exit"), 0, "{io}");
    }
}

#[test]
fn crashes_exit_and_timeouts_restart_only_the_worker() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let dir = fixtures();
        let srv = start(io, dir.path(), "worker.php", "", "");
        let boot = state(&srv)["boot"].clone();

        // Output already sent stays (headers went with it); nothing else.
        let fatal = get(&srv, "/fatal");
        assert_eq!((fatal.status, fatal.text()), (200, "partial".to_string()), "{io}");
        let after = state(&srv);
        assert_ne!(after["boot"], boot, "{io}: the worker did not boot again after a fatal error");
        assert_eq!(after["served"], 1, "{io}: {after}");

        assert_eq!(get(&srv, "/throw").status, 500, "{io}");
        assert!(srv.wait_log("Uncaught RuntimeException: boom from the handler"), "{io}: {}", srv.log());

        let bye = get(&srv, "/exit");
        assert_eq!((bye.status, bye.text()), (200, "bye".to_string()), "{io}");
        assert_eq!(state(&srv)["served"], 1, "{io}: exit() did not restart the worker");

        assert_eq!(restarts(&srv, "crash"), 2, "{io}");
        assert_eq!(restarts(&srv, "exit"), 1, "{io}");
        // The server kept serving throughout.
        assert_eq!(get(&srv, "/state").status, 200, "{io}");
    }
}

#[test]
fn max_execution_time_ends_a_runaway_handler() {
    if !php_available() {
        return;
    }
    // max_execution_time applies to each request, not to the worker's life.
    let dir = fixtures();
    let config = "cores = 1\nfallback = \"/worker.php\"\n[node_api]\nlisten = \"127.0.0.1:0\"\n[php]\n\
                  threads_per_core = 1\n[php.ini]\ndisplay_errors = \"0\"\nmax_execution_time = 1\n\
                  [php.worker]\nscript = \"worker.php\"\n";
    let srv = Server::start_root("auto", dir.path(), config);
    let started = Instant::now();
    let spin = get(&srv, "/spin");
    assert_eq!(spin.status, 500, "{}", spin.text());
    assert!(started.elapsed() < Duration::from_secs(10), "the time limit did not stop the handler");
    assert!(srv.wait_log("Maximum execution time of 1 second"), "{}", srv.log());
    assert_eq!(state(&srv)["served"], 1);
    assert_eq!(restarts(&srv, "timeout"), 1);
}

#[test]
fn request_timeout_answers_504_while_php_sleeps_and_the_worker_restarts() {
    if !php_available() {
        return;
    }
    let dir = fixtures();
    let config = "cores = 1\nfallback = \"/worker.php\"\n[node_api]\nlisten = \"127.0.0.1:0\"\n[php]\n\
                  threads_per_core = 1\nrequest_timeout = \"1s\"\n[php.ini]\nmax_execution_time = 0\n\
                  [php.worker]\nscript = \"worker.php\"\n";
    let srv = Server::start_root("auto", dir.path(), config);
    let boot = state(&srv)["boot"].clone();
    let started = Instant::now();
    let r = get(&srv, "/sleep?s=3");
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(started.elapsed() < Duration::from_millis(2500), "504 after {:?}", started.elapsed());
    // The only thread is still asleep; the next request waits for it, and
    // gets a worker booted again.
    let after = state(&srv);
    assert_ne!(after["boot"], boot, "the worker was not restarted after its time-out");
    assert_eq!(after["served"], 1);
    assert_eq!(restarts(&srv, "timeout"), 1);
    let v = json(&api(&srv, "GET", "/api/workers"));
    assert_eq!(v["total"]["request_timeouts"], 1, "{v}");
    let metrics = api(&srv, "GET", "/metrics").text();
    assert!(metrics.contains("ephpm_php_request_timeouts_total{core=\"0\"} 1"), "{metrics}");
}

#[test]
fn max_requests_and_max_memory_restart_the_worker() {
    if !php_available() {
        return;
    }
    let dir = fixtures();
    let srv = start("auto", dir.path(), "worker.php", "", "max_requests = 3\nmax_memory = \"12MiB\"\n");
    let boots: Vec<Value> = (0..4).map(|_| state(&srv)["boot"].clone()).collect();
    assert!(boots[0] == boots[1] && boots[1] == boots[2], "{boots:?}");
    assert_ne!(boots[2], boots[3], "no restart after max_requests = 3: {boots:?}");
    assert_eq!(restarts(&srv, "max_requests"), 1);
    drop(srv);

    let dir = fixtures();
    let srv = start("auto", dir.path(), "worker.php", "", "max_memory = \"12MiB\"\n");
    // 8 MiB held stays under 12 MiB; 16 MiB does not: restart after it.
    assert_eq!(get(&srv, "/memory").text(), (8 << 20).to_string());
    assert_eq!(get(&srv, "/memory").text(), (16 << 20).to_string());
    assert_eq!(get(&srv, "/memory").text(), (8 << 20).to_string(), "the memory hog survived the restart");
    assert_eq!(restarts(&srv, "memory"), 1);
}

#[test]
fn a_restart_right_after_a_form_post_keeps_the_heap_sound() {
    // The SAPI frees a POST's content type at the request's end without
    // forgetting it; the worker's own end (here after every request) must
    // not free it again: that corrupted the heap ("zend_mm_heap corrupted"
    // at the next restart or at exit).
    if !php_available() {
        return;
    }
    let dir = fixtures();
    // The C allocator (not PHP's) reports a double free at once.
    let root = dir.path().to_str().unwrap();
    let config =
        "cores = 1\nfallback = \"/worker.php\"\n[php]\nthreads_per_core = 1\n[php.ini]\ndisplay_errors = \"0\"\n\
                  [php.worker]\nscript = \"worker.php\"\nmax_requests = 1\n";
    let mut srv = Server::start_env("auto", config, &[("USE_ZEND_ALLOC", "0"), ("EPHPM_SERVER__DOCUMENT_ROOT", root)]);
    for i in 0..12 {
        let body = format!("p={i}");
        let r = srv.request(&format!(
            "POST /state HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        assert_eq!(r.status, 200, "POST {i}: {}", r.text());
        assert_eq!(json(&r)["post"]["p"], i.to_string());
    }
    assert_eq!(state(&srv)["served"], 1);
    let status = srv.terminate();
    let log = srv.log();
    assert!(status.success() && !log.contains("corrupted"), "{status:?}\n{log}");
}

#[test]
fn a_script_that_cannot_boot_gets_503_and_recovers() {
    if !php_available() {
        return;
    }
    for io in backends() {
        let dir = fixtures();
        std::fs::write(dir.path().join("boot_fail"), "").unwrap();
        let srv = start(io, dir.path(), "worker.php", "", "");
        let r = get(&srv, "/state");
        assert_eq!(r.status, 503, "{io}: {}", r.text());
        let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=10).contains(&retry), "{io}: Retry-After {retry}");
        assert!(srv.wait_log("PHP worker script failed to boot"), "{io}: {}", srv.log());
        assert!(srv.log().contains("cannot reach the database (boot_fail present)"), "{io}: {}", srv.log());

        let health = api(&srv, "GET", "/health");
        assert_eq!(health.status, 503, "{io}: {}", health.text());
        assert_eq!(json(&health)["php"]["workers"]["failing"], 1, "{io}: {}", health.text());
        let metrics = api(&srv, "GET", "/metrics").text();
        assert!(metrics.contains("ephpm_php_workers{core=\"0\",state=\"failing\"} 1"), "{io}: {metrics}");
        assert!(!metrics.contains("ephpm_php_worker_restarts_total{core=\"0\",reason=\"boot_failure\"} 0"), "{io}");

        std::fs::remove_file(dir.path().join("boot_fail")).unwrap();
        assert!(eventually(Duration::from_secs(15), || get(&srv, "/state").status == 200), "{io}: never recovered");
        assert_eq!(api(&srv, "GET", "/health").status, 200, "{io}");
    }
}

#[test]
fn boot_timeout_and_scripts_without_a_loop_are_boot_failures() {
    if !php_available() {
        return;
    }
    let dir = fixtures();
    std::fs::write(dir.path().join("boot_spin"), "").unwrap();
    let srv = start("auto", dir.path(), "worker.php", "", "boot_timeout = \"1s\"\n");
    assert!(srv.wait_log("within 1s (php.worker.boot_timeout)"), "{}", srv.log());
    assert_eq!(get(&srv, "/state").status, 503);
    drop(srv);

    let dir = fixtures();
    let srv = start("auto", dir.path(), "no_loop.php", "", "");
    assert!(srv.wait_log("ended without calling ephpm_handle_request()"), "{}", srv.log());
    assert_eq!(get(&srv, "/x").status, 503);
}

#[test]
fn frankenphp_worker_scripts_run_unmodified() {
    if !php_available() {
        return;
    }
    let dir = fixtures();
    let srv = start("auto", dir.path(), "frankenphp.php", "", "");
    let a = get(&srv, "/a");
    let b = get(&srv, "/b");
    assert!(a.text().starts_with("frankenphp worker 1 boot "), "{}", a.text());
    assert!(b.text().ends_with(" uri /b"), "{}", b.text());
    // One boot served both.
    assert_eq!(a.text().split(" uri ").next(), b.text().split(" uri ").next());
    drop(srv);

    let dir = fixtures();
    let srv = start("auto", dir.path(), "frankenphp.php", "", "frankenphp_compat = false\n");
    assert_eq!(get(&srv, "/a").status, 503);
    assert!(srv.wait_log("Call to undefined function frankenphp_handle_request()"), "{}", srv.log());
}

#[test]
fn rolling_restarts_under_load_fail_no_request() {
    if !php_available() || !have("wrk") {
        return;
    }
    let dir = fixtures();
    let config = "cores = 2\nfallback = \"/worker.php\"\n[node_api]\nlisten = \"127.0.0.1:0\"\n[php]\n\
                  threads_per_core = 2\n[php.worker]\nscript = \"worker.php\"\n";
    let srv = Server::start_root("auto", dir.path(), config);
    let before = state(&srv)["boot"].clone();
    let wrk = Command::new("wrk")
        .args(["-t2", "-c8", "-d4s", "--timeout", "5s"])
        .arg(srv.url("/state"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let r = api(&srv, "POST", "/api/workers/restart");
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(eventually(Duration::from_secs(3), || restarts(&srv, "reload") >= 4), "the API restart did not finish");
    // SAFETY: kill(2) with the server's own pid.
    assert_eq!(unsafe { kill(srv.pid() as i32, 12) }, 0, "SIGUSR2");
    assert!(eventually(Duration::from_secs(3), || restarts(&srv, "reload") >= 8), "the SIGUSR2 restart did not finish");
    let out = common::wait_output(wrk, Duration::from_secs(20));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("requests in"), "{report}");
    assert!(!report.contains("Non-2xx") && !report.contains("Socket errors"), "requests failed:\n{report}");
    assert_ne!(state(&srv)["boot"], before, "still the first boot");
    assert_eq!(api(&srv, "GET", "/api/workers/restart").status, 405);
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn a_symlinked_release_is_resolved_again_at_each_restart() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/worker/worker.php");
    for release in ["1", "2"] {
        let public = dir.path().join("releases").join(release).join("public");
        std::fs::create_dir_all(&public).unwrap();
        std::fs::copy(&src, public.join("worker.php")).unwrap();
    }
    let current: PathBuf = dir.path().join("current");
    std::os::unix::fs::symlink(dir.path().join("releases/1"), &current).unwrap();
    let srv = start("auto", &current.join("public"), "worker.php", "", "");
    assert!(get(&srv, "/release").text().starts_with("release 1 "), "{}", get(&srv, "/release").text());

    // Deploy: switch the link atomically, then restart the workers.
    let next = dir.path().join("current.next");
    std::os::unix::fs::symlink(dir.path().join("releases/2"), &next).unwrap();
    std::fs::rename(&next, &current).unwrap();
    assert_eq!(api(&srv, "POST", "/api/workers/restart").status, 202);
    assert!(
        eventually(Duration::from_secs(5), || get(&srv, "/release").text().starts_with("release 2 ")),
        "still {}",
        get(&srv, "/release").text()
    );
}

#[test]
fn a_watched_file_change_restarts_the_workers() {
    if !php_available() {
        return;
    }
    let dir = fixtures();
    let watch = format!("watch = [\"{}/*.php\"]\n", dir.path().display());
    let srv = start("auto", dir.path(), "worker.php", "", &watch);
    let boot = state(&srv)["boot"].clone();
    // An unwatched file changes nothing.
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(state(&srv)["boot"], boot);
    let mut code = std::fs::read_to_string(dir.path().join("worker.php")).unwrap();
    code.push_str("\n// edited\n");
    std::fs::write(dir.path().join("worker.php"), code).unwrap();
    assert!(eventually(Duration::from_secs(5), || state(&srv)["boot"] != boot), "no restart after an edit");
    assert!(restarts(&srv, "watch") >= 1);
    assert!(srv.wait_log("a watched file changed"), "{}", srv.log());
}

#[test]
fn without_index_php_the_worker_script_is_the_fallback() {
    if !php_available() {
        return;
    }
    let dir = fixtures();
    let config = "cores = 1\n[php]\nthreads_per_core = 1\n[php.worker]\nscript = \"worker.php\"\n";
    let srv = Server::start_root("auto", dir.path(), config);
    let r = get(&srv, "/blog/2026/some-post?p=1");
    let v = json(&r);
    assert_eq!((v["uri"].as_str(), v["worker"].as_str()), (Some("/blog/2026/some-post?p=1"), Some("1")), "{v}");
    assert!(srv.wait_log("requests for no file go to the worker script /worker.php"), "{}", srv.log());
    // A file that exists is still served as itself.
    std::fs::write(dir.path().join("robots.txt"), "User-agent: *\n").unwrap();
    assert_eq!(get(&srv, "/robots.txt").text(), "User-agent: *\n");
}

#[test]
fn bad_worker_settings_are_refused_at_start() {
    if !php_available() {
        return;
    }
    let dir = fixtures();
    let missing = dir.path().join("missing.php");
    let out = refuses(dir.path(), &format!("[php.worker]\nscript = \"{}\"\n", missing.display()));
    assert!(out.contains("php.worker.script: cannot open") && out.contains("missing.php"), "{out}");
    let out = refuses(dir.path(), "[php.worker]\nscript = \"worker.php\"\nboot_timeout = \"0s\"\n");
    assert!(out.contains("php.worker.boot_timeout"), "{out}");
    let out = refuses(dir.path(), "[php.worker]\nscript = \"worker.php\"\nmax_memory = \"lots\"\n");
    assert!(out.contains("max_memory"), "{out}");
    let out = refuses(dir.path(), "[php.worker]\nscript = \"worker.php\"\nwatch = [\"src/[\"]\n");
    assert!(out.contains("php.worker.watch: invalid pattern"), "{out}");
    let out = refuses(dir.path(), "[php.worker]\nwatch = [\"*.php\"]\n");
    assert!(out.contains("php.worker.watch: needs php.worker.script"), "{out}");
    let out = refuses(dir.path(), "[php.worker]\nscripts = \"worker.php\"\n");
    assert!(out.contains("scripts"), "{out}");
}
