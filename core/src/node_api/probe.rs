//! How the node API learns what each core is doing: it sends every core an
//! [`Probe::Ask`] over a mesh endpoint of its own, and each core answers
//! with a [`CoreReport`] copied from its own cells. Nothing a core records
//! on its request path is shared or locked; a core that does not answer
//! in time is reported as not responding.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ephpm_http::cache::{CacheSnapshot, PageCache, Purge};
use ephpm_http::http1::{HttpSnapshot, HttpStats};
use ephpm_mysql::backend_pool::{BackendPool, PoolStats};
use ephpm_rt::accept::ClientLimit;
use ephpm_rt::mesh::Endpoint;
use ephpm_sapi::{PhpPool, PoolSnapshot};
use futures_util::lock::Mutex;

/// Messages between the node API (the hub, last endpoint) and the cores.
pub enum Probe {
    /// Report your figures; the number pairs the answer with the question.
    Ask(u64),
    /// A core's answer.
    Report(u64, Box<CoreReport>),
    /// Remove what the purge names from your page cache.
    Purge(u64, Purge),
    /// How many responses a core removed.
    Purged(u64, usize),
}

/// One core's figures at one moment.
#[derive(Clone, Debug, Default)]
pub struct CoreReport {
    /// The core's index.
    pub core: usize,
    /// HTTP connections, requests, bytes, latency.
    pub http: HttpSnapshot,
    /// The core's PHP threads, when PHP runs.
    pub php: Option<PoolSnapshot>,
    /// RESP clients connected, when the RESP listener runs.
    pub resp_clients: Option<usize>,
    /// MySQL clients connected, when the database listens.
    pub db_clients: Option<usize>,
    /// The proxy's backend pools by name, when the proxy runs.
    pub db_pools: Vec<(String, PoolStats)>,
    /// The core's KV shard.
    pub kv: ephpm_kv::ShardFigures,
    /// The core's page cache, when on.
    pub cache: Option<CacheSnapshot>,
    /// The core's TLS handshakes, when HTTPS is on.
    pub tls: Option<ephpm_tls::TlsSnapshot>,
}

/// What a core reports from.
pub struct CoreSources {
    /// The core's index.
    pub core: usize,
    /// Its HTTP counters.
    pub http: Rc<HttpStats>,
    /// Its PHP pool.
    pub php: Option<Rc<PhpPool>>,
    /// Its RESP client count.
    pub resp: Option<Rc<ClientLimit>>,
    /// Its MySQL client count.
    pub db: Option<Rc<ClientLimit>>,
    /// Its proxy backend pools, by name.
    pub db_pools: Vec<(String, Rc<BackendPool>)>,
    /// Its own KV shard (no other core's).
    pub kv: Rc<ephpm_kv::KvNode>,
    /// Its page cache, when on.
    pub cache: Option<Rc<PageCache>>,
    /// Its TLS counters, when HTTPS is on.
    pub tls: Option<Rc<ephpm_tls::TlsStats>>,
}

impl CoreSources {
    fn report(&self) -> CoreReport {
        CoreReport {
            core: self.core,
            http: self.http.snapshot(),
            php: self.php.as_ref().map(|p| p.snapshot()),
            resp_clients: self.resp.as_ref().map(|c| c.count.get()),
            db_clients: self.db.as_ref().map(|c| c.count.get()),
            db_pools: self.db_pools.iter().map(|(name, p)| (name.clone(), p.stats())).collect(),
            kv: self.kv.figures(),
            cache: self.cache.as_ref().map(|c| c.snapshot()),
            tls: self.tls.as_ref().map(|t| t.snapshot()),
        }
    }
}

/// A core's side: answers every question until the core's runtime ends.
pub async fn answer(sources: CoreSources, mut endpoint: Endpoint<Probe>, hub: usize) {
    let mut batch = Vec::new();
    loop {
        batch.clear();
        endpoint.inbox.recv_batch(&mut batch).await;
        for (_, msg) in batch.drain(..) {
            // The hub asks once and waits, so its ring has room.
            let answer = match msg {
                Probe::Ask(seq) => Probe::Report(seq, Box::new(sources.report())),
                Probe::Purge(seq, purge) => {
                    Probe::Purged(seq, sources.cache.as_ref().map_or(0, |c| c.purge_local(&purge)))
                }
                Probe::Report(..) | Probe::Purged(..) => continue,
            };
            let _ = endpoint.outbox.send(hub, answer);
        }
        endpoint.outbox.flush();
    }
}

/// The node API's side.
pub struct Hub {
    endpoint: Mutex<Endpoint<Probe>>,
    cores: usize,
    seq: Cell<u64>,
}

impl Hub {
    /// The hub over the last endpoint of a mesh of `cores + 1`.
    pub fn new(endpoint: Endpoint<Probe>, cores: usize) -> Self {
        Hub { endpoint: Mutex::new(endpoint), cores, seq: Cell::new(0) }
    }

    /// Asks every core and collects the answers that come within `limit`:
    /// one entry per core, `None` for a core that did not answer.
    pub async fn gather(&self, limit: Duration) -> Vec<Option<CoreReport>> {
        self.ask_all(limit, Probe::Ask, |msg| match msg {
            Probe::Report(s, report) => Some((s, *report)),
            _ => None,
        })
        .await
    }

    /// Purges every core's page cache; per core, the number of responses
    /// removed (`None`: the core did not answer within `limit`).
    pub async fn purge(&self, purge: &Purge, limit: Duration) -> Vec<Option<usize>> {
        self.ask_all(
            limit,
            |seq| Probe::Purge(seq, purge.clone()),
            |msg| match msg {
                Probe::Purged(s, n) => Some((s, n)),
                _ => None,
            },
        )
        .await
    }

    /// Sends every core `ask(seq)` and collects the answers `pick` accepts
    /// within `limit`.
    async fn ask_all<T: Clone>(
        &self,
        limit: Duration,
        ask: impl Fn(u64) -> Probe,
        pick: impl Fn(Probe) -> Option<(u64, T)>,
    ) -> Vec<Option<T>> {
        // One gathering at a time: answers carry the question's number,
        // and late answers to an earlier question are dropped.
        let mut ep = self.endpoint.lock().await;
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        for core in 0..self.cores {
            let _ = ep.outbox.send(core, ask(seq));
        }
        ep.outbox.flush();
        let mut out: Vec<Option<T>> = vec![None; self.cores];
        let mut missing = self.cores;
        let mut batch = Vec::new();
        let deadline = std::time::Instant::now() + limit;
        while missing > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            batch.clear();
            if monoio::time::timeout(left, ep.inbox.recv_batch(&mut batch)).await.is_err() {
                break;
            }
            for (from, msg) in batch.drain(..) {
                if let Some((s, answer)) = pick(msg) {
                    if s == seq && from < self.cores && out[from].is_none() {
                        out[from] = Some(answer);
                        missing -= 1;
                    }
                }
            }
        }
        out
    }
}
