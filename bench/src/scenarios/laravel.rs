//! laravel: a JSON route (`GET /api/hello`) of the Laravel 10 application
//! that tools/assemble-laravel.sh builds, served by ephpm in worker mode
//! with the Octane driver (the worker octane:ephpm runs), against nginx +
//! php-fpm running the same application in classic mode (pm = static, as
//! many children as ephpm has PHP threads, OPcache on both, the same PHP
//! build, nginx's try_files to index.php). ephpm classic runs the same
//! rounds. The configuration and routes are cached (`artisan
//! config:cache route:cache`) for every server, as in production.
//!
//! laravel-soak: the same route on ephpm + Octane alone for 5 minutes
//! (`EPHPM_BENCH_SOAK_SECONDS` to change), `max_requests = 0`: the errors
//! and the resident memory at the start, along the way and at the end.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::http::{measure, row, Target};
use crate::loadgen::{self, LoadSpec};
use crate::peers::{self, Peer};
use crate::report::Report;
use crate::Args;

/// PHP threads per core in ephpm (both modes) and (times cores) php-fpm.
const THREADS_PER_CORE: usize = 4;

const PATH: &str = "/api/hello";

/// Runs laravel.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let prefix = peers::php_fpm::php_prefix(&bin)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let app = prepare(&bin, dir.path())?;
    let public = app.join("public");
    let threads = args.cores * THREADS_PER_CORE;

    let octane = start_octane(&bin, &app, args)?;
    let php = format!("[php]\nthreads_per_core = {THREADS_PER_CORE}\n{}", ini_section(args));
    let mut classic =
        peers::ephpm::start_at(&bin, peers::free_port()?, &public, args.cores, &args.io, "/index.php", &php)?;
    classic.name = "ephpm classic".into();
    let fpm = peers::php_fpm::start_with_ini(&prefix, threads, args.cores, &args.php_ini)?;
    let mut nginx = peers::nginx::start_wordpress(
        peers::free_port()?,
        &public,
        args.cores,
        args.connections,
        &fpm.socket,
        false,
        true,
    )?;
    nginx.name = "nginx+php-fpm".into();
    for p in [&octane, &classic, &nginx] {
        check(p)?;
    }

    let targets = vec![
        Target { peer: &octane, path: PATH, label: octane.name.clone(), cpu: Vec::new() },
        Target { peer: &nginx, path: PATH, label: nginx.name.clone(), cpu: Vec::new() },
        Target { peer: &classic, path: PATH, label: classic.name.clone(), cpu: Vec::new() },
    ];
    let rows = measure(&targets, args)?;
    let (octane_row, fpm_row, classic_row) = (&rows[0], &rows[1], &rows[2]);
    let ratios = vec![
        ("rps ephpm+octane/php-fpm classic (target >= 5)".to_string(), octane_row.rate / fpm_row.rate),
        ("p99 ephpm+octane/php-fpm classic (lower is better)".to_string(), octane_row.p99_us / fpm_row.p99_us),
        ("rps ephpm+octane/ephpm classic".to_string(), octane_row.rate / classic_row.rate),
        ("rps ephpm classic/php-fpm classic".to_string(), classic_row.rate / fpm_row.rate),
    ];
    Ok(Report {
        scenario: args.scenario.clone(),
        setup: format!(
            "GET {PATH} (Laravel 10.48, a JSON route; config and routes cached), {} connections over {} load \
             thread(s), {} core(s) per server, {threads} PHP threads/children each (OPcache on{}), {} s per server in {} \
             alternating rounds, ephpm io={}",
            args.connections,
            args.threads,
            args.cores,
            ini_note(args),
            args.duration,
            args.rounds.max(1),
            args.io,
        ),
        rows,
        ratios,
    })
}

/// `--php-ini` settings as ephpm's `[php.ini]` section.
fn ini_section(args: &Args) -> String {
    if args.php_ini.is_empty() {
        return String::new();
    }
    let lines: String = args
        .php_ini
        .iter()
        .filter_map(|s| s.split_once('='))
        .map(|(k, v)| format!("\"{}\" = \"{}\"\n", k.trim(), v.trim()))
        .collect();
    format!("[php.ini]\n{lines}")
}

/// `--php-ini` settings for the report's setup line.
fn ini_note(args: &Args) -> String {
    if args.php_ini.is_empty() {
        String::new()
    } else {
        format!(", on every server: {}", args.php_ini.join(" "))
    }
}

