//! db: Debian's sysbench against ephpm's embedded database (MySQL protocol
//! in front of SQLite) and against MariaDB on the same machine, both given
//! the same CPUs: oltp_point_select (the target, >= 1.0x MariaDB) and
//! oltp_read_only, measured alternately.

use std::process::{Command, Stdio};

use crate::peers::{self, Peer};
use crate::report::{Report, Row};
use crate::Args;

const TABLE_SIZE: &str = "10000";

/// Runs the db scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    let port = peers::free_port()?;
    let extra = format!(
        "[db]\nusers = [{{ name = \"sbtest\", password = \"sbtest\" }}]\n[db.sqlite]\nlisten = \"{port}\"\npath = \"bench.sqlite\"\n"
    );
    let ephpm = peers::ephpm::start_with(&bin, root.path(), args.cores, &args.io, &extra)?;
    let maria = mariadb(args.cores, 1000)?;
    let cpus = super::loadgen_cpus(args.cores);
    for p in [port.port(), maria.addr.port()] {
        sysbench(p, "oltp_read_only", "prepare", 4, 1, &cpus, &[])?;
    }
    let per_round = (args.duration / u64::from(args.rounds.max(1))).max(2);
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for test in ["oltp_point_select", "oltp_read_only"] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds.max(1) {
            ours.push(sysbench(port.port(), test, "run", args.connections, per_round, &cpus, &[])?);
            theirs.push(sysbench(maria.addr.port(), test, "run", args.connections, per_round, &cpus, &[])?);
        }
        let (a, b) = (Run::mean(&ours), Run::mean(&theirs));
        rows.push(a.row(&format!("ephpm {test}")));
        rows.push(b.row(&format!("mariadb {test}")));
        let target = if test == "oltp_point_select" { " (target >= 1)" } else { "" };
        ratios.push((format!("{test} queries/s ephpm/mariadb{target}"), a.qps / b.qps));
    }
    drop(ephpm);
    drop(maria);
    Ok(Report {
        scenario: "db".into(),
        setup: format!(
            "sysbench --threads={} --tables=1 --table-size={TABLE_SIZE}, {} rounds of {per_round}s, {} core(s) per server (MariaDB confined to the same CPUs), ephpm io={}",
            args.connections, args.rounds, args.cores, args.io
        ),
        rows,
        ratios,
    })
}

/// One sysbench run's figures.
pub(super) struct Run {
    pub(super) qps: f64,
    pub(super) p95_ms: f64,
    pub(super) errors: u64,
}

impl Run {
    pub(super) fn mean(runs: &[Run]) -> Run {
        let n = runs.len().max(1) as f64;
        Run {
            qps: runs.iter().map(|r| r.qps).sum::<f64>() / n,
            p95_ms: runs.iter().map(|r| r.p95_ms).sum::<f64>() / n,
            errors: runs.iter().map(|r| r.errors).sum(),
        }
    }

    pub(super) fn row(&self, server: &str) -> Row {
        Row {
            server: server.into(),
            rate: self.qps,
            p50_us: 0.0,
            p99_us: 0.0,
            p999_us: 0.0,
            errors: self.errors,
            extra: vec![("p95_ms".into(), self.p95_ms)],
        }
    }
}

/// Runs sysbench `test` `action` against 127.0.0.1:`port`, with `extra`
/// options.
pub(super) fn sysbench(
    port: u16,
    test: &str,
    action: &str,
    threads: usize,
    secs: u64,
    cpus: &[usize],
    extra: &[&str],
) -> Result<Run, String> {
    let cpu_list = super::cpu_list(cpus);
    let out = Command::new("taskset")
        .args(["-c", &cpu_list, "sysbench", test])
        .args([
            "--db-driver=mysql",
            "--mysql-host=127.0.0.1",
            &format!("--mysql-port={port}"),
            "--mysql-user=sbtest",
            "--mysql-password=sbtest",
            "--mysql-db=sbtest",
            "--tables=1",
            &format!("--table-size={TABLE_SIZE}"),
            &format!("--threads={threads}"),
            &format!("--time={secs}"),
            "--events=0",
            "--report-interval=0",
        ])
        .args(extra)
        .arg(action)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("sysbench (apt-get install sysbench): {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!("sysbench {test} {action} on port {port} failed:\n{text}"));
    }
    let field = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(str::trim)
            .and_then(|rest| {
                // "queries: 123 (4567.89 per sec.)" → the rate; else the number.
                rest.split_once('(')
                    .and_then(|(_, r)| r.split_whitespace().next())
                    .or_else(|| rest.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0.0)
    };
    Ok(Run { qps: field("queries:"), p95_ms: field("95th percentile:"), errors: field("ignored errors:") as u64 })
}

/// Starts MariaDB (Debian's mariadb-server) in a fresh data directory on
/// the first `cores` CPUs, grants skipped, with a `sbtest` database and
/// `max_connections` client connections at most.
pub(super) fn mariadb(cores: usize, max_connections: usize) -> Result<Peer, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let installed = Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--skip-test-db", "--auth-root-authentication-method=normal"])
        .arg(format!("--datadir={}", data.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("mariadb-install-db (apt-get install mariadb-server): {e}"))?;
    if !installed.success() {
        return Err("mariadb-install-db failed".into());
    }
    let addr = peers::free_port()?;
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg(format!("0-{}", cores.max(1) - 1))
        .arg("mariadbd")
        .args(["--no-defaults", "--user=root", "--skip-grant-tables", "--bind-address=127.0.0.1"])
        .arg(format!("--port={}", addr.port()))
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", dir.path().join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.path().join("mysqld.pid").display()))
        .args(["--innodb-buffer-pool-size=256M", "--skip-log-bin"])
        .arg(format!("--max-connections={max_connections}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start mariadbd: {e}"))?;
    peers::wait_ready(addr, &mut child, "mariadbd")?;
    create_database(addr.port())?;
    Ok(Peer { name: "mariadb".into(), addr, child, _dir: dir })
}

fn create_database(port: u16) -> Result<(), String> {
    let ok = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", "root", "-e", "CREATE DATABASE IF NOT EXISTS sbtest"])
        .status()
        .map_err(|e| format!("mariadb client: {e}"))?;
    if ok.success() {
        Ok(())
    } else {
        Err("cannot create the sbtest database in MariaDB".into())
    }
}
