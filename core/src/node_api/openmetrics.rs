//! `/metrics`: a [`Scrape`] in the OpenMetrics text format (what Prometheus
//! asks for), or the classic Prometheus text format 0.0.4 for clients that
//! do not ask for OpenMetrics (curl, `promtool check metrics`), both encoded
//! by prometheus-client. Per-core figures are one family each with a `core`
//! label; histograms are built from the cores' hdrhistograms at scrape
//! time, so recording costs a core nothing beyond its own histogram.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use ephpm_http::http1::stats::{METHODS, STATUS_CLASSES};
use ephpm_mysql::backend_pool::PoolStats;
use ephpm_rt::latency::Latency;

use super::scrape::Scrape;

/// Content type of the OpenMetrics answer.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic answer.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Bucket bounds (seconds) of request and PHP histograms.
const REQUEST_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Bucket bounds (seconds) of database statement histograms.
const QUERY_BUCKETS: [f64; 12] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0];

/// What the server is (the `ephpm_build_info` family).
#[derive(Clone, Debug, Default)]
pub struct BuildInfo {
    /// ephpm's version.
    pub version: String,
    /// PHP's version ("" without PHP).
    pub php: String,
    /// The I/O backend (io_uring or epoll).
    pub backend: String,
}

/// Encodes `scrape` as OpenMetrics text, or as Prometheus text 0.0.4.
pub fn encode(scrape: Scrape, info: &BuildInfo, openmetrics: bool) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families { scrape, info: info.clone() }));
    let mut out = String::with_capacity(64 * 1024);
    // Writing into a String cannot fail.
    let _ = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
    };
    out
}

struct Families {
    scrape: Scrape,
    info: BuildInfo,
}

impl std::fmt::Debug for Families {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Families")
    }
}

type R = Result<(), std::fmt::Error>;
type Labels = Vec<(&'static str, String)>;

/// One series' value.
enum Sample<'a> {
    Int(u64),
    Float(f64),
    Hist(&'a Latency, &'a [f64]),
}

/// Encodes one family: its descriptor, then one sample per label set.
fn family<'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: MetricType,
    series: impl IntoIterator<Item = (Labels, Sample<'a>)>,
) -> R {
    let mut m = enc.encode_descriptor(name, help, unit.as_ref(), kind)?;
    for (labels, sample) in series {
        let mut e = m.encode_family(&labels)?;
        match (sample, kind) {
            (Sample::Int(v), MetricType::Counter) => ConstCounter::new(v).encode(e)?,
            (Sample::Float(v), MetricType::Counter) => ConstCounter::new(v).encode(e)?,
            (Sample::Int(v), _) => ConstGauge::new(v as i64).encode(e)?,
            (Sample::Float(v), _) => ConstGauge::new(v).encode(e)?,
            (Sample::Hist(h, bounds), _) => {
                e.encode_histogram::<NoLabelSet>(h.sum_seconds(), h.count(), &h.buckets(bounds), None)?
            }
        }
    }
    Ok(())
}

fn core(i: usize) -> Labels {
    vec![("core", i.to_string())]
}

use MetricType::{Counter, Gauge, Histogram};

/// Bucket bounds (seconds) of worker boot times.
const BOOT_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl Collector for Families {
    fn encode(&self, mut enc: DescriptorEncoder) -> R {
        self.build_info(&mut enc)?;
        self.http(&mut enc)?;
        self.php(&mut enc)?;
        self.kv(&mut enc)?;
        self.cache(&mut enc)?;
        self.tls(&mut enc)?;
        self.db(&mut enc)?;
        self.process(&mut enc)
    }
}

impl Families {
    fn build_info(&self, enc: &mut DescriptorEncoder) -> R {
        let i = &self.info;
        let labels: Labels =
            vec![("version", i.version.clone()), ("php", i.php.clone()), ("backend", i.backend.clone())];
        let mut m =
            enc.encode_descriptor("ephpm_build", "ephpm and PHP versions, I/O backend", None, MetricType::Info)?;
        m.encode_info(&labels)?;
        let cores = &self.scrape.cores;
        family(
            enc,
            "ephpm_core_up",
            "1 when the core answered this scrape in time",
            None,
            Gauge,
            cores.iter().enumerate().map(|(i, c)| (core(i), Sample::Int(u64::from(c.is_some())))),
        )
    }

