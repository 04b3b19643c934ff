//! `ephpm.toml`: the configuration schema, its defaults, loading from a file
//! and `EPHPM_*` environment overrides, and validation.
//!
//! Every key has a default, so an empty file (or none) is a valid config.
//! The key names are a contract with users, tests and docs: extend them,
//! never rename them.

mod db_proxy;
mod env;
mod redact;
mod tls;
pub mod units;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use db_proxy::{redact as redacted_url, resolve_url, MysqlProxyConfig, ReadWriteSplitConfig};
pub use redact::{redacted_json, redacted_toml};
pub use tls::{Http2Config, TlsConfig};
pub use units::{ByteSize, Cores, Dur};

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: HTTP serving.
    pub server: ServerConfig,
    /// `[log]`: logging.
    pub log: LogConfig,
    /// `[php]`: the PHP threads and php.ini settings.
    pub php: PhpConfig,
    /// `[kv]`: the in-process KV store.
    pub kv: KvConfig,
    /// `[db]`: the MySQL-compatible database front.
    pub db: DbConfig,
    /// `[node_api]`: the operators' HTTP API (health, metrics, stats).
    pub node_api: NodeApiConfig,
    /// `[metrics]`: per-request instrumentation.
    pub metrics: MetricsConfig,
}

/// Where the node API listens when `node_api.listen` is not set.
pub const DEFAULT_NODE_API_LISTEN: &str = "127.0.0.1:9090";

/// `[node_api]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeApiConfig {
    /// Address of the node API; unset is 127.0.0.1:9090 (skipped with a
    /// warning when taken), `""` turns it off.
    pub listen: Option<String>,
    /// Bearer token every request must carry; required beyond loopback.
    pub token: String,
    /// Serve the node API over HTTPS, with `[server.tls]`'s certificates.
    pub tls: bool,
}

impl NodeApiConfig {
    /// Where to listen, and whether that was configured (not the
    /// default); `None` when off.
    pub fn address(&self) -> Result<Option<(std::net::SocketAddr, bool)>, String> {
        optional_listen("node_api.listen", self.listen.as_deref(), DEFAULT_NODE_API_LISTEN)
    }
}

/// An optional listener's address: `""` is off, unset is `default`.
/// Returns the address and whether it was configured (not the default).
pub fn optional_listen(
    key: &str,
    value: Option<&str>,
    default: &str,
) -> Result<Option<(std::net::SocketAddr, bool)>, String> {
    let (listen, explicit) = match value {
        Some("") => return Ok(None),
        Some(l) => (l, true),
        None => (default, false),
    };
    let addr = listen
        .parse()
        .map_err(|_| format!("{key}: `{listen}` is not an address like \"{default}\" (or \"\" for off)"))?;
    Ok(Some((addr, explicit)))
}

/// `[metrics]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Record per-request figures: counts by method and status, latency
    /// histograms, bytes, PHP queue and run times.
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true }
    }
}

/// `[db]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    /// Who may connect: name and password each.
    pub users: Vec<DbUser>,
    /// Most MySQL clients per core (error 1040 beyond).
    pub max_clients: usize,
    /// Statements slower than this go to the slow-query log.
    pub slow_query_threshold: Dur,
    /// How long a statement waits for another session's transaction
    /// before ER_LOCK_WAIT_TIMEOUT.
    pub lock_wait_timeout: Dur,
    /// Gives PHP DB_HOST, DB_PORT, DB_DATABASE, DB_USERNAME, DB_PASSWORD,
    /// DB_CONNECTION and DATABASE_URL pointing at this endpoint.
    pub inject_env: bool,
    /// `[db.sqlite]`: the embedded database.
    pub sqlite: SqliteConfig,
    /// `[db.mysql]`: the proxy to a MySQL/MariaDB server (replaces the
    /// embedded database when `url` is set).
    pub mysql: MysqlProxyConfig,
    /// `[db.read_write_split]`: the proxy's replica reads.
    pub read_write_split: ReadWriteSplitConfig,
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            users: vec![DbUser { name: "root".into(), password: String::new(), plugin: default_auth_plugin() }],
            max_clients: 10_000,
            slow_query_threshold: Dur(std::time::Duration::from_secs(1)),
            lock_wait_timeout: Dur(std::time::Duration::from_secs(50)),
            inject_env: false,
            sqlite: SqliteConfig::default(),
            mysql: MysqlProxyConfig::default(),
            read_write_split: ReadWriteSplitConfig::default(),
        }
    }
}

