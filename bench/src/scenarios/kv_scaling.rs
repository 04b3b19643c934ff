//! kv-scaling: RESP GET from the real `redis-benchmark` against ephpm on 1
//! core and on N cores, beside redis-server: requests/s, per-core
//! efficiency (rate at N / (N x rate at 1)), server CPU per request,
//! unpipelined and with -P 16. A machine with few cores cannot show
//! scaling, so the scenario also measures what predicts it: the cost of
//! one cross-core hop per command (a GET of a key another core owns
//! against one of a key the connection's own core owns, on one
//! connection).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use ephpm_kv::shard_of;

use super::kv::{bench, redis_server};
use crate::peers;
use crate::report::{Report, Row};
use crate::Args;

/// GETs per hop measurement and round.
const HOP_GETS: usize = 20_000;

/// Runs the kv-scaling scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    let n = args.cores.max(2);
    let rounds = args.rounds.max(1);
    let per_round = |per_second: u64| (args.duration.max(1) * per_second / u64::from(rounds)).max(10_000);
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    // (rate, CPU ns per request) by [cores index][pipeline index].
    let mut ours = [[(0.0, 0.0); 2]; 2];
    let redis = redis_server(1)?;
    let mut theirs = [(0.0, 0.0); 2];
    for (ci, cores) in [1, n].into_iter().enumerate() {
        let resp = peers::free_port()?;
        let extra = format!("[kv.redis]\nlisten = \"{resp}\"\n");
        let ephpm = peers::ephpm::start_with(&bin, root.path(), cores, &args.io, &extra)?;
        // The load generator gets the CPUs the servers do not use, or all
        // of them on a machine too small for that.
        let mut cpus = super::loadgen_cpus(cores);
        if cpus.is_empty() {
            cpus = (0..std::thread::available_parallelism().map_or(1, |p| p.get())).collect();
        }
        for (pi, (pipeline, requests)) in [(1, per_round(40_000)), (16, per_round(300_000))].into_iter().enumerate() {
            let mut servers = vec![(resp.port(), ephpm.child.id())];
            if ci == 0 {
                servers.push((redis.addr.port(), redis.child.id()));
            }
            let mut tally = vec![(0.0, 0u64); servers.len()];
            let mesh_before = mesh_counters(resp)?;
            for _ in 0..rounds {
                for (t, &(port, pid)) in tally.iter_mut().zip(&servers) {
                    let before = peers::cpu_ns(pid);
                    t.0 += bench(port, "get", requests, pipeline, args.connections, &cpus)?;
                    t.1 += peers::cpu_ns(pid).saturating_sub(before);
                }
            }
            let served = (requests * u64::from(rounds)) as f64;
            if cores > 1 {
                let after = mesh_counters(resp)?;
                let (batches, messages) = (after.0 - mesh_before.0, after.1 - mesh_before.1);
                ratios.push((
                    format!("{cores} cores GET -P{pipeline}: mean mesh batch (messages per ring drain)"),
                    messages as f64 / batches.max(1) as f64,
                ));
            }
            let figures: Vec<(f64, f64)> =
                tally.iter().map(|(rate, cpu)| (rate / f64::from(rounds), *cpu as f64 / served)).collect();
            ours[ci][pi] = figures[0];
            if ci == 0 {
                theirs[pi] = figures[1];
            }
        }
        if cores > 1 {
            let hop = hop_cost(resp, cores)?;
            for (label, ns) in [("unpipelined", hop.0), ("-P16", hop.1)] {
                ratios.push((format!("one cross-core hop per GET, {label}, ns (remote key - local key)"), ns));
            }
        }
        drop(ephpm);
    }
    for (pi, label) in ["-P1", "-P16"].into_iter().enumerate() {
        for (who, (rate, cpu)) in
            [(format!("ephpm 1 core GET {label}"), ours[0][pi]), (format!("ephpm {n} cores GET {label}"), ours[1][pi])]
                .into_iter()
                .chain([(format!("redis-server GET {label}"), theirs[pi])])
        {
            rows.push(Row::rate_and_cpu(who, rate, cpu));
        }
        ratios.push((
            format!("GET {label} per-core efficiency at {n} cores: rate({n}) / ({n} x rate(1))"),
            ours[1][pi].0 / (n as f64 * ours[0][pi].0),
        ));
        ratios.push((format!("GET {label} ephpm 1 core / redis-server"), ours[0][pi].0 / theirs[pi].0));
    }
    Ok(Report {
        scenario: "kv-scaling".into(),
        setup: format!(
            "redis-benchmark -t get -c {} (-n {} unpipelined, {} with -P 16, per round), {rounds} rounds, ephpm on 1 and {n} cores, redis-server on 1 core; load generator on the CPUs the server does not use (all CPUs where none are left); hop cost: {HOP_GETS} GETs on one connection of a key the connection's core owns and of one another core owns, io={}",
            args.connections,
            per_round(40_000),
            per_round(300_000),
            args.io
        ),
        rows,
        ratios,
    })
}

