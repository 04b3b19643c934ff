//! `[db.mysql]` and `[db.read_write_split]`: the database proxy in front
//! of a MySQL or MariaDB primary and its replicas.

use std::net::{SocketAddr, ToSocketAddrs};

use serde::{Deserialize, Serialize};

use super::{optional_listen, Dur, DEFAULT_DB_LISTEN};

/// `[db.mysql]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MysqlProxyConfig {
    /// The primary, `mysql://user:password@host:port/database`; set, the
    /// proxy runs instead of the embedded database.
    pub url: String,
    /// Address of the proxy's MySQL listener; unset is 127.0.0.1:3306.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Connections per backend kept open even when idle (over all cores).
    pub min_connections: usize,
    /// Most connections per backend (over all cores).
    pub max_connections: usize,
    /// An idle connection beyond the minimum is closed after this.
    pub idle_timeout: Dur,
    /// A connection is closed once this old.
    pub max_lifetime: Dur,
    /// Idle connections are pinged, and replicas' lag read, this often.
    pub health_check_interval: Dur,
    /// Connecting to a backend must finish within this.
    pub connect_timeout: Dur,
    /// A statement waits this long for a free backend connection (1040).
    pub acquire_timeout: Dur,
    /// Replicas, as URLs like `url`.
    pub replicas: Vec<String>,
    /// EXPLAIN slow SELECTs (on a replica when one is in rotation) and
    /// keep the plan in the slow-query log.
    pub auto_explain: bool,
    /// Offer TLS to clients (the SSL capability), with `[server.tls]`'s
    /// certificates.
    pub tls: bool,
}

impl Default for MysqlProxyConfig {
    fn default() -> Self {
        let secs = |s| Dur(std::time::Duration::from_secs(s));
        MysqlProxyConfig {
            url: String::new(),
            listen: None,
            min_connections: 2,
            max_connections: 50,
            idle_timeout: secs(300),
            max_lifetime: secs(1800),
            health_check_interval: secs(5),
            connect_timeout: secs(5),
            acquire_timeout: secs(10),
            replicas: Vec::new(),
            auto_explain: false,
            tls: false,
        }
    }
}

/// `[db.read_write_split]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadWriteSplitConfig {
    /// Send plain SELECTs to the replicas.
    pub enabled: bool,
    /// `sticky-after-write` or `lag-aware`.
    pub strategy: String,
    /// After a write, that client's reads stay on the primary this long.
    pub sticky_duration: Dur,
    /// Under `lag-aware`, replicas further behind leave the rotation.
    pub max_replica_lag: Dur,
}

impl Default for ReadWriteSplitConfig {
    fn default() -> Self {
        ReadWriteSplitConfig {
            enabled: false,
            strategy: "sticky-after-write".into(),
            sticky_duration: Dur(std::time::Duration::from_secs(2)),
            max_replica_lag: Dur(std::time::Duration::from_millis(500)),
        }
    }
}

/// A backend server named by a `mysql://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlTarget {
    /// Its address (the host name resolved).
    pub addr: SocketAddr,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Database, if the URL names one.
    pub database: Option<String>,
}

impl MysqlProxyConfig {
    /// Whether the proxy runs.
    pub fn enabled(&self) -> bool {
        !self.url.is_empty()
    }

    /// Where the proxy listens and whether that was configured.
    pub fn address(&self) -> Result<Option<(SocketAddr, bool)>, String> {
        optional_listen("db.mysql.listen", self.listen.as_deref(), DEFAULT_DB_LISTEN)
    }

    /// Checks every key (host names are resolved at start, not here).
    pub fn validate(&self, split: &ReadWriteSplitConfig) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        parse_url("db.mysql.url", &self.url)?;
        for (i, r) in self.replicas.iter().enumerate() {
            parse_url(&format!("db.mysql.replicas[{i}]"), r)?;
        }
        self.address()?;
        if self.max_connections == 0 {
            return Err("db.mysql.max_connections: must be at least 1".into());
        }
        if self.min_connections > self.max_connections {
            return Err(format!(
                "db.mysql.min_connections: {} is more than db.mysql.max_connections ({})",
                self.min_connections, self.max_connections
            ));
        }
        for (key, d) in [
            ("idle_timeout", self.idle_timeout),
            ("max_lifetime", self.max_lifetime),
            ("health_check_interval", self.health_check_interval),
            ("connect_timeout", self.connect_timeout),
            ("acquire_timeout", self.acquire_timeout),
        ] {
            if d.0.is_zero() {
                return Err(format!("db.mysql.{key}: must be longer than 0s"));
            }
        }
        if !["sticky-after-write", "lag-aware"].contains(&split.strategy.as_str()) {
            return Err(format!(
                "db.read_write_split.strategy: `{}` is not sticky-after-write or lag-aware",
                split.strategy
            ));
        }
        if split.enabled && self.replicas.is_empty() {
            return Err("db.read_write_split.enabled: needs at least one db.mysql.replicas entry".into());
        }
        Ok(())
    }
}

