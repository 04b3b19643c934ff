//! kv: the real `redis-benchmark` against ephpm's RESP listener and against
//! redis-server on the same machine, for SET, GET, INCR, LPUSH and HSET,
//! without and with pipelining (-P 16). Both servers get the same CPUs.

use std::process::{Command, Stdio};

use crate::peers::{self, Peer};
use crate::report::{Report, Row};
use crate::Args;

const TESTS: [&str; 5] = ["set", "get", "incr", "lpush", "hset"];

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
    let per_round = |per_second: u64| (args.duration.max(1) * per_second / u64::from(rounds)).max(10_000);
    let servers = [(resp.port(), ephpm.child.id()), (redis.addr.port(), redis.child.id())];
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for (pipeline, n) in [(1, per_round(40_000)), (16, per_round(300_000))] {
        for test in TESTS {
            // Alternating rounds, test by test, so drift on the machine
            // falls on both servers alike.
            let mut tally = [Tally::default(), Tally::default()];
            for _ in 0..rounds {
                for (t, &(port, pid)) in tally.iter_mut().zip(&servers) {
                    let before = peers::cpu_ns(pid);
                    t.rate += bench(port, test, n, pipeline, args.connections, &cpus)?;
                    t.cpu_ns += peers::cpu_ns(pid).saturating_sub(before);
                }
            }
            let requests = (n * u64::from(rounds)) as f64;
            let [ours, theirs] = tally.map(|t| (t.rate / f64::from(rounds), t.cpu_ns as f64 / requests));
            for (who, (rate, cpu)) in [("ephpm", ours), ("redis", theirs)] {
                rows.push(Row::rate_and_cpu(format!("{who} {test} -P{pipeline}"), rate, cpu));
            }
            ratios.push((format!("{test} -P{pipeline} ephpm/redis-server (target >= 1)"), ours.0 / theirs.0));
            ratios.push((
                format!("{test} -P{pipeline} CPU per request ephpm/redis-server (lower is better)"),
                ours.1 / theirs.1,
            ));
        }
    }
    drop(ephpm);
    Ok(Report {
        scenario: "kv".into(),
        setup: format!(
            "redis-benchmark -t <test> -c {} (-n {} unpipelined, {} with -P 16, per round), {rounds} alternating rounds, {} core(s) per server (redis-server confined to the same CPUs), ephpm io={}; server CPU is each process's run time (all threads) over the requests served",
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

/// One server's figures for one test, summed over the rounds.
#[derive(Default)]
struct Tally {
    /// Sum of the rounds' requests/s.
    rate: f64,
    /// CPU time the server used.
    cpu_ns: u64,
}

/// Runs redis-benchmark for one test and returns its requests/s.
pub(super) fn bench(
    port: u16,
    test: &str,
    n: u64,
    pipeline: u32,
    clients: usize,
    cpus: &[usize],
) -> Result<f64, String> {
    let out = Command::new("taskset")
        .arg("-c")
        .arg(super::cpu_list(cpus))
        .arg("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", test])
        .args(["-n", &n.to_string(), "-P", &pipeline.to_string(), "-c", &clients.to_string(), "--csv"])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("redis-benchmark (apt-get install redis-tools): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // A header line, then `"SET","91000.00",...`.
    text.lines()
        .nth(1)
        .and_then(|line| line.split(',').nth(1))
        .and_then(|rps| rps.trim_matches('"').parse::<f64>().ok())
        .ok_or_else(|| format!("redis-benchmark printed no result for {test}: {text}"))
}

/// Starts Debian's redis-server (no persistence) on the first `cores` CPUs.
pub(super) fn redis_server(cores: usize) -> Result<Peer, String> {
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
