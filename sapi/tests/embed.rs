//! The engine runs real scripts on PHP threads, fed through a core's pool,
//! and contains failures (below the HTTP layer; core/tests/php.rs covers
//! the full server).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use ephpm_sapi::{available, Engine, Event, Field, PhpPool};

fn script(dir: &Path, name: &str, code: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, code).unwrap();
    p
}

/// What one run produced.
#[derive(Debug, Default)]
struct Outcome {
    status: u16,
    headers: String,
    body: String,
}

async fn run(pool: &std::rc::Rc<PhpPool>, path: &Path, body: &[u8]) -> Outcome {
    let mut lease = pool.acquire().await.expect("a free thread");
    let job = lease.job();
    job.set(Field::Method, if body.is_empty() { b"GET" } else { b"POST" });
    job.set(Field::RequestUri, b"/");
    job.set(Field::QueryString, b"");
    job.set(Field::ScriptFilename, path.to_str().unwrap().as_bytes());
    if !body.is_empty() {
        job.set(Field::ContentType, b"application/x-www-form-urlencoded");
        job.content_length = body.len() as i64;
    }
    job.var(b"SCRIPT_FILENAME", path.to_str().unwrap().as_bytes());
    lease.start().await;
    if !body.is_empty() {
        assert!(lease.try_send_body(Bytes::copy_from_slice(body)).is_ok());
    }
    assert!(lease.try_end_body());
    let mut out = Outcome::default();
    loop {
        match lease.next().await {
            Event::Head { status, headers, .. } => {
                out.status = status;
                out.headers = String::from_utf8_lossy(&headers).into_owned();
            }
            Event::Chunk(c) => out.body.push_str(&String::from_utf8_lossy(&c)),
            Event::End | Event::Idle(_) => return out,
        }
    }
}

/// One test: the engine starts once per process.
#[test]
fn scripts_run_on_php_threads_and_failures_are_contained() {
    if !available() {
        if std::env::var_os("EPHPM_REQUIRE_PHP").is_some() {
            panic!("EPHPM_REQUIRE_PHP is set but this build has no PHP engine");
        }
        eprintln!("SKIPPED: built without PHP (run tools/build-php.sh, then rebuild)");
        return;
    }
    let mut engine = Engine::start(&[("memory_limit".into(), "32M".into())], None).expect("engine starts");
    assert!(ephpm_sapi::php_version().unwrap().starts_with("8.4"));
    assert_eq!(Engine::start(&[], None).err(), Some(ephpm_sapi::Error::AlreadyStarted));
    let keyspace = ephpm_kv::shard::shared(ephpm_kv::Keyspace::new());
    let (mut clients, _inboxes) = ephpm_kv::client::links(&[keyspace], 1);
    let clients = clients.remove(0);
    let ends = engine.spawn_threads(0, clients, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let hello = script(d, "hello.php", "<?php echo 'hello ', PHP_ZTS ? 'zts' : 'nts', ' ', PHP_SAPI;");
    let post = script(d, "post.php", "<?php header('X-A:1'); echo $_POST['a'] ?? 'none';");
    let fatal = script(d, "fatal.php", "<?php undefined_fn();");
    let exits = script(d, "exit.php", "<?php http_response_code(201); echo 'bye'; exit(3); echo 'never';");
    let memory = script(d, "mem.php", "<?php $a = str_repeat('x', 64 << 20); echo 'no';");
    let kv = script(d, "kv.php", "<?php ephpm_kv_set('k', 'v'); echo ephpm_kv_get('k'), ephpm_kv_incr_by('n', 5);");

    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
    rt.block_on(async move {
        let pool = PhpPool::new(ends, Duration::from_secs(5), true);
        let r = run(&pool, &hello, b"").await;
        assert_eq!((r.status, r.body.as_str()), (200, "hello zts ephpm"), "{r:?}");
        assert!(r.headers.contains("Content-type: text/html"), "{r:?}");

        let r = run(&pool, &post, b"a=b%20c").await;
        assert_eq!((r.status, r.body.as_str()), (200, "b c"), "{r:?}");
        assert!(r.headers.contains("X-A: 1\r\n"), "a header without a space after the colon: {r:?}");

        // display_errors is on (PHP's default): the message is the body and
        // the status stays 200, as php-fpm does; with it off PHP sends 500.
        let r = run(&pool, &fatal, b"").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains("undefined_fn"), "{r:?}");

        let r = run(&pool, &exits, b"").await;
        assert_eq!((r.status, r.body.as_str()), (201, "bye"), "{r:?}");

        let r = run(&pool, &memory, b"").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains("Allowed memory size"), "{r:?}");

        // The KV functions reach the (single-core) keyspace in place.
        let r = run(&pool, &kv, b"").await;
        assert_eq!(r.body, "v5", "{r:?}");

        // The same (only) thread still serves after all of that.
        let r = run(&pool, &hello, b"").await;
        assert_eq!(r.body, "hello zts ephpm");
        // The thread reports Idle right behind its response (or the pool's
        // drainer takes it back a moment later).
        for _ in 0..200 {
            if pool.idle() == 1 {
                break;
            }
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.idle(), 1);
        let snap = pool.snapshot();
        assert_eq!((snap.threads, snap.idle, snap.alive, snap.requests), (1, 1, 1, 7), "{snap:?}");
        assert_eq!((snap.wait.count(), snap.run.count()), (7, 7), "{snap:?}");
        assert!(snap.memory[0] > 0, "{snap:?}");
    });
    drop(rt);
    engine.stop(Duration::from_secs(5));
}