/// Runs laravel-soak.
pub fn soak(args: &Args) -> Result<Report, String> {
    let seconds: u64 =
        std::env::var("EPHPM_BENCH_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(300).max(10);
    let bin = peers::ephpm::binary()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let app = prepare(&bin, dir.path())?;
    let octane = start_octane(&bin, &app, args)?;
    check(&octane)?;
    let spec = |duration: Duration| LoadSpec {
        addr: octane.addr,
        request: format!("GET {PATH} HTTP/1.1\r\nHost: {}\r\n\r\n", octane.addr).into_bytes(),
        connections: args.connections,
        threads: args.threads,
        duration,
        max_per_connection: u64::MAX,
        cpus: super::loadgen_cpus(args.cores),
    };
    eprintln!("bench: warming up (2 s)");
    loadgen::run(&spec(Duration::from_secs(2)))?;
    let rss_start = octane.rss_kib();
    let slices = 10u64;
    let mut total = loadgen::LoadResult {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        hist: hdrhistogram::Histogram::new(3).map_err(|e| e.to_string())?,
    };
    let mut along = Vec::new();
    for i in 1..=slices {
        let r = loadgen::run(&spec(Duration::from_secs(seconds / slices)))?;
        let rss = octane.rss_kib();
        eprintln!("bench: {i}/{slices}: {:.0} req/s, {} errors, RSS {} MiB", r.rate(), r.errors, rss / 1024);
        along.push(rss);
        total.ok += r.ok;
        total.errors += r.errors;
        total.elapsed += r.elapsed;
        total.hist.add(&r.hist).map_err(|e| e.to_string())?;
    }
    let rss_end = *along.last().unwrap_or(&rss_start);
    let rss_max = along.iter().copied().max().unwrap_or(rss_end);
    let mut r = row(&octane.name, &total);
    r.extra.push(("RSS start MiB".into(), rss_start as f64 / 1024.0));
    r.extra.push(("RSS end MiB".into(), rss_end as f64 / 1024.0));
    r.extra.push(("RSS max MiB".into(), rss_max as f64 / 1024.0));
    let ratios = vec![
        ("RSS end/start".to_string(), rss_end as f64 / rss_start.max(1) as f64),
        ("errors (target 0)".to_string(), total.errors as f64),
    ];
    Ok(Report {
        scenario: args.scenario.clone(),
        setup: format!(
            "GET {PATH} for {seconds} s on ephpm + Octane (max_requests = 0), {} connections over {} load thread(s), \
             {} core(s), {} PHP threads{}, ephpm io={}; RSS of the whole process after a 2 s warm-up and after each \
             tenth",
            args.connections,
            args.threads,
            args.cores,
            args.cores * THREADS_PER_CORE,
            ini_note(args),
            args.io,
        ),
        rows: vec![r],
        ratios,
    })
}

/// ephpm in worker mode with the Octane driver's worker, as octane:ephpm starts it.
fn start_octane(bin: &Path, app: &Path, args: &Args) -> Result<Peer, String> {
    let worker = app.join("vendor/ephpm/octane/bin/ephpm-worker.php");
    let extra = format!(
        "[php]\nthreads_per_core = {THREADS_PER_CORE}\n[php.worker]\nscript = \"{}\"\nmax_requests = 0\n{}",
        worker.display(),
        ini_section(args)
    );
    let mut p = peers::ephpm::start_at(
        bin,
        peers::free_port()?,
        &app.join("public"),
        args.cores,
        &args.io,
        "/index.php",
        &extra,
    )?;
    p.name = "ephpm+octane".into();
    Ok(p)
}

/// The route answers 200 with the JSON the app's route returns.
fn check(p: &Peer) -> Result<(), String> {
    let out = Command::new("curl")
        .args(["-s", "-m", "30", "-w", "\n%{http_code}"])
        .arg(format!("http://{}{PATH}", p.addr))
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("\"hello\":\"world\"") && text.ends_with("200") {
        Ok(())
    } else {
        Err(format!("{} does not serve {PATH}: {text}", p.name))
    }
}

/// A copy of the assembled application with its configuration and routes cached.
fn prepare(bin: &Path, into: &Path) -> Result<PathBuf, String> {
    let src = super::tool_dir("EPHPM_LARAVEL_APP", "assemble-laravel.sh")?;
    let app = into.join("app");
    let ok = Command::new("cp").arg("-a").arg(&src).arg(&app).status().map_err(|e| e.to_string())?;
    if !ok.success() {
        return Err(format!("cannot copy {}", src.display()));
    }
    for cmd in ["config:cache", "route:cache"] {
        let out =
            Command::new(bin).args(["php", "artisan", cmd]).current_dir(&app).output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("artisan {cmd}: {}", String::from_utf8_lossy(&out.stdout)));
        }
    }
    Ok(app)
}
