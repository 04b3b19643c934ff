//! The database proxy against real MariaDB servers (a binlogging primary
//! and, where routing is tested, a replica of it), driven by the real
//! `mariadb` client and PHP's PDO and mysqli: multiplexing many clients
//! over few backend connections, session state, transactions, read/write
//! splitting with sticky reads, replica and primary outages.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::mariadb::Mariadb;
use common::{php_available, php_fixtures, read_response, Resp, Server, DB_PHP_CHECKS};

/// ephpm's config for a proxy to `primary` (and `replicas`).
fn proxy_config(primary: &Mariadb, replicas: &[&Mariadb], extra: &str) -> String {
    let url = |m: &Mariadb| format!("\"mysql://app:app-pw@{}/appdb\"", m.addr);
    let replicas: Vec<String> = replicas.iter().map(|m| url(m)).collect();
    format!(
        "cores = 2\n[node_api]\nlisten = \"127.0.0.1:0\"\n\
         [db]\nusers = [{{ name = \"app\", password = \"secret\" }}]\n\
         [db.mysql]\nurl = {}\nlisten = \"127.0.0.1:0\"\nmax_connections = 20\nmin_connections = 2\n\
         health_check_interval = \"200ms\"\nconnect_timeout = \"1s\"\nreplicas = [{}]\n{extra}",
        url(primary),
        replicas.join(", ")
    )
}

/// The `mariadb` client on the proxy, as `app`.
fn client(addr: SocketAddr) -> Command {
    let mut c = Command::new("mariadb");
    c.args(["-N", "-B", "--connect-timeout=5", "-h", "127.0.0.1", "-u", "app", "-psecret", "appdb"])
        .arg(format!("-P{}", addr.port()));
    c
}

