//! The embedded database with real clients: the `mariadb` command-line
//! client, PHP's PDO and mysqli, sysbench, and raw packets where the wire
//! itself is under test.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::{backends, php_available, php_fixtures, read_until_quiet, Server, DB_PHP_CHECKS};

const USERS: &str = "[db]\nusers = [{ name = \"app\", password = \"secret\" }, { name = \"root\", password = \"\" }]\n\
                     [db.sqlite]\nlisten = \"127.0.0.1:0\"\npath = \"data/app.sqlite\"\n";

/// Runs `mariadb` with `args` against `addr`; (success, stdout, stderr).
fn mariadb(addr: SocketAddr, user: &str, password: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("mariadb");
    cmd.args(["-h", &addr.ip().to_string(), "-P", &addr.port().to_string(), "-u", user, "--connect-timeout=5"]);
    if !password.is_empty() {
        cmd.arg(format!("-p{password}"));
    }
    let out = cmd.args(args).output().expect("mariadb client (apt-get install mariadb-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mariadb_client_creates_inserts_selects_and_lists() {
    for io in backends() {
        let srv = Server::start(io, USERS);
        let addr = srv.mysql_addr();
        let script = "CREATE TABLE pets (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, born DATE) ENGINE=InnoDB;\
                      INSERT INTO pets (name, born) VALUES ('Tom', '2020-01-02'), ('Jerry', NULL);\
                      SELECT id, name, born FROM pets ORDER BY id;\
                      SHOW TABLES;";
        let (ok, out, err) = mariadb(addr, "app", "secret", &["-D", "shop", "--batch", "-e", script]);
        assert!(ok, "{io}: {err}");
        assert!(out.contains("id\tname\tborn\n1\tTom\t2020-01-02\n2\tJerry\tNULL\n"), "{io}: {out}");
        assert!(out.contains("Tables_in_shop\npets\n"), "{io}: {out}");
        // The data is in the SQLite file, seen by a new connection.
        let (ok, out, _) =
            mariadb(addr, "root", "", &["--batch", "-N", "-e", "SELECT COUNT(*) FROM pets; SELECT @@version_comment"]);
        assert!(ok && out.starts_with("2\n"), "{io}: {out}");
        let (ok, out, _) = mariadb(addr, "app", "secret", &["--batch", "-e", "DESCRIBE pets"]);
        assert!(ok && out.contains("id\tint unsigned\tNO\tPRI\tNULL\tauto_increment"), "{io}: {out}");
        // Errors carry MySQL's codes.
        let (ok, _, err) = mariadb(addr, "app", "secret", &["-e", "SELECT * FROM nowhere"]);
        assert!(!ok && err.contains("ERROR 1146 (42S02)"), "{io}: {err}");
        let (ok, _, err) =
            mariadb(addr, "app", "secret", &["-e", "CREATE TRIGGER t1 BEFORE INSERT ON pets FOR EACH ROW SET @x = 1"]);
        assert!(!ok && (err.contains("ERROR 1235") || err.contains("ERROR 1064")), "{io}: {err}");
        let (ok, _, err) = mariadb(addr, "app", "wrong", &["-e", "SELECT 1"]);
        assert!(!ok && err.contains("ERROR 1045 (28000)"), "{io}: {err}");
        let (ok, _, err) = mariadb(addr, "nobody", "", &["-e", "SELECT 1"]);
        assert!(!ok && err.contains("ERROR 1045"), "{io}: {err}");
        assert!(srv.dir.path().join("data/app.sqlite").exists(), "{io}");
    }
}

/// One packet: length, sequence id, payload.
fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    let mut p = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    p.extend_from_slice(payload);
    p
}

