//! The per-core RESP accept loop (one SO_REUSEPORT socket per core, like
//! HTTP), with a per-core client limit, plain or over TLS (`rediss://`).

use std::net::TcpListener as StdListener;
use std::rc::Rc;

use ephpm_rt::accept;
use ephpm_tls::TlsAcceptor;

use super::conn::{self, RespContext};

/// Accepts RESP clients until the core shuts down; with `tls`, each one
/// after its TLS handshake.
pub async fn accept_loop(
    listener: StdListener,
    ctx: Rc<RespContext>,
    tls: Option<Rc<TlsAcceptor>>,
) -> std::io::Result<()> {
    let stop = ctx.stop.clone();
    let limit = Rc::clone(&ctx.clients);
    accept::accept_loop(listener, stop, limit, move |stream, peer| {
        let ctx = Rc::clone(&ctx);
        let tls = tls.clone();
        async move {
            let Some(tls) = tls else {
                return conn::serve(stream, ctx).await;
            };
            match tls.accept(stream).await {
                Ok(stream) => conn::serve(stream, ctx).await,
                Err(why) => tracing::debug!(%peer, "resp: tls: {why}"),
            }
        }
    })
    .await
}
