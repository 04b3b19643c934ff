//! kv-php: the cost of one `ephpm_kv_get` from PHP, for a key the calling
//! thread's core owns (in place, target under 1 µs) and for a key another
//! core owns (over the thread's ring to that core, target under 10 µs),
//! measured inside PHP with hrtime(): back to back, and one call per
//! millisecond (the owning core has gone back to sleep before each).

use std::io::{Read, Write};
use std::net::TcpStream;

use ephpm_kv::shard_of;

use crate::peers;
use crate::report::{Report, Row};
use crate::Args;

/// Calls per measurement.
const CALLS: u32 = 200_000;
/// Calls one millisecond apart, per key.
const SPACED: u32 = 2_000;

/// Runs kv-php (needs at least 2 cores for the remote case).
pub fn run(args: &Args) -> Result<Report, String> {
    let cores = args.cores.max(2);
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    // One key per core: whichever core serves the request, one of them is
    // local and another remote.
    let keys: Vec<String> = (0..cores)
        .map(|c| (0..).map(|i| format!("bench:{i}")).find(|k| shard_of(k.as_bytes(), cores) == c).unwrap_or_default())
        .collect();
    let script = format!(
        "<?php\n$keys = {keys:?};\nforeach ($keys as $k) {{ ephpm_kv_set($k, str_repeat('v', 64)); }}\n$out = [];\nforeach ($keys as $k) {{\n    ephpm_kv_get($k);\n    $t = hrtime(true);\n    for ($i = 0; $i < {CALLS}; $i++) {{ ephpm_kv_get($k); }}\n    $out[] = (hrtime(true) - $t) / {CALLS};\n}}\n$spaced = [];\nforeach ($keys as $k) {{\n    $ns = [];\n    for ($i = 0; $i < {SPACED}; $i++) {{ usleep(1000); $t = hrtime(true); ephpm_kv_get($k); $ns[] = hrtime(true) - $t; }}\n    sort($ns);\n    $spaced[] = [$ns[intdiv(count($ns), 2)], $ns[intdiv(count($ns) * 99, 100)]];\n}}\n$t = hrtime(true);\nfor ($i = 0; $i < {CALLS}; $i++) {{ strlen($keys[0]); }}\n$out[] = (hrtime(true) - $t) / {CALLS};\necho json_encode(['calls' => $out, 'spaced' => $spaced]);\n",
        keys = keys
    )
    .replace("[\"", "['")
    .replace("\"]", "']")
    .replace("\", \"", "', '");
    std::fs::write(root.path().join("kv.php"), script).map_err(|e| e.to_string())?;
    let ephpm = peers::ephpm::start_with(&bin, root.path(), cores, &args.io, "")?;
    let mut s = TcpStream::connect(ephpm.addr).map_err(|e| e.to_string())?;
    s.write_all(b"GET /kv.php HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let body = resp.split("\r\n\r\n").nth(1).ok_or("no response body")?;
    let out: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    let ns: Vec<f64> = serde_json::from_value(out["calls"].clone()).map_err(|e| format!("{e}: {body}"))?;
    let spaced: Vec<(f64, f64)> = serde_json::from_value(out["spaced"].clone()).map_err(|e| format!("{e}: {body}"))?;
    // The slowest key's spaced calls are the remote ones.
    let (spaced_p50, spaced_p99) = spaced.iter().cloned().fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a });
    let (per_key, baseline) = ns.split_at(ns.len() - 1);
    let local = per_key.iter().cloned().fold(f64::INFINITY, f64::min);
    let remote = per_key.iter().cloned().fold(0.0, f64::max);
    let row = |name: &str, v: f64| Row {
        server: name.into(),
        rate: 1e9 / v,
        p50_us: v / 1000.0,
        p99_us: 0.0,
        p999_us: 0.0,
        errors: 0,
        extra: vec![("ns per call".into(), v)],
    };
    Ok(Report {
        scenario: "kv-php".into(),
        setup: format!(
            "{CALLS} ephpm_kv_get calls of a 64-byte value per key back to back inside one PHP request, then {SPACED} one millisecond apart, {cores} cores, one key per core (the fastest is the local one); baseline: strlen() in the same loop"
        ),
        rows: vec![
            row("local key", local),
            row("remote key", remote),
            Row {
                server: "remote, 1/ms".into(),
                rate: 1e9 / spaced_p50,
                p50_us: spaced_p50 / 1000.0,
                p99_us: spaced_p99 / 1000.0,
                p999_us: 0.0,
                errors: 0,
                extra: vec![("calls".into(), f64::from(SPACED))],
            },
            row("loop baseline", baseline[0]),
        ],
        ratios: vec![
            ("local ephpm_kv_get in µs (target < 1)".into(), local / 1000.0),
            ("remote ephpm_kv_get back to back in µs (target < 10)".into(), remote / 1000.0),
            ("remote ephpm_kv_get after an idle ms, p50 in µs".into(), spaced_p50 / 1000.0),
        ],
    })
}