    fn http(&self, enc: &mut DescriptorEncoder) -> R {
        let cores: Vec<_> = self.scrape.cores.iter().flatten().collect();
        let per_core = |f: fn(&ephpm_http::http1::HttpSnapshot) -> u64| {
            cores.iter().map(move |c| (core(c.core), Sample::Int(f(&c.http)))).collect::<Vec<_>>()
        };
        let by_kind = cores.iter().flat_map(|c| {
            METHODS.iter().enumerate().flat_map(move |(m, method)| {
                STATUS_CLASSES.iter().enumerate().filter_map(move |(s, class)| {
                    let n = c.http.by_kind[m][s];
                    (n > 0).then(|| {
                        let labels: Labels = vec![
                            ("core", c.core.to_string()),
                            ("method", method.to_string()),
                            ("status", class.to_string()),
                        ];
                        (labels, Sample::Int(n))
                    })
                })
            })
        });
        family(
            enc,
            "ephpm_http_requests",
            "HTTP requests answered, by method and status class",
            None,
            Counter,
            by_kind,
        )?;
        let by_protocol = cores.iter().flat_map(|c| {
            let h2 = c.http.h2_requests;
            [("h1", c.http.requests.saturating_sub(h2)), ("h2", h2)]
                .map(|(p, n)| (vec![("core", c.core.to_string()), ("protocol", p.to_string())], Sample::Int(n)))
        });
        family(
            enc,
            "ephpm_http_requests_by_protocol",
            "HTTP requests answered, by protocol (h1: HTTP/1.x, h2: HTTP/2)",
            None,
            Counter,
            by_protocol,
        )?;
        family(
            enc,
            "ephpm_http2_connections",
            "HTTP/2 connections (h2 over TLS and h2c)",
            None,
            Counter,
            per_core(|h| h.h2_connections),
        )?;
        family(
            enc,
            "ephpm_http2_abusive_connections",
            "HTTP/2 connections cut off for a flood (RST_STREAM, SETTINGS, PING, CONTINUATION, PRIORITY, empty frames)",
            None,
            Counter,
            per_core(|h| h.h2_abusive),
        )?;
        family(
            enc,
            "ephpm_http_request_duration",
            "From a request's first byte to its response written (or queued behind a pipelined batch)",
            Some(Unit::Seconds),
            Histogram,
            cores.iter().map(|c| (core(c.core), Sample::Hist(&c.http.latency, &REQUEST_BUCKETS))),
        )?;
        family(
            enc,
            "ephpm_http_received",
            "Bytes read from HTTP clients",
            Some(Unit::Bytes),
            Counter,
            per_core(|h| h.bytes_in),
        )?;
        family(
            enc,
            "ephpm_http_sent",
            "Bytes written to HTTP clients",
            Some(Unit::Bytes),
            Counter,
            per_core(|h| h.bytes_out),
        )?;
        family(enc, "ephpm_http_connections_open", "HTTP connections open", None, Gauge, per_core(|h| h.open))?;
        family(
            enc,
            "ephpm_http_connections_accepted",
            "HTTP connections accepted",
            None,
            Counter,
            per_core(|h| h.accepted),
        )?;
        family(enc, "ephpm_http_connections_closed", "HTTP connections closed", None, Counter, per_core(|h| h.closed))
    }

    fn php(&self, enc: &mut DescriptorEncoder) -> R {
        let pools: Vec<_> =
            self.scrape.cores.iter().flatten().filter_map(|c| c.php.as_ref().map(|p| (c.core, p))).collect();
        if pools.is_empty() {
            return Ok(());
        }
        let states = pools.iter().flat_map(|(i, p)| {
            let busy = (p.threads - p.idle) as u64;
            [
                (vec![("core", i.to_string()), ("state", "busy".to_string())], Sample::Int(busy)),
                (vec![("core", i.to_string()), ("state", "idle".to_string())], Sample::Int(p.idle as u64)),
            ]
        });
        family(enc, "ephpm_php_threads", "PHP threads by state", None, Gauge, states)?;
        let alive = pools.iter().map(|(i, p)| (core(*i), Sample::Int(p.alive as u64)));
        family(enc, "ephpm_php_threads_alive", "PHP threads running (a dead thread is not)", None, Gauge, alive)?;
        let depth = pools.iter().map(|(i, p)| (core(*i), Sample::Int(p.waiting as u64)));
        family(enc, "ephpm_php_queue_depth", "Requests waiting for a PHP thread", None, Gauge, depth)?;
        let reqs = pools.iter().map(|(i, p)| (core(*i), Sample::Int(p.requests)));
        family(enc, "ephpm_php_requests", "Requests handed to a PHP thread", None, Counter, reqs)?;
        let timeouts = pools.iter().map(|(i, p)| (core(*i), Sample::Int(p.timeouts)));
        family(
            enc,
            "ephpm_php_queue_timeouts",
            "Requests that waited past php.max_wait (503)",
            None,
            Counter,
            timeouts,
        )?;
        let late = pools.iter().map(|(i, p)| (core(*i), Sample::Int(p.request_timeouts)));
        family(
            enc,
            "ephpm_php_request_timeouts",
            "Requests answered 504 because the script did not answer within php.request_timeout",
            None,
            Counter,
            late,
        )?;
        let memory = pools.iter().map(|(i, p)| (core(*i), Sample::Int(p.memory.iter().sum())));
        family(
            enc,
            "ephpm_php_last_request_peak_memory",
            "Sum over the core's PHP threads of the peak PHP memory of each one's last request",
            Some(Unit::Bytes),
            Gauge,
            memory,
        )?;
        let wait = pools.iter().map(|(i, p)| (core(*i), Sample::Hist(&p.wait, &REQUEST_BUCKETS)));
        family(
            enc,
            "ephpm_php_queue_wait",
            "Time waiting for a free PHP thread",
            Some(Unit::Seconds),
            Histogram,
            wait,
        )?;
        let run = pools.iter().map(|(i, p)| (core(*i), Sample::Hist(&p.run, &REQUEST_BUCKETS)));
        family(enc, "ephpm_php_execution", "Time a PHP thread ran a request", Some(Unit::Seconds), Histogram, run)?;
        self.php_workers(enc, &pools)
    }

