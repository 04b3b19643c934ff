//! What runs on each core: the plan every core builds from, what one core
//! starts with, and one start function per service (the KV node, the RESP
//! listener, the MySQL front, the probe, HTTP). `run_shard` only composes
//! them; each service's own crate does the work.

use std::net::TcpListener as StdListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ephpm_db::{Database, DbMonitor};
use ephpm_http::access_log::{AccessLog, AccessSink};
use ephpm_http::acme_http01::AcmeHttp01;
use ephpm_http::app::App;
use ephpm_http::cache::PageCache;
use ephpm_http::http1::{HttpStats, Limits};
use ephpm_http::listener::{self, AcceptContext, TlsContext};
use ephpm_http::redirect::HttpsRedirect;
use ephpm_http::router::{Router, RouterConfig};
use ephpm_http::static_files::StaticConfig;
use ephpm_kv::{KvInbox, KvMsg, KvNode, SharedKeyspace};
use ephpm_mysql::proxy::{self, ProxyContext, ProxySettings};
use ephpm_mysql::{self as mysql, MysqlContext};
use ephpm_resp::{self as resp, RespContext};
use ephpm_rt::accept::ClientLimit;
use ephpm_rt::mesh::Endpoint;
use ephpm_rt::{LocalSignal, ShardContext, Shutdown};
use ephpm_sapi::http::PhpHandler;
use ephpm_sapi::{CoreEnd, PhpPool};
use ephpm_tls::{TlsAcceptor, TlsStats};

use crate::node_api::probe::{self, CoreSources, Probe};

/// What every shard builds its services from (shared read-only at start).
pub(crate) struct ShardPlan {
    pub(crate) router: RouterConfig,
    pub(crate) statics: StaticConfig,
    pub(crate) hello_route: Option<String>,
    pub(crate) limits: Limits,
    pub(crate) max_connections: usize,
    pub(crate) grace: Duration,
    pub(crate) php_max_wait: Duration,
    /// `php.request_timeout` (zero: none).
    pub(crate) php_request_timeout: Duration,
    pub(crate) redis: crate::config::RedisConfig,
    /// `kv.snapshot.path` and `kv.snapshot.interval`: core 0 saves.
    pub(crate) snapshot: Option<(ephpm_kv::snapshot::SnapshotWriter, Duration)>,
    /// What answers on the MySQL port, when it listens.
    pub(crate) db: Option<DbFront>,
    /// `db.max_clients`.
    pub(crate) db_max_clients: usize,
    /// Variables every PHP script gets (`db.inject_env`).
    pub(crate) php_env: Vec<(Vec<u8>, Vec<u8>)>,
    /// `metrics.enabled`: record per-request figures.
    pub(crate) metrics: bool,
    /// `[server.cache]`, when on.
    pub(crate) cache: Option<ephpm_http::cache::CacheConfig>,
    /// `[server.tls]`, when on.
    pub(crate) https: Option<crate::https::HttpsPlan>,
    /// TLS for the RESP listener (`kv.redis.tls`).
    pub(crate) resp_tls: Option<Arc<ephpm_tls::ServerConfig>>,
    /// TLS offered by the MySQL front (`db.sqlite.tls`, `db.mysql.tls`).
    pub(crate) mysql_tls: Option<Arc<ephpm_tls::ServerConfig>>,
    /// `[server.http2]`, when on.
    pub(crate) http2: Option<ephpm_http::http2::Http2Settings>,
    pub(crate) shutdown: Arc<Shutdown>,
}

/// What answers on the MySQL port.
pub(crate) enum DbFront {
    /// The embedded database and its users.
    Embedded(Database, Vec<mysql::User>),
    /// The proxy to MySQL/MariaDB: its settings and statistics.
    Proxy(Box<ProxySettings>, DbMonitor),
}

impl DbFront {
    /// The figures the node API shows (`/api/db/*`).
    pub(crate) fn monitor(&self) -> DbMonitor {
        match self {
            DbFront::Embedded(db, _) => db.monitor(),
            DbFront::Proxy(_, monitor) => monitor.clone(),
        }
    }
}

/// What one shard starts with: its listeners, its PHP threads' ends, its
/// mesh endpoints and its keyspace.
pub(crate) struct ShardStart {
    pub(crate) listener: StdListener,
    /// The core's HTTPS socket, when TLS is on.
    pub(crate) tls: Option<StdListener>,
    pub(crate) php: Option<Vec<CoreEnd>>,
    pub(crate) kv: Endpoint<KvMsg>,
    pub(crate) keyspace: SharedKeyspace,
    /// Serves the remote keys of this core's PHP threads.
    pub(crate) kv_inbox: Option<KvInbox>,
    pub(crate) resp: Option<StdListener>,
    pub(crate) mysql: Option<StdListener>,
    /// Answers the node API's probes.
    pub(crate) probe: Endpoint<Probe>,
    /// The access log's writer, when on.
    pub(crate) access: Option<AccessSink>,
}

