//! The per-core RESP accept loop (one SO_REUSEPORT socket per core, like
//! HTTP), with a per-core client limit, plain or over TLS (`rediss://`).

use std::net::TcpListener as StdListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ephpm_tls::{ServerConfig, TlsStats};

use super::conn::{self, RespContext};
use ephpm_rt::accept;

/// TLS on the RESP listener: every client must open with a handshake.
pub struct RespTls {
    /// The rustls settings (the HTTPS listener's certificates, no ALPN).
    pub config: Arc<ServerConfig>,
    /// A handshake not finished within this is dropped.
    pub handshake_timeout: Duration,
    /// The core's handshake counters.
    pub stats: Rc<TlsStats>,
}

/// Accepts RESP clients until the core shuts down; with `tls`, each one
/// after its TLS handshake.
pub async fn accept_loop(listener: StdListener, ctx: Rc<RespContext>, tls: Option<RespTls>) -> std::io::Result<()> {
    let stop = ctx.stop.clone();
    let limit = Rc::clone(&ctx.clients);
    let tls = tls.map(Rc::new);
    accept::accept_loop(listener, stop, limit, move |stream, peer| {
        let ctx = Rc::clone(&ctx);
        let tls = tls.clone();
        async move {
            let Some(tls) = tls else {
                return conn::serve(stream, ctx).await;
            };
            match ephpm_tls::accept(stream, Arc::clone(&tls.config), tls.handshake_timeout, &tls.stats).await {
                Ok(stream) => conn::serve(stream, ctx).await,
                Err(why) => tracing::debug!(%peer, "resp: tls: {why}"),
            }
        }
    })
    .await
}
