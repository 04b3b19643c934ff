//! `ephpm serve`: from configuration to running shards, and back down on
//! SIGTERM/SIGINT.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ephpm_db::DbMonitor;
use ephpm_http::access_log::{AccessFormat, AccessSink};
use ephpm_http::http1::Limits;
use ephpm_http::router::RouterConfig;
use ephpm_http::static_files::StaticConfig;
use ephpm_kv::{Eviction, Keyspace, KvInbox, KvMsg, SharedKeyspace};
use ephpm_rt::mesh::{self, Endpoint};
use ephpm_rt::{IoMode, ShardSet, Shutdown};
use ephpm_sapi::{CoreEnd, Engine, WorkerControl, WorkerSpec};

use crate::cli::Serve;
use crate::config::{Config, Cores, Source};
use crate::db_front;
use crate::node_api::{self, probe::Probe};
use crate::services::{run_shard, DbFront, ShardPlan, ShardStart};

/// Backlog of each listening socket.
const BACKLOG: i32 = 4096;

/// Runs the server until a shutdown signal has been handled.
pub fn serve(args: Serve) -> Result<(), String> {
    let path = crate::config_path(args.config.clone());
    let (mut cfg, source) = Config::load(path.as_deref(), std::env::vars())?;
    apply_flags(&mut cfg, &args)?;
    cfg.validate().map_err(|e| format!("invalid command-line flag: {e}"))?;
    let _log_guard = crate::logging::init(&cfg.log);
    crate::rlimit::raise_nofile();

    let (root, root_note) = document_root(&cfg)?;
    let cores = cfg.server.cores.resolve();
    let io: IoMode = cfg.server.io.parse()?;
    let addr: SocketAddr = cfg.server.listen.parse().map_err(|e| format!("server.listen: {e}"))?;
    let listeners = ephpm_rt::listener::bind_reuseport(addr, cores, BACKLOG).map_err(|e| e.to_string())?;
    let bound = listeners[0].local_addr().map_err(|e| e.to_string())?;

    let https = crate::https::start(&cfg, cores, BACKLOG).map_err(|e| format!("{e} (configured in {source})"))?;
    let (mut https_listeners, https_plan, cert_store, https_bound, side_tls) = match https {
        Some(h) => {
            (Some(h.listeners.into_iter()), Some(h.plan), Some(h.store), Some(h.bound), (h.resp, h.node_api, h.mysql))
        }
        None => (None, None, None, None, (None, None, None)),
    };
    let (resp_tls, node_tls, mysql_tls) = side_tls;
    let mut resp_listeners = bind_resp(&cfg, cores)?;
    let proxy = match cfg.db.mysql.enabled() {
        true => Some(db_front::proxy_settings(&cfg, cores)?),
        false => None,
    };
    let (mut db_listeners, db_addr) = match db_front::bind(&cfg, cores, BACKLOG)? {
        Some((l, a)) => (Some(l), Some(a)),
        None => (None, None),
    };
    let front = match (&db_listeners, proxy) {
        (None, _) => None,
        (Some(_), Some(settings)) => Some(DbFront::Proxy(Box::new(settings), DbMonitor::without_writer())),
        (Some(_), None) => Some(DbFront::Embedded(db_front::open(&cfg)?, db_front::users(&cfg))),
    };
    let node_api = node_api::bind(&cfg)?;
    let access = start_access_log(&cfg)?;
    let keyspaces = keyspaces(&cfg, cores);
    let snapshots = restore_snapshot(&cfg, &keyspaces);
    let php_env = match (cfg.db.inject_env, db_addr) {
        (true, Some(addr)) => {
            let database = match &front {
                Some(DbFront::Proxy(settings, _)) => settings.primary.backend.database.clone().unwrap_or_default(),
                _ => cfg.db.sqlite.database.clone(),
            };
            db_front::php_env(&cfg, addr, &database)
        }
        _ => Vec::new(),
    };
    let worker = worker_spec(&cfg, &root, &php_env).map_err(|e| format!("{e} (configured in {source})"))?;
    let (engine, mut php_ends) = start_php(&cfg, cores, &keyspaces, worker)?;
    let workers =
        engine.as_ref().and_then(|e| e.worker_control(cfg.server.timeouts.request.0 + cfg.php.worker.boot_timeout.0));
    let mut kv_ends = mesh::build::<KvMsg>(cores, KV_RING).into_iter();
    // The node API is the last endpoint of its mesh.
    let mut probe_ends = mesh::build::<Probe>(cores + 1, PROBE_RING).into_iter();
    let starts: Vec<ShardStart> = listeners
        .into_iter()
        .zip(keyspaces)
        .map(|(listener, keyspace)| {
            let (php, kv_inbox) = php_ends.next().map_or((None, None), |(e, p)| (Some(e), Some(p)));
            ShardStart {
                listener,
                tls: https_listeners.as_mut().and_then(|l| l.next()),
                php,
                kv: kv_ends.next().expect("one mesh endpoint per core"),
                keyspace,
                kv_inbox,
                resp: resp_listeners.as_mut().and_then(|l| l.next()),
                mysql: db_listeners.as_mut().and_then(|l| l.next()),
                probe: probe_ends.next().expect("one probe endpoint per core"),
                access: access.as_ref().map(|(sink, _)| sink.clone()),
            }
        })
        .collect();

    let shutdown = Shutdown::new(cores);
    spawn_signal_thread(Arc::clone(&shutdown), cert_store, workers.clone())?;
    crate::parent::stop_with_parent_if_asked();
    if let (Some(w), false) = (&workers, cfg.php.worker.watch.is_empty()) {
        let base = match &source {
            Source::File(p) => p.parent().filter(|d| !d.as_os_str().is_empty()).map(std::path::Path::to_path_buf),
            Source::Defaults => None,
        };
        let base = base.map_or_else(std::env::current_dir, Ok).map_err(|e| e.to_string())?;
        crate::watch::Watch::new(&cfg.php.worker.watch, &base)?.spawn(Arc::clone(w))?;
    }
    let mut plan = plan(&cfg, root.clone(), Arc::clone(&shutdown));
    if let Some(fallback) = worker_fallback(&cfg, &root) {
        tracing::info!(
            "server.fallback: {} does not exist; requests for no file go to the worker script {fallback}",
            cfg.server.fallback
        );
        plan.router.fallback = Some(fallback);
    }
    let db_monitor = front.as_ref().map(DbFront::monitor);
    plan.db = front;
    plan.cache = crate::page_cache::config(&cfg)?;
    plan.https = https_plan;
    plan.resp_tls = resp_tls;
    plan.mysql_tls = mysql_tls;
    let mut snapshot_writer = None;
    if let Some(path) = &cfg.kv.snapshot.path {
        // Started here, on the unpinned main thread: see SnapshotWriter.
        let writer = ephpm_kv::snapshot::SnapshotWriter::start(path.clone())
            .map_err(|e| format!("kv: cannot start the snapshot writer: {e}"))?;
        snapshot_writer = Some(writer.clone());
        plan.snapshot = Some((writer, cfg.kv.snapshot.interval.0));
    }
    plan.php_env = php_env;
    let plan = Arc::new(plan);
    let set = ShardSet::start(starts, io, cfg.server.pin_threads, move |ctx, s| run_shard(ctx, s, Arc::clone(&plan)))
        .map_err(|e| format!("cannot start shards: {e}"))?;

    let backends = set.backends();
    let backend = backends[0];
    if backends.iter().any(|b| *b != backend) {
        tracing::warn!(?backends, "cores run different I/O backends");
    }
    if io == IoMode::Auto && backend == ephpm_rt::Backend::Epoll {
        tracing::warn!("io_uring is unavailable here; serving with the epoll fallback");
    }
    if let Some((listener, addr)) = node_api {
        let hub = probe_ends.next().expect("the node API's probe endpoint");
        let mut api = node_api_service(&cfg, hub, cores, db_monitor, &access, &shutdown, backend);
        api.workers = workers;
        let scheme = if node_tls.is_some() { "https" } else { "http" };
        node_api::spawn(listener, api, io, node_tls)?;
        tracing::info!("node API on {scheme}://{addr} (/health, /metrics, /api/...)");
    }
    tracing::info!(config = %source, "serving {} ({root_note})", root.display());
    tracing::info!("listening on http://{bound} ({cores} cores, {backend})");
    if let Some(addr) = https_bound {
        tracing::info!("listening on https://{addr}");
    }
    let panicked = set.join();
    if let Some((sink, writer)) = access {
        // The writer ends once the last core's log and this sink are gone;
        // a writer stuck on a full disk or pipe is not waited for long.
        drop(sink);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !writer.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    if let Some(engine) = engine {
        engine.stop(Duration::from_secs(2));
    }
    if let Some((path, keyspaces)) = snapshots {
        // A periodic snapshot still being written finishes first: both
        // write the same file, and the save at shutdown is the newer.
        let _quiet = snapshot_writer.as_ref().map(|w| w.quiesce());
        save_snapshot(&path, &keyspaces);
    }
    tracing::info!("shutdown complete");
    if panicked > 0 {
        return Err(format!("{panicked} core(s) panicked"));
    }
    Ok(())
}

/// Mesh ring slots between two cores' KV nodes.
const KV_RING: usize = 1024;
/// Mesh ring slots between the node API and a core (one question at a time).
const PROBE_RING: usize = 8;

/// Starts the access log's writer when `log.requests` is on (and, for
/// lines beside the log on standard output, `log.level` shows info).
fn start_access_log(cfg: &Config) -> Result<Option<(AccessSink, std::thread::JoinHandle<()>)>, String> {
    let log = &cfg.log;
    let beside_log = log.access_log.is_empty();
    let info_visible = matches!(log.level.as_str(), "info" | "debug" | "trace");
    if !log.requests || (beside_log && !info_visible) {
        return Ok(None);
    }
    let format = match (log.access_format.as_str(), log.format.as_str()) {
        ("json", _) | ("", "json") => AccessFormat::Json,
        _ => AccessFormat::Combined,
    };
    let path = (!log.access_log.is_empty()).then(|| PathBuf::from(&log.access_log));
    AccessSink::start(path.as_deref(), format)
        .map(Some)
        .map_err(|e| format!("log.access_log: cannot open {}: {e}", log.access_log))
}

/// The node API's service over everything it reports.
#[allow(clippy::too_many_arguments)]
fn node_api_service(
    cfg: &Config,
    hub: Endpoint<Probe>,
    cores: usize,
    db: Option<ephpm_db::DbMonitor>,
    access: &Option<(AccessSink, std::thread::JoinHandle<()>)>,
    shutdown: &Arc<Shutdown>,
    backend: ephpm_rt::Backend,
) -> node_api::routes::NodeApi {
    node_api::routes::NodeApi {
        sources: node_api::scrape::Sources {
            hub: node_api::probe::Hub::new(hub, cores),
            db,
            access_dropped: access.as_ref().map(|(sink, _)| sink.dropped_counter()),
        },
        token: (!cfg.node_api.token.is_empty()).then(|| cfg.node_api.token.as_bytes().to_vec()),
        config_json: crate::config::redacted_json(cfg),
        info: node_api::openmetrics::BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            php: ephpm_sapi::php_version().unwrap_or_default(),
            backend: backend.to_string(),
        },
        shutdown: Arc::clone(shutdown),
        slow_threshold_ms: cfg.db.slow_query_threshold.0.as_secs_f64() * 1e3,
        db_max_clients: cfg.db.max_clients,
        started: Instant::now(),
        workers: None,
    }
}

