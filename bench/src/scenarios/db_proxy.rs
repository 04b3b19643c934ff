//! db-proxy: Debian's sysbench against MariaDB directly and through
//! ephpm's database proxy, on the same machine and the same MariaDB:
//! oltp_read_write at `--connections` clients (target: the proxy loses at
//! most 10% of the direct throughput), then oltp_point_select with 500
//! clients against a MariaDB limited to 200 connections, where direct
//! clients are refused and the proxy keeps serving over its pool.

use std::process::Command;

use super::db::{mariadb, sysbench, Run};
use crate::peers;
use crate::report::{Report, Row};
use crate::Args;

/// MariaDB's connection limit: below the 500 clients of the second part.
const MARIADB_MAX_CONNECTIONS: usize = 200;
/// Clients of the second part.
const MANY: usize = 500;

/// Runs the db-proxy scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    let maria = mariadb(args.cores, MARIADB_MAX_CONNECTIONS)?;
    let port = peers::free_port()?;
    let direct = maria.addr.port();
    // Server-side prepared statements pin a client to its backend
    // connection, so the pool is as large as the client count.
    let pool = args.connections.max(100);
    let extra = format!(
        "[db]\nusers = [{{ name = \"sbtest\", password = \"sbtest\" }}]\n\
         [db.mysql]\nurl = \"mysql://sbtest:sbtest@{}/sbtest\"\nlisten = \"{port}\"\n\
         max_connections = {pool}\nmin_connections = 4\n",
        maria.addr
    );
    let ephpm = peers::ephpm::start_with(&bin, root.path(), args.cores, &args.io, &extra)?;
    let cpus = super::loadgen_cpus(args.cores);
    // The proxy runs where the application would: beside the load
    // generator, not on the database's CPUs.
    pin(ephpm.child.id(), &cpus)?;
    sysbench(direct, "oltp_read_write", "prepare", 4, 1, &cpus, &[])?;
    let per_round = (args.duration / u64::from(args.rounds.max(1))).max(2);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds.max(1) {
        ours.push(sysbench(port.port(), "oltp_read_write", "run", args.connections, per_round, &cpus, &[])?);
        theirs.push(sysbench(direct, "oltp_read_write", "run", args.connections, per_round, &cpus, &[])?);
    }
    let (a, b) = (Run::mean(&ours), Run::mean(&theirs));
    let mut rows = vec![a.row("ephpm proxy oltp_read_write"), b.row("mariadb direct oltp_read_write")];
    let mut ratios = vec![("oltp_read_write queries/s proxy/direct (target >= 0.90)".to_string(), a.qps / b.qps)];

    let many = ["--db-ps-mode=disable"];
    let proxied = sysbench(port.port(), "oltp_point_select", "run", MANY, per_round, &cpus, &many)?;
    rows.push(proxied.row(&format!("ephpm proxy oltp_point_select, {MANY} clients")));
    let refused = match sysbench(direct, "oltp_point_select", "run", MANY, per_round, &cpus, &many) {
        Ok(r) => {
            rows.push(r.row(&format!("mariadb direct oltp_point_select, {MANY} clients")));
            false
        }
        Err(e) if e.contains("Too many connections") || e.contains("1040") => {
            rows.push(Row {
                server: format!(
                    "mariadb direct oltp_point_select, {MANY} clients: refused (1040 Too many connections)"
                ),
                rate: 0.0,
                p50_us: 0.0,
                p99_us: 0.0,
                p999_us: 0.0,
                errors: 1,
                extra: Vec::new(),
            });
            true
        }
        Err(e) => return Err(e),
    };
    let served = refused && proxied.errors == 0 && proxied.qps > 0.0;
    ratios.push((
        format!("{MANY} clients: 1 when direct is refused and the proxy serves them without errors"),
        f64::from(u8::from(served)),
    ));
    drop(ephpm);
    drop(maria);
    Ok(Report {
        scenario: "db-proxy".into(),
        setup: format!(
            "sysbench --tables=1 --table-size=10000; oltp_read_write --threads={}, {} rounds of {per_round}s alternating; \
             then oltp_point_select --threads={MANY} --db-ps-mode=disable. MariaDB on {} core(s) with max_connections={MARIADB_MAX_CONNECTIONS}; \
             ephpm (proxy, pool {pool}, io={}) on the load generator's CPUs",
            args.connections, args.rounds, args.cores, args.io
        ),
        rows,
        ratios,
    })
}

/// Moves every thread of process `pid` to `cpus`.
fn pin(pid: u32, cpus: &[usize]) -> Result<(), String> {
    if cpus.is_empty() {
        return Ok(());
    }
    let ok = Command::new("taskset")
        .args(["-a", "-p", "-c", &super::cpu_list(cpus), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if ok.success() {
        Ok(())
    } else {
        Err("taskset failed".into())
    }
}
