//! static-small, static-large and hello-raw: ephpm against nginx, measured
//! alternately on the same machine.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::loadgen::{self, LoadResult, LoadSpec};
use crate::peers::{self, Peer};
use crate::report::{Report, Row};
use crate::Args;

/// Runs one HTTP scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let path = match args.scenario.as_str() {
        "static-small" => "/small.txt",
        "static-large" => "/large.bin",
        _ => "/hello",
    };
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    let servers = [
        peers::ephpm::start(&bin, root.path(), args.cores, &args.io)?,
        peers::nginx::start(root.path(), args.cores, args.connections, None)?,
    ];
    let targets: Vec<Target> =
        servers.iter().map(|s| Target { peer: s, path, label: s.name.clone(), cpu: Vec::new() }).collect();
    let rows = measure(&targets, args)?;
    let ratios = vec![
        ("rps ephpm/nginx".to_string(), rows[0].rate / rows[1].rate),
        ("p99 ephpm/nginx (lower is better)".to_string(), rows[0].p99_us / rows[1].p99_us),
    ];
    Ok(Report { scenario: args.scenario.clone(), setup: setup(path, args), rows, ratios })
}

/// How a run of [`measure`] loads `path`, for the report.
pub fn setup(path: &str, args: &Args) -> String {
    format!(
        "GET {path}, {} connections over {} load thread(s) on CPUs {:?}, {} core(s) per server, {} s per server in {} alternating rounds, ephpm io={}",
        args.connections,
        args.threads,
        super::loadgen_cpus(args.cores),
        args.cores,
        args.duration,
        args.rounds.max(1),
        args.io
    )
}

/// One thing to load: a server and the path requested from it.
pub struct Target<'a> {
    /// The server.
    pub peer: &'a Peer,
    /// The path requested.
    pub path: &'a str,
    /// The row's name in the report.
    pub label: String,
    /// The processes (with their children) whose CPU time the target's
    /// requests cost; when given, the row reports CPU per request.
    pub cpu: Vec<u32>,
}

/// Warms every target up, then measures them in alternating rounds (so
/// drift on the machine hits all alike) and returns one row per target.
pub fn measure(targets: &[Target<'_>], args: &Args) -> Result<Vec<Row>, String> {
    let cpus = super::loadgen_cpus(args.cores);
    let rounds = args.rounds.max(1);
    let slice = Duration::from_secs_f64(args.duration as f64 / f64::from(rounds));
    let spec = |t: &Target<'_>, duration: Duration| LoadSpec {
        addr: t.peer.addr,
        // The port too: WordPress redirects a request for another host.
        request: format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", t.path, t.peer.addr).into_bytes(),
        connections: args.connections,
        threads: args.threads,
        duration,
        max_per_connection: 100_000_000,
        cpus: cpus.clone(),
    };
    for t in targets {
        eprintln!("bench: warming up {} (1 s)", t.label);
        loadgen::run(&spec(t, Duration::from_secs(1)))?;
    }
    let mut totals: Vec<LoadResult> = targets
        .iter()
        .map(|_| LoadResult { ok: 0, errors: 0, elapsed: Duration::ZERO, hist: Histogram::new(3).expect("hist") })
        .collect();
    let mut cpu_ns = vec![0u64; targets.len()];
    for round in 1..=rounds {
        for ((t, total), cpu) in targets.iter().zip(&mut totals).zip(&mut cpu_ns) {
            eprintln!("bench: round {round}/{rounds}: {} for {:.1} s", t.label, slice.as_secs_f64());
            let before = peers::tree_cpu_ns(&t.cpu);
            let r = loadgen::run(&spec(t, slice))?;
            *cpu += peers::tree_cpu_ns(&t.cpu).saturating_sub(before);
            eprintln!("bench:   {:.0} req/s, {} errors", r.rate(), r.errors);
            total.ok += r.ok;
            total.errors += r.errors;
            total.elapsed += r.elapsed;
            total.hist.add(&r.hist).map_err(|e| e.to_string())?;
        }
    }
    let rows = targets.iter().zip(&totals).zip(cpu_ns).map(|((t, r), cpu)| {
        let mut row = row(&t.label, r);
        if !t.cpu.is_empty() && r.ok > 0 {
            row.extra.push(("CPU us/req".into(), cpu as f64 / r.ok as f64 / 1e3));
        }
        row
    });
    Ok(rows.collect())
}

/// Turns a load result into a report row.
pub fn row(name: &str, r: &LoadResult) -> Row {
    let us = |q: f64| r.hist.value_at_quantile(q) as f64 / 1000.0;
    Row {
        server: name.to_string(),
        rate: r.rate(),
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        errors: r.errors,
        extra: Vec::new(),
    }
}