/// Reads `mysql://user:password@host:port/database` (user, password and
/// database optional, port 3306 by default, `%XX` escapes decoded) and
/// resolves the host.
pub fn resolve_url(key: &str, url: &str) -> Result<MysqlTarget, String> {
    let (user, password, host, port, database) = parse_url(key, url)?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("{key}: cannot resolve `{host}`: {e}"))?
        .next()
        .ok_or_else(|| format!("{key}: `{host}` has no address"))?;
    Ok(MysqlTarget { addr, user, password, database })
}

type UrlParts = (String, String, String, u16, Option<String>);

fn parse_url(key: &str, url: &str) -> Result<UrlParts, String> {
    let bad = |why: &str| format!("{key}: `{}` {why} (expected mysql://user:password@host:3306/database)", redact(url));
    let rest = url.strip_prefix("mysql://").ok_or_else(|| bad("does not start with mysql://"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, hostport) = match authority.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, authority),
    };
    let (user, password) = match credentials {
        Some(c) => {
            let (u, p) = c.split_once(':').unwrap_or((c, ""));
            (decode(u).ok_or_else(|| bad("has a bad %-escape"))?, decode(p).ok_or_else(|| bad("has a bad %-escape"))?)
        }
        None => ("root".to_string(), String::new()),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| bad("has an unclosed [IPv6] host"))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad("has a bad port"))?,
        None => 3306,
    };
    let path = path.split('?').next().unwrap_or("");
    let database = if path.is_empty() { None } else { Some(decode(path).ok_or_else(|| bad("has a bad %-escape"))?) };
    Ok((user, password, host, port, database))
}

/// `%XX` escapes decoded; `None` if one is malformed.
fn decode(s: &str) -> Option<String> {
    ephpm_http::router::path::percent_decode(s).ok()
}

/// A URL with its password replaced, for error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((c, h)) => match c.split_once(':') {
            Some((u, _)) => format!("{u}:***@{h}"),
            None => format!("{c}@{h}"),
        },
        None => authority.to_string(),
    };
    match path {
        Some(p) => format!("{scheme}://{authority}/{p}"),
        None => format!("{scheme}://{authority}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mysql_urls() {
        let (u, p, h, port, db) = parse_url("k", "mysql://app:p%40ss@db.local:3307/shop").unwrap();
        assert_eq!(
            (u.as_str(), p.as_str(), h.as_str(), port, db.as_deref()),
            ("app", "p@ss", "db.local", 3307, Some("shop"))
        );
        let (u, p, h, port, db) = parse_url("k", "mysql://127.0.0.1").unwrap();
        assert_eq!((u.as_str(), p.as_str(), h.as_str(), port, db), ("root", "", "127.0.0.1", 3306, None));
        let (_, _, h, port, _) = parse_url("k", "mysql://u@[::1]:3310/").unwrap();
        assert_eq!((h.as_str(), port), ("::1", 3310));
        let e = parse_url("db.mysql.url", "postgres://u:secret@h/db").unwrap_err();
        assert!(e.starts_with("db.mysql.url:") && !e.contains("secret"), "{e}");
        assert!(parse_url("k", "mysql://u:p@h:notaport/db").is_err());
        assert!(parse_url("k", "mysql://u:p@/db").is_err());
        assert!(parse_url("k", "mysql://u:%zz@h/db").is_err());
        let t = resolve_url("k", "mysql://a:b@127.0.0.1:3399/x").unwrap();
        assert_eq!(t.addr, "127.0.0.1:3399".parse().unwrap());
    }

    #[test]
    fn validates_the_proxy_keys() {
        let split = ReadWriteSplitConfig::default();
        let mut c = MysqlProxyConfig { url: "mysql://u:p@127.0.0.1/db".into(), ..Default::default() };
        assert!(c.validate(&split).is_ok());
        c.min_connections = 60;
        assert!(c.validate(&split).unwrap_err().starts_with("db.mysql.min_connections"));
        c.min_connections = 1;
        let on = ReadWriteSplitConfig { enabled: true, ..Default::default() };
        assert!(c.validate(&on).unwrap_err().starts_with("db.read_write_split.enabled"));
        let odd = ReadWriteSplitConfig { strategy: "random".into(), ..Default::default() };
        assert!(c.validate(&odd).unwrap_err().contains("random"));
    }
}
