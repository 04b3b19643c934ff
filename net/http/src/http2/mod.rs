//! HTTP/2 (RFC 9113) on a core's connections, through the `h2` crate: h2
//! over TLS (ALPN) and h2c with prior knowledge on the plain listener.
//!
//! Each stream runs as its own task on the connection's core and calls the
//! same [`Service`] as HTTP/1.1, with a head rebuilt in HTTP/1.1 form
//! ([`head`]) and a body read from DATA frames ([`body`]); [`respond`]
//! sends the answer. [`io`] adapts the byte stream and watches for floods.

mod body;
mod head;
pub mod io;
mod respond;

use std::cell::Cell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::{select, Either};
use h2::server::SendResponse;
use h2::RecvStream;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::access_log::{AccessEntry, AccessLog};
use crate::http1::{HttpStats, Limits, Method, Request, RequestHead, Response, Service};
use ephpm_rt::LocalSignal;

pub use io::{FrameWatch, Prefixed, PREFACE};

/// `[server.http2]`: what the server announces in its SETTINGS.
#[derive(Clone, Debug)]
pub struct Http2Settings {
    /// Streams a client may have open at once.
    pub max_concurrent_streams: u32,
    /// Largest decoded header list a client may send.
    pub max_header_list_size: u32,
    /// Each stream's initial receive window.
    pub initial_stream_window: u32,
    /// The connection's receive window.
    pub initial_connection_window: u32,
}

impl Default for Http2Settings {
    fn default() -> Self {
        Http2Settings {
            max_concurrent_streams: 128,
            max_header_list_size: 16 << 10,
            initial_stream_window: 1 << 20,
            initial_connection_window: 4 << 20,
        }
    }
}

/// What one HTTP/2 connection's streams share.
pub struct H2Context {
    /// The settings announced.
    pub settings: Rc<Http2Settings>,
    /// Limits and timeouts, as for HTTP/1.1.
    pub limits: Rc<Limits>,
    /// Fired when the core begins a graceful shutdown.
    pub stop: LocalSignal,
    /// The core's counters.
    pub stats: Rc<HttpStats>,
    /// The core's access log, when on.
    pub access: Option<Rc<AccessLog>>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address.
    pub local: SocketAddr,
    /// Whether the connection is TLS.
    pub secure: bool,
    /// Header lines every response carries (HSTS), CRLF-ended.
    pub extra_head: Rc<[u8]>,
}