/// Binds the RESP listener (one socket per core) when `kv.redis.listen` is
/// set, and says where.
fn bind_resp(cfg: &Config, cores: usize) -> Result<Option<std::vec::IntoIter<StdListener>>, String> {
    let listen = &cfg.kv.redis.listen;
    if listen.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = listen.parse().map_err(|e| format!("kv.redis.listen: {e}"))?;
    let listeners =
        ephpm_rt::listener::bind_reuseport(addr, cores, BACKLOG).map_err(|e| format!("kv.redis.listen {addr}: {e}"))?;
    let bound = listeners[0].local_addr().map_err(|e| e.to_string())?;
    tracing::info!("kv: RESP listening on redis://{bound}");
    Ok(Some(listeners.into_iter()))
}

/// Binds a listener at `addr`. When the address is the default (not
/// configured), a taken port is a warning and `what` is off; configured,
/// it stops the start, naming `key`.
pub(crate) fn bind_or_warn<T>(
    key: &str,
    what: &str,
    addr: SocketAddr,
    explicit: bool,
    bind: impl FnOnce() -> std::io::Result<T>,
) -> Result<Option<T>, String> {
    match bind() {
        Ok(l) => Ok(Some(l)),
        Err(e) if !explicit => {
            tracing::warn!("cannot listen on {addr} ({e}); {what} is off (set {key} to choose another address)");
            Ok(None)
        }
        Err(e) => Err(format!("{key} {addr}: {e}")),
    }
}

