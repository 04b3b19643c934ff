//! kv-tail: the latency tail of RESP GET on one core, quiet and while that
//! core's PHP threads run `ephpm_kv_*` in a loop on the same core's keys
//! (they share the core's keyspace with it). One RESP connection sends one
//! GET at a time and records each round trip; `EPHPM_BENCH_BIN` measures
//! another build of ephpm side by side (the same scenario, an older binary).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::peers;
use crate::report::{Report, Row};
use crate::Args;

/// PHP requests looping on the KV at once (the PHP threads of the core).
const LOOPERS: usize = 4;
/// Most GETs per phase (the phase also ends with its time).
const MAX_GETS: u64 = 2_000_000;

/// Runs kv-tail on one core.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = "<?php\n$until = hrtime(true) + (int)$_GET['ms'] * 1000000;\n$n = 0;\n\
                  while (hrtime(true) < $until) {\n    for ($i = 0; $i < 100; $i++, $n++) {\n        \
                  ephpm_kv_set('php:' . ($n % 1000), str_repeat('v', 64));\n        ephpm_kv_get('php:' . (($n * 7) % 1000));\n    }\n}\necho $n;\n";
    std::fs::write(root.path().join("kvloop.php"), script).map_err(|e| e.to_string())?;
    let resp = peers::free_port()?;
    let extra = format!("[php]\nthreads_per_core = {LOOPERS}\n[kv.redis]\nlisten = \"{resp}\"\n");
    let ephpm = peers::ephpm::start_with(&bin, root.path(), 1, &args.io, &extra)?;
    let phase = Duration::from_secs(args.duration.clamp(1, 60));
    let mut conn = TcpStream::connect(resp).map_err(|e| e.to_string())?;
    conn.set_nodelay(true).map_err(|e| e.to_string())?;
    send(&mut conn, b"*3\r\n$3\r\nSET\r\n$4\r\ntail\r\n$1\r\nv\r\n", b"+OK\r\n")?;
    let quiet = gets(&mut conn, phase)?;
    let (busy, php_calls) = std::thread::scope(|s| {
        let loopers: Vec<_> =
            (0..LOOPERS).map(|_| s.spawn(|| php_loop(ephpm.addr, phase + Duration::from_millis(500)))).collect();
        // Let the loops start before measuring.
        std::thread::sleep(Duration::from_millis(250));
        let busy = gets(&mut conn, phase);
        let calls: u64 = loopers.into_iter().map(|l| l.join().unwrap_or(0)).sum();
        (busy, calls)
    });
    let busy = busy?;
    let row = |name: &str, h: &Histogram<u64>, secs: f64| Row {
        server: name.into(),
        rate: h.len() as f64 / secs,
        p50_us: h.value_at_quantile(0.5) as f64 / 1000.0,
        p99_us: h.value_at_quantile(0.99) as f64 / 1000.0,
        p999_us: h.value_at_quantile(0.999) as f64 / 1000.0,
        errors: 0,
        extra: Vec::new(),
    };
    let secs = phase.as_secs_f64();
    Ok(Report {
        scenario: "kv-tail".into(),
        setup: format!(
            "ephpm {} on 1 core with {LOOPERS} PHP threads; one RESP connection, one GET at a time for {} s quiet, then {} s while {LOOPERS} PHP requests loop on ephpm_kv_set/get of the same core's keys ({} PHP KV calls in all, {:.0}/s), io={}",
            bin.display(),
            phase.as_secs(),
            phase.as_secs(),
            php_calls * 2,
            php_calls as f64 * 2.0 / secs,
            args.io
        ),
        rows: vec![row("GET, quiet", &quiet, secs), row("GET, PHP threads on the KV", &busy, secs)],
        ratios: vec![(
            "p999 busy / quiet".into(),
            busy.value_at_quantile(0.999) as f64 / quiet.value_at_quantile(0.999).max(1) as f64,
        )],
    })
}

/// Sends `cmd` and expects exactly `reply`.
pub(crate) fn send(s: &mut TcpStream, cmd: &[u8], reply: &[u8]) -> Result<(), String> {
    s.write_all(cmd).map_err(|e| e.to_string())?;
    let mut got = vec![0u8; reply.len()];
    s.read_exact(&mut got).map_err(|e| e.to_string())?;
    if got != reply {
        return Err(format!("unexpected reply {:?}", String::from_utf8_lossy(&got)));
    }
    Ok(())
}

/// GETs of one key, one at a time, for `phase` (or [`MAX_GETS`]); each
/// round trip in ns.
pub(crate) fn gets(s: &mut TcpStream, phase: Duration) -> Result<Histogram<u64>, String> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).map_err(|e| e.to_string())?;
    let end = Instant::now() + phase;
    for _ in 0..MAX_GETS {
        let t = Instant::now();
        if t >= end {
            break;
        }
        send(s, b"*2\r\n$3\r\nGET\r\n$4\r\ntail\r\n", b"$1\r\nv\r\n")?;
        h.saturating_record(t.elapsed().as_nanos() as u64);
    }
    Ok(h)
}

/// One PHP request looping on the KV for `run`; the loop iterations it
/// reports (0 on failure).
fn php_loop(addr: SocketAddr, run: Duration) -> u64 {
    let Ok(mut s) = TcpStream::connect(addr) else { return 0 };
    let req = format!("GET /kvloop.php?ms={} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n", run.as_millis());
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split("\r\n\r\n").nth(1).and_then(|b| b.trim().parse().ok()).unwrap_or(0)
}
