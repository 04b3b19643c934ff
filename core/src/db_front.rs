//! Starting the MySQL-compatible database front: the embedded SQLite
//! database or, when `db.mysql.url` is set, the proxy to MySQL/MariaDB;
//! its listener, users, per-core proxy settings and the variables PHP
//! gets to find it.

use std::net::{SocketAddr, TcpListener as StdListener};

use ephpm_db::{Database, DbConfig};
use ephpm_mysql as mysql;
use ephpm_mysql::backend::BackendConfig;
use ephpm_mysql::backend_pool::PoolConfig;
use ephpm_mysql::proxy::{ProxySettings, SplitConfig};
use ephpm_rt::listener;

use crate::boot::bind_or_warn;
use crate::config::{resolve_url, Config};

/// Binds the MySQL listener (one socket per core) of the proxy, when
/// `db.mysql.url` is set, else of the embedded database. With the listen
/// key unset, a taken default port is a warning: a MySQL server may
/// already run there.
pub fn bind(
    cfg: &Config,
    cores: usize,
    backlog: i32,
) -> Result<Option<(std::vec::IntoIter<StdListener>, SocketAddr)>, String> {
    let proxy = cfg.db.mysql.enabled();
    let (address, key, what) = if proxy {
        (cfg.db.mysql.address()?, "db.mysql.listen", "the database proxy")
    } else {
        (cfg.db.sqlite.address()?, "db.sqlite.listen", "the embedded database")
    };
    let Some((addr, explicit)) = address else { return Ok(None) };
    let bind = || listener::bind_reuseport(addr, cores, backlog);
    let Some(listeners) = bind_or_warn(key, what, addr, explicit, bind)? else {
        return Ok(None);
    };
    let bound = listeners[0].local_addr().map_err(|e| e.to_string())?;
    if proxy {
        let primary = crate::config::redacted_url(&cfg.db.mysql.url);
        tracing::info!("db: MySQL listening on mysql://{bound} (proxy to {primary})");
    } else {
        tracing::info!("db: MySQL listening on mysql://{bound} (SQLite {})", cfg.db.sqlite.path.display());
    }
    Ok(Some((listeners.into_iter(), bound)))
}

/// The proxy's pools and routing for every core: URLs resolved, and
/// `db.mysql.min/max_connections` (totals) divided among the cores.
pub fn proxy_settings(cfg: &Config, cores: usize) -> Result<ProxySettings, String> {
    let m = &cfg.db.mysql;
    let cores = cores.max(1);
    let max = (m.max_connections / cores).max(1);
    let pool = |key: &str, url: &str| -> Result<PoolConfig, String> {
        let t = resolve_url(key, url)?;
        Ok(PoolConfig {
            backend: BackendConfig {
                addr: t.addr,
                user: t.user,
                password: t.password,
                database: t.database,
                connect_timeout: m.connect_timeout.0,
            },
            min: m.min_connections.div_ceil(cores).min(max),
            max,
            idle_timeout: m.idle_timeout.0,
            max_lifetime: m.max_lifetime.0,
            health_check_interval: m.health_check_interval.0,
            acquire_timeout: m.acquire_timeout.0,
        })
    };
    let primary = pool("db.mysql.url", &m.url)?;
    let replicas = m
        .replicas
        .iter()
        .enumerate()
        .map(|(i, url)| pool(&format!("db.mysql.replicas[{i}]"), url))
        .collect::<Result<Vec<_>, _>>()?;
    let split = &cfg.db.read_write_split;
    Ok(ProxySettings {
        primary,
        replicas,
        split: SplitConfig {
            enabled: split.enabled,
            lag_aware: split.strategy == "lag-aware",
            sticky: split.sticky_duration.0,
            max_lag: split.max_replica_lag.0,
        },
        users: users(cfg),
        max_clients: cfg.db.max_clients,
        slow_threshold: cfg.db.slow_query_threshold.0,
        health_check_interval: m.health_check_interval.0,
        auto_explain: m.auto_explain,
    })
}

/// `db.users`; with a caching_sha2_password user, the RSA key for its full
/// authentication starts generating now.
pub fn users(cfg: &Config) -> Vec<mysql::User> {
    let users: Vec<mysql::User> = cfg
        .db
        .users
        .iter()
        .map(|u| mysql::User {
            name: u.name.clone(),
            password: u.password.clone(),
            caching_sha2: u.plugin == "caching_sha2_password",
        })
        .collect();
    if users.iter().any(|u| u.caching_sha2) {
        mysql::server_key::warm_up();
    }
    users
}

/// `db.inject_env`: the variables Laravel and friends read to find their
/// database, pointing at ephpm's MySQL listener.
/// `database` is the name clients see: the embedded one's, or the one in
/// the proxy's URL.
pub fn php_env(cfg: &Config, addr: SocketAddr, database: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    let (user, password) = cfg.db.users.first().map(|u| (u.name.as_str(), u.password.as_str())).unwrap_or(("root", ""));
    let db = database;
    let port = addr.port().to_string();
    let url_host = if addr.is_ipv6() && !addr.ip().is_unspecified() { format!("[{host}]") } else { host.clone() };
    let url = format!("mysql://{}:{}@{url_host}:{port}/{}", url_encode(user), url_encode(password), url_encode(db));
    [
        ("DB_CONNECTION", "mysql"),
        ("DB_HOST", host.as_str()),
        ("DB_PORT", port.as_str()),
        ("DB_DATABASE", db),
        ("DB_USERNAME", user),
        ("DB_PASSWORD", password),
        ("DATABASE_URL", url.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect()
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Opens the embedded database.
pub fn open(cfg: &Config) -> Result<Database, String> {
    Database::open(DbConfig {
        path: cfg.db.sqlite.path.clone(),
        name: cfg.db.sqlite.database.clone(),
        lock_wait_timeout: cfg.db.lock_wait_timeout.0,
        slow_query_threshold: cfg.db.slow_query_threshold.0,
    })
    .map_err(|e| format!("db.sqlite.path: {e}"))
}