/// Each core's keyspace, holding its share of `kv.memory_limit`.
fn keyspaces(cfg: &Config, cores: usize) -> Vec<SharedKeyspace> {
    let limit = (cfg.kv.memory_limit.0 / cores.max(1) as u64) as usize;
    let policy: Eviction = cfg.kv.eviction.parse().unwrap_or_default();
    let compress = cfg.kv.compression_threshold.0 as usize;
    (0..cores)
        .map(|_| ephpm_kv::shard::shared(Keyspace::with_limit(limit, policy).with_compression(compress)))
        .collect()
}

/// With `kv.snapshot.path` set: loads the snapshot into the keyspaces
/// before any core runs (a damaged one is moved aside and the store
/// starts empty, which is logged). Core 0 then saves every
/// `kv.snapshot.interval` (see `run_shard`); the final save at shutdown
/// reads the keyspaces once the cores have stopped.
fn restore_snapshot(cfg: &Config, keyspaces: &[SharedKeyspace]) -> Option<(PathBuf, Vec<SharedKeyspace>)> {
    let path = cfg.kv.snapshot.path.clone()?;
    match ephpm_kv::snapshot::restore(&path, keyspaces) {
        Ok(what) => tracing::info!("kv: {what}"),
        Err(why) => tracing::error!("kv: {why}"),
    }
    Some((path, keyspaces.to_vec()))
}

