//! The client side of the MySQL protocol (the proxy's backend
//! connections) against real servers: Debian's MariaDB with
//! mysql_native_password, and ephpm's own embedded database with
//! caching_sha2_password (full RSA authentication, then the fast path).

mod common;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::mariadb::Mariadb;
use common::Server;
use ephpm_mysql::backend::{AppliedState, Backend, BackendConfig, BackendError};
use ephpm_mysql::backend_pool::{BackendPool, PoolConfig};

fn config(addr: SocketAddr, user: &str, password: &str) -> BackendConfig {
    BackendConfig {
        addr,
        user: user.into(),
        password: password.into(),
        database: None,
        connect_timeout: Duration::from_secs(5),
    }
}

/// Runs `f` on a fresh monoio runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap().block_on(f)
}

fn text(v: &Option<Vec<u8>>) -> String {
    String::from_utf8_lossy(v.as_deref().unwrap_or(b"NULL")).into_owned()
}

#[test]
fn authenticates_with_caching_sha2_and_native_against_ephpm() {
    let srv = Server::start(
        "auto",
        "[log]\nlevel = \"debug\"\n[db]\nusers = [{ name = \"sha\", password = \"pw-sha\", plugin = \"caching_sha2_password\" }, \
         { name = \"nat\", password = \"pw-nat\" }]\n[db.sqlite]\nlisten = \"127.0.0.1:0\"\npath = \"db.sqlite\"\n",
    );
    let addr = srv.mysql_addr();
    block_on(async move {
        // First login: the full authentication, password sent RSA-encrypted.
        let mut b = Backend::connect(&config(addr, "sha", "pw-sha")).await.expect("caching_sha2 full auth");
        assert_eq!(b.query("SELECT 1 + 1 AS two").await.unwrap().rows, vec![vec![Some(b"2".to_vec())]]);
        // Second login: the fast path.
        let mut b2 = Backend::connect(&config(addr, "sha", "pw-sha")).await.expect("caching_sha2 fast path");
        b2.ping().await.unwrap();
        assert!(srv.wait_log("rsa=true"), "the full authentication used RSA:\n{}", srv.log());

        let mut n = Backend::connect(&config(addr, "nat", "pw-nat")).await.expect("native password");
        n.query("CREATE TABLE t (a INT)").await.unwrap();
        n.query("BEGIN").await.unwrap();
        assert!(n.in_transaction());
        let r = n.query("INSERT INTO t VALUES (1), (2)").await.unwrap();
        assert_eq!(r.affected, 2);
        n.query("COMMIT").await.unwrap();
        assert!(!n.in_transaction());
        let r = n.query("SELECT a, NULL AS n FROM t ORDER BY a").await.unwrap();
        assert_eq!(r.columns, ["a", "n"]);
        assert_eq!(
            r.rows.iter().map(|row| (text(&row[0]), row[1].is_none())).collect::<Vec<_>>(),
            [("1".to_string(), true), ("2".to_string(), true)]
        );
        match n.query("SELECT * FROM missing").await {
            Err(BackendError::Server { code: 1146, .. }) => {}
            other => panic!("{other:?}"),
        }
        // The connection still serves after an error.
        n.ping().await.unwrap();

        match Backend::connect(&config(addr, "sha", "wrong")).await {
            Err(BackendError::Server { code: 1045, .. }) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a wrong password was accepted"),
        }
    });
}

fn mariadb() -> Option<Mariadb> {
    Mariadb::start_new(1)
}