/// One entry of `db.users`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DbUser {
    /// The user name.
    pub name: String,
    /// The password (`""` for none).
    #[serde(default)]
    pub password: String,
    /// `mysql_native_password` (the default) or `caching_sha2_password`.
    #[serde(default = "default_auth_plugin")]
    pub plugin: String,
}

fn default_auth_plugin() -> String {
    "mysql_native_password".into()
}

/// `[db.sqlite]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// Whether the embedded database runs.
    pub enabled: bool,
    /// Address of its MySQL listener; `""` is off. Unset, it is
    /// `127.0.0.1:3306`, and a port already taken there is a warning
    /// instead of an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The SQLite file (created if missing).
    pub path: PathBuf,
    /// The database name clients see by default.
    pub database: String,
    /// Offer TLS to clients (the SSL capability), with `[server.tls]`'s
    /// certificates.
    pub tls: bool,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            enabled: true,
            listen: None,
            path: PathBuf::from("ephpm.sqlite"),
            database: "ephpm".into(),
            tls: false,
        }
    }
}

/// The MySQL listener address when `db.sqlite.listen` is unset.
pub const DEFAULT_DB_LISTEN: &str = "127.0.0.1:3306";

impl SqliteConfig {
    /// Where the embedded database listens, and whether that was
    /// configured; `None` when off.
    pub fn address(&self) -> Result<Option<(std::net::SocketAddr, bool)>, String> {
        if !self.enabled {
            return Ok(None);
        }
        optional_listen("db.sqlite.listen", self.listen.as_deref(), DEFAULT_DB_LISTEN)
    }
}

/// `[kv]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvConfig {
    /// Most memory the store may use, split evenly over the cores; `0` is
    /// no limit.
    pub memory_limit: ByteSize,
    /// What a write does over the limit: `noeviction`, `allkeys-lru`,
    /// `volatile-lru`, `allkeys-random` or `volatile-ttl`.
    pub eviction: String,
    /// Strings longer than this are stored zstd-compressed when that is
    /// smaller (invisible to clients); `0` turns compression off.
    pub compression_threshold: ByteSize,
    /// `[kv.redis]`: the RESP listener.
    pub redis: RedisConfig,
    /// `[kv.snapshot]`: persistence.
    pub snapshot: SnapshotConfig,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            memory_limit: ByteSize(0),
            eviction: "noeviction".into(),
            compression_threshold: ByteSize(16 << 10),
            redis: RedisConfig::default(),
            snapshot: SnapshotConfig::default(),
        }
    }
}

/// `[kv.snapshot]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// File the store is saved to and loaded from; unset: no persistence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// How often the store is saved (and always at graceful shutdown).
    pub interval: Dur,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig { path: None, interval: Dur(std::time::Duration::from_secs(60)) }
    }
}

/// `[kv.redis]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Address of the RESP listener, e.g. `127.0.0.1:6379`; `""` is off.
    pub listen: String,
    /// Password clients give with AUTH or HELLO; `""` for none.
    pub password: String,
    /// Most RESP clients per core (an error and close beyond).
    pub max_clients: usize,
    /// Most bytes of one unparsed command a client may send.
    pub max_query_buffer: ByteSize,
    /// Speak RESP over TLS only (`rediss://`), with `[server.tls]`'s
    /// certificates.
    pub tls: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            listen: String::new(),
            password: String::new(),
            max_clients: 10_000,
            max_query_buffer: ByteSize(1 << 30),
            tls: false,
        }
    }
}

