//! The WordPress object-cache drop-in shipped with ephpm
//! (`sapi/php/wordpress/object-cache.php`): its API on the KV store across
//! cores, `ephpm wp enable-object-cache`, and the real WordPress from
//! Debian's package running on it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{php_available, Server, BIN};

/// The drop-in as shipped in the repository.
fn drop_in() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sapi/php/wordpress/object-cache.php")
}

fn redis_cli(addr: std::net::SocketAddr, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn phase(srv: &Server, name: &str) -> serde_json::Value {
    let r = srv.get(&format!("/oc.php?phase={name}"), "");
    assert_eq!(r.status, 200, "{name}: {}", r.text());
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{name}: {e}: {}", r.text()))
}

/// Every WP_Object_Cache operation WordPress uses, each phase in its own
/// request (so values come back from the KV store, whichever core owns
/// them); a group flush and a full flush reach every core and leave other
/// keys alone.
#[test]
fn the_drop_in_keeps_wordpress_semantics_across_cores() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/object_cache");
    std::fs::copy(fixtures.join("oc.php"), dir.path().join("oc.php")).unwrap();
    std::fs::copy(drop_in(), dir.path().join("object-cache.php")).unwrap();
    let srv = Server::start_root("auto", dir.path(), "cores = 2\n[kv.redis]\nlisten = \"127.0.0.1:0\"");
    let resp = srv.resp_addr();
    assert_eq!(redis_cli(resp, &["SET", "not-wordpress", "kept"]), "OK");

    let w = phase(&srv, "write");
    let want = serde_json::json!({
        "set": true, "set_obj": true, "set_int": true, "set_false": true,
        "add_again": false, "add_new": true, "replace_missing": false, "replace": true,
        "incr": 8, "decr": 0, "incr_missing": false, "np": true, "np_get": "only here",
        "ttl": true, "multi": {"m1": true, "m2": true},
    });
    assert_eq!(w, want);
    // The keys are the KV store's: visible over RESP, spread over cores.
    assert_eq!(redis_cli(resp, &["GET", "wp:counters:n"]), "0");
    assert_eq!(redis_cli(resp, &["EXISTS", "wp:np:local"]), "0", "a non-persistent group stays in the request");

    let r = phase(&srv, "read");
    let want = serde_json::json!({
        "a": {"x": 1}, "a_found": true, "o": {"p": "q"}, "f": false, "f_found": true,
        "b": "bee2", "n": 0, "np": false, "np_found": false, "short": "v",
        "multi": {"m1": 1, "m2": "two", "m3": false}, "supports": [true, false],
    });
    assert_eq!(r, want);

    std::thread::sleep(std::time::Duration::from_millis(1200));
    let l = phase(&srv, "late");
    let want = serde_json::json!({
        "short": false, "short_found": false, "del": true, "b": false,
        "flush_group": true, "spread_left": 0, "a": {"x": 1},
    });
    assert_eq!(l, want);

    let f = phase(&srv, "flush");
    assert_eq!(f, serde_json::json!({"flush": true, "a": false, "a_found": false}));
    assert_eq!(redis_cli(resp, &["DBSIZE"]), "1", "the flush left only the key that is not WordPress's");
    assert_eq!(redis_cli(resp, &["GET", "not-wordpress"]), "kept");
}

/// `ephpm wp enable-object-cache` installs the drop-in, refuses to replace
/// another plugin's without --force, and `disable-object-cache` removes
/// only its own.
#[test]
fn wp_command_installs_and_removes_the_drop_in() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN).arg("wp").args(args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let root = dir.path().to_str().unwrap();
    let (ok, msg) = run(&["enable-object-cache", root]);
    assert!(!ok && msg.contains("no wp-content/"), "{msg}");

    let content = dir.path().join("wp-content");
    std::fs::create_dir(&content).unwrap();
    let target = content.join("object-cache.php");
    std::fs::write(&target, "<?php // another plugin's cache").unwrap();
    let (ok, msg) = run(&["enable-object-cache", root]);
    assert!(!ok && msg.contains("--force"), "{msg}");
    let (ok, msg) = run(&["disable-object-cache", root]);
    assert!(!ok && msg.contains("left alone"), "{msg}");
    assert!(target.exists());

    let (ok, msg) = run(&["enable-object-cache", "--force", root]);
    assert!(ok, "{msg}");
    assert_eq!(std::fs::read(&target).unwrap(), std::fs::read(drop_in()).unwrap());
    let (ok, msg) = run(&["enable-object-cache", root]);
    assert!(ok && msg.contains("already"), "{msg}");
    let (ok, msg) = run(&["disable-object-cache", root]);
    assert!(ok && !target.exists(), "{msg}");
}
