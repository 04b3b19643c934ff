//! kv-snapshot: the latency of RESP GET while periodic snapshots of a
//! large keyspace are taken, against the same server without snapshots.
//! The snapshot is copied inside each core a slice at a time, so a GET
//! should wait at most one slice, never the whole copy. `EPHPM_BENCH_BIN`
//! measures another build side by side.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::kv_tail::{gets, send};
use crate::peers;
use crate::report::{Report, Row};
use crate::Args;

/// String keys loaded (100-byte values).
const STRINGS: usize = 400_000;
/// Hash keys loaded (50 fields each: copied deep, not by reference).
const HASHES: usize = 20_000;
const FIELDS: usize = 50;

/// Runs kv-snapshot.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    // One core by default: on a small machine the client needs a CPU of
    // its own, or it waits for the scheduler instead of for the server.
    let cores = args.cores.max(1);
    let phase = Duration::from_secs(args.duration.clamp(2, 60));
    let mut rows = Vec::new();
    let mut p999 = Vec::new();
    for snapshots in [false, true] {
        let root = tempfile::tempdir().map_err(|e| e.to_string())?;
        let resp = peers::free_port()?;
        let snap = root.path().join("kv.snap");
        let mut extra = format!("[kv.redis]\nlisten = \"{resp}\"\n");
        if snapshots {
            extra.push_str(&format!("[kv.snapshot]\npath = \"{}\"\ninterval = \"1s\"\n", snap.display()));
        }
        let _ephpm = peers::ephpm::start_with(&bin, root.path(), cores, &args.io, &extra)?;
        load(resp)?;
        let mut conn = TcpStream::connect(resp).map_err(|e| e.to_string())?;
        conn.set_nodelay(true).map_err(|e| e.to_string())?;
        send(&mut conn, b"*3\r\n$3\r\nSET\r\n$4\r\ntail\r\n$1\r\nv\r\n", b"+OK\r\n")?;
        let h = gets(&mut conn, phase)?;
        let saved = std::fs::metadata(&snap).map(|m| m.len()).unwrap_or(0);
        if snapshots && saved == 0 {
            return Err("no snapshot was written during the run".into());
        }
        p999.push(h.value_at_quantile(0.999) as f64);
        rows.push(row(if snapshots { "GET, snapshot every 1 s" } else { "GET, no snapshots" }, &h, phase, saved));
    }
    Ok(Report {
        scenario: "kv-snapshot".into(),
        setup: format!(
            "ephpm {} on {cores} core(s) holding {STRINGS} strings of 100 bytes and {HASHES} hashes of {FIELDS} fields; one RESP connection, one GET at a time for {} s, without snapshots and with one every second, io={}",
            bin.display(),
            phase.as_secs(),
            args.io
        ),
        rows,
        ratios: vec![("p999 with snapshots / without".into(), p999[1] / p999[0].max(1.0))],
    })
}

fn row(name: &str, h: &Histogram<u64>, phase: Duration, saved: u64) -> Row {
    Row {
        server: name.into(),
        rate: h.len() as f64 / phase.as_secs_f64(),
        p50_us: h.value_at_quantile(0.5) as f64 / 1000.0,
        p99_us: h.value_at_quantile(0.99) as f64 / 1000.0,
        p999_us: h.value_at_quantile(0.999) as f64 / 1000.0,
        errors: 0,
        extra: vec![("max us".into(), h.max() as f64 / 1000.0), ("snapshot bytes".into(), saved as f64)],
    }
}

/// Loads the keyspace over one pipelined connection.
fn load(addr: SocketAddr) -> Result<(), String> {
    let s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(s);
        let mut line = String::new();
        for _ in 0..STRINGS + HASHES {
            line.clear();
            if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 || line.starts_with('-') {
                return Err(format!("loading failed: {line:?}"));
            }
        }
        Ok::<(), String>(())
    });
    let value = "v".repeat(100);
    let mut buf = Vec::with_capacity(1 << 20);
    for i in 0..STRINGS {
        let key = format!("str:{i}");
        buf.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len()).as_bytes(),
        );
        if buf.len() > 1 << 20 {
            w.write_all(&buf).map_err(|e| e.to_string())?;
            buf.clear();
        }
    }
    for i in 0..HASHES {
        let key = format!("hash:{i}");
        buf.extend_from_slice(format!("*{}\r\n$4\r\nHSET\r\n${}\r\n{key}\r\n", 2 + 2 * FIELDS, key.len()).as_bytes());
        for f in 0..FIELDS {
            let (field, val) = (format!("field{f}"), format!("value{f}"));
            buf.extend_from_slice(format!("${}\r\n{field}\r\n${}\r\n{val}\r\n", field.len(), val.len()).as_bytes());
        }
        if buf.len() > 1 << 20 {
            w.write_all(&buf).map_err(|e| e.to_string())?;
            buf.clear();
        }
    }
    w.write_all(&buf).map_err(|e| e.to_string())?;
    reader.join().map_err(|_| "the loader's reader panicked".to_string())?
}
