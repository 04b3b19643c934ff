//! The node API: an HTTP endpoint for operators and their tools on
//! `node_api.listen` (127.0.0.1:9090 by default), served by ephpm's own
//! HTTP/1.1 stack on a thread of its own, so it answers even while a core
//! is stuck (and then reports that core as not responding).
//!
//! Endpoints: see [`routes`]. Figures come from [`scrape`]: each core is
//! asked over the mesh ([`probe`]), KV shards and the database's statistics
//! are read directly, the process's from `/proc`.

pub mod openmetrics;
pub mod probe;
pub mod process;
pub mod routes;
pub mod scrape;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::time::Duration;

use ephpm_http::http1::{HttpStats, Limits};
use ephpm_http::listener::{self, AcceptContext};
use ephpm_rt::{IoMode, LocalSignal};

use crate::config::Config;
use routes::NodeApi;

/// Binds `node_api.listen`. Unset, a taken default port is a warning (a
/// second ephpm on the machine, say); `""` turns the API off.
pub fn bind(cfg: &Config) -> Result<Option<(StdListener, SocketAddr)>, String> {
    let Some((addr, explicit)) = cfg.node_api.address()? else { return Ok(None) };
    let bind = || ephpm_rt::listener::bind_exclusive(addr, 128);
    let Some(listener) = crate::boot::bind_or_warn("node_api.listen", "the node API", addr, explicit, bind)? else {
        return Ok(None);
    };
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    Ok(Some((listener, bound)))
}

/// Limits of a node API connection: small requests, short timeouts.
fn limits() -> Limits {
    Limits {
        max_head_size: 16 << 10,
        max_headers: 64,
        // The only body taken: a cache purge's small JSON object.
        max_body_size: routes::MAX_PURGE_BODY as u64,
        header_timeout: Duration::from_secs(10),
        keep_alive_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(30),
    }
}

/// Serves `api` on `listener` from a thread of its own until the process
/// exits.
/// With `tls`, over HTTPS (`node_api.tls`).
pub fn spawn(
    listener: StdListener,
    api: NodeApi,
    io: IoMode,
    tls: Option<std::sync::Arc<ephpm_tls::ServerConfig>>,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name("ephpm-node-api".into())
        .spawn(move || {
            let served = ephpm_rt::runtime::run(
                io,
                |_| {},
                move |_| async move {
                    let ctx = AcceptContext {
                        limits: Rc::new(limits()),
                        stop: LocalSignal::new(),
                        stats: Rc::new(HttpStats::new(false)),
                        max_connections: 256,
                        access: None,
                        http2: None,
                    };
                    let tls = tls.map(|config| listener::TlsContext {
                        config,
                        stats: Rc::new(ephpm_tls::TlsStats::default()),
                        extra_head: Rc::from(&b""[..]),
                    });
                    listener::accept_loop(listener, Rc::new(api), ctx, tls).await
                },
            );
            match served {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) => tracing::error!("node API stopped: {e}"),
            }
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the node API thread: {e}"))
}
