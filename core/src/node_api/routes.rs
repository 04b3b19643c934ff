//! The node API's endpoints: bearer-token check, then one JSON document
//! (or the OpenMetrics text) per path.

use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use bytes::Bytes;
use ephpm_http::http1::{Method, Request, RequestHead, Response, Service};
use ephpm_rt::latency::Latency;
use ephpm_rt::Shutdown;
use serde_json::{json, Value};

use super::openmetrics::{self, BuildInfo};
use super::scrape::{KvShard, Scrape, Sources, PROBE_WAIT};

/// The node API service (one, on the node API's thread).
pub struct NodeApi {
    /// What it reads.
    pub sources: Sources,
    /// The bearer token requests must carry (`None`: no check).
    pub token: Option<Vec<u8>>,
    /// The effective configuration, secrets redacted, as JSON.
    pub config_json: String,
    /// Versions and backend.
    pub info: BuildInfo,
    /// Set once shutdown begins (then not ready).
    pub shutdown: Arc<Shutdown>,
    /// `db.slow_query_threshold` in milliseconds.
    pub slow_threshold_ms: f64,
    /// `db.max_clients`.
    pub db_max_clients: usize,
    /// When the server started.
    pub started: Instant,
    /// Rolling restarts of the PHP workers, in worker mode.
    pub workers: Option<Arc<ephpm_sapi::WorkerControl>>,
}

impl Service for NodeApi {
    async fn call(&self, req: Request<'_>) -> Response {
        let head = req.head;
        if !self.authorized(head) {
            return json_response(401, &json!({"error": "a valid bearer token is required (node_api.token)"}))
                .header("WWW-Authenticate", Bytes::from_static(b"Bearer realm=\"ephpm\""));
        }
        if head.path() == "/api/cache/purge" {
            return self.cache_purge(req).await;
        }
        if head.path() == "/api/workers/restart" {
            return self.workers_restart(head);
        }
        if !matches!(head.method(), Method::Get | Method::Head) {
            return json_response(405, &json!({"error": "only GET and HEAD"}))
                .header("Allow", Bytes::from_static(b"GET, HEAD"));
        }
        match head.path() {
            "/health" => self.health().await,
            "/metrics" => {
                // Prometheus asks for OpenMetrics; everyone else gets the
                // classic text format.
                let om = head.header_str("accept").is_some_and(|a| a.contains("application/openmetrics-text"));
                let text = openmetrics::encode(self.sources.scrape().await, &self.info, om);
                let ctype = if om { openmetrics::OPENMETRICS } else { openmetrics::PROMETHEUS_TEXT };
                Response::new(200)
                    .header("Content-Type", Bytes::from_static(ctype.as_bytes()))
                    .with_body(Bytes::from(text))
            }
            "/api/workers" => json_response(200, &workers(&self.sources.scrape().await, self.workers.as_ref())),
            "/api/connections" => json_response(200, &connections(&self.sources.scrape().await)),
            "/api/latency" => json_response(200, &latency(&self.sources.scrape().await)),
            "/api/kv/stats" => json_response(200, &kv_stats(&self.sources.scrape().await.kv)),
            "/api/cache/stats" => json_response(200, &cache_stats(&self.sources.scrape().await)),
            "/api/db/digests" => json_response(200, &self.digests()),
            "/api/db/slow" => json_response(200, &self.slow()),
            "/api/db/pool" => json_response(200, &self.pool(&self.sources.scrape().await)),
            "/api/config" => Response::new(200)
                .header("Content-Type", Bytes::from_static(b"application/json"))
                .with_body(Bytes::from(self.config_json.clone())),
            _ => json_response(404, &json!({"error": "no such endpoint", "endpoints": ENDPOINTS})),
        }
    }
}

