//! `[server.tls]` at start-up: the certificates (loaded, watched, reloaded
//! on SIGHUP), the rustls settings every core clones, and one HTTPS socket
//! per core.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;

use ephpm_tls::{CertStore, MinVersion, ServerConfig, TlsSettings};

use crate::config::Config;

/// What every core's HTTPS listener is built from.
pub(crate) struct HttpsPlan {
    /// The shared settings; each core serves from its own clone.
    pub(crate) config: ServerConfig,
    /// `Strict-Transport-Security: ...\r\n`, or empty.
    pub(crate) extra_head: Vec<u8>,
    /// The HTTPS port, for the plain listener's redirect (`None`: no
    /// redirect).
    pub(crate) redirect_port: Option<u16>,
    /// The ACME challenge answers the plain listener serves (HTTP-01),
    /// when certificates come from ACME.
    pub(crate) acme: Option<Arc<ephpm_tls::Challenges>>,
}

/// HTTPS, started: the plan, one socket per core, the certificates and
/// the bound address.
pub(crate) struct Https {
    pub(crate) plan: HttpsPlan,
    /// TLS for the RESP listener (`kv.redis.tls`): no ALPN.
    pub(crate) resp: Option<Arc<ServerConfig>>,
    /// TLS for the node API (`node_api.tls`): HTTP/1.1 only.
    pub(crate) node_api: Option<Arc<ServerConfig>>,
    /// TLS for the MySQL front (`db.sqlite.tls` or `db.mysql.tls`, as
    /// the front that runs): no ALPN.
    pub(crate) mysql: Option<Arc<ServerConfig>>,
    pub(crate) listeners: Vec<StdListener>,
    pub(crate) store: Arc<CertStore>,
    pub(crate) bound: SocketAddr,
}

/// Loads the certificates and binds the HTTPS listener when
/// `server.tls.listen` is set. Errors name the key and the file.
pub(crate) fn start(cfg: &Config, cores: usize, backlog: i32) -> Result<Option<Https>, String> {
    let t = &cfg.server.tls;
    if !t.enabled() {
        return Ok(None);
    }
    // Bound first: the ACME thread may have the CA validate at once, and
    // the socket's backlog holds its connections until the cores accept.
    let addr: SocketAddr = t.listen.parse().map_err(|e| format!("server.tls.listen: {e}"))?;
    let listeners = ephpm_rt::listener::bind_reuseport(addr, cores, backlog)
        .map_err(|e| format!("server.tls.listen {addr}: {e}"))?;
    let bound = listeners[0].local_addr().map_err(|e| e.to_string())?;
    let store = if t.acme.enabled() { ephpm_acme::start(t.acme.settings()?)? } else { CertStore::load(t.sources())? };
    let min_version: MinVersion = t.min_version.parse().map_err(|e| format!("server.tls.min_version: {e}"))?;
    let mut alpn = vec![ephpm_tls::settings::ALPN_HTTP11.to_vec()];
    if cfg.server.http2.enabled {
        // h2 preferred (RFC 9113 section 3.2; clients list it first too).
        alpn.insert(0, ephpm_tls::settings::ALPN_H2.to_vec());
    }
    if t.acme.enabled() {
        // Offered only to clients that ask for nothing else: the CA's
        // TLS-ALPN-01 validation (RFC 8737).
        alpn.push(ephpm_tls::ALPN_ACME_TLS.to_vec());
    }
    let settings = TlsSettings { min_version, alpn };
    let ticketer = ephpm_tls::shared_ticketer()?;
    let config = ephpm_tls::server_config(Arc::clone(&store), Arc::clone(&ticketer), &settings)?;
    // The other listeners share the certificates and ticket keys.
    let side = |on: bool, alpn: Vec<Vec<u8>>| -> Result<Option<Arc<ServerConfig>>, String> {
        if !on {
            return Ok(None);
        }
        let s = TlsSettings { min_version, alpn };
        Ok(Some(Arc::new(ephpm_tls::server_config(Arc::clone(&store), Arc::clone(&ticketer), &s)?)))
    };
    let resp = side(cfg.kv.redis.tls, Vec::new())?;
    let node_api = side(cfg.node_api.tls, vec![ephpm_tls::settings::ALPN_HTTP11.to_vec()])?;
    let db_tls = if cfg.db.mysql.enabled() { cfg.db.mysql.tls } else { cfg.db.sqlite.tls };
    let mysql = side(db_tls, Vec::new())?;
    store.watch().map_err(|e| format!("tls: cannot start the certificate watcher: {e}"))?;
    let extra_head = match &t.hsts {
        Some(v) => format!("Strict-Transport-Security: {v}\r\n").into_bytes(),
        None => Vec::new(),
    };
    let redirect_port = t.redirect.then_some(bound.port());
    let acme = t.acme.enabled().then(|| Arc::clone(store.challenges()));
    Ok(Some(Https {
        plan: HttpsPlan { config, extra_head, redirect_port, acme },
        resp,
        node_api,
        mysql,
        listeners,
        store,
        bound,
    }))
}
