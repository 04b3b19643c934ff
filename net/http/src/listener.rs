//! The HTTP side of a core's listener: each accepted connection runs the
//! HTTP/1.1 connection loop, under the core's connection limit (503 beyond
//! it). Sockets and the accept loop itself are `ephpm_rt`'s.

use std::io;
use std::net::SocketAddr;
use std::net::TcpListener as StdListener;
use std::rc::Rc;
use std::sync::Arc;

use ephpm_rt::accept::{self, Gate};
use ephpm_rt::LocalSignal;

use crate::access_log::AccessLog;
use ephpm_tls::compat::TlsCompat;
use ephpm_tls::settings::ALPN_H2;
use monoio_compat::StreamWrapper;

use crate::http1::conn::{over_capacity_response, serve_connection, Handoff};
use crate::http1::Limits;
use crate::http1::{ConnContext, HttpStats, Service};
use crate::http2::{self, H2Context, Http2Settings, Prefixed};

/// What one core's accept loop needs.
#[derive(Clone)]
pub struct AcceptContext {
    /// Limits and timeouts for each connection.
    pub limits: Rc<Limits>,
    /// Fired when the core begins a graceful shutdown.
    pub stop: LocalSignal,
    /// The core's counters.
    pub stats: Rc<HttpStats>,
    /// Most connections this core keeps open at once.
    pub max_connections: usize,
    /// The core's access log, when on.
    pub access: Option<Rc<AccessLog>>,
    /// HTTP/2's settings, when it is on (h2 by ALPN on TLS, h2c with prior
    /// knowledge on plain connections).
    pub http2: Option<Rc<Http2Settings>>,
}

/// The core's HTTP connection counters as the accept loop's gate.
struct HttpGate {
    stats: Rc<HttpStats>,
    max: usize,
}

impl Gate for HttpGate {
    fn enter(&self) -> bool {
        let s = &self.stats;
        s.accepted.set(s.accepted.get() + 1);
        if s.open.get() >= self.max {
            s.closed.set(s.closed.get() + 1);
            return false;
        }
        s.open.set(s.open.get() + 1);
        true
    }

    fn leave(&self) {
        let s = &self.stats;
        s.open.set(s.open.get() - 1);
        s.closed.set(s.closed.get() + 1);
    }

    fn refusal(&self) -> Vec<u8> {
        over_capacity_response().to_vec()
    }
}

/// TLS on a listener: the settings its handshakes use, the core's TLS
/// counters and what HTTPS responses add.
pub struct TlsContext {
    /// The core's own `Arc` of the shared server settings.
    pub config: Arc<ephpm_tls::ServerConfig>,
    /// The core's handshake counters.
    pub stats: Rc<ephpm_tls::TlsStats>,
    /// Header lines added to every HTTPS response (HSTS), CRLF-ended.
    pub extra_head: Rc<[u8]>,
}

/// Accepts connections on `listener` until `ctx.stop` fires; each
/// connection runs as its own task on this core. With `tls`, each
/// connection first completes a TLS handshake (within the header timeout).
pub async fn accept_loop<Svc: Service + 'static>(
    listener: StdListener,
    svc: Rc<Svc>,
    ctx: AcceptContext,
    tls: Option<TlsContext>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let gate = Rc::new(HttpGate { stats: Rc::clone(&ctx.stats), max: ctx.max_connections });
    let ctx = Rc::new(ctx);
    let tls = tls.map(Rc::new);
    let stop = ctx.stop.clone();
    accept::accept_loop(listener, stop, gate, move |stream, peer| {
        let svc = Rc::clone(&svc);
        let ctx = Rc::clone(&ctx);
        let tls = tls.clone();
        async move {
            let mut cctx = ConnContext {
                limits: &ctx.limits,
                stop: &ctx.stop,
                stats: &ctx.stats,
                access: ctx.access.as_deref(),
                peer,
                local,
                secure: false,
                extra_head: b"",
                h2c: ctx.http2.is_some(),
            };
            let Some(tls) = tls else {
                if let Handoff::Http2(stream, read) = serve_connection(stream, &*svc, cctx).await {
                    let io = Prefixed::new(read, StreamWrapper::new(stream));
                    http2::serve(io, svc, h2_context(&ctx, peer, local, None)).await;
                }
                return;
            };
            let limit = ctx.limits.header_timeout;
            let stream = match ephpm_tls::accept(stream, Arc::clone(&tls.config), limit, &tls.stats).await {
                Ok(stream) => stream,
                Err(why) => return tracing::debug!(%peer, "tls: {why}"),
            };
            // A TLS-ALPN-01 validation ends with the handshake (RFC 8737).
            if stream.alpn() == Some(ephpm_tls::ALPN_ACME_TLS) {
                return;
            }
            if ctx.http2.is_some() && stream.alpn() == Some(ALPN_H2) {
                let io = TlsCompat::new(stream);
                return http2::serve(io, svc, h2_context(&ctx, peer, local, Some(&tls))).await;
            }
            cctx.secure = true;
            cctx.extra_head = &tls.extra_head;
            cctx.h2c = false;
            serve_connection(stream, &*svc, cctx).await;
        }
    })
    .await
}

/// The context of an HTTP/2 connection (`tls`: how it came in over TLS).
fn h2_context(ctx: &AcceptContext, peer: SocketAddr, local: SocketAddr, tls: Option<&TlsContext>) -> H2Context {
    H2Context {
        settings: ctx.http2.clone().unwrap_or_default(),
        limits: Rc::clone(&ctx.limits),
        stop: ctx.stop.clone(),
        stats: Rc::clone(&ctx.stats),
        access: ctx.access.clone(),
        peer,
        local,
        secure: tls.is_some(),
        extra_head: tls.map_or_else(|| Rc::from(&b""[..]), |t| Rc::clone(&t.extra_head)),
    }
}