/// The save at shutdown, once no core serves the keyspaces any more.
fn save_snapshot(path: &std::path::Path, keyspaces: &[SharedKeyspace]) {
    let started = Instant::now();
    match ephpm_kv::snapshot::write(path, keyspaces) {
        Ok(n) => tracing::info!("kv: saved {n} keys to {} in {:?}", path.display(), started.elapsed()),
        Err(e) => tracing::error!("kv: cannot save the snapshot to {}: {e}", path.display()),
    }
}

/// A core's PHP threads' ends and its inbox for every PHP thread's
/// requests on its KV keys.
type PhpCore = (Vec<CoreEnd>, KvInbox);

/// Starts the PHP engine and each core's PHP threads (pinned to the core's
/// CPU), each with a KV client of its core. Without a PHP engine in this
/// build, PHP scripts get 503.
fn start_php(
    cfg: &Config,
    cores: usize,
    keyspaces: &[SharedKeyspace],
    worker: Option<WorkerSpec>,
) -> Result<(Option<Engine>, std::vec::IntoIter<PhpCore>), String> {
    if !ephpm_sapi::available() {
        tracing::warn!("this build has no PHP engine: PHP scripts will get 503 (run tools/build-php.sh and rebuild)");
        return Ok((None, Vec::new().into_iter()));
    }
    let ini = cfg.php.ini_pairs()?;
    let worker_script = worker.as_ref().map(|w| w.script.display().to_string());
    let mut engine = Engine::start(&ini, worker).map_err(|e| format!("PHP: {e}"))?;
    let cpus = ephpm_rt::executor::planned_cpus(cores, cfg.server.pin_threads);
    let mut ends = Vec::with_capacity(cores);
    let (clients, inboxes) = ephpm_kv::client::links(&keyspaces[..cores], cfg.php.threads_per_core);
    for (core, ((cpu, clients), inbox)) in cpus.into_iter().zip(clients).zip(inboxes).enumerate() {
        let threads = engine.spawn_threads(core, clients, cpu).map_err(|e| format!("PHP: {e}"))?;
        ends.push((threads, inbox));
    }
    let mode = match &worker_script {
        Some(script) => format!("worker mode: {script}"),
        None => "classic mode".to_string(),
    };
    tracing::info!(
        threads_per_core = cfg.php.threads_per_core,
        "PHP {} ready ({mode})",
        ephpm_sapi::php_version().unwrap_or_default()
    );
    Ok((Some(engine), ends.into_iter()))
}

