//! metrics-overhead: hello-raw on ephpm with its instrumentation on (per
//! request counters and latency histograms, the node API scraped every
//! second as Prometheus would) against the same server with it off
//! (`metrics.enabled = false`, no node API). Target: on/off ≥ 0.97.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::http::{measure, Target};
use crate::peers;
use crate::report::Report;
use crate::Args;

/// Runs the scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    peers::write_docroot(root.path())?;
    let api = peers::free_port()?;
    let on_cfg = format!("[db.sqlite]\nlisten = \"\"\n[node_api]\nlisten = \"{api}\"\n[metrics]\nenabled = true\n");
    let off_cfg = "[db.sqlite]\nlisten = \"\"\n[node_api]\nlisten = \"\"\n[metrics]\nenabled = false\n";
    let mut on = peers::ephpm::start_with(&bin, root.path(), args.cores, &args.io, &on_cfg)?;
    on.name = "metrics on".into();
    let mut off = peers::ephpm::start_with(&bin, root.path(), args.cores, &args.io, off_cfg)?;
    off.name = "metrics off".into();

    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicU64::new(0));
    let scraper = {
        let (stop, scrapes) = (Arc::clone(&stop), Arc::clone(&scrapes));
        std::thread::spawn(move || {
            // Bounded: ends with the measurement, or after an hour at most.
            for _ in 0..3600 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if scrape(api).is_ok() {
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let targets = [
        Target { peer: &on, path: "/hello", label: on.name.clone(), cpu: Vec::new() },
        Target { peer: &off, path: "/hello", label: off.name.clone(), cpu: Vec::new() },
    ];
    let rows = measure(&targets, args);
    stop.store(true, Ordering::Relaxed);
    let _ = scraper.join();
    let rows = rows?;
    let scrapes = scrapes.load(Ordering::Relaxed);
    if scrapes == 0 {
        return Err("the node API never answered a scrape".into());
    }
    Ok(Report {
        scenario: args.scenario.clone(),
        setup: format!("{} (hello-raw); 'on' scraped {scrapes} times (1/s)", super::http::setup("/hello", args)),
        ratios: vec![
            ("rps metrics on/off (target >= 0.97)".to_string(), rows[0].rate / rows[1].rate),
            ("p99 on/off (lower is better)".to_string(), rows[0].p99_us / rows[1].p99_us),
        ],
        rows,
    })
}

/// One GET /metrics; the body must end like a Prometheus text scrape.
fn scrape(addr: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut body = String::new();
    s.read_to_string(&mut body).map_err(|e| e.to_string())?;
    if body.starts_with("HTTP/1.1 200") && body.contains("ephpm_http_requests") {
        Ok(())
    } else {
        Err(format!("bad scrape: {}", body.lines().next().unwrap_or("")))
    }
}
