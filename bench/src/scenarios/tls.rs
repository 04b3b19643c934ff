//! HTTPS and HTTP/2 against Debian's nginx with `ssl` and `http2`, same
//! certificates and key types, alternately on the same machine:
//!
//! - `https-static-small`: 1 KiB over HTTP/1.1 keep-alive TLS (wrk);
//! - `h2-static-small`: 1 KiB over h2, 10 streams per connection (h2load);
//! - `tls-handshakes`: a new TLS 1.3 connection per request (wrk with
//!   `Connection: close`), with ECDSA P-256 and RSA 2048 certificates;
//! - `h2-php`: hello.php over h2, against nginx + php-fpm;
//! - `https-static-large`: 1 MiB over HTTP/1.1 TLS (wrk).
//!
//! The load tools are the real clients (OpenSSL in wrk, nghttp2 in
//! h2load), pinned to the CPUs the servers do not use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::peers::{self, Peer};
use crate::report::{Report, Row};
use crate::Args;

/// PHP threads per core for h2-php (as hello-php).
const THREADS_PER_CORE: usize = 4;

/// A key type the certificates are made with.
#[derive(Clone, Copy)]
enum KeyType {
    EcdsaP256,
    Rsa2048,
}

impl KeyType {
    fn name(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ECDSA P-256",
            KeyType::Rsa2048 => "RSA 2048",
        }
    }
}

/// Which tool loads the servers, and how.
#[derive(Clone, Copy, PartialEq)]
enum Load {
    /// wrk over HTTP/1.1 keep-alive.
    Wrk,
    /// wrk with `Connection: close`: a full handshake per request.
    WrkClose,
    /// h2load, 10 streams per connection.
    H2load,
}

/// Runs one TLS scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let (path, load) = match args.scenario.as_str() {
        "https-static-small" => ("/small.txt", Load::Wrk),
        "h2-static-small" => ("/small.txt", Load::H2load),
        "tls-handshakes" => ("/small.txt", Load::WrkClose),
        "h2-php" => ("/hello.php", Load::H2load),
        _ => ("/large.bin", Load::Wrk),
    };
    let keys: &[KeyType] =
        if load == Load::WrkClose { &[KeyType::EcdsaP256, KeyType::Rsa2048] } else { &[KeyType::EcdsaP256] };
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for key in keys {
        let (cert, keyfile) = make_cert(root.path(), *key)?;
        let pair = servers(args, &bin, root.path(), &cert, &keyfile, path == "/hello.php")?;
        let targets = [&pair.ephpm, &pair.nginx];
        let measured = measure(&targets, path, load, args)?;
        let suffix = if keys.len() > 1 { format!(" {}", key.name()) } else { String::new() };
        ratios.push((format!("rate ephpm/{}{suffix}", pair.nginx.name), measured[0].rate / measured[1].rate));
        if measured[1].p99_us > 0.0 {
            ratios.push((
                format!("p99 ephpm/{}{suffix} (lower is better)", pair.nginx.name),
                measured[0].p99_us / measured[1].p99_us,
            ));
        }
        for mut row in measured {
            row.server += &suffix;
            rows.push(row);
        }
    }
    let tool = match load {
        Load::Wrk => "wrk (HTTP/1.1 keep-alive over TLS)",
        Load::WrkClose => "wrk with Connection: close (one TLS 1.3 handshake per request)",
        Load::H2load => "h2load -m 10 (HTTP/2 over TLS)",
    };
    let setup = format!(
        "GET {path} by {tool}, {} connections, load on CPUs {:?}, {} core(s) per server, {} s per server in {} alternating rounds, ephpm io={}; certificates: {}",
        args.connections,
        super::loadgen_cpus(args.cores),
        args.cores,
        args.duration,
        args.rounds.max(1),
        args.io,
        keys.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
    );
    Ok(Report { scenario: args.scenario.clone(), setup, rows, ratios })
}

/// ephpm and nginx (with php-fpm for PHP), both serving TLS with `cert`.
struct Servers {
    ephpm: Peer,
    nginx: Peer,
    _fpm: Option<peers::php_fpm::PhpFpm>,
}

