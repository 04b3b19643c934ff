//! idle-conns: resident memory per idle keep-alive connection, with many
//! connections open at once (each has served one request).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::peers::{self, Peer};
use crate::report::{Report, Row};
use crate::Args;

/// Runs the idle-connection scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    let mut rows = Vec::new();
    for which in ["ephpm", "nginx"] {
        let peer = match which {
            "ephpm" => peers::ephpm::start(&bin, root.path(), args.cores, &args.io)?,
            _ => peers::nginx::start(root.path(), args.cores, args.idle, None)?,
        };
        rows.push(measure(&peer, args.idle)?);
    }
    let ratio = rows[0].extra[0].1 / rows[1].extra[0].1;
    Ok(Report {
        scenario: "idle-conns".into(),
        setup: format!(
            "{} idle keep-alive connections, each after one GET /small.txt; {} core(s) per server",
            args.idle, args.cores
        ),
        rows,
        ratios: vec![("RSS per idle connection ephpm/nginx (lower is better)".into(), ratio)],
    })
}

fn measure(peer: &Peer, n: usize) -> Result<Row, String> {
    let mut warm = Vec::new();
    for _ in 0..peer_warmup() {
        warm.push(open_and_request(peer)?);
    }
    drop(warm);
    std::thread::sleep(Duration::from_millis(300));
    let before = peer.rss_kib();
    eprintln!("bench: {}: opening {n} connections (RSS before: {before} KiB)", peer.name);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        conns.push(open_and_request(peer).map_err(|e| format!("connection {i}: {e}"))?);
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = peer.rss_kib();
    let per_conn = (after.saturating_sub(before) * 1024) as f64 / n as f64;
    eprintln!("bench: {}: RSS after: {after} KiB, {per_conn:.0} bytes per idle connection", peer.name);
    drop(conns);
    Ok(Row {
        server: peer.name.clone(),
        rate: 0.0,
        p50_us: 0.0,
        p99_us: 0.0,
        p999_us: 0.0,
        errors: 0,
        extra: vec![
            ("rss_bytes_per_idle_connection".into(), per_conn),
            ("rss_before_kib".into(), before as f64),
            ("rss_after_kib".into(), after as f64),
        ],
    })
}

/// Connections opened and closed first, so one-time growth (buffers,
/// caches, allocator arenas) is not counted as per-connection cost.
fn peer_warmup() -> usize {
    200
}

fn open_and_request(peer: &Peer) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(peer.addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    // The response is small: read until its 1024-byte body has arrived.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the response ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if buf.len() >= p + 4 + 1024 {
                return Ok(s);
            }
        }
    }
}