/// `[php]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhpConfig {
    /// PHP threads each core owns (each runs one request at a time).
    pub threads_per_core: usize,
    /// Longest a request waits for a free PHP thread (503 beyond).
    pub max_wait: Dur,
    /// Longest a script may take to start its response (504 beyond, even
    /// while PHP is blocked in I/O); 0 turns it off.
    pub request_timeout: Dur,
    /// `[php.ini]`: ini settings, applied over any php.ini file.
    pub ini: std::collections::BTreeMap<String, toml::Value>,
    /// `[php.worker]`: worker mode, when `script` is set.
    pub worker: WorkerConfig,
}

impl Default for PhpConfig {
    fn default() -> Self {
        PhpConfig {
            threads_per_core: 4,
            max_wait: Dur(std::time::Duration::from_secs(10)),
            request_timeout: Dur(std::time::Duration::from_secs(30)),
            ini: Default::default(),
            worker: WorkerConfig::default(),
        }
    }
}

/// `[php.worker]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// The worker script, absolute or relative to the document root; unset
    /// means classic mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<PathBuf>,
    /// Requests a worker serves before it restarts (0: never).
    pub max_requests: u64,
    /// PHP memory after a request above which a worker restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<ByteSize>,
    /// Longest a worker may take to boot (until its first
    /// `ephpm_handle_request()`).
    pub boot_timeout: Dur,
    /// Globs of files whose change restarts the workers (development);
    /// relative ones are relative to the configuration file's directory.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<String>,
    /// Also offer FrankenPHP's worker functions and `$_SERVER` entry.
    pub frankenphp_compat: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            script: None,
            max_requests: 0,
            max_memory: None,
            boot_timeout: Dur(std::time::Duration::from_secs(30)),
            watch: Vec::new(),
            frankenphp_compat: true,
        }
    }
}

impl PhpConfig {
    /// The `[php.ini]` table as ini strings (booleans become 1/0).
    pub fn ini_pairs(&self) -> Result<Vec<(String, String)>, String> {
        self.ini
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => if *b { "1" } else { "0" }.to_string(),
                    _ => return Err(format!("php.ini.{k}: must be a string, number or boolean")),
                };
                if k.is_empty() || k.contains(['=', '\n', '\0', '"']) || value.contains(['\n', '\0']) {
                    return Err(format!("php.ini.{k}: keys and values must be single-line ini text"));
                }
                Ok((k.clone(), value))
            })
            .collect()
    }
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080` or `[::]:80`.
    pub listen: String,
    /// Directory served; unset means `./public` if present, else the example app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_root: Option<PathBuf>,
    /// Shard threads: `"auto"` (one per CPU) or a number.
    pub cores: Cores,
    /// I/O backend: `"auto"`, `"uring"` or `"epoll"`.
    pub io: String,
    /// Pin each shard thread to its own CPU.
    pub pin_threads: bool,
    /// Index files tried for a directory, in order.
    pub index: Vec<String>,
    /// Script served when no file matches (pretty URLs); `""` turns it off.
    pub fallback: String,
    /// Largest request body accepted (413 beyond).
    pub max_body_size: ByteSize,
    /// Largest request line plus headers (431 beyond).
    pub max_header_size: ByteSize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
    /// Most open connections per core (503 and close beyond).
    pub max_connections: usize,
    /// Glob patterns of URL paths never served, e.g. `"/vendor/*"`.
    pub deny: Vec<String>,
    /// A path answered with a tiny fixed body by the server itself (for
    /// benchmarks and health probes); unset means none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hello_route: Option<String>,
    /// `[server.timeouts]`.
    pub timeouts: TimeoutsConfig,
    /// `[server.static]`.
    #[serde(rename = "static")]
    pub statics: StaticConfig,
    /// `[server.cache]`: the page cache.
    pub cache: PageCacheConfig,
    /// `[server.tls]`: HTTPS.
    pub tls: TlsConfig,
    /// `[server.http2]`: HTTP/2.
    pub http2: Http2Config,
}

/// `[server.cache]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageCacheConfig {
    /// Store PHP responses and serve them again while fresh.
    pub enabled: bool,
    /// Memory per core for stored responses (least recently used go first).
    pub max_size: ByteSize,
    /// Largest response stored.
    pub max_entry_size: ByteSize,
    /// Lifetime of a storable response that names none (no max-age,
    /// s-maxage or Expires).
    pub default_ttl: Dur,
    /// How long such a response may then be served stale while one
    /// request refreshes it; `"0s"` never serves stale.
    pub stale_while_revalidate: Dur,
    /// Cookie names (globs): a request carrying one bypasses the cache.
    pub bypass_cookies: Vec<String>,
}

