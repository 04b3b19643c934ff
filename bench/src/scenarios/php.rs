//! hello-php and json-php: ephpm's PHP threads against nginx + php-fpm
//! built from the same PHP source (pm = static with as many children as
//! ephpm has PHP threads, OPcache on both), and against FrankenPHP when a
//! `frankenphp` binary is on PATH. ephpm's hello-raw runs in the same
//! rounds, to report how much of the server's ceiling PHP leaves.

use std::path::Path;
use std::process::{Command, Stdio};

use super::http::{measure, Target};
use crate::peers::{self, Peer};
use crate::report::Report;
use crate::Args;

/// PHP threads per core in both ephpm and (times cores) php-fpm.
const THREADS_PER_CORE: usize = 4;

/// Runs hello-php or json-php.
pub fn run(args: &Args) -> Result<Report, String> {
    let path = if args.scenario == "json-php" { "/json.php" } else { "/hello.php" };
    let bin = peers::ephpm::binary()?;
    let prefix = peers::php_fpm::php_prefix(&bin)?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    let threads = args.cores * THREADS_PER_CORE;
    let extra = format!("[php]\nthreads_per_core = {THREADS_PER_CORE}\n");
    let ephpm = peers::ephpm::start_with(&bin, root.path(), args.cores, &args.io, &extra)?;
    let fpm = peers::php_fpm::start(&prefix, threads, args.cores)?;
    let mut nginx = peers::nginx::start(root.path(), args.cores, args.connections, Some(&fpm.socket))?;
    nginx.name = "nginx+php-fpm".into();
    let franken = frankenphp(root.path())?;

    let mut targets = vec![
        Target { peer: &ephpm, path, label: "ephpm".into(), cpu: Vec::new() },
        Target { peer: &nginx, path, label: nginx.name.clone(), cpu: Vec::new() },
    ];
    if let Some(f) = &franken {
        targets.push(Target { peer: f, path, label: "frankenphp".into(), cpu: Vec::new() });
    }
    targets.push(Target { peer: &ephpm, path: "/hello", label: "ephpm raw".into(), cpu: Vec::new() });
    let rows = measure(&targets, args)?;
    let (ours, fpm_row, raw) = (&rows[0], &rows[1], &rows[rows.len() - 1]);
    let mut ratios = vec![
        ("rps ephpm/php-fpm (target >= 2)".to_string(), ours.rate / fpm_row.rate),
        ("p99 ephpm/php-fpm (lower is better, target < 1)".to_string(), ours.p99_us / fpm_row.p99_us),
    ];
    if franken.is_some() {
        ratios.push(("rps ephpm/frankenphp".to_string(), ours.rate / rows[2].rate));
    }
    ratios.push((format!("{} rps as a fraction of hello-raw", args.scenario), ours.rate / raw.rate));
    Ok(Report {
        scenario: args.scenario.clone(),
        setup: format!(
            "GET {path}, {} connections over {} load thread(s), {} core(s) per server, {threads} PHP threads/workers each \
             (OPcache on, no php.ini), {} s per server in {} alternating rounds, ephpm io={}; frankenphp: {}",
            args.connections,
            args.threads,
            args.cores,
            args.duration,
            args.rounds.max(1),
            args.io,
            if franken.is_some() { "measured" } else { "not on PATH, skipped" }
        ),
        rows,
        ratios,
    })
}

/// Starts FrankenPHP's built-in server when the binary is on PATH.
fn frankenphp(root: &Path) -> Result<Option<Peer>, String> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("frankenphp")).find(|b| b.is_file()))
        .unwrap_or_default();
    let Some(bin) = found else { return Ok(None) };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let addr = peers::free_port()?;
    let mut child = Command::new(bin)
        .args(["php-server", "--listen"])
        .arg(addr.to_string())
        .arg("--root")
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start frankenphp: {e}"))?;
    peers::wait_ready(addr, &mut child, "frankenphp")?;
    Ok(Some(Peer { name: "frankenphp".into(), addr, child, _dir: dir }))
}
