//! kv: the real `redis-benchmark` against ephpm's RESP listener and against
//! redis-server on the same machine, for SET, GET, INCR, LPUSH and HSET,
//! without and with pipelining (-P 16). Both servers get the same CPUs.

use std::process::{Command, Stdio};

use crate::peers::{self, Peer};
use crate::report::{Report, Row};
use crate::Args;

const TESTS: &str = "set,get,incr,lpush,hset";

/// Runs the kv scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    let resp = peers::free_port()?;
    let ephpm = peers::ephpm::start_with(
        &bin,
        root.path(),
        args.cores,
        &args.io,
        &format!("[kv.redis]\nlisten = \"{resp}\"\n"),
    )?;
    let redis = redis_server(args.cores)?;
    let cpus = super::loadgen_cpus(args.cores);
    let rounds = args.rounds.max(1);
    let per_round = |per_second: u64| (args.duration.max(1) * per_second / u64::from(rounds)).max(10_000).to_string();
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for (pipeline, n) in [("1", per_round(40_000)), ("16", per_round(300_000))] {
        // Alternating rounds: each server's rate is its mean over them, so
        // drift on the machine falls on both alike.
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            add_round(&mut ours, bench(resp.port(), &n, pipeline, args.connections, &cpus)?);
            add_round(&mut theirs, bench(redis.addr.port(), &n, pipeline, args.connections, &cpus)?);
        }
        for ((test, a), (_, b)) in ours.iter().zip(&theirs) {
            let (a, b) = (a / f64::from(rounds), b / f64::from(rounds));
            let row = |who: &str, rate: f64| Row {
                server: format!("{who} {test} -P{pipeline}"),
                rate,
                p50_us: 0.0,
                p99_us: 0.0,
                p999_us: 0.0,
                errors: 0,
                extra: Vec::new(),
            };
            rows.push(row("ephpm", a));
            rows.push(row("redis", b));
            ratios.push((format!("{test} -P{pipeline} ephpm/redis-server (target >= 1)"), a / b));
        }
    }
    drop(ephpm);
    Ok(Report {
        scenario: "kv".into(),
        setup: format!(
            "redis-benchmark -t {TESTS} -c {} (-n {} unpipelined, {} with -P 16, per round), {rounds} alternating rounds, {} core(s) per server (redis-server confined to the same CPUs), ephpm io={}",
            args.connections,
            per_round(40_000),
            per_round(300_000),
            args.cores,
            args.io
        ),
        rows,
        ratios,
    })
}

/// Adds one round's rates to the running totals, test by test.
fn add_round(totals: &mut Vec<(String, f64)>, round: Vec<(String, f64)>) {
    if totals.is_empty() {
        *totals = round;
    } else {
        for ((_, total), (_, rate)) in totals.iter_mut().zip(round) {
            *total += rate;
        }
    }
}

/// Runs redis-benchmark and returns (test, requests/s) per test.
fn bench(port: u16, n: &str, pipeline: &str, clients: usize, cpus: &[usize]) -> Result<Vec<(String, f64)>, String> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg(super::cpu_list(cpus)).arg("redis-benchmark");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-t",
        TESTS,
        "-n",
        n,
        "-P",
        pipeline,
        "-c",
        &clients.to_string(),
        "--csv",
    ]);
    let out = cmd
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("redis-benchmark (apt-get install redis-tools): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut results = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').map(|c| c.trim_matches('"')).collect();
        if let (Some(test), Some(rps)) = (cols.first(), cols.get(1).and_then(|r| r.parse::<f64>().ok())) {
            results.push((test.split_whitespace().next().unwrap_or(test).to_string(), rps));
        }
    }
    if results.is_empty() {
        return Err(format!("redis-benchmark printed no results: {text}"));
    }
    Ok(results)
}

/// Starts Debian's redis-server (no persistence) on the first `cores` CPUs.
fn redis_server(cores: usize) -> Result<Peer, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let addr = peers::free_port()?;
    let mut child = Command::new("taskset")
        .arg("-c")
        .arg(format!("0-{}", cores.max(1) - 1))
        .arg("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string(), "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server (apt-get install redis-server): {e}"))?;
    peers::wait_ready(addr, &mut child, "redis-server")?;
    Ok(Peer { name: "redis-server".into(), addr, child, _dir: dir })
}