#[test]
fn malformed_packets_get_an_error_and_a_close() {
    let srv = Server::start("auto", USERS);
    let addr = srv.mysql_addr();
    // A handshake response too short to decode.
    let mut s = TcpStream::connect(addr).unwrap();
    let mut greeting = [0u8; 512];
    let n = s.read(&mut greeting).unwrap();
    assert!(n > 40 && greeting[4] == 10, "protocol version 10");
    s.write_all(&packet(1, &[0x00, 0x02, 0, 0, 1])).unwrap();
    let reply = read_until_quiet(&mut s, Duration::from_secs(2));
    assert_eq!(reply[4], 0xff, "an ERR packet: {reply:?}");
    assert_eq!(u16::from_le_bytes([reply[5], reply[6]]), 1043);
    // A logical packet longer than max_allowed_packet (64 MiB: four full
    // 16 MiB pieces, then the header of a fifth) is refused with ERR 1153.
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.read(&mut greeting).unwrap();
    let piece = vec![0u8; 0xff_ffff];
    for seq in 1..=4u8 {
        s.write_all(&[0xff, 0xff, 0xff, seq]).unwrap();
        s.write_all(&piece).unwrap();
    }
    s.write_all(&[0xff, 0xff, 0xff, 5]).unwrap();
    let reply = read_until_quiet(&mut s, Duration::from_secs(5));
    assert!(reply.len() > 7 && reply[4] == 0xff, "an ERR packet: {:?}", &reply[..reply.len().min(64)]);
    assert_eq!(u16::from_le_bytes([reply[5], reply[6]]), 1153, "{}", String::from_utf8_lossy(&reply));
    // Garbage after the greeting never takes the server down.
    let mut s2 = TcpStream::connect(addr).unwrap();
    let _ = s2.read(&mut greeting).unwrap();
    s2.write_all(b"\x05\x00\x00\x01\xff\xff\xff\xff\xff").unwrap();
    let _ = read_until_quiet(&mut s2, Duration::from_secs(2));
    let (ok, out, err) = mariadb(addr, "root", "", &["-N", "-e", "SELECT 1 + 1"]);
    assert!(ok && out.trim() == "2", "the server still serves: {err}");
}

#[test]
fn php_pdo_and_mysqli_work_against_the_embedded_database() {
    if !php_available() {
        return;
    }
    let root = php_fixtures();
    for io in backends() {
        let srv = Server::start_root(io, &root, &format!("cores = 2\n{USERS}"));
        let port = srv.mysql_addr().port();
        let r = srv.get(&format!("/db.php?port={port}"), "");
        let text = r.text();
        assert_eq!(r.status, 200, "{io}: {text}");
        for expect in DB_PHP_CHECKS {
            assert!(text.contains(expect), "{io}: missing {expect:?} in:\n{text}");
        }
    }
}

/// An INSERT's id equal to the last id another session generated in
/// another table is still reported (it once came back as 0).
#[test]
fn insert_id_is_the_statements_own_across_sessions_and_tables() {
    let srv = Server::start("auto", USERS);
    let addr = srv.mysql_addr();
    let setup = "CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, v INT); CREATE TABLE b (id INT AUTO_INCREMENT PRIMARY KEY, v INT);\
                 INSERT INTO a (v) VALUES (1); INSERT INTO b (v) VALUES (1);";
    let (ok, _, err) = mariadb(addr, "app", "secret", &["-D", "app", "-e", setup]);
    assert!(ok, "{err}");
    let (ok, out, err) = mariadb(
        addr,
        "app",
        "secret",
        &["-D", "app", "-N", "-e", "INSERT INTO b (v) VALUES (2); SELECT LAST_INSERT_ID()"],
    );
    assert!(ok && out.trim() == "2", "{out}{err}");
    // Another session, another table, the same id: the client's own view
    // of the OK packet (--verbose prints nothing for it, so ask
    // LAST_INSERT_ID(), which the server sets from the same value).
    let (ok, out, err) = mariadb(
        addr,
        "app",
        "secret",
        &["-D", "app", "-N", "-e", "INSERT INTO a (v) VALUES (2); SELECT LAST_INSERT_ID()"],
    );
    assert!(ok && out.trim() == "2", "{out}{err}");
    if !php_available() {
        return;
    }
    let srv = Server::start_root("auto", &php_fixtures(), &format!("cores = 2\n{USERS}"));
    let port = srv.mysql_addr().port();
    let r = srv.get(&format!("/insert_id.php?port={port}"), "");
    assert_eq!(
        r.text(),
        "pdo native: b=2 a=2 last_insert_id=2\npdo emulated: b=2 a=2 last_insert_id=2\nmysqli: b=2 a=2 last_insert_id=2\n"
    );
}