/// `php.worker.script` as configured, the document root as configured and
/// the script's path from it; symlinks stay unresolved (each boot resolves
/// them again). `None` in classic mode.
fn worker_script(cfg: &Config, root: &std::path::Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let script = cfg.php.worker.script.clone()?;
    let configured_root = cfg.server.document_root.clone().unwrap_or_else(|| root.to_path_buf());
    let path = if script.is_absolute() { script.clone() } else { configured_root.join(&script) };
    Some((script, configured_root, path))
}

/// `[php.worker]` as the PHP threads need it, when a script is set; the
/// script must exist now (a later restart that cannot find it backs off).
fn worker_spec(cfg: &Config, root: &std::path::Path, env: &[(Vec<u8>, Vec<u8>)]) -> Result<Option<WorkerSpec>, String> {
    let w = &cfg.php.worker;
    let Some((script, configured_root, path)) = worker_script(cfg, root) else { return Ok(None) };
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(format!("php.worker.script: {} is not a file", path.display())),
        Err(e) => return Err(format!("php.worker.script: cannot open {}: {e}", path.display())),
    }
    Ok(Some(WorkerSpec {
        script,
        root: configured_root,
        max_requests: w.max_requests,
        max_memory: w.max_memory.map_or(0, |m| m.0),
        boot_timeout: w.boot_timeout.0,
        frankenphp_compat: w.frankenphp_compat,
        env: env.to_vec(),
    }))
}

/// In worker mode with the default fallback missing (no `/index.php`), the
/// worker script inside the document root takes its place, so that pretty
/// URLs reach the worker as they would reach index.php.
fn worker_fallback(cfg: &Config, root: &std::path::Path) -> Option<String> {
    let (_, _, path) = worker_script(cfg, root)?;
    if cfg.server.fallback != crate::config::ServerConfig::default().fallback || root.join("index.php").is_file() {
        return None;
    }
    let rel = std::fs::canonicalize(path).ok()?.strip_prefix(root).ok()?.to_str()?.to_string();
    Some(format!("/{rel}"))
}

fn apply_flags(cfg: &mut Config, args: &Serve) -> Result<(), String> {
    let s = &mut cfg.server;
    if let Some(r) = &args.root {
        s.document_root = Some(r.clone());
    }
    if let Some(l) = &args.listen {
        s.listen = l.clone();
    }
    if let Some(c) = &args.cores {
        s.cores = Cores::parse(c).map_err(|e| format!("--cores: {e}"))?;
    }
    if let Some(io) = &args.io {
        s.io = io.clone();
    }
    Ok(())
}