/// Runs `sql` through the proxy; stdout lines, or the error output.
fn run(addr: SocketAddr, sql: &str) -> Result<Vec<String>, String> {
    let out: Output = client(addr).args(["-e", sql]).output().expect("mariadb client");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn run_ok(addr: SocketAddr, sql: &str) -> Vec<String> {
    run(addr, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[test]
fn two_hundred_clients_share_twenty_backend_connections() {
    let Some(primary) = Mariadb::start_new(1) else { return };
    primary.sql("CREATE TABLE appdb.t (id INT PRIMARY KEY, v INT); INSERT INTO appdb.t VALUES (1, 10)");
    let srv = Server::start("auto", &proxy_config(&primary, &[], ""));
    let addr = srv.mysql_addr();
    let before = primary.status("Threads_connected");
    primary.sql("FLUSH STATUS");
    let started = Instant::now();
    let children: Vec<_> = (0..200)
        .map(|i| {
            client(addr)
                .args(["-e", &format!("DO SLEEP(0.3); SELECT v + {i} FROM t WHERE id = 1; DO SLEEP(0.3)")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // While they run, the proxy holds many client connections at once.
    std::thread::sleep(Duration::from_millis(1500));
    let pool = api(srv.node_api_addr(), "/api/db/pool");
    let clients = serde_json::from_str::<serde_json::Value>(&pool).unwrap()["clients"]["total"].as_u64().unwrap();
    let mut failures = Vec::new();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || text != (10 + i).to_string() {
            failures.push(format!("{i}: {text} {}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{} clients failed: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    let max_used = primary.status("Max_used_connections");
    // 20 for the proxy, plus this test's own root client; `before` were
    // connected already (the proxy's minimum and the root client).
    assert!(max_used <= 21, "MariaDB saw {max_used} connections at once (before: {before})");
    assert!(clients >= 100, "only {clients} clients were connected at once: {pool}");
    let metrics = api(srv.node_api_addr(), "/metrics");
    assert!(metrics.contains("ephpm_db_pool_open{core=\"0\",pool=\"primary\"}"), "{metrics}");
    eprintln!("200 clients over {max_used} backend connections in {:?}", started.elapsed());
}

/// Waits up to 15 s until a plain read through `srv`'s proxy answers
/// from server `id`.
fn wait_for_server_id(srv: &Server, id: &str, failure: &str) {
    let addr = srv.mysql_addr();
    let deadline = Instant::now() + Duration::from_secs(15);
    while run_ok(addr, "SELECT @@server_id") != [id] {
        assert!(Instant::now() < deadline, "{failure}:\n{}", srv.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A node API answer's body.
fn api(addr: SocketAddr, path: &str) -> String {
    api_response(addr, path).text()
}

/// A node API answer.
fn api_response(addr: SocketAddr, path: &str) -> Resp {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    read_response(&mut std::io::BufReader::new(s), false)
}

#[test]
fn session_state_transactions_and_pinning_survive_multiplexing() {
    let Some(primary) = Mariadb::start_new(1) else { return };
    primary.sql("CREATE TABLE appdb.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT); CREATE DATABASE other");
    let srv = Server::start("auto", &proxy_config(&primary, &[], ""));
    let addr = srv.mysql_addr();
    // Other clients keep changing their own session state meanwhile.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise: Vec<_> = (0..4)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                    let _ =
                        run(addr, &format!("SET SESSION sql_mode = 'TRADITIONAL'; SET @n = {i}; USE mysql; SELECT 1"));
                }
            })
        })
        .collect();
    for _ in 0..5 {
        // Replayable state follows the client from connection to connection.
        let out =
            run_ok(addr, "SET SESSION sql_mode = 'ANSI_QUOTES'; SELECT @@sql_mode; DO SLEEP(0.05); SELECT @@sql_mode");
        assert_eq!(out, ["ANSI_QUOTES", "ANSI_QUOTES"]);
        assert_eq!(run_ok(addr, "SELECT DATABASE(); USE other; SELECT DATABASE()"), ["appdb", "other"]);
        // A transaction keeps its connection, and its writes.
        let out = run_ok(
            addr,
            "BEGIN; SELECT CONNECTION_ID(); INSERT INTO t VALUES (1, 1); DO SLEEP(0.05); \
             SELECT CONNECTION_ID(); SELECT COUNT(*) FROM t; ROLLBACK; SELECT COUNT(*) FROM t",
        );
        assert_eq!(out[0], out[1], "the transaction moved between backend connections");
        assert_eq!(&out[2..], ["1", "0"]);
        // State that cannot be replayed pins the session.
        assert_eq!(run_ok(addr, "SET @x = 42; DO SLEEP(0.05); SELECT @x"), ["42"]);
        assert_eq!(
            run_ok(addr, "CREATE TEMPORARY TABLE tmp (a INT); INSERT INTO tmp VALUES (7); SELECT a FROM tmp"),
            ["7"]
        );
        assert_eq!(run_ok(addr, "PREPARE s FROM 'SELECT ? + 1'; SET @a = 1; EXECUTE s USING @a"), ["2"]);
        assert_eq!(run_ok(addr, "INSERT INTO t VALUES (NULL, 5); SELECT LAST_INSERT_ID() > 0"), ["1"]);
        run_ok(addr, "DELETE FROM t");
    }
    // Errors come back as the server's.
    let e = run(addr, "SELECT * FROM missing").unwrap_err();
    assert!(e.contains("1146"), "{e}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for n in noise {
        n.join().unwrap();
    }
    // A wrong password is refused by the proxy itself.
    let out = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-u", "app", "-pwrong", "-e", "SELECT 1"])
        .arg(format!("-P{}", addr.port()))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("1045"), "{out:?}");
}

#[test]
fn php_pdo_and_mysqli_work_through_the_proxy_with_a_replica() {
    if !php_available() {
        return;
    }
    let Some(primary) = Mariadb::start_new(1) else { return };
    primary.sql("CREATE DATABASE app; CREATE DATABASE other");
    let Some(replica) = Mariadb::replica_of(&primary, 2) else { return };
    let split = "[db.read_write_split]\nenabled = true\nsticky_duration = \"500ms\"\n";
    let config = proxy_config(&primary, &[&replica], split).replace("/appdb\"", "/app\"");
    let srv = Server::start_root("auto", &php_fixtures(), &config);
    let port = srv.mysql_addr().port();
    let r = srv.get(&format!("/db.php?port={port}"), "");
    let text = r.text();
    assert_eq!(r.status, 200, "{text}");
    for expect in DB_PHP_CHECKS {
        assert!(text.contains(expect), "missing {expect:?} in:\n{text}");
    }
    let r = srv.get(&format!("/proxy.php?port={port}"), "");
    let text = r.text();
    assert_eq!(r.status, 200, "{text}");
    for expect in [
        "multi rows: 1",
        "other mode is not ANSI: true",
        "other database: 'app'",
        "read after prepared write: 1",
        "read your write: 2",
        "later read: 2",
        "read with autocommit off: 1",
        "after rollback: 2",
        "prepared set kept: 'ANSI_QUOTES'",
        "prepared set not leaked: true",
        "kill: 1235",
        "still serving: 5",
    ] {
        assert!(text.contains(expect), "missing {expect:?} in:\n{text}");
    }
}

#[test]
fn reads_go_to_the_replica_writes_and_sticky_reads_to_the_primary() {
    let Some(primary) = Mariadb::start_new(1) else { return };
    primary.sql("CREATE TABLE appdb.t (id INT PRIMARY KEY, v INT)");
    let Some(mut replica) = Mariadb::replica_of(&primary, 2) else { return };
    let extra = "auto_explain = true\n[db.read_write_split]\nenabled = true\nsticky_duration = \"500ms\"\n\
                 strategy = \"lag-aware\"\nmax_replica_lag = \"5s\"\n";
    let config =
        proxy_config(&primary, &[&replica], extra).replace("[db]\n", "[db]\nslow_query_threshold = \"300ms\"\n");
    let srv = Server::start("auto", &config);
    let addr = srv.mysql_addr();
    assert_eq!(run_ok(addr, "SELECT @@server_id"), ["2"], "a plain read goes to the replica");
    // Read your own write: right after it, reads stay on the primary.
    let out = run_ok(addr, "INSERT INTO t VALUES (1, 1); SELECT @@server_id; SELECT COUNT(*) FROM t");
    assert_eq!(out, ["1", "1"]);
    let out = run_ok(addr, "INSERT INTO t VALUES (2, 2); SELECT SLEEP(0.7); SELECT @@server_id");
    assert_eq!(out, ["0", "2"], "after sticky_duration reads return to the replica");
    assert_eq!(run_ok(addr, "BEGIN; SELECT @@server_id; COMMIT"), ["1"], "a transaction runs on the primary");
    assert_eq!(run_ok(addr, "SELECT @@server_id FOR UPDATE"), ["1"]);
    // Autocommit off is a transaction in waiting: the session stays on the
    // primary, and its writes do too.
    let out = run_ok(
        addr,
        "SET autocommit = 0; SELECT @@server_id; INSERT INTO t VALUES (3, 3); SELECT @@server_id; ROLLBACK",
    );
    assert_eq!(out, ["1", "1"]);
    assert_eq!(primary.query("SELECT COUNT(*) FROM appdb.t WHERE id = 3"), "0");
    // The replica goes away: reads fall back to the primary, no errors.
    replica.stop();
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(run_ok(addr, "SELECT @@server_id"), ["1"]);
    }
    assert!(started.elapsed() < Duration::from_secs(10), "fallback took {:?}", started.elapsed());
    // It comes back, and after a health check it serves reads again.
    replica.start();
    wait_for_server_id(&srv, "2", "the replica never came back into rotation");
    // Its replication stops: it leaves the rotation until it runs again.
    replica.sql("STOP SLAVE");
    wait_for_server_id(&srv, "1", "a replica not replicating stayed in rotation");
    replica.sql("START SLAVE");
    wait_for_server_id(&srv, "2", "the replica did not return after START SLAVE");
    let digests = api(srv.node_api_addr(), "/api/db/digests");
    assert!(digests.contains("INSERT INTO t VALUES"), "{digests}");
    // The slow SELECT SLEEP(0.7) was explained in the background.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let slow = api(srv.node_api_addr(), "/api/db/slow");
        if slow.contains("SLEEP(0.7)") && slow.contains("select_type=SIMPLE") {
            break;
        }
        assert!(Instant::now() < deadline, "no EXPLAIN in the slow log: {slow}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_primary_outage_gives_quick_errors_and_the_proxy_recovers() {
    let Some(mut primary) = Mariadb::start_new(1) else { return };
    let srv = Server::start("auto", &proxy_config(&primary, &[], ""));
    let addr = srv.mysql_addr();
    assert_eq!(run_ok(addr, "SELECT 1"), ["1"]);
    wait_for_primary(&srv, true);
    primary.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let e = run(addr, "SELECT 1").unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "an error took {:?}: {e}", started.elapsed());
        assert!(e.contains("ERROR"), "{e}");
    }
    // /health reports the outage but stays ready (200).
    wait_for_primary(&srv, false);
    primary.start();
    let deadline = Instant::now() + Duration::from_secs(15);
    while run(addr, "SELECT 1").is_err() {
        assert!(Instant::now() < deadline, "the proxy did not recover:\n{}", srv.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(run_ok(addr, "SELECT 2"), ["2"]);
    wait_for_primary(&srv, true);
}

/// Waits until /health (still answering 200) reports the primary `up` or not.
fn wait_for_primary(srv: &Server, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health = api_response(srv.node_api_addr(), "/health");
        let body: serde_json::Value = serde_json::from_str(&health.text()).unwrap();
        assert_eq!((health.status, &body["ready"]), (200, &serde_json::json!(true)), "{body}");
        if body["db"]["backends"][0] == serde_json::json!({"pool": "primary", "up": up}) {
            return;
        }
        assert!(Instant::now() < deadline, "/health never showed the primary up = {up}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