    /// Worker mode's figures, per core (only in worker mode).
    fn php_workers(&self, enc: &mut DescriptorEncoder, pools: &[(usize, &ephpm_sapi::PoolSnapshot)]) -> R {
        let per_core: Vec<(usize, ephpm_sapi::WorkerFigures)> = pools
            .iter()
            .filter(|(_, p)| !p.workers.is_empty())
            .map(|(i, p)| {
                let mut total = ephpm_sapi::WorkerFigures::default();
                p.workers.iter().for_each(|w| total.add(w));
                (*i, total)
            })
            .collect();
        if per_core.is_empty() {
            return Ok(());
        }
        let states = per_core.iter().flat_map(|(i, w)| {
            ephpm_sapi::WorkerState::ALL.iter().map(move |s| {
                (vec![("core", i.to_string()), ("state", s.name().to_string())], Sample::Int(w.states[*s as usize]))
            })
        });
        family(enc, "ephpm_php_workers", "PHP worker threads by state", None, Gauge, states)?;
        let restarts = per_core.iter().flat_map(|(i, w)| {
            ephpm_sapi::Reason::ALL.iter().map(move |r| {
                (vec![("core", i.to_string()), ("reason", r.name().to_string())], Sample::Int(w.restarts[*r as usize]))
            })
        });
        family(enc, "ephpm_php_worker_restarts", "PHP worker restarts by reason", None, Counter, restarts)?;
        let boots = per_core.iter().map(|(i, w)| (core(*i), Sample::Hist(&w.boot_time, &BOOT_BUCKETS)));
        family(
            enc,
            "ephpm_php_worker_boot",
            "Time a worker script took to boot (to its first ephpm_handle_request())",
            Some(Unit::Seconds),
            Histogram,
            boots,
        )
    }

    /// The page cache's figures, per core (only while it is on).
    fn cache(&self, enc: &mut DescriptorEncoder) -> R {
        let caches: Vec<_> = self.scrape.cores.iter().flatten().filter_map(|c| c.cache.map(|s| (c.core, s))).collect();
        if caches.is_empty() {
            return Ok(());
        }
        type Field = fn(&ephpm_http::cache::CacheSnapshot) -> u64;
        let series = |f: Field| caches.iter().map(move |(i, s)| (core(*i), Sample::Int(f(s)))).collect::<Vec<_>>();
        let counters: [(&str, &str, Field); 6] = [
            ("ephpm_page_cache_hits", "Responses served fresh from the page cache", |s| s.hits),
            ("ephpm_page_cache_misses", "Cacheable requests the cache could not answer (the script ran)", |s| s.misses),
            ("ephpm_page_cache_bypasses", "Requests that did not use the cache (method, credentials, cookie)", |s| {
                s.bypasses
            }),
            ("ephpm_page_cache_stale", "Stale responses served while another request refreshed them", |s| s.stale),
            ("ephpm_page_cache_stores", "Responses stored", |s| s.stores),
            ("ephpm_page_cache_purged", "Responses removed by purges", |s| s.purged),
        ];
        for (name, help, f) in counters {
            family(enc, name, help, None, Counter, series(f))?;
        }
        family(enc, "ephpm_page_cache_entries", "Responses held", None, Gauge, series(|s| s.entries))?;
        family(enc, "ephpm_page_cache_size", "Bytes held", Some(Unit::Bytes), Gauge, series(|s| s.bytes))
    }