fn servers(args: &Args, bin: &Path, root: &Path, cert: &Path, key: &Path, php: bool) -> Result<Servers, String> {
    let tls = peers::free_port()?;
    let extra = format!(
        "[php]\nthreads_per_core = {THREADS_PER_CORE}\n[server.tls]\nlisten = \"{tls}\"\ncert = \"{}\"\nkey = \"{}\"\nredirect = false\n",
        cert.display(),
        key.display()
    );
    let mut ephpm = peers::ephpm::start_with(bin, root, args.cores, &args.io, &extra)?;
    ephpm.addr = tls;
    let fpm = match php {
        true => {
            let prefix = peers::php_fpm::php_prefix(bin)?;
            Some(peers::php_fpm::start(&prefix, args.cores * THREADS_PER_CORE, args.cores)?)
        }
        false => None,
    };
    let nginx_tls = peers::free_port()?;
    let socket = fpm.as_ref().map(|f| f.socket.as_path());
    let mut nginx = peers::nginx::start_tls(root, args.cores, args.connections, socket, nginx_tls, cert, key)?;
    if php {
        nginx.name = "nginx+php-fpm".into();
    }
    Ok(Servers { ephpm, nginx, _fpm: fpm })
}

/// A self-signed certificate of `kind` for 127.0.0.1, made by openssl.
fn make_cert(dir: &Path, kind: KeyType) -> Result<(PathBuf, PathBuf), String> {
    let tag = match kind {
        KeyType::EcdsaP256 => "ec",
        KeyType::Rsa2048 => "rsa",
    };
    let (cert, key) = (dir.join(format!("{tag}.crt")), dir.join(format!("{tag}.key")));
    let new_key: &[&str] = match kind {
        KeyType::EcdsaP256 => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        KeyType::Rsa2048 => &["-newkey", "rsa:2048"],
    };
    let out = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "30"])
        .args(new_key)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .output()
        .map_err(|e| format!("cannot run openssl (apt-get install openssl): {e}"))?;
    if !out.status.success() {
        return Err(format!("openssl req: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok((cert, key))
}

/// Warms each server up, then loads them in alternating rounds.
fn measure(targets: &[&Peer], path: &str, load: Load, args: &Args) -> Result<Vec<Row>, String> {
    let rounds = args.rounds.max(1);
    let slice = Duration::from_secs_f64(args.duration as f64 / f64::from(rounds)).max(Duration::from_secs(1));
    for t in targets {
        eprintln!("bench: warming up {} (1 s)", t.name);
        run_tool(t, path, load, args, Duration::from_secs(1))?;
    }
    let mut totals: Vec<Vec<Sample>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        for (t, total) in targets.iter().zip(&mut totals) {
            eprintln!("bench: round {round}/{rounds}: {} for {:.1} s", t.name, slice.as_secs_f64());
            let s = run_tool(t, path, load, args, slice)?;
            eprintln!("bench:   {:.0} req/s, {} errors", s.rate, s.errors);
            total.push(s);
        }
    }
    Ok(targets
        .iter()
        .zip(&totals)
        .map(|(t, samples)| {
            let n = samples.len() as f64;
            let mean = |f: fn(&Sample) -> f64| samples.iter().map(f).sum::<f64>() / n;
            let mut row = Row {
                server: t.name.clone(),
                rate: mean(|s| s.rate),
                p50_us: mean(|s| s.p50_us),
                p99_us: mean(|s| s.p99_us),
                p999_us: 0.0,
                errors: samples.iter().map(|s| s.errors).sum(),
                extra: Vec::new(),
            };
            if load == Load::H2load {
                row.extra.push(("mean latency us (h2load gives no percentiles)".into(), mean(|s| s.mean_us)));
            }
            row
        })
        .collect())
}

/// One run's figures.
struct Sample {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    errors: u64,
}

fn run_tool(t: &Peer, path: &str, load: Load, args: &Args, d: Duration) -> Result<Sample, String> {
    let url = format!("https://{}{path}", t.addr);
    let cpus = super::cpu_list(&super::loadgen_cpus(args.cores));
    let secs = format!("{}s", d.as_secs().max(1));
    let conns = args.connections.to_string();
    let threads = args.threads.max(1).to_string();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &cpus]);
    match load {
        Load::Wrk | Load::WrkClose => {
            cmd.args(["wrk", "--latency", "-t", &threads, "-c", &conns, "-d", &secs, "--timeout", "5s"]);
            if load == Load::WrkClose {
                cmd.args(["-H", "Connection: close"]);
            }
        }
        Load::H2load => {
            // h2load asks for gzip by default, which nginx does not apply
            // to text/plain: both send the same bytes this way.
            cmd.args(["h2load", "-t", &threads, "-c", &conns, "-m", "10", "-D", &secs]);
            cmd.args(["-H", "accept-encoding: identity"]);
        }
    }
    let out = cmd
        .arg(&url)
        .output()
        .map_err(|e| format!("cannot run the load tool (ci/setup.sh installs wrk and h2load): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let parsed = match load {
        Load::H2load => parse_h2load(&text),
        _ => parse_wrk(&text),
    };
    parsed.ok_or_else(|| format!("cannot read the load tool's output:\n{text}{}", String::from_utf8_lossy(&out.stderr)))
}