/// Every path served.
const ENDPOINTS: [&str; 13] = [
    "/health",
    "/metrics",
    "/api/workers",
    "/api/workers/restart",
    "/api/connections",
    "/api/latency",
    "/api/kv/stats",
    "/api/cache/stats",
    "/api/cache/purge",
    "/api/db/digests",
    "/api/db/slow",
    "/api/db/pool",
    "/api/config",
];

fn json_response(status: u16, v: &Value) -> Response {
    let mut body = serde_json::to_vec_pretty(v).unwrap_or_default();
    body.push(b'\n');
    Response::new(status).header("Content-Type", Bytes::from_static(b"application/json")).with_body(Bytes::from(body))
}

/// Compares in time independent of where the first difference is.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Largest purge request body read.
pub(crate) const MAX_PURGE_BODY: usize = 64 << 10;

impl NodeApi {
    /// `POST /api/cache/purge` with `{"url": ...}`, `{"prefix": ...}` or
    /// `{"all": true}`: purges every core and answers once each has.
    async fn cache_purge(&self, req: Request<'_>) -> Response {
        if req.head.method() != Method::Post {
            return json_response(405, &json!({"error": "only POST"})).header("Allow", Bytes::from_static(b"POST"));
        }
        let mut body = Vec::new();
        while let Some(piece) = req.body.next_piece().await {
            body.extend_from_slice(&piece);
            if body.len() > MAX_PURGE_BODY {
                return json_response(413, &json!({"error": "a purge request is a small JSON object"}));
            }
        }
        let purge = match purge_request(&body) {
            Ok(p) => p,
            Err(e) => return json_response(400, &json!({"error": e})),
        };
        let per_core = self.sources.purge(&purge).await;
        let missing = per_core.iter().filter(|c| c.is_none()).count();
        let purged: usize = per_core.iter().flatten().sum();
        let body = json!({"purged": purged, "per_core": per_core, "cores": per_core.len()});
        if missing > 0 {
            let error = format!("{missing} of {} cores did not answer; the purge may be partial", per_core.len());
            return json_response(503, &json!({"error": error, "purged": purged, "per_core": per_core}));
        }
        json_response(200, &body)
    }

    /// `POST /api/workers/restart`: restarts the PHP workers one thread at
    /// a time (as SIGUSR2 does) and answers at once; `/api/workers` shows
    /// the progress.
    fn workers_restart(&self, head: &RequestHead) -> Response {
        if head.method() != Method::Post {
            return json_response(405, &json!({"error": "only POST"})).header("Allow", Bytes::from_static(b"POST"));
        }
        let Some(control) = &self.workers else {
            return json_response(409, &json!({"error": "no PHP workers to restart: php.worker.script is unset"}));
        };
        if !control.restart(ephpm_sapi::Reason::Reload) {
            return json_response(409, &json!({"error": "a rolling restart of the PHP workers is already going on"}));
        }
        json_response(202, &json!({"restarting": true}))
    }

    fn authorized(&self, head: &RequestHead) -> bool {
        let Some(token) = &self.token else { return true };
        let Some(auth) = head.header("authorization") else { return false };
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let Some(given) = auth.get(..7).filter(|s| s.eq_ignore_ascii_case(b"bearer ")).map(|_| &auth[7..]) else {
            return false;
        };
        same_secret(given.trim_ascii(), token)
    }

