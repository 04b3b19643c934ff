//! The client side of the MySQL protocol (the proxy's backend
//! connections) against real servers: Debian's MariaDB with
//! mysql_native_password, and ephpm's own embedded database with
//! caching_sha2_password (full RSA authentication, then the fast path).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use ephpm_net::mysql::backend::{Backend, BackendConfig, BackendError};

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

/// MariaDB in a fresh data directory on a free loopback port.
struct Mariadb {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mariadb() -> Option<Mariadb> {
    if Command::new("mariadbd").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "mariadb-server is required in CI");
        eprintln!("mariadbd not installed (apt-get install mariadb-server): test skipped");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ok = Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--skip-test-db", "--auth-root-authentication-method=normal"])
        .arg(format!("--datadir={}", data.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "mariadb-install-db failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("mariadbd")
        .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1", "--skip-log-bin"])
        .arg(format!("--port={port}"))
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", dir.path().join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.path().join("mysqld.pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "mariadbd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = Mariadb { child, addr, _dir: dir };
    sql(&m, "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT ALL ON *.* TO 'app'@'%'; CREATE DATABASE appdb");
    Some(m)
}

fn sql(m: &Mariadb, statements: &str) {
    let sock = m._dir.path().join("mysqld.sock");
    let out = Command::new("mariadb")
        .args(["-u", "root", "-S"])
        .arg(Path::new(&sock))
        .args(["-e", statements])
        .output()
        .expect("mariadb client");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