    /// TLS handshakes per core and outcome (only while HTTPS is on).
    fn tls(&self, enc: &mut DescriptorEncoder) -> R {
        let cores: Vec<_> = self.scrape.cores.iter().flatten().filter_map(|c| c.tls.map(|s| (c.core, s))).collect();
        if cores.is_empty() {
            return Ok(());
        }
        type Field = fn(&ephpm_tls::TlsSnapshot) -> u64;
        let results: [(&str, Field); 6] = [
            ("tls13", |s| s.tls13),
            ("tls12", |s| s.tls12),
            ("failed", |s| s.failed),
            ("timeout", |s| s.timed_out),
            ("plain_http", |s| s.plain_http),
            ("closed", |s| s.closed),
        ];
        let series = cores.iter().flat_map(|(i, s)| {
            results.iter().map(move |(result, f)| {
                (vec![("core", i.to_string()), ("result", result.to_string())], Sample::Int(f(s)))
            })
        });
        family(
            enc,
            "ephpm_tls_handshakes",
            "TLS handshakes by outcome: completed (by version), failed, timed out, plain HTTP on the TLS port, client gone",
            None,
            Counter,
            series,
        )?;
        let resumed = cores.iter().map(|(i, s)| (core(*i), Sample::Int(s.resumed)));
        family(
            enc,
            "ephpm_tls_resumed",
            "Completed handshakes that resumed a session by ticket",
            None,
            Counter,
            resumed,
        )
    }

    fn kv(&self, enc: &mut DescriptorEncoder) -> R {
        let kv = &self.scrape.kv;
        let series = |f: fn(&super::scrape::KvShard) -> u64| {
            kv.iter().enumerate().map(move |(i, s)| (core(i), Sample::Int(f(s)))).collect::<Vec<_>>()
        };
        family(enc, "ephpm_kv_keys", "Keys in the shard", None, Gauge, series(|s| s.keys))?;
        family(
            enc,
            "ephpm_kv_memory",
            "Approximate bytes the shard holds",
            Some(Unit::Bytes),
            Gauge,
            series(|s| s.memory),
        )?;
        family(enc, "ephpm_kv_commands", "KV commands run (RESP and PHP)", None, Counter, series(|s| s.commands))?;
        family(enc, "ephpm_kv_hits", "Key lookups that found a live key", None, Counter, series(|s| s.hits))?;
        family(enc, "ephpm_kv_misses", "Key lookups that found none", None, Counter, series(|s| s.misses))?;
        family(enc, "ephpm_kv_evictions", "Keys evicted for kv.memory_limit", None, Counter, series(|s| s.evictions))?;
        family(
            enc,
            "ephpm_kv_expirations",
            "Keys removed because they expired",
            None,
            Counter,
            series(|s| s.expirations),
        )?;
        family(
            enc,
            "ephpm_kv_mesh_batches",
            "Batches the shard took from its cross-core rings",
            None,
            Counter,
            series(|s| s.mesh_batches),
        )?;
        family(
            enc,
            "ephpm_kv_mesh_messages",
            "Messages in those batches (over the batches: the mean batch size)",
            None,
            Counter,
            series(|s| s.mesh_messages),
        )?;
        let resp = self
            .scrape
            .cores
            .iter()
            .flatten()
            .filter_map(|c| c.resp_clients.map(|n| (core(c.core), Sample::Int(n as u64))));
        family(enc, "ephpm_kv_clients", "RESP clients connected", None, Gauge, resp)
    }