/// The configured root; else `./public`; else the example app in the repo.
fn document_root(cfg: &Config) -> Result<(PathBuf, &'static str), String> {
    let (path, note) = match &cfg.server.document_root {
        Some(p) => (p.clone(), "server.document_root"),
        None if PathBuf::from("public").is_dir() => {
            (PathBuf::from("public"), "./public, as no document root was configured")
        }
        None => (
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/example/public")),
            "the example app, as no document root was configured and ./public does not exist",
        ),
    };
    let root = std::fs::canonicalize(&path).map_err(|e| match &cfg.server.document_root {
        Some(_) => format!("server.document_root: cannot open {}: {e}", path.display()),
        None => format!(
            "no document root: ./public does not exist and the example app is not at {} ({e}); \
             pass --root DIR or set server.document_root",
            path.display()
        ),
    })?;
    if !root.is_dir() {
        return Err(format!("server.document_root: {} is not a directory", root.display()));
    }
    Ok((root, note))
}

fn plan(cfg: &Config, root: PathBuf, shutdown: Arc<Shutdown>) -> ShardPlan {
    let s = &cfg.server;
    let cc = &s.statics.cache_control;
    ShardPlan {
        router: RouterConfig {
            root,
            index: s.index.clone(),
            fallback: (!s.fallback.is_empty()).then(|| s.fallback.clone()),
            deny: s.deny.clone(),
            allow_symlinks_outside_root: s.statics.allow_symlinks_outside_root,
            cache_ttl: s.statics.file_cache_ttl.0,
            cache_max_file: s.statics.file_cache_max_file.0,
            cache_size: s.statics.file_cache_size.0,
        },
        statics: StaticConfig {
            cache_control: (!cc.is_empty()).then(|| Bytes::from(cc.clone())),
            compress: s.statics.compress,
            precompressed: s.statics.precompressed,
        },
        hello_route: s.hello_route.clone(),
        limits: Limits {
            max_head_size: s.max_header_size.0 as usize,
            max_headers: s.max_headers,
            max_body_size: s.max_body_size.0,
            header_timeout: s.timeouts.header.0,
            keep_alive_timeout: s.timeouts.keep_alive.0,
            request_timeout: s.timeouts.request.0,
        },
        max_connections: s.max_connections,
        grace: s.timeouts.shutdown_grace.0,
        php_max_wait: cfg.php.max_wait.0,
        php_request_timeout: cfg.php.request_timeout.0,
        redis: cfg.kv.redis.clone(),
        snapshot: None,
        cache: None,
        https: None,
        resp_tls: None,
        mysql_tls: None,
        http2: cfg.server.http2.settings(),
        db: None,
        db_max_clients: cfg.db.max_clients,
        php_env: Vec::new(),
        metrics: cfg.metrics.enabled,
        shutdown,
    }
}

/// First SIGTERM/SIGINT starts a graceful shutdown; a second one exits now.
/// SIGHUP reloads the TLS certificates.
fn spawn_signal_thread(
    shutdown: Arc<Shutdown>,
    certs: Option<Arc<ephpm_tls::CertStore>>,
    workers: Option<Arc<WorkerControl>>,
) -> Result<(), String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR2])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("ephpm-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    match &certs {
                        Some(store) => store.reload_logged("SIGHUP"),
                        None => tracing::info!("SIGHUP: no TLS certificates to reload"),
                    }
                    continue;
                }
                if sig == SIGUSR2 {
                    match &workers {
                        Some(w) if !w.restart(ephpm_sapi::Reason::Reload) => {
                            tracing::info!("SIGUSR2: a rolling restart of the PHP workers is already going on")
                        }
                        Some(_) => {}
                        None => tracing::info!("SIGUSR2: no PHP workers to restart (php.worker.script is unset)"),
                    }
                    continue;
                }
                if shutdown.is_triggered() {
                    eprintln!("ephpm: second signal {sig}, exiting now");
                    std::process::exit(1);
                }
                tracing::info!(signal = sig, "shutting down: no new connections, finishing requests in flight");
                shutdown.trigger();
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}
