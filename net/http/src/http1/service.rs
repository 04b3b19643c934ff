//! What the connection loop needs from the layers around it: a transport
//! below (the byte stream), a service above (what answers requests), and
//! its core's context.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;

use ephpm_rt::LocalSignal;

use super::limits::Limits;
use super::parser::RequestHead;
use super::response::Response;
use super::stats::HttpStats;
use crate::access_log::AccessLog;

pub use ephpm_tls::Transport;

/// The request body as a service reads it: decoded pieces as the client
/// sends them. What a service leaves unread the connection discards; if
/// the body breaks (timeout, bad framing, over `server.max_body_size`) the
/// reader just ends and the connection answers the error itself.
pub trait BodyRead {
    /// The next piece of the body; `None` at its end.
    fn next_piece(&mut self) -> Pin<Box<dyn Future<Output = Option<Bytes>> + '_>>;
    /// The length the client declared (Content-Length; 0 without a body),
    /// `None` for a chunked body.
    fn declared_len(&self) -> Option<u64>;
    /// Whether the body ended because it broke (client gone, timeout, bad
    /// framing, too large) rather than because it was complete.
    fn failed(&self) -> bool;
}

/// A request as a service sees it.
pub struct Request<'a> {
    /// The parsed head.
    pub head: &'a RequestHead,
    /// The body, read as it arrives.
    pub body: &'a mut dyn BodyRead,
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the connection was accepted on.
    pub local: SocketAddr,
    /// Whether the request came over TLS.
    pub secure: bool,
}

/// What answers requests on a core.
pub trait Service {
    /// Produces the response to `req`.
    fn call(&self, req: Request<'_>) -> impl Future<Output = Response>;
}

/// What a connection needs from its core.
pub struct ConnContext<'a> {
    /// Limits and timeouts.
    pub limits: &'a Limits,
    /// Fired when the core begins a graceful shutdown.
    pub stop: &'a LocalSignal,
    /// The core's counters.
    pub stats: &'a HttpStats,
    /// The core's access log, when on.
    pub access: Option<&'a AccessLog>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address.
    pub local: SocketAddr,
    /// Whether the connection is TLS.
    pub secure: bool,
    /// Header lines added to every response (`Strict-Transport-Security`
    /// on HTTPS), each ending in CRLF.
    pub extra_head: &'a [u8],
    /// A client opening with the HTTP/2 preface is handed back for HTTP/2
    /// (h2c with prior knowledge).
    pub h2c: bool,
}