/// wrk's `Requests/sec`, `--latency` percentiles and error counts.
fn parse_wrk(text: &str) -> Option<Sample> {
    let rate = text.lines().find_map(|l| l.trim().strip_prefix("Requests/sec:"))?.trim().parse().ok()?;
    let pct = |p: &str| {
        text.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == p).then(|| w.next().and_then(duration_us)).flatten()
        })
    };
    let mut errors = 0;
    for l in text.lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap_or(0);
        }
        if let Some(rest) = l.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors += rest.split(',').filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok()).sum::<u64>();
        }
    }
    Some(Sample { rate, p50_us: pct("50%")?, p99_us: pct("99%")?, mean_us: 0.0, errors })
}

/// h2load's `finished in ..., N req/s`, failures and mean request time.
fn parse_h2load(text: &str) -> Option<Sample> {
    let finished = text.lines().find(|l| l.starts_with("finished in"))?;
    let rate = finished.split(',').nth(1)?.split_whitespace().next()?.parse().ok()?;
    let requests = text.lines().find(|l| l.starts_with("requests:"))?;
    let count = |what: &str| -> u64 {
        requests.split(',').find_map(|p| p.trim().strip_suffix(what)?.trim().parse().ok()).unwrap_or(0)
    };
    let errors = count("failed") + count("errored") + count("timeout");
    let mean_us = text
        .lines()
        .find(|l| l.starts_with("time for request:"))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(duration_us)
        .unwrap_or(0.0);
    Some(Sample { rate, p50_us: 0.0, p99_us: 0.0, mean_us, errors })
}

/// `123.45us`, `1.2ms` or `2.00s` in microseconds.
fn duration_us(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_and_h2load() {
        let wrk = "Running 2s test @ https://x/\n  Latency Distribution\n     50%  100.00us\n     75%  1.00ms\n     99%    2.50ms\n  1000 requests in 2.00s\n  Socket errors: connect 0, read 2, write 0, timeout 1\nRequests/sec:   5000.50\n";
        let s = parse_wrk(wrk).unwrap();
        assert_eq!((s.rate, s.p50_us, s.p99_us, s.errors), (5000.5, 100.0, 2500.0, 3));
        let h2 = "finished in 2.00s, 12345.67 req/s, 1.23MB/s\nrequests: 24691 total, 24691 started, 24690 done, 24689 succeeded, 1 failed, 1 errored, 0 timeout\ntime for request:      120us      4.56ms       830us       200us    90.00%\n";
        let s = parse_h2load(h2).unwrap();
        assert_eq!((s.rate, s.errors, s.mean_us), (12345.67, 2, 830.0));
    }
}