/// One core as its services see it.
struct Core {
    index: usize,
    count: usize,
    plan: Arc<ShardPlan>,
    /// Fired when the core begins its graceful shutdown.
    stop: LocalSignal,
}

/// One core: starts its services, serves HTTP until shutdown, then lets
/// open connections finish within the grace period.
pub(crate) async fn run_shard(ctx: ShardContext, start: ShardStart, plan: Arc<ShardPlan>) {
    let ShardStart { listener, tls, php, kv, keyspace, kv_inbox, resp, mysql, probe, access } = start;
    tracing::debug!(core = ctx.index, cpu = ?ctx.cpu, backend = %ctx.backend, "core started");
    let core = Core { index: ctx.index, count: ctx.count, plan, stop: LocalSignal::new() };
    let pool = php.map(|ends| PhpPool::new(ends, core.plan.php_max_wait, core.plan.metrics));
    let stats = Rc::new(HttpStats::new(core.plan.metrics));
    let tls_stats = tls.as_ref().map(|_| Rc::new(TlsStats::default()));
    let node = start_kv(&core, kv, keyspace, kv_inbox);
    let cache = match (&core.plan.cache, &pool) {
        (Some(c), Some(_)) => Some(crate::page_cache::start(c.clone(), Rc::clone(&node), core.count)),
        _ => None,
    };
    let mut sources = CoreSources {
        core: core.index,
        http: Rc::clone(&stats),
        php: pool.clone(),
        resp: None,
        db: None,
        db_pools: Vec::new(),
        kv: Rc::clone(&node),
        cache: cache.clone(),
        tls: tls_stats.clone(),
    };
    sources.resp = resp.map(|l| start_resp(&core, l, node));
    if let Some(l) = mysql {
        start_mysql(&core, l, &mut sources);
    }
    watch_shutdown(&core);
    monoio::spawn(probe::answer(sources, probe, core.count));
    let https = tls.zip(tls_stats);
    serve_http(&core, listener, https, pool.clone(), cache, stats, access).await;
    // The probe task still holds the pool, and a task pending when the
    // runtime ends is never dropped: the PHP threads are told here.
    if let Some(pool) = pool {
        pool.close();
    }
}

/// The core's KV node: its mesh traffic, the expiry sweep, its PHP
/// threads' requests for its keys (from every core) and (on core 0) the periodic snapshot.
fn start_kv(core: &Core, kv: Endpoint<KvMsg>, keyspace: SharedKeyspace, inbox: Option<KvInbox>) -> Rc<KvNode> {
    let node = KvNode::new(core.index, core.count, keyspace, kv.outbox);
    monoio::spawn(Rc::clone(&node).serve(kv.inbox));
    monoio::spawn(Rc::clone(&node).sweep());
    if let Some(inbox) = inbox {
        monoio::spawn(ephpm_kv::client::serve(Rc::clone(&node), inbox));
    }
    if let (0, Some((writer, interval))) = (core.index, &core.plan.snapshot) {
        monoio::spawn(ephpm_kv::snapshot::periodic(Rc::clone(&node), writer.clone(), *interval));
    }
    node
}

/// The core's RESP listener; returns its client count.
fn start_resp(core: &Core, listener: StdListener, node: Rc<KvNode>) -> Rc<ClientLimit> {
    let r = &core.plan.redis;
    let rctx = Rc::new(RespContext::new(
        node,
        Some(r.password.clone()),
        r.max_query_buffer.0 as usize,
        r.max_clients,
        core.stop.clone(),
    ));
    let clients = Rc::clone(&rctx.clients);
    let tls = acceptor(core, core.plan.resp_tls.as_ref());
    monoio::spawn(async move {
        if let Err(e) = resp::listener::accept_loop(listener, rctx, tls).await {
            tracing::error!(error = %e, "RESP listener failed");
        }
    });
    clients
}

/// This core's TLS handshakes for a listener other than HTTPS, when it
/// speaks TLS (`config`).
fn acceptor(core: &Core, config: Option<&Arc<ephpm_tls::ServerConfig>>) -> Option<Rc<TlsAcceptor>> {
    config.map(|c| Rc::new(TlsAcceptor::new(Arc::clone(c), core.plan.limits.header_timeout)))
}