/// Runs a sysbench command against `addr`.
fn sysbench(addr: SocketAddr, test: &str, action: &str, extra: &[&str]) -> String {
    let out = Command::new("sysbench")
        .arg(test)
        .args([
            "--db-driver=mysql",
            "--mysql-host=127.0.0.1",
            &format!("--mysql-port={}", addr.port()),
            "--mysql-user=app",
            "--mysql-password=secret",
            "--mysql-db=sbtest",
            "--tables=1",
            "--table-size=1000",
            "--threads=2",
            "--time=2",
            "--events=0",
        ])
        .args(extra)
        .arg(action)
        .output()
        .expect("sysbench (apt-get install sysbench)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "sysbench {test} {action}:\n{text}");
    text
}

#[test]
fn sysbench_point_select_and_read_only_run() {
    let srv = Server::start("auto", USERS);
    let addr = srv.mysql_addr();
    sysbench(addr, "oltp_point_select", "prepare", &[]);
    for test in ["oltp_point_select", "oltp_read_only"] {
        let out = sysbench(addr, test, "run", &[]);
        let queries: u64 = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("queries:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(queries > 100, "{test}: {out}");
        assert!(out.contains("ignored errors:                      0"), "{test}: {out}");
    }
}

#[test]
fn inject_env_points_php_at_the_database() {
    if !php_available() {
        return;
    }
    let root = php_fixtures();
    let extra = "cores = 1\n[db]\ninject_env = true\nusers = [{ name = \"app\", password = \"p@ss word\" }]\n\
                 [db.sqlite]\nlisten = \"127.0.0.1:0\"\ndatabase = \"shop\"\n";
    let srv = Server::start_root("auto", &root, extra);
    let port = srv.mysql_addr().port();
    let text = srv.get("/db_env.php", "").text();
    for expect in [
        "DB_CONNECTION=mysql\n".to_string(),
        "DB_HOST=127.0.0.1\n".into(),
        format!("DB_PORT={port}\n"),
        "DB_DATABASE=shop\n".into(),
        "DB_USERNAME=app\n".into(),
        format!("DATABASE_URL=mysql://app:p%40ss%20word@127.0.0.1:{port}/shop\n"),
        "connected=shop\n".into(),
    ] {
        assert!(text.contains(&expect), "missing {expect:?} in:\n{text}");
    }
}

#[test]
fn caching_sha2_full_then_fast_authentication() {
    if !php_available() {
        return;
    }
    let root = php_fixtures();
    let extra = "cores = 1\n[log]\nlevel = \"debug\"\n[db]\nusers = [{ name = \"app\", password = \"secret\", plugin = \"caching_sha2_password\" }]\n\
                 [db.sqlite]\nlisten = \"127.0.0.1:0\"\n";
    let srv = Server::start_root("auto", &root, extra);
    let addr = srv.mysql_addr();
    // PHP's mysqlnd fetches the server's RSA key and encrypts the password.
    let text = srv.get(&format!("/db_login.php?port={}", addr.port()), "").text();
    assert_eq!(text, "first=1\nsecond=2\nwrong=1045\n", "{}", srv.log());
    assert!(srv.wait_log("rsa=true"), "{}", srv.log());
    // The mariadb client sends the password in clear to this host only.
    let (ok, out, err) = mariadb(addr, "app", "secret", &["-N", "-e", "SELECT 'in'"]);
    assert!(ok && out.trim() == "in", "{err}");
    let (ok, _, err) = mariadb(addr, "app", "nope", &["-e", "SELECT 1"]);
    assert!(!ok && err.contains("ERROR 1045"), "{err}");
}

#[test]
fn clients_beyond_the_limit_get_error_1040() {
    let srv = Server::start("auto", &format!("cores = 1\n{}", USERS.replace("[db]\n", "[db]\nmax_clients = 1\n")));
    let addr = srv.mysql_addr();
    let mut first = TcpStream::connect(addr).unwrap();
    let mut greeting = [0u8; 256];
    assert!(first.read(&mut greeting).unwrap() > 0);
    let (ok, _, err) = mariadb(addr, "root", "", &["-e", "SELECT 1"]);
    assert!(!ok && err.contains("1040") && err.contains("Too many connections"), "{err}");
    drop(first);
    // The slot frees when the first client leaves.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (ok, out, err) = mariadb(addr, "root", "", &["-N", "-e", "SELECT 7"]);
        if ok {
            assert_eq!(out.trim(), "7");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{err}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