    /// Liveness (this answer) and readiness: every core answering, every
    /// PHP thread alive, the database writer running, no shutdown begun.
    /// The proxy's backends are reported but do not count: a database that
    /// every node shares would take them all out of rotation at once.
    async fn health(&self) -> Response {
        let (cores, db) = self.sources.liveness().await;
        let mut problems: Vec<String> = Vec::new();
        let total = cores.len();
        let responding = cores.iter().filter(|c| c.is_some()).count();
        if responding < total {
            problems.push(format!(
                "{} of {total} cores did not answer within {} ms",
                total - responding,
                PROBE_WAIT.as_millis()
            ));
        }
        let pools: Vec<_> = cores.iter().flatten().filter_map(|c| c.php.as_ref()).collect();
        let (threads, alive) = pools.iter().fold((0, 0), |(t, a), p| (t + p.threads, a + p.alive));
        if alive < threads {
            problems.push(format!("{} of {threads} PHP threads have died", threads - alive));
        }
        let workers = worker_totals(pools.iter().copied());
        if let Some(w) = &workers {
            let failing = w.states[ephpm_sapi::WorkerState::Failing as usize];
            if failing > 0 && failing == threads as u64 {
                problems.push("every PHP worker is failing to boot (see the server log)".into());
            }
        }
        if db == Some(false) {
            problems.push("the database writer thread has stopped".into());
        }
        let draining = self.shutdown.is_triggered();
        if draining {
            problems.push("shutting down".into());
        }
        let ready = problems.is_empty();
        let body = json!({
            "status": if ready { "ok" } else { "unavailable" },
            "live": true,
            "ready": ready,
            "draining": draining,
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
            "version": self.info.version,
            "cores": {"total": total, "responding": responding},
            "php": (!pools.is_empty()).then(|| json!({
                "threads": threads,
                "alive": alive,
                "workers": workers.as_ref().map(worker_states),
            })),
            "db": match db {
                Some(alive) => json!({"writer_alive": alive}),
                None => backend_states(&cores),
            },
            "problems": problems,
        });
        json_response(if ready { 200 } else { 503 }, &body)
    }

    fn digests(&self) -> Value {
        let digests: Vec<Value> = self
            .sources
            .digests()
            .into_iter()
            .map(|(digest, d)| {
                json!({
                    "digest": digest,
                    "count": d.count,
                    "errors": d.errors,
                    "rows": d.rows,
                    "total_ms": ms(d.total.as_secs_f64()),
                    "avg_ms": ms(d.total.as_secs_f64() / d.count.max(1) as f64),
                    "min_ms": ms(d.min.as_secs_f64()),
                    "max_ms": ms(d.max.as_secs_f64()),
                })
            })
            .collect();
        json!({"enabled": self.sources.db.is_some(), "digests": digests})
    }

    fn slow(&self) -> Value {
        let queries: Vec<Value> = self
            .sources
            .slow_queries()
            .into_iter()
            .map(|q| {
                json!({
                    "sql": q.sql,
                    "duration_ms": ms(q.duration.as_secs_f64()),
                    "rows": q.rows,
                    "explain": q.explain,
                    "at": q.at.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
                })
            })
            .collect();
        json!({"enabled": self.sources.db.is_some(), "threshold_ms": self.slow_threshold_ms, "queries": queries})
    }

    /// The database front's connections: for the embedded database one
    /// reader per core and the one writer, for the proxy each core's
    /// backend pools; and the MySQL clients.
    fn pool(&self, scrape: &Scrape) -> Value {
        let Some((_, writer)) = &scrape.db else { return json!({"enabled": false}) };
        let clients: Vec<Value> = scrape
            .cores
            .iter()
            .flatten()
            .map(|c| json!({"core": c.core, "clients": c.db_clients.unwrap_or(0)}))
            .collect();
        let total: usize = scrape.cores.iter().flatten().filter_map(|c| c.db_clients).sum();
        let clients = json!({"total": total, "max_per_core": self.db_max_clients, "per_core": clients});
        let Some(w) = writer else {
            let pools: Vec<Value> = scrape
                .cores
                .iter()
                .flatten()
                .flat_map(|c| c.db_pools.iter().map(move |(name, p)| (c.core, name, p)))
                .map(|(core, name, p)| {
                    json!({
                        "core": core,
                        "pool": name,
                        "open": p.open,
                        "idle": p.idle,
                        "waiting": p.waiting,
                        "connects": p.connects,
                        "connect_failures": p.connect_failures,
                        "acquire_timeouts": p.timeouts,
                        "down": p.down,
                    })
                })
                .collect();
            return json!({"enabled": true, "mode": "proxy", "pools": pools, "clients": clients});
        };
        json!({
            "enabled": true,
            "mode": "sqlite",
            "readers": scrape.cores.len(),
            "writer": {
                "alive": w.alive,
                "jobs": w.jobs,
                "waiting": w.waiting,
                "in_transaction": w.in_transaction,
                "lock_wait_timeouts": w.lock_timeouts,
            },
            "clients": clients,
        })
    }
}