/// The core's MySQL front: the embedded database or the proxy.
fn start_mysql(core: &Core, listener: StdListener, sources: &mut CoreSources) {
    match &core.plan.db {
        Some(DbFront::Embedded(db, users)) => match db.core(core.index) {
            Ok(core_db) => {
                let (index, max) = (core.index, core.plan.db_max_clients);
                let mut mctx = MysqlContext::new(core_db, users.clone(), index, max, core.stop.clone());
                mctx.tls = acceptor(core, core.plan.mysql_tls.as_ref());
                let mctx = Rc::new(mctx);
                sources.db = Some(Rc::clone(&mctx.clients));
                monoio::spawn(async move {
                    if let Err(e) = mysql::listener::accept_loop(listener, mctx).await {
                        tracing::error!(error = %e, "MySQL listener failed");
                    }
                });
            }
            Err(e) => tracing::error!(core = core.index, "db: {e}"),
        },
        Some(DbFront::Proxy(settings, monitor)) => {
            let stats = monitor.register(core.index);
            let mut pctx = ProxyContext::new(settings, core.index, stats, core.stop.clone());
            pctx.tls = acceptor(core, core.plan.mysql_tls.as_ref());
            let pctx = Rc::new(pctx);
            sources.db = Some(Rc::clone(&pctx.clients));
            sources.db_pools = pctx.pools();
            monoio::spawn(async move {
                if let Err(e) = proxy::accept_loop(listener, pctx).await {
                    tracing::error!(error = %e, "MySQL proxy listener failed");
                }
            });
        }
        None => {}
    }
}

/// Fires the core's stop signal when the process starts shutting down.
fn watch_shutdown(core: &Core) {
    let (stop, plan, index) = (core.stop.clone(), Arc::clone(&core.plan), core.index);
    monoio::spawn(async move {
        plan.shutdown.wait(index).await;
        stop.fire();
    });
}

/// Serves HTTP (and HTTPS) on the core's listeners until shutdown, then
/// waits for open connections up to the grace period.
async fn serve_http(
    core: &Core,
    listener: StdListener,
    https: Option<(StdListener, Rc<TlsStats>)>,
    pool: Option<Rc<PhpPool>>,
    cache: Option<Rc<PageCache>>,
    stats: Rc<HttpStats>,
    access: Option<AccessSink>,
) {
    let plan = &core.plan;
    let router = match Router::new(plan.router.clone()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(core = core.index, "cannot build router: {e}");
            return;
        }
    };
    let php_env: Rc<[(Vec<u8>, Vec<u8>)]> = plan.php_env.clone().into();
    let timeout = plan.php_request_timeout;
    let php = pool.map(|p| PhpHandler::new(p, &plan.router.root).with_env(php_env).with_request_timeout(timeout));
    let mut app = App::new(router, plan.statics.clone(), plan.hello_route.clone(), php);
    if let Some(cache) = cache {
        app = app.with_cache(cache);
    }
    let app = Rc::new(app);
    let actx = AcceptContext {
        limits: Rc::new(plan.limits.clone()),
        stop: core.stop.clone(),
        stats: Rc::clone(&stats),
        max_connections: plan.max_connections,
        access: access.map(AccessLog::new),
        http2: plan.http2.clone().map(Rc::new),
    };
    let served = match (https, &plan.https) {
        (Some((tls_listener, tls_stats)), Some(h)) => {
            let tls = TlsContext {
                config: Arc::new(h.config.clone()),
                stats: tls_stats,
                extra_head: Rc::from(&h.extra_head[..]),
            };
            let tls_ctx = actx.clone();
            let tls_loop = monoio::spawn(listener::accept_loop(tls_listener, Rc::clone(&app), tls_ctx, Some(tls)));
            // ACME's HTTP-01 answers come first, whatever the plain
            // listener does with the rest.
            let acme = h.acme.clone();
            let plain = match h.redirect_port {
                Some(port) => {
                    let svc = AcmeHttp01::new(Rc::new(HttpsRedirect::new(app, port)), acme);
                    listener::accept_loop(listener, Rc::new(svc), actx, None).await
                }
                None => listener::accept_loop(listener, Rc::new(AcmeHttp01::new(app, acme)), actx, None).await,
            };
            plain.and(tls_loop.await)
        }
        _ => listener::accept_loop(listener, app, actx, None).await,
    };
    if let Err(e) = served {
        tracing::error!(core = core.index, error = %e, "listener failed");
    }
    let deadline = Instant::now() + plan.grace;
    while stats.open.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if stats.open.get() > 0 {
        tracing::warn!(core = core.index, open = stats.open.get(), "grace period over; closing remaining connections");
    }
}