impl Default for PageCacheConfig {
    fn default() -> Self {
        use std::time::Duration as D;
        PageCacheConfig {
            enabled: false,
            max_size: ByteSize(64 << 20),
            max_entry_size: ByteSize(2 << 20),
            default_ttl: Dur(D::from_secs(60)),
            stale_while_revalidate: Dur(D::from_secs(30)),
            bypass_cookies: [
                "wordpress_logged_in_*",
                "wordpress_sec_*",
                "wp-postpass_*",
                "comment_author_*",
                "wordpress_no_cache",
                "woocommerce_items_in_cart",
                "PHPSESSID",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl PageCacheConfig {
    /// The cookie globs, compiled; the error names the key.
    pub fn cookie_globs(&self) -> Result<globset::GlobSet, String> {
        let mut set = globset::GlobSetBuilder::new();
        for g in &self.bypass_cookies {
            let glob = globset::Glob::new(g).map_err(|e| format!("server.cache.bypass_cookies: `{g}`: {e}"))?;
            set.add(glob);
        }
        set.build().map_err(|e| format!("server.cache.bypass_cookies: {e}"))
    }
}

/// `[server.timeouts]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsConfig {
    /// Time to receive a request's headers once it began (408 beyond).
    pub header: Dur,
    /// Time an idle keep-alive connection is kept.
    pub keep_alive: Dur,
    /// Time to receive a whole request and send its response.
    pub request: Dur,
    /// Time in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace: Dur,
}

/// `[server.static]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticConfig {
    /// Cache-Control sent with static files; `""` sends none.
    pub cache_control: String,
    /// Compress text-like files with zstd or gzip when the client accepts it.
    pub compress: bool,
    /// Serve `file.zst` / `file.gz` siblings when present.
    pub precompressed: bool,
    /// How long a core trusts what it learned about a file before checking
    /// the disk again; `"0s"` checks on every request.
    pub file_cache_ttl: Dur,
    /// Files up to this size are kept in memory (per core) once read.
    pub file_cache_max_file: ByteSize,
    /// Memory per core for cached file contents and compressed variants;
    /// beyond it files are served from disk.
    pub file_cache_size: ByteSize,
    /// Follow symlinks whose target lies outside the document root.
    pub allow_symlinks_outside_root: bool,
}

/// `[log]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
    /// The access log: one line per request.
    pub requests: bool,
    /// Where access-log lines go: a file path (appended to), or `""` for
    /// standard output beside the log.
    pub access_log: String,
    /// `combined` (Apache/nginx combined format) or `json`; `""` is json
    /// when `log.format` is json, combined otherwise.
    pub access_format: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            document_root: None,
            cores: Cores::Auto,
            io: "auto".into(),
            pin_threads: true,
            index: vec!["index.php".into(), "index.html".into()],
            fallback: "/index.php".into(),
            max_body_size: ByteSize(8 << 20),
            max_header_size: ByteSize(16 << 10),
            max_headers: 100,
            max_connections: 25_000,
            deny: Vec::new(),
            hello_route: None,
            timeouts: TimeoutsConfig::default(),
            statics: StaticConfig::default(),
            cache: PageCacheConfig::default(),
            tls: TlsConfig::default(),
            http2: Http2Config::default(),
        }
    }
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        use std::time::Duration as D;
        TimeoutsConfig {
            header: Dur(D::from_secs(10)),
            keep_alive: Dur(D::from_secs(75)),
            request: Dur(D::from_secs(60)),
            shutdown_grace: Dur(D::from_secs(30)),
        }
    }
}

impl Default for StaticConfig {
    fn default() -> Self {
        StaticConfig {
            cache_control: String::new(),
            compress: true,
            precompressed: true,
            file_cache_ttl: Dur(std::time::Duration::from_secs(1)),
            file_cache_max_file: ByteSize(1 << 20),
            file_cache_size: ByteSize(64 << 20),
            allow_symlinks_outside_root: false,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
            requests: true,
            access_log: String::new(),
            access_format: String::new(),
        }
    }
}