    fn db(&self, enc: &mut DescriptorEncoder) -> R {
        let Some((cores, writer)) = &self.scrape.db else { return Ok(()) };
        let series = |f: fn(&super::scrape::DbCore) -> u64| {
            cores.iter().map(move |s| (core(s.core), Sample::Int(f(s)))).collect::<Vec<_>>()
        };
        family(enc, "ephpm_db_queries", "SQL statements run", None, Counter, series(|s| s.queries))?;
        family(enc, "ephpm_db_query_errors", "SQL statements that failed", None, Counter, series(|s| s.errors))?;
        family(
            enc,
            "ephpm_db_slow_queries",
            "SQL statements over db.slow_query_threshold",
            None,
            Counter,
            series(|s| s.slow),
        )?;
        let hist = cores.iter().map(|s| (core(s.core), Sample::Hist(&s.latency, &QUERY_BUCKETS)));
        family(enc, "ephpm_db_query_duration", "SQL statement run time", Some(Unit::Seconds), Histogram, hist)?;
        let clients = self
            .scrape
            .cores
            .iter()
            .flatten()
            .filter_map(|c| c.db_clients.map(|n| (core(c.core), Sample::Int(n as u64))));
        family(enc, "ephpm_db_clients", "MySQL clients connected", None, Gauge, clients)?;
        // The embedded database has its writer thread; the proxy, in its
        // place, backend pools.
        let Some(writer) = writer else { return self.db_pools(enc) };
        let one = |v: u64| [(Labels::new(), Sample::Int(v))];
        family(enc, "ephpm_db_writer_jobs", "Writes the database writer ran", None, Counter, one(writer.jobs))?;
        family(
            enc,
            "ephpm_db_writer_waiting",
            "Writes waiting behind another session's transaction",
            None,
            Gauge,
            one(writer.waiting),
        )?;
        family(
            enc,
            "ephpm_db_writer_in_transaction",
            "1 while a session's transaction holds the writer",
            None,
            Gauge,
            one(u64::from(writer.in_transaction)),
        )?;
        family(
            enc,
            "ephpm_db_lock_wait_timeouts",
            "Writes that gave up waiting (error 1205)",
            None,
            Counter,
            one(writer.lock_timeouts),
        )
    }

    /// The proxy's backend pools, by core and pool (`primary`, `replica-N`).
    fn db_pools(&self, enc: &mut DescriptorEncoder) -> R {
        let pools: Vec<(usize, &str, &PoolStats)> = self
            .scrape
            .cores
            .iter()
            .flatten()
            .flat_map(|c| c.db_pools.iter().map(move |(name, p)| (c.core, name.as_str(), p)))
            .collect();
        let series = |f: fn(&PoolStats) -> u64| {
            pools
                .iter()
                .map(move |(c, name, p)| (vec![("core", c.to_string()), ("pool", name.to_string())], Sample::Int(f(p))))
                .collect::<Vec<_>>()
        };
        family(enc, "ephpm_db_pool_open", "Backend connections open", None, Gauge, series(|p| p.open as u64))?;
        family(enc, "ephpm_db_pool_idle", "Backend connections idle", None, Gauge, series(|p| p.idle as u64))?;
        family(
            enc,
            "ephpm_db_pool_waiting",
            "Statements waiting for a backend connection",
            None,
            Gauge,
            series(|p| p.waiting as u64),
        )?;
        family(enc, "ephpm_db_pool_connects", "Backend connections opened", None, Counter, series(|p| p.connects))?;
        family(
            enc,
            "ephpm_db_pool_connect_failures",
            "Backend connects that failed",
            None,
            Counter,
            series(|p| p.connect_failures),
        )?;
        family(
            enc,
            "ephpm_db_pool_acquire_timeouts",
            "Statements that gave up waiting for a backend connection (1040)",
            None,
            Counter,
            series(|p| p.timeouts),
        )?;
        family(
            enc,
            "ephpm_db_pool_down",
            "1 while the pool fails fast after a failed connect",
            None,
            Gauge,
            series(|p| u64::from(p.down)),
        )
    }

    fn process(&self, enc: &mut DescriptorEncoder) -> R {
        let p = &self.scrape.process;
        let one = |v: Sample<'static>| [(Labels::new(), v)];
        family(
            enc,
            "process_cpu",
            "User and system CPU time",
            Some(Unit::Seconds),
            Counter,
            one(Sample::Float(p.cpu_seconds)),
        )?;
        family(
            enc,
            "process_resident_memory",
            "Resident memory",
            Some(Unit::Bytes),
            Gauge,
            one(Sample::Int(p.rss_bytes)),
        )?;
        family(
            enc,
            "process_virtual_memory",
            "Virtual memory",
            Some(Unit::Bytes),
            Gauge,
            one(Sample::Int(p.virtual_bytes)),
        )?;
        family(enc, "process_open_fds", "Open file descriptors", None, Gauge, one(Sample::Int(p.open_fds)))?;
        family(enc, "process_max_fds", "The open-files limit", None, Gauge, one(Sample::Int(p.max_fds)))?;
        family(enc, "process_threads", "OS threads", None, Gauge, one(Sample::Int(p.threads)))?;
        family(
            enc,
            "process_start_time",
            "Start time since the Unix epoch",
            Some(Unit::Seconds),
            Gauge,
            one(Sample::Float(p.start_time)),
        )?;
        if let Some(d) = self.scrape.access_dropped {
            family(
                enc,
                "ephpm_access_log_dropped",
                "Access-log lines dropped because the writer fell behind",
                None,
                Counter,
                one(Sample::Int(d)),
            )?;
        }
        Ok(())
    }
}
