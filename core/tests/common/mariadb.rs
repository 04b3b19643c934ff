//! Real MariaDB servers for tests: each in a fresh data directory on a
//! free loopback port, optionally a binlogging primary or a replica of
//! one, queried with the real `mariadb` client.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One MariaDB server.
pub struct Mariadb {
    child: Option<Child>,
    /// Its TCP address.
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    server_id: u32,
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Mariadb {
    /// A fresh server with `server_id` (binlogging, so it can be a
    /// primary), with user `app`/`app-pw` and database `appdb`; `None`
    /// (test skipped) when MariaDB is not installed outside CI.
    pub fn start_new(server_id: u32) -> Option<Mariadb> {
        let m = Self::bare(server_id)?;
        m.sql(
            "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'; GRANT ALL ON *.* TO 'app'@'%'; \
               CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'; \
               CREATE DATABASE appdb",
        );
        Some(m)
    }

    /// A fresh server replicating `primary` from its first binlog (so it
    /// gets the users and databases too), once it has caught up.
    pub fn replica_of(primary: &Mariadb, server_id: u32) -> Option<Mariadb> {
        let m = Self::bare(server_id)?;
        m.sql(&format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl', \
             MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=no; START SLAVE",
            primary.addr.port()
        ));
        let deadline = Instant::now() + Duration::from_secs(30);
        while m.query("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'appdb'") != "1" {
            assert!(Instant::now() < deadline, "the replica did not catch up:\n{}", m.query("SHOW SLAVE STATUS\\G"));
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(m)
    }

    fn bare(server_id: u32) -> Option<Mariadb> {
        if Command::new("mariadbd").arg("--version").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "mariadb-server is required in CI");
            eprintln!("mariadbd not installed (apt-get install mariadb-server): test skipped");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        install(dir.path());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut m = Mariadb { child: None, addr: format!("127.0.0.1:{port}").parse().unwrap(), dir, server_id };
        m.start();
        Some(m)
    }

    /// Starts (or restarts) the server on its port and data directory.
    pub fn start(&mut self) {
        let d = self.dir.path();
        let child = Command::new("mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1", "--max-connections=300"])
            .arg(format!("--server-id={}", self.server_id))
            .arg(format!("--log-bin={}", d.join("binlog").display()))
            .arg(format!("--port={}", self.addr.port()))
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--socket={}", d.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        // Ready once it answers a query, not merely once its port accepts
        // (it accepts while still starting up).
        while std::net::TcpStream::connect(self.addr).is_err() || !self.client("SELECT 1").status.success() {
            assert!(Instant::now() < deadline, "mariadbd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server (an outage, not a shutdown).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs statements as root over the Unix socket; panics on failure.
    pub fn sql(&self, statements: &str) {
        let out = self.client(statements);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs a query as root; its output without headers, trimmed.
    pub fn query(&self, statements: &str) -> String {
        let out = self.client(statements);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A global status counter (`SHOW GLOBAL STATUS`).
    pub fn status(&self, name: &str) -> u64 {
        let row = self.query(&format!("SHOW GLOBAL STATUS LIKE '{name}'"));
        row.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name}: {row}"))
    }

    fn client(&self, statements: &str) -> std::process::Output {
        let sock = self.dir.path().join("mysqld.sock");
        Command::new("mariadb")
            .args(["-N", "-B", "-u", "root", "-S"])
            .arg(Path::new(&sock))
            .args(["-e", statements])
            .output()
            .expect("mariadb client")
    }
}

/// Creates a data directory. One at a time: parallel bootstraps on a
/// loaded 2-CPU machine have failed; a failure is retried once.
fn install(dir: &Path) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut report = String::new();
    for _ in 0..2 {
        let data = dir.join("data");
        let _ = std::fs::remove_dir_all(&data);
        let out = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=root", "--skip-test-db", "--auth-root-authentication-method=normal"])
            .arg(format!("--datadir={}", data.display()))
            .output()
            .unwrap();
        if out.status.success() {
            return;
        }
        report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    panic!("mariadb-install-db failed:\n{report}");
}