/// Where the config came from, for messages.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file.
    File(PathBuf),
    /// No file: defaults (plus environment).
    Defaults,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Defaults => f.write_str("<defaults>"),
        }
    }
}

impl Config {
    /// Loads `path` (or defaults when `None`), applies `EPHPM_*` overrides
    /// from `vars`, and validates. Errors name the file or variable and key.
    pub fn load(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, Source), String> {
        let (mut table, source) = match path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("cannot read config file {}: {e}", p.display()))?;
                let table: toml::Table =
                    toml::from_str(&text).map_err(|e| format!("config error in {}: {e}", p.display()))?;
                // Check the file alone first, from its text, so errors name
                // the file and show the line.
                let alone =
                    toml::from_str::<Config>(&text).map_err(|e| format!("config error in {}: {e}", p.display()))?;
                alone.validate().map_err(|e| format!("config error in {}: {e}", p.display()))?;
                (table, Source::File(p.to_path_buf()))
            }
            None => (toml::Table::new(), Source::Defaults),
        };
        let overridden = env::apply(&mut table, vars)?;
        // The file (or the defaults) passed on its own, so what fails now
        // comes from the environment.
        let from = if overridden.is_empty() { source.to_string() } else { overridden.join(", ") };
        let config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| format!("config error in {from}: {}", e.message()))?;
        config.validate().map_err(|e| format!("config error in {from}: {e}"))?;
        Ok((config, source))
    }

    /// Checks values serde cannot: addresses, modes, levels, limits.
    pub fn validate(&self) -> Result<(), String> {
        let s = &self.server;
        s.listen.parse::<std::net::SocketAddr>().map_err(|_| {
            format!("server.listen: `{}` is not an address like \"127.0.0.1:8080\" or \"[::]:80\"", s.listen)
        })?;
        s.io.parse::<ephpm_rt::IoMode>().map_err(|e| format!("server.io: {e}"))?;
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log.level.as_str()) {
            return Err(format!("log.level: `{}` is not one of error, warn, info, debug, trace", self.log.level));
        }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            return Err(format!("log.format: `{}` is not one of text, json", self.log.format));
        }
        if !["", "combined", "json"].contains(&self.log.access_format.as_str()) {
            return Err(format!("log.access_format: `{}` is not one of combined, json", self.log.access_format));
        }
        self.validate_node_api()?;
        self.validate_cache()?;
        s.tls.validate()?;
        s.http2.validate()?;
        self.validate_side_tls()?;
        if s.max_header_size.0 < 1024 {
            return Err("server.max_header_size: must be at least 1KiB".into());
        }
        if s.max_headers == 0 || s.max_headers > 10_000 {
            return Err("server.max_headers: must be between 1 and 10000".into());
        }
        if s.max_connections == 0 {
            return Err("server.max_connections: must be at least 1".into());
        }
        if !s.fallback.is_empty() && !s.fallback.starts_with('/') {
            return Err(format!("server.fallback: `{}` must start with `/`", s.fallback));
        }
        if let Some(h) = &s.hello_route {
            if !h.starts_with('/') {
                return Err(format!("server.hello_route: `{h}` must start with `/`"));
            }
        }
        for (key, d) in
            [("header", s.timeouts.header), ("keep_alive", s.timeouts.keep_alive), ("request", s.timeouts.request)]
        {
            if d.0.is_zero() {
                return Err(format!("server.timeouts.{key}: must be longer than 0s"));
            }
        }
        // Checked even while the embedded database is off.
        optional_listen("db.sqlite.listen", self.db.sqlite.listen.as_deref(), DEFAULT_DB_LISTEN)?;
        self.db.mysql.validate(&self.db.read_write_split)?;
        for u in &self.db.users {
            if u.name.is_empty() {
                return Err("db.users: every user needs a name".into());
            }
            if !["mysql_native_password", "caching_sha2_password"].contains(&u.plugin.as_str()) {
                return Err(format!(
                    "db.users: user `{}`: plugin `{}` is not mysql_native_password or caching_sha2_password",
                    u.name, u.plugin
                ));
            }
        }
        if self.db.sqlite.database.is_empty() {
            return Err("db.sqlite.database: must not be empty".into());
        }
        for name in &s.index {
            if name.is_empty() || name.contains('/') {
                return Err(format!("server.index: `{name}` must be a plain file name"));
            }
        }
        ephpm_http::router::compile_deny(&s.deny).map_err(|e| format!("server.deny: {e}"))?;
        if self.php.threads_per_core == 0 || self.php.threads_per_core > 256 {
            return Err("php.threads_per_core: must be between 1 and 256".into());
        }
        if self.php.max_wait.0.is_zero() {
            return Err("php.max_wait: must be longer than 0s".into());
        }
        self.php.ini_pairs()?;
        let w = &self.php.worker;
        if w.script.as_ref().is_some_and(|s| s.as_os_str().is_empty()) {
            return Err("php.worker.script: must name a PHP file (leave it out for classic mode)".into());
        }
        if w.boot_timeout.0 < std::time::Duration::from_secs(1) {
            return Err("php.worker.boot_timeout: must be at least 1s".into());
        }
        if w.max_memory.is_some_and(|m| m.0 < 1 << 20) {
            return Err("php.worker.max_memory: must be at least 1MiB".into());
        }
        for pat in &w.watch {
            globset::Glob::new(pat).map_err(|e| format!("php.worker.watch: invalid pattern `{pat}`: {e}"))?;
        }
        if !w.watch.is_empty() && w.script.is_none() {
            return Err("php.worker.watch: needs php.worker.script (it restarts workers)".into());
        }
        self.kv.eviction.parse::<ephpm_kv::Eviction>().map_err(|e| format!("kv.eviction: {e}"))?;
        if self.kv.snapshot.interval.0.is_zero() {
            return Err("kv.snapshot.interval: must be longer than 0s".into());
        }
        let r = &self.kv.redis;
        if !r.listen.is_empty() && r.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "kv.redis.listen: `{}` is not an address like \"127.0.0.1:6379\" (or \"\" for off)",
                r.listen
            ));
        }
        if r.max_clients == 0 {
            return Err("kv.redis.max_clients: must be at least 1".into());
        }
        if r.max_query_buffer.0 < 1024 {
            return Err("kv.redis.max_query_buffer: must be at least 1KiB".into());
        }
        Ok(())
    }

    /// A node API beyond loopback must have a token.
    fn validate_cache(&self) -> Result<(), String> {
        let c = &self.server.cache;
        c.cookie_globs()?;
        if c.enabled && c.max_size.0 < 64 << 10 {
            return Err("server.cache.max_size: must be at least 64KiB".into());
        }
        if c.max_entry_size.0 > c.max_size.0 {
            return Err(format!(
                "server.cache.max_entry_size: {} is larger than server.cache.max_size ({})",
                c.max_entry_size, c.max_size
            ));
        }
        Ok(())
    }

    /// TLS on the RESP listener, the node API and the MySQL front uses
    /// `[server.tls]`'s certificates.
    fn validate_side_tls(&self) -> Result<(), String> {
        let https = self.server.tls.enabled();
        let side = [
            ("kv.redis.tls", self.kv.redis.tls),
            ("node_api.tls", self.node_api.tls),
            ("db.sqlite.tls", self.db.sqlite.tls),
            ("db.mysql.tls", self.db.mysql.tls),
        ];
        for (key, on) in side {
            if on && !https {
                return Err(format!(
                    "{key}: TLS here uses the certificates of [server.tls]; set server.tls.listen and its \
                     certificates (or [server.tls.acme])"
                ));
            }
        }
        Ok(())
    }

    fn validate_node_api(&self) -> Result<(), String> {
        let Some((addr, _)) = self.node_api.address()? else { return Ok(()) };
        if self.node_api.token.is_empty() && !addr.ip().is_loopback() {
            return Err(format!(
                "node_api.token: required when node_api.listen ({addr}) is not a loopback address; \
                 set a token or listen on 127.0.0.1"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