/// Reads a purge request: exactly one of `url` (a URL or a path; a
/// trailing `*` makes it a prefix), `prefix`, or `all: true`.
fn purge_request(body: &[u8]) -> Result<ephpm_http::cache::Purge, String> {
    use ephpm_http::cache::Purge;
    const SHAPE: &str = r#"expected {"url": "/path"}, {"prefix": "/path/"} or {"all": true}"#;
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e}); {SHAPE}"))?;
    let obj = v.as_object().ok_or_else(|| SHAPE.to_string())?;
    if let Some(k) = obj.keys().find(|k| !["url", "prefix", "all"].contains(&k.as_str())) {
        return Err(format!("unknown field `{k}`; {SHAPE}"));
    }
    match (obj.get("url"), obj.get("prefix"), obj.get("all")) {
        (Some(Value::String(u)), None, None) => Purge::parse(u),
        (None, Some(Value::String(p)), None) => Purge::prefix(p),
        (None, None, Some(Value::Bool(true))) => Ok(Purge::All),
        _ => Err(SHAPE.to_string()),
    }
}

/// `/api/cache/stats`: the page cache of each core and in total.
fn cache_stats(s: &Scrape) -> Value {
    let cores: Vec<_> = s.cores.iter().flatten().filter_map(|c| c.cache.map(|x| (c.core, x))).collect();
    let each = |core: Option<usize>, x: &ephpm_http::cache::CacheSnapshot| {
        let looked = x.hits + x.stale + x.misses;
        json!({
            "core": core,
            "hits": x.hits,
            "misses": x.misses,
            "bypasses": x.bypasses,
            "stale": x.stale,
            "stores": x.stores,
            "purged": x.purged,
            "entries": x.entries,
            "bytes": x.bytes,
            "hit_ratio": if looked == 0 { 0.0 } else { (x.hits + x.stale) as f64 / looked as f64 },
        })
    };
    let mut total = ephpm_http::cache::CacheSnapshot::default();
    for (_, x) in &cores {
        total.add(x);
    }
    let per_core: Vec<Value> = cores.iter().map(|(i, x)| each(Some(*i), x)).collect();
    json!({"enabled": !cores.is_empty(), "total": each(None, &total), "per_core": per_core})
}

/// Milliseconds, rounded to the microsecond.
fn ms(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e3
}

/// Count and p50/p90/p99/p999 of a histogram, in milliseconds.
fn percentiles(l: &Latency) -> Value {
    json!({
        "count": l.count(),
        "mean_ms": ms(l.sum_seconds() / l.count().max(1) as f64),
        "p50_ms": ms(l.quantile_seconds(0.5)),
        "p90_ms": ms(l.quantile_seconds(0.9)),
        "p99_ms": ms(l.quantile_seconds(0.99)),
        "p999_ms": ms(l.quantile_seconds(0.999)),
    })
}

/// Merges the cores' histograms of one kind.
fn merged<'a>(each: impl Iterator<Item = &'a Latency>) -> Latency {
    let mut all = Latency::new();
    each.for_each(|l| all.merge(l));
    all
}

/// Worker figures summed over `pools`; `None` in classic mode.
fn worker_totals<'a>(
    pools: impl IntoIterator<Item = &'a ephpm_sapi::PoolSnapshot>,
) -> Option<ephpm_sapi::WorkerFigures> {
    let mut total: Option<ephpm_sapi::WorkerFigures> = None;
    for f in pools.into_iter().flat_map(|p| &p.workers) {
        total.get_or_insert_with(Default::default).add(f);
    }
    total
}

