//! mesh: the cross-core SPSC mesh between two pinned shards: one-way
//! messages per second (batched) and round-trip latency (each side asleep
//! between messages, so wake-ups are included).

use std::future::poll_fn;
use std::sync::mpsc;
use std::task::Poll;
use std::time::Instant;

use ephpm_rt::mesh::{self, Endpoint, SendError};
use ephpm_rt::{IoMode, ShardSet};
use hdrhistogram::Histogram;

use crate::report::{Report, Row};
use crate::Args;

const MESSAGES: u64 = 20_000_000;
const PINGS: u64 = 200_000;
const BATCH: u64 = 64;
const STOP: u64 = u64::MAX;

enum Outcome {
    Throughput(f64),
    Rtt(Histogram<u64>, f64),
}

/// Runs both mesh measurements.
pub fn run(args: &Args) -> Result<Report, String> {
    let io: IoMode = args.io.parse()?;
    let tput = run_pair(io, throughput_body)?;
    let rtt = run_pair(io, rtt_body)?;
    let mut rows = Vec::new();
    if let Outcome::Throughput(rate) = tput {
        rows.push(Row {
            server: "mesh 1->0".into(),
            rate,
            p50_us: 0.0,
            p99_us: 0.0,
            p999_us: 0.0,
            errors: 0,
            extra: vec![],
        });
    }
    if let Outcome::Rtt(h, rate) = rtt {
        let us = |q| h.value_at_quantile(q) as f64 / 1000.0;
        rows.push(Row {
            server: "mesh rtt".into(),
            rate,
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            errors: 0,
            extra: vec![],
        });
    }
    Ok(Report {
        scenario: "mesh".into(),
        setup: format!(
            "2 pinned shards, io={}; {MESSAGES} one-way u64 messages in batches of {BATCH}; {PINGS} ping-pongs",
            args.io
        ),
        rows,
        ratios: vec![],
    })
}

type Body = fn(usize, Endpoint<u64>, mpsc::Sender<Outcome>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

fn run_pair(io: IoMode, body: Body) -> Result<Outcome, String> {
    let (tx, rx) = mpsc::channel();
    let set = ShardSet::start(mesh::build::<u64>(2, 4096), io, true, move |ctx, ep| body(ctx.index, ep, tx.clone()))
        .map_err(|e| e.to_string())?;
    let out = rx.recv().map_err(|_| "mesh benchmark failed".to_string())?;
    set.join();
    Ok(out)
}

/// Lets other tasks (and the driver) run once.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

fn throughput_body(
    core: usize,
    mut ep: Endpoint<u64>,
    tx: mpsc::Sender<Outcome>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    Box::pin(async move {
        if core == 0 {
            let mut got = 0u64;
            let mut batch = Vec::with_capacity(4096);
            let mut start = None;
            while got < MESSAGES {
                batch.clear();
                got += ep.inbox.recv_batch(&mut batch).await as u64;
                start.get_or_insert_with(Instant::now);
            }
            let secs = start.map_or(1.0, |s: Instant| s.elapsed().as_secs_f64());
            let _ = tx.send(Outcome::Throughput(MESSAGES as f64 / secs));
        } else {
            let mut i = 0;
            while i < MESSAGES {
                let end = (i + BATCH).min(MESSAGES);
                while i < end {
                    match ep.outbox.send(0, i) {
                        Ok(()) => i += 1,
                        Err(SendError::Full(_)) => {
                            ep.outbox.flush();
                            yield_now().await;
                        }
                        Err(SendError::NoRoute(_)) => return,
                    }
                }
                ep.outbox.flush();
            }
        }
    })
}

fn rtt_body(
    core: usize,
    mut ep: Endpoint<u64>,
    tx: mpsc::Sender<Outcome>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    Box::pin(async move {
        let mut batch = Vec::with_capacity(64);
        if core == 0 {
            loop {
                batch.clear();
                ep.inbox.recv_batch(&mut batch).await;
                for &(from, m) in &batch {
                    if m == STOP {
                        return;
                    }
                    let _ = ep.outbox.send(from, m);
                }
                ep.outbox.flush();
            }
        } else {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("hist");
            let start = Instant::now();
            for i in 0..PINGS {
                let t0 = Instant::now();
                let _ = ep.outbox.send(0, i);
                ep.outbox.flush();
                batch.clear();
                ep.inbox.recv_batch(&mut batch).await;
                let _ = hist.record(t0.elapsed().as_nanos() as u64);
            }
            let rate = PINGS as f64 / start.elapsed().as_secs_f64();
            let _ = ep.outbox.send(0, STOP);
            ep.outbox.flush();
            let _ = tx.send(Outcome::Rtt(hist, rate));
        }
    })
}