/// The extra time a GET takes when its key lives on another core, in ns
/// per command: unpipelined and in batches of 16.
fn hop_cost(addr: SocketAddr, cores: usize) -> Result<(f64, f64), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    // Client ids carry their core in the low bits: core + 1 + 1024 k.
    let id = command(&mut s, b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")?;
    let id: u64 = id.trim_start_matches(':').trim().parse().map_err(|_| format!("CLIENT ID answered {id:?}"))?;
    let core = ((id - 1) % 1024) as usize;
    let key = |local: bool| {
        (0u32..).map(|i| format!("hop:{i}")).find(|k| (shard_of(k.as_bytes(), cores) == core) == local).unwrap()
    };
    let (local, remote) = (key(true), key(false));
    for k in [&local, &remote] {
        command(&mut s, format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$1\r\nv\r\n", k.len()).as_bytes())?;
    }
    let mut unpipelined = [0.0; 2];
    let mut batched = [0.0; 2];
    for _ in 0..3 {
        for (i, k) in [&local, &remote].into_iter().enumerate() {
            unpipelined[i] += gets(&mut s, k, HOP_GETS, 1)?;
            batched[i] += gets(&mut s, k, HOP_GETS, 16)?;
        }
    }
    Ok(((unpipelined[1] - unpipelined[0]) / 3.0, (batched[1] - batched[0]) / 3.0))
}

/// The server's mesh counters from INFO: (batches, messages).
fn mesh_counters(addr: SocketAddr) -> Result<(u64, u64), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let head = command(&mut s, b"*1\r\n$4\r\nINFO\r\n")?;
    let len: usize = head.trim_start_matches('$').trim().parse().map_err(|_| format!("INFO answered {head:?}"))?;
    let mut body = vec![0u8; len + 2];
    s.read_exact(&mut body).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&body);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or(format!("INFO has no {name}"))
    };
    Ok((field("ephpm_mesh_batches")?, field("ephpm_mesh_messages")?))
}

/// Sends one command and reads its one-line reply.
fn command(s: &mut TcpStream, cmd: &[u8]) -> Result<String, String> {
    s.write_all(cmd).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n") {
        s.read_exact(&mut b).map_err(|e| e.to_string())?;
        out.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Runs `n` GETs of `key` (value "v") in batches of `batch`; ns per GET.
fn gets(s: &mut TcpStream, key: &str, n: usize, batch: usize) -> Result<f64, String> {
    let one = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
    let request = one.repeat(batch);
    let mut reply = vec![0u8; b"$1\r\nv\r\n".len() * batch];
    let started = Instant::now();
    for _ in 0..n / batch {
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        s.read_exact(&mut reply).map_err(|e| e.to_string())?;
    }
    Ok(started.elapsed().as_nanos() as f64 / (n / batch * batch) as f64)
}
