//! worker-hello: a worker script that echoes the same line as hello-php's
//! hello.php, against nginx + php-fpm running hello.php in classic mode
//! (pm = static, as many children as ephpm has PHP threads, OPcache on
//! both, the same PHP build). ephpm's classic mode runs in the same rounds.

use super::http::{measure, Target};
use crate::peers;
use crate::report::Report;
use crate::Args;

/// PHP threads per core in ephpm (both modes) and (times cores) php-fpm.
const THREADS_PER_CORE: usize = 4;

/// The worker: boots once, then answers every request with hello.php's line.
const WORKER: &str = "<?php\n$handler = static function (): void {\n    echo \"Hello from PHP\\n\";\n};\n\
                      while (ephpm_handle_request($handler)) {\n}\n";

/// Runs worker-hello.
pub fn run(args: &Args) -> Result<Report, String> {
    let path = "/hello.php";
    let bin = peers::ephpm::binary()?;
    let prefix = peers::php_fpm::php_prefix(&bin)?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    std::fs::write(root.path().join("worker.php"), WORKER).map_err(|e| e.to_string())?;
    let threads = args.cores * THREADS_PER_CORE;
    let php = format!("[php]\nthreads_per_core = {THREADS_PER_CORE}\n");
    let worker = format!("{php}[php.worker]\nscript = \"worker.php\"\n");
    let mut ephpm = peers::ephpm::start_with(&bin, root.path(), args.cores, &args.io, &worker)?;
    ephpm.name = "ephpm worker".into();
    let mut classic = peers::ephpm::start_with(&bin, root.path(), args.cores, &args.io, &php)?;
    classic.name = "ephpm classic".into();
    let fpm = peers::php_fpm::start(&prefix, threads, args.cores)?;
    let mut nginx = peers::nginx::start(root.path(), args.cores, args.connections, Some(&fpm.socket))?;
    nginx.name = "nginx+php-fpm".into();

    let targets = vec![
        Target { peer: &ephpm, path, label: ephpm.name.clone(), cpu: Vec::new() },
        Target { peer: &nginx, path, label: nginx.name.clone(), cpu: Vec::new() },
        Target { peer: &classic, path, label: classic.name.clone(), cpu: Vec::new() },
        Target { peer: &ephpm, path: "/hello", label: "ephpm raw".into(), cpu: Vec::new() },
    ];
    let rows = measure(&targets, args)?;
    let (worker_row, fpm_row, classic_row, raw) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    let ratios = vec![
        ("rps ephpm worker/php-fpm (target >= 5)".to_string(), worker_row.rate / fpm_row.rate),
        ("p99 ephpm worker/php-fpm (lower is better)".to_string(), worker_row.p99_us / fpm_row.p99_us),
        ("rps ephpm worker/ephpm classic".to_string(), worker_row.rate / classic_row.rate),
        ("rps ephpm classic/php-fpm".to_string(), classic_row.rate / fpm_row.rate),
        ("worker rps as a fraction of hello-raw".to_string(), worker_row.rate / raw.rate),
    ];
    Ok(Report {
        scenario: args.scenario.clone(),
        setup: format!(
            "GET {path} (the worker answers it; php-fpm and ephpm classic run hello.php), {} connections over {} load \
             thread(s), {} core(s) per server, {threads} PHP threads/children each (OPcache on, no php.ini), {} s per \
             server in {} alternating rounds, ephpm io={}",
            args.connections,
            args.threads,
            args.cores,
            args.duration,
            args.rounds.max(1),
            args.io,
        ),
        rows,
        ratios,
    })
}