/// Threads by worker state, as a JSON object.
fn worker_states(w: &ephpm_sapi::WorkerFigures) -> Value {
    let states: serde_json::Map<String, Value> =
        ephpm_sapi::WorkerState::ALL.iter().map(|s| (s.name().to_string(), json!(w.states[*s as usize]))).collect();
    Value::Object(states)
}

/// Worker-mode figures as JSON: states, restarts by reason, boots.
fn worker_json(w: &ephpm_sapi::WorkerFigures) -> Value {
    let restarts: serde_json::Map<String, Value> =
        ephpm_sapi::Reason::ALL.iter().map(|r| (r.name().to_string(), json!(w.restarts[*r as usize]))).collect();
    json!({
        "states": worker_states(w),
        "restarts": restarts,
        "boots": w.boots,
        "served_since_boot": w.served,
        "boot_time": percentiles(&w.boot_time),
    })
}

fn workers(s: &Scrape, control: Option<&Arc<ephpm_sapi::WorkerControl>>) -> Value {
    let cores: Vec<Value> = s
        .cores
        .iter()
        .enumerate()
        .map(|(i, c)| match c.as_ref().and_then(|c| c.php.as_ref()) {
            Some(p) => json!({
                "core": i,
                "responding": true,
                "threads": p.threads,
                "busy": p.threads - p.idle,
                "idle": p.idle,
                "alive": p.alive,
                "queue_depth": p.waiting,
                "requests": p.requests,
                "queue_timeouts": p.timeouts,
                "request_timeouts": p.request_timeouts,
                "restarts": worker_totals([p]).map_or(0, |w| w.restarts.iter().sum::<u64>()),
                "worker": worker_totals([p]).as_ref().map(worker_json),
                "memory_bytes": p.memory.iter().sum::<u64>(),
                "thread_memory_bytes": p.memory,
                "queue_wait": percentiles(&p.wait),
                "execution": percentiles(&p.run),
            }),
            None => json!({"core": i, "responding": c.is_some()}),
        })
        .collect();
    let pools: Vec<_> = s.cores.iter().flatten().filter_map(|c| c.php.as_ref()).collect();
    let sum = |f: fn(&ephpm_sapi::PoolSnapshot) -> u64| pools.iter().map(|p| f(p)).sum::<u64>();
    let totals = worker_totals(pools.iter().copied());
    json!({
        "php": !pools.is_empty(),
        "mode": if totals.is_some() { "worker" } else { "classic" },
        "restarting": control.is_some_and(|c| c.restarting()),
        "cores": cores,
        "worker": totals.as_ref().map(worker_json),
        "total": {
            "threads": sum(|p| p.threads as u64),
            "busy": sum(|p| (p.threads - p.idle) as u64),
            "idle": sum(|p| p.idle as u64),
            "alive": sum(|p| p.alive as u64),
            "queue_depth": sum(|p| p.waiting as u64),
            "requests": sum(|p| p.requests),
            "queue_timeouts": sum(|p| p.timeouts),
            "request_timeouts": sum(|p| p.request_timeouts),
            "memory_bytes": sum(|p| p.memory.iter().sum()),
            "queue_wait": percentiles(&merged(pools.iter().map(|p| &p.wait))),
            "execution": percentiles(&merged(pools.iter().map(|p| &p.run))),
        },
    })
}

