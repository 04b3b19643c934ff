//! The engine runs real scripts through libphp and contains failures.

use std::path::PathBuf;

use ephpm_sapi::{available, Engine};

fn script(dir: &tempfile::TempDir, name: &str, code: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, code).unwrap();
    p
}

/// One test: the engine starts once per process, on one thread.
#[test]
fn scripts_run_and_failures_are_contained() {
    if !available() {
        if std::env::var_os("EPHPM_REQUIRE_PHP").is_some() {
            panic!("EPHPM_REQUIRE_PHP is set but this build has no PHP engine");
        }
        eprintln!("SKIPPED: built without PHP (run tools/build-php.sh, then rebuild)");
        return;
    }
    let engine = Engine::start().expect("engine starts");
    let version = ephpm_sapi::php_version().unwrap();
    assert!(version.starts_with("8.4"), "{version}");
    assert_eq!(Engine::start().err(), Some(ephpm_sapi::Error::AlreadyStarted));
    let dir = tempfile::tempdir().unwrap();

    let hello = script(&dir, "hello.php", "<?php echo 'hello ', PHP_ZTS ? 'zts' : 'nts', ' ', 6 * 7;");
    let r = engine.run_script(&hello).unwrap();
    assert_eq!((r.status, String::from_utf8_lossy(&r.output).as_ref()), (0, "hello zts 42"));

    let exits = script(&dir, "exit.php", "<?php echo 'before'; exit(3); echo 'after';");
    let r = engine.run_script(&exits).unwrap();
    assert_eq!((r.status, r.output.as_slice()), (3, b"before".as_slice()));

    // A fatal error ends the request with 255; the engine keeps serving.
    let fatal = script(&dir, "fatal.php", "<?php echo 'start'; undefined_function_xyz();");
    let r = engine.run_script(&fatal).unwrap();
    let text = String::from_utf8_lossy(&r.output);
    assert_eq!(r.status, 255, "{text}");
    assert!(text.starts_with("start") && text.contains("undefined_function_xyz"), "{text}");

    let parse = script(&dir, "parse.php", "<?php echo 'x' 'y';");
    assert_eq!(engine.run_script(&parse).unwrap().status, 255);

    // Nothing leaks from one request into the next.
    let define = script(&dir, "define.php", "<?php function leaked() {} $GLOBALS['g'] = 1; define('C', 1); echo 'ok';");
    assert_eq!(engine.run_script(&define).unwrap().output, b"ok");
    let check = script(
        &dir,
        "check.php",
        "<?php echo json_encode([function_exists('leaked'), isset($GLOBALS['g']), defined('C')]);",
    );
    assert_eq!(engine.run_script(&check).unwrap().output, b"[false,false,false]");

    // A missing script fails the request cleanly.
    let r = engine.run_script(&dir.path().join("missing.php")).unwrap();
    assert_ne!(r.status, 0);

    let r = engine.run_script(&hello).unwrap();
    assert_eq!(r.output, b"hello zts 42");
}