/// Serves HTTP/2 on `io` (which starts with the client preface) until the
/// client leaves, idles past the keep-alive timeout, misbehaves, or the
/// core shuts down (then with a GOAWAY that lets open streams finish).
pub async fn serve<IO, Svc>(io: IO, svc: Rc<Svc>, ctx: H2Context)
where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
    Svc: Service + 'static,
{
    let ctx = Rc::new(ctx);
    let stats = &ctx.stats;
    stats.h2_connections.set(stats.h2_connections.get() + 1);
    let verdict = Rc::new(Cell::new(None));
    let io = FrameWatch::new(io, Rc::clone(&verdict));
    let s = &ctx.settings;
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(s.max_concurrent_streams)
        .max_header_list_size(s.max_header_list_size)
        .initial_window_size(s.initial_stream_window)
        .initial_connection_window_size(s.initial_connection_window)
        .max_send_buffer_size(256 << 10);
    let mut conn = match monoio::time::timeout(ctx.limits.header_timeout, builder.handshake::<_, Bytes>(io)).await {
        Ok(Ok(conn)) => conn,
        _ => return,
    };
    // Streams whose handler still runs, reset or not: a client cannot
    // start more handlers than it may open streams.
    let running = Rc::new(Cell::new(0usize));
    let most = s.max_concurrent_streams as usize;
    let mut stopping = false;
    loop {
        if running.get() >= most {
            // At the limit: keep the connection moving (responses go out)
            // but take no new stream until a handler ends.
            let closed = pin!(poll_fn(|cx| conn.poll_closed(cx)));
            if let Either::Left(_) = select(closed, pin!(monoio::time::sleep(Duration::from_millis(5)))).await {
                break;
            }
            continue;
        }
        let idle = if running.get() == 0 { ctx.limits.keep_alive_timeout } else { Duration::from_secs(3600) };
        let next = {
            let accept = pin!(poll_fn(|cx| conn.poll_accept(cx)));
            let wait = async {
                if stopping {
                    std::future::pending::<()>().await;
                }
                let idle = pin!(monoio::time::sleep(idle));
                select(idle, pin!(ctx.stop.wait())).await;
            };
            match select(accept, pin!(wait)).await {
                Either::Left((next, _)) => Some(next),
                Either::Right(_) => None,
            }
        };
        match next {
            Some(Some(Ok((req, send)))) => {
                running.set(running.get() + 1);
                let (svc, ctx, running) = (Rc::clone(&svc), Rc::clone(&ctx), Rc::clone(&running));
                monoio::spawn(async move {
                    handle_stream(req, send, &*svc, &ctx).await;
                    running.set(running.get() - 1);
                });
            }
            // Idle too long, or the core stops: GOAWAY, then finish what
            // is open.
            None => {
                stopping = true;
                conn.graceful_shutdown();
            }
            Some(None) => break,
            Some(Some(Err(e))) => {
                // The watch's verdict, or the codec's own (it refuses too
                // many pending resets and endless header blocks).
                let flood = verdict.get().or((e.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM)).then_some("flood"));
                if let Some(flood) = flood {
                    stats.h2_abusive.set(stats.h2_abusive.get() + 1);
                    tracing::info!(peer = %ctx.peer, "http2: connection cut off: {flood} ({e})");
                } else {
                    tracing::debug!(peer = %ctx.peer, "http2: connection error: {e}");
                }
                return;
            }
        }
    }
    // Let streams still running send their responses.
    while running.get() > 0 {
        let closed = pin!(poll_fn(|cx| conn.poll_closed(cx)));
        if let Either::Left(_) = select(closed, pin!(monoio::time::sleep(Duration::from_millis(5)))).await {
            break;
        }
    }
}

/// Runs one stream: rebuild the head, call the service, send the answer,
/// count it and log it.
async fn handle_stream<Svc: Service>(
    req: http::Request<RecvStream>,
    mut send: SendResponse<Bytes>,
    svc: &Svc,
    ctx: &H2Context,
) {
    let start = Instant::now();
    let limits = &ctx.limits;
    let (parts, recv) = req.into_parts();
    let (mut raw, mut head) = (Vec::new(), RequestHead::default());
    let has_body = !recv.is_end_stream();
    let resp = match head::rebuild(&parts, has_body, limits, &mut raw, &mut head) {
        Err(e) => Response::error(e.status(), e.reason()),
        Ok(()) => {
            let declared = match head.framing {
                crate::http1::Framing::Length(n) => Some(n),
                _ => None,
            };
            let deadline = start + limits.request_timeout;
            let mut body = body::H2Body::new(recv, declared, limits.max_body_size, deadline);
            let resp = svc
                .call(Request { head: &head, body: &mut body, peer: ctx.peer, local: ctx.local, secure: ctx.secure })
                .await;
            match body.failure {
                Some((status, why)) => Response::error(status, why),
                None => resp,
            }
        }
    };
    let status = resp.status;
    let head_only = head.method() == Method::Head;
    let sent = respond::send(&mut send, resp, head_only, &ctx.extra_head, limits.request_timeout).await;
    let stats = &ctx.stats;
    let took = if stats.detailed() || ctx.access.is_some() { start.elapsed() } else { Duration::ZERO };
    stats.record(head.method(), status, took);
    stats.h2_requests.set(stats.h2_requests.get() + 1);
    if let Some(log) = &ctx.access {
        log.log(&AccessEntry {
            peer: ctx.peer.ip(),
            method: head.method_str(),
            target: head.target(),
            version: "HTTP/2.0",
            status,
            bytes: *sent.as_ref().unwrap_or(&0),
            referer: head.header("referer"),
            user_agent: head.header("user-agent"),
            micros: took.as_micros() as u64,
        });
    }
}