fn connections(s: &Scrape) -> Value {
    let cores: Vec<Value> = s
        .cores
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Some(c) => json!({
                "core": i,
                "responding": true,
                "open": c.http.open,
                "accepted": c.http.accepted,
                "closed": c.http.closed,
                "requests": c.http.requests,
                "bytes_in": c.http.bytes_in,
                "bytes_out": c.http.bytes_out,
                "resp_clients": c.resp_clients,
                "db_clients": c.db_clients,
            }),
            None => json!({"core": i, "responding": false}),
        })
        .collect();
    let up: Vec<_> = s.cores.iter().flatten().collect();
    let sum = |f: fn(&ephpm_http::http1::HttpSnapshot) -> u64| up.iter().map(|c| f(&c.http)).sum::<u64>();
    json!({
        "cores": cores,
        "total": {
            "open": sum(|h| h.open),
            "accepted": sum(|h| h.accepted),
            "closed": sum(|h| h.closed),
            "requests": sum(|h| h.requests),
            "bytes_in": sum(|h| h.bytes_in),
            "bytes_out": sum(|h| h.bytes_out),
        },
        "latency": percentiles(&merged(up.iter().map(|c| &c.http.latency))),
    })
}

/// Request, PHP and SQL latency percentiles, merged across cores and per core.
fn latency(s: &Scrape) -> Value {
    let up: Vec<_> = s.cores.iter().flatten().collect();
    let pools: Vec<_> = up.iter().filter_map(|c| c.php.as_ref().map(|p| (c.core, p))).collect();
    let kind = |each: Vec<(usize, &Latency)>| {
        let per_core: Vec<Value> = each.iter().map(|(i, l)| json!({"core": i, "latency": percentiles(l)})).collect();
        json!({"merged": percentiles(&merged(each.iter().map(|(_, l)| *l))), "per_core": per_core})
    };
    let db: Vec<(usize, &Latency)> =
        s.db.as_ref().map(|(cores, _)| cores.iter().map(|c| (c.core, &c.latency)).collect()).unwrap_or_default();
    json!({
        "http_request": kind(up.iter().map(|c| (c.core, &c.http.latency)).collect()),
        "php_queue_wait": kind(pools.iter().map(|(i, p)| (*i, &p.wait)).collect()),
        "php_execution": kind(pools.iter().map(|(i, p)| (*i, &p.run)).collect()),
        "db_query": kind(db),
    })
}

fn kv_stats(shards: &[KvShard]) -> Value {
    let per: Vec<Value> = shards
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "core": i,
                "keys": s.keys,
                "volatile": s.volatile,
                "memory_bytes": s.memory,
                "hits": s.hits,
                "misses": s.misses,
                "evictions": s.evictions,
                "expirations": s.expirations,
                "commands": s.commands,
                "mesh_batches": s.mesh_batches,
                "mesh_messages": s.mesh_messages,
            })
        })
        .collect();
    let sum = |f: fn(&KvShard) -> u64| shards.iter().map(f).sum::<u64>();
    let (hits, misses) = (sum(|s| s.hits), sum(|s| s.misses));
    json!({
        "shards": per,
        "total": {
            "keys": sum(|s| s.keys),
            "volatile": sum(|s| s.volatile),
            "memory_bytes": sum(|s| s.memory),
            "hits": hits,
            "misses": misses,
            "hit_rate": if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 },
            "evictions": sum(|s| s.evictions),
            "expirations": sum(|s| s.expirations),
            "commands": sum(|s| s.commands),
        },
    })
}

/// The proxy's backends, by pool, and whether each is up: a pool is down
/// while any core's copy of it fails fast after a failed connect. `null`
/// without the proxy.
fn backend_states(cores: &[Option<super::probe::CoreReport>]) -> Value {
    let mut states: Vec<(&str, bool)> = Vec::new();
    for (name, stats) in cores.iter().flatten().flat_map(|c| &c.db_pools) {
        match states.iter_mut().find(|(n, _)| n == name) {
            Some((_, up)) => *up &= !stats.down,
            None => states.push((name, !stats.down)),
        }
    }
    if states.is_empty() {
        return Value::Null;
    }
    let backends: Vec<Value> = states.into_iter().map(|(pool, up)| json!({"pool": pool, "up": up})).collect();
    json!({"backends": backends})
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"x"));
    }
}
