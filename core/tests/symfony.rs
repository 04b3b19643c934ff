//! A real framework: a Symfony 6.4 MicroKernel application (a controller,
//! a session, the error pages) on ephpm's Symfony Runtime
//! (`sapi/php/symfony-runtime/`), in worker mode and in classic mode.
//! Debian trixie's Symfony packages come from `tools/fetch-php-libs.sh`;
//! ci/test.sh passes their directory in `EPHPM_SYMFONY_LIBS`.
//! Fixture: tests/fixtures/symfony/.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{php_available, Resp, Server};
use serde_json::Value;

/// A writable copy of the application, told where Symfony and the runtime
/// are; `None` (skipped) without the libraries.
fn app(into: &Path) -> Option<PathBuf> {
    let libs = common::required_dir("EPHPM_SYMFONY_LIBS", "tools/fetch-php-libs.sh, as ci/test.sh does")?;
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dest = into.join("app");
    let ok = Command::new("cp").arg("-a").arg(manifest.join("tests/fixtures/symfony")).arg(&dest).status().unwrap();
    assert!(ok.success());
    let runtime = std::fs::canonicalize(manifest.join("../sapi/php/symfony-runtime")).unwrap();
    let libs_php = format!("<?php return ['symfony' => '{}', 'runtime' => '{}'];\n", libs.display(), runtime.display());
    std::fs::write(dest.join("libs.php"), libs_php).unwrap();
    Some(dest)
}

fn get(srv: &Server, target: &str, cookie: &str) -> Resp {
    let cookie = if cookie.is_empty() { String::new() } else { format!("Cookie: {cookie}\r\n") };
    srv.request(&format!("GET {target} HTTP/1.1\r\nHost: t\r\n{cookie}Connection: close\r\n\r\n"))
}

fn json(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

fn start(root: &Path, worker: bool) -> Server {
    let worker = if worker { "[php.worker]\nscript = \"index.php\"\n" } else { "" };
    let config = format!("cores = 1\n[php]\nthreads_per_core = 2\n[php.ini]\ndisplay_errors = \"0\"\n{worker}");
    Server::start_root("auto", &root.join("public"), &config)
}

#[test]
fn symfony_kernel_boots_once_per_worker_and_handles_requests() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(root) = app(dir.path()) else { return };
    let srv = start(&root, true);

    let first = json(&get(&srv, "/hello/world?x=1", ""));
    assert_eq!(first["hello"], "world", "{first}");
    assert_eq!(first["worker"], "1", "{first}");
    assert_eq!(first["mode"], "web=1&worker=1", "{first}");
    assert_eq!(first["env"], "prod", "{first}");
    assert_eq!(first["query"]["x"], "1", "{first}");
    // Both threads of the core boot their kernel; each handles many.
    let later: Vec<Value> = (0..6).map(|i| json(&get(&srv, &format!("/hello/n{i}"), ""))).collect();
    assert!(later.iter().any(|v| v["handled"].as_u64() > Some(1)), "every request booted a kernel: {later:?}");
    assert!(later.iter().all(|v| v["query"] == serde_json::json!([])), "the query leaked: {later:?}");
    let boots: std::collections::HashSet<String> =
        later.iter().chain([&first]).map(|v| v["boot"].to_string()).collect();
    assert!(boots.len() <= 2, "more boots than threads: {boots:?}");

    // The session survives between requests; its cookie comes back.
    let s1 = get(&srv, "/session", "");
    let cookie = s1.header("set-cookie").expect("a session cookie").split(';').next().unwrap().to_string();
    assert_eq!(json(&s1)["n"], 1);
    assert_eq!(json(&get(&srv, "/session", &cookie))["n"], 2);
    assert_eq!(json(&get(&srv, "/session", &cookie))["n"], 3);
    assert_eq!(json(&get(&srv, "/session", ""))["n"], 1, "a new visitor saw another's session");

    // Errors are Symfony's own pages; the workers keep their kernels.
    let boom = get(&srv, "/boom", "");
    assert_eq!(boom.status, 500);
    assert!(boom.text().contains("Oops! An Error Occurred") && boom.text().contains("500 Internal Server Error"));
    assert!(!boom.text().contains("boom in a controller"), "prod must not show the exception");
    let missing = get(&srv, "/nope", "");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("404 Not Found"), "{}", missing.text());
    assert!(srv.wait_log("boom in a controller"), "{}", srv.log());
    let after: Vec<Value> = (0..4).map(|_| json(&get(&srv, "/hello/again", ""))).collect();
    assert!(after.iter().all(|v| boots.contains(&v["boot"].to_string())), "a kernel booted again: {after:?}");
}

#[test]
fn symfony_runtime_falls_back_to_classic_mode() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(root) = app(dir.path()) else { return };
    let srv = start(&root, false);
    for name in ["a", "b"] {
        let v = json(&get(&srv, &format!("/hello/{name}"), ""));
        assert_eq!((v["hello"].as_str(), v["handled"].as_u64()), (Some(name), Some(1)), "{v}");
        assert_eq!((v["worker"].is_null(), v["mode"].is_null()), (true, true), "{v}");
    }
    assert_eq!(get(&srv, "/boom", "").status, 500);
}