#[test]
fn authenticates_with_native_password_against_mariadb() {
    let Some(m) = mariadb() else { return };
    let addr = m.addr;
    block_on(async move {
        let mut cfg = config(addr, "app", "app-pw");
        cfg.database = Some("appdb".into());
        let mut b = Backend::connect(&cfg).await.expect("mysql_native_password against MariaDB");
        assert!(b.server_version.contains("MariaDB"), "{}", b.server_version);
        let r = b.query("SELECT DATABASE(), @@server_id, CURRENT_USER()").await.unwrap();
        assert_eq!(text(&r.rows[0][0]), "appdb");
        assert!(text(&r.rows[0][2]).starts_with("app@"), "{r:?}");
        b.query("CREATE TABLE t (a INT PRIMARY KEY) ENGINE=InnoDB").await.unwrap();
        b.query("START TRANSACTION").await.unwrap();
        b.query("INSERT INTO t VALUES (1)").await.unwrap();
        assert!(b.in_transaction());
        b.query("ROLLBACK").await.unwrap();
        assert!(!b.in_transaction());
        assert!(b.query("SELECT * FROM t").await.unwrap().rows.is_empty());
        match b.query("INSERT INTO t VALUES (1), (1)").await {
            Err(BackendError::Server { code: 1062, state, .. }) => assert_eq!(state, "23000"),
            other => panic!("{other:?}"),
        }

        match Backend::connect(&config(addr, "app", "wrong")).await {
            Err(BackendError::Server { code: 1045, .. }) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a wrong password was accepted"),
        }
    });
    drop(m);
    // Nothing listens any more: a quick error, never a hang.
    let started = Instant::now();
    let r = block_on(async move { Backend::connect(&config(addr, "app", "app-pw")).await.map(|_| ()) });
    assert!(matches!(r, Err(BackendError::Io(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn pool_config(addr: SocketAddr) -> PoolConfig {
    PoolConfig {
        backend: config(addr, "app", "app-pw"),
        min: 1,
        max: 2,
        idle_timeout: Duration::from_secs(60),
        max_lifetime: Duration::from_secs(3600),
        health_check_interval: Duration::from_secs(30),
        acquire_timeout: Duration::from_millis(400),
    }
}

#[test]
fn pool_bounds_connections_and_hands_released_ones_on() {
    let Some(m) = mariadb() else { return };
    let addr = m.addr;
    block_on(async move {
        let pool = BackendPool::new(pool_config(addr));
        let mut a = pool.acquire().await.unwrap();
        let a_id = a.conn().connection_id;
        let b = pool.acquire().await.unwrap();
        assert_eq!(pool.stats().open, 2);
        // Both busy: the third waits its acquire_timeout, then gets 1040.
        let started = Instant::now();
        match pool.acquire().await {
            Err(BackendError::Server { code: 1040, .. }) => {}
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(started.elapsed() >= Duration::from_millis(350), "{:?}", started.elapsed());
        assert_eq!(pool.stats().timeouts, 1);
        // A connection released while a client waits goes to that client.
        monoio::spawn(async move {
            monoio::time::sleep(Duration::from_millis(100)).await;
            drop(a);
        });
        let mut c = pool.acquire().await.expect("the released connection");
        assert_eq!(c.conn().connection_id, a_id);
        assert_eq!(pool.stats().open, 2);
        // A connection returned inside a transaction is closed, not reused.
        c.conn().query("START TRANSACTION").await.unwrap();
        drop(c);
        assert_eq!(pool.stats().open, 1);
        // So is one whose response was left half-read (a cancelled query).
        let mut d = pool.acquire().await.unwrap();
        let cancelled = monoio::time::timeout(Duration::from_millis(50), d.conn().query("SELECT SLEEP(2)")).await;
        assert!(cancelled.is_err() && d.conn().is_broken());
        drop(d);
        assert_eq!((pool.stats().open, pool.stats().idle), (1, 0));
        // A connect abandoned mid-way gives its slot back.
        match monoio::time::timeout(Duration::from_micros(1), pool.acquire()).await {
            Err(_) => assert_eq!(pool.stats().open, 1),
            Ok(lease) => drop(lease),
        }
        let mut e = pool.acquire().await.expect("a free slot");
        e.conn().ping().await.unwrap();
        // With two idle connections, the one already in a session's state
        // is preferred over the most recently used one.
        drop(b);
        let mut f = pool.acquire().await.unwrap();
        let state = AppliedState { database: None, sets: vec!["SET NAMES latin1".into()], tainted: false };
        f.conn().query(&state.sets[0]).await.unwrap();
        f.conn().applied = state.clone();
        let f_id = f.conn().connection_id;
        drop(f);
        drop(e);
        let mut g = pool.acquire_in_state(&state, true).await.unwrap();
        assert_eq!(g.conn().connection_id, f_id);
        assert_eq!(
            g.conn().query("SELECT @@character_set_client").await.unwrap().rows,
            vec![vec![Some(b"latin1".to_vec())]]
        );
    });
    drop(m);
}

#[test]
fn pool_limits_idle_time_and_lifetime() {
    let Some(m) = mariadb() else { return };
    let addr = m.addr;
    block_on(async move {
        let mut cfg = pool_config(addr);
        cfg.min = 0;
        cfg.idle_timeout = Duration::from_millis(200);
        cfg.max_lifetime = Duration::from_millis(300);
        let pool = BackendPool::new(cfg);
        let mut a = pool.acquire().await.unwrap();
        let first = a.conn().connection_id;
        drop(a);
        // Reused while young.
        let mut a = pool.acquire().await.unwrap();
        assert_eq!(a.conn().connection_id, first);
        monoio::time::sleep(Duration::from_millis(350)).await;
        drop(a);
        // Past its lifetime: closed when released, a new one is opened.
        let mut b = pool.acquire().await.unwrap();
        assert_ne!(b.conn().connection_id, first);
        drop(b);
        // Idle past idle_timeout with min = 0: closed by the maintenance task.
        monoio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!((pool.stats().open, pool.stats().idle), (0, 0), "{:?}", pool.stats());
    });
    drop(m);
}

#[test]
fn pool_fails_fast_during_an_outage_and_recovers() {
    let Some(mut m) = mariadb() else { return };
    let addr = m.addr;
    let rt_pool: Rc<std::cell::RefCell<Option<Rc<BackendPool>>>> = Rc::default();
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
    let slot = Rc::clone(&rt_pool);
    rt.block_on(async move {
        let pool = BackendPool::new(pool_config(addr));
        pool.acquire().await.unwrap().conn().query("SELECT 1").await.unwrap();
        *slot.borrow_mut() = Some(pool);
    });
    m.stop();
    let pool = rt_pool.borrow().clone().unwrap();
    rt.block_on(async {
        // The idle connection is dead: the query fails and it is discarded.
        let mut old = pool.acquire().await.unwrap();
        assert!(old.conn().query("SELECT 1").await.is_err());
        old.discard();
        drop(old);
        // Connecting fails, quickly; then the pool fails fast.
        let started = Instant::now();
        assert!(matches!(pool.acquire().await.map(|_| ()), Err(BackendError::Io(_))));
        match pool.acquire().await {
            Err(BackendError::Server { code: 2003, message, .. }) => {
                assert!(message.contains("unavailable"), "{message}")
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(pool.stats().down);
    });
    m.start();
    rt.block_on(async {
        // Back within the longest back-off (5 s), with no client action
        // beyond retrying.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match pool.acquire().await {
                Ok(mut c) => {
                    c.conn().query("SELECT 1").await.unwrap();
                    break;
                }
                Err(e) => assert!(Instant::now() < deadline, "no recovery: {e}"),
            }
            monoio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!pool.stats().down);
    });
}
