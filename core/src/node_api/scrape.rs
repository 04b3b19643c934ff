//! One reading of everything the node API reports: each core's answer to
//! a probe, each KV shard's counters, the database's statistics and the
//! process's own figures.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ephpm_db::stats::{DigestStats, SlowQuery};
use ephpm_db::DbMonitor;
use ephpm_rt::latency::Latency;

use super::probe::{CoreReport, Hub};
use super::process::{self, ProcessStats};

/// How long a scrape waits for the cores.
pub const PROBE_WAIT: Duration = Duration::from_millis(500);

/// The sources a scrape reads.
pub struct Sources {
    /// Asks the cores.
    pub hub: Hub,
    /// The embedded database, when it runs.
    pub db: Option<DbMonitor>,
    /// Access-log lines dropped, when the access log is on.
    pub access_dropped: Option<Arc<AtomicU64>>,
}

/// One KV shard's figures (read by its own core, reported in its probe).
pub type KvShard = ephpm_kv::ShardFigures;

/// One core's statement figures.
#[derive(Clone, Debug, Default)]
pub struct DbCore {
    /// The core.
    pub core: usize,
    /// Statements run.
    pub queries: u64,
    /// Statements that failed.
    pub errors: u64,
    /// Statements over the slow threshold.
    pub slow: u64,
    /// Statement durations.
    pub latency: Latency,
}

/// The database writer's figures.
#[derive(Clone, Debug, Default)]
pub struct DbWriter {
    /// The writer thread runs.
    pub alive: bool,
    /// Jobs done.
    pub jobs: u64,
    /// Jobs waiting now.
    pub waiting: u64,
    /// A transaction holds the writer now.
    pub in_transaction: bool,
    /// Jobs that timed out waiting (1205).
    pub lock_timeouts: u64,
}

/// Everything at one moment.
pub struct Scrape {
    /// Each core's answer (`None`: it did not answer in time).
    pub cores: Vec<Option<CoreReport>>,
    /// Each core's KV shard.
    pub kv: Vec<KvShard>,
    /// Each core's statement figures (by core index) and the writer's
    /// (the embedded database only), when a database front runs.
    pub db: Option<(Vec<DbCore>, Option<DbWriter>)>,
    /// The process.
    pub process: ProcessStats,
    /// Access-log lines dropped, when the access log is on.
    pub access_dropped: Option<u64>,
}

impl Sources {
    /// Reads everything.
    pub async fn scrape(&self) -> Scrape {
        let cores = self.hub.gather(PROBE_WAIT).await;
        // A core that did not answer shows empty figures.
        let kv = cores.iter().map(|c| c.as_ref().map(|r| r.kv.clone()).unwrap_or_default()).collect();
        Scrape {
            cores,
            kv,
            db: self.db.as_ref().map(db_figures),
            process: process::read(),
            access_dropped: self.access_dropped.as_ref().map(|d| d.load(Ordering::Relaxed)),
        }
    }

    /// Each core's answer (`None`: no answer in time), and whether the
    /// database writer runs (`None`: no database): what `/health` needs.
    pub async fn liveness(&self) -> (Vec<Option<CoreReport>>, Option<bool>) {
        let cores = self.hub.gather(PROBE_WAIT).await;
        (cores, self.db.as_ref().and_then(|d| d.writer()).map(|w| w.alive.load(Ordering::Relaxed)))
    }

    /// Purges every core's page cache: per core, the responses removed
    /// (`None`: the core did not answer in time).
    pub async fn purge(&self, purge: &ephpm_http::cache::Purge) -> Vec<Option<usize>> {
        self.hub.purge(purge, PROBE_WAIT).await
    }

    /// Digests merged across cores, by total time, most first.
    pub fn digests(&self) -> Vec<(String, DigestStats)> {
        let mut merged: HashMap<String, DigestStats> = HashMap::new();
        for (_, core) in self.db.iter().flat_map(|d| d.stats()) {
            let stats = core.lock().unwrap_or_else(|p| p.into_inner());
            for (digest, d) in &stats.digests {
                let m = merged.entry(digest.clone()).or_default();
                if m.count == 0 || d.min < m.min {
                    m.min = d.min;
                }
                m.max = m.max.max(d.max);
                m.count += d.count;
                m.errors += d.errors;
                m.total += d.total;
                m.rows += d.rows;
            }
        }
        let mut out: Vec<_> = merged.into_iter().collect();
        out.sort_by(|a, b| b.1.total.cmp(&a.1.total).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Slow queries of every core, newest first.
    pub fn slow_queries(&self) -> Vec<SlowQuery> {
        let mut out: Vec<SlowQuery> = Vec::new();
        for (_, core) in self.db.iter().flat_map(|d| d.stats()) {
            out.extend(core.lock().unwrap_or_else(|p| p.into_inner()).slow.iter().cloned());
        }
        out.sort_by_key(|q| std::cmp::Reverse(q.at));
        out
    }
}

fn db_figures(db: &DbMonitor) -> (Vec<DbCore>, Option<DbWriter>) {
    let cores = db
        .stats()
        .iter()
        .map(|(core, s)| {
            let s = s.lock().unwrap_or_else(|p| p.into_inner());
            DbCore { core: *core, queries: s.queries, errors: s.errors, slow: s.slow_total, latency: s.latency.clone() }
        })
        .collect();
    let writer = db.writer().map(|w| DbWriter {
        alive: w.alive.load(Ordering::Relaxed),
        jobs: w.jobs.load(Ordering::Relaxed),
        waiting: w.waiting.load(Ordering::Relaxed),
        in_transaction: w.in_transaction.load(Ordering::Relaxed),
        lock_timeouts: w.lock_timeouts.load(Ordering::Relaxed),
    });
    (cores, writer)
}
