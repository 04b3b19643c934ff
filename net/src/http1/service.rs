//! What the connection loop needs from the layers around it: a transport
//! below (the byte stream), a service above (what answers requests), and
//! its core's context.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;

use ephpm_shard::LocalSignal;
use monoio::io::{AsyncReadRent, AsyncWriteRent, CancelableAsyncReadRent};

use super::limits::Limits;
use super::parser::RequestHead;
use super::response::Response;

/// A byte stream a connection can run on: owned-buffer reads and writes,
/// cancellable reads, and a readiness wait that needs no buffer.
pub trait Transport: AsyncReadRent + AsyncWriteRent + CancelableAsyncReadRent {
    /// Resolves when the stream has bytes (or EOF) to read.
    fn readable(&self) -> impl Future<Output = io::Result<()>>;
}

impl Transport for monoio::net::TcpStream {
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        monoio::net::TcpStream::readable(self, false)
    }
}

/// A request as a service sees it.
pub struct Request<'a> {
    /// The parsed head.
    pub head: &'a RequestHead,
    /// The whole decoded body (bounded by `server.max_body_size`).
    pub body: &'a [u8],
    /// The client's address.
    pub peer: SocketAddr,
    /// The address the connection was accepted on.
    pub local: SocketAddr,
}

/// What answers requests on a core.
pub trait Service {
    /// Produces the response to `req`.
    fn call(&self, req: Request<'_>) -> impl Future<Output = Response>;
}

/// Per-core connection counters (read by the node API later).
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections open now.
    pub open: Cell<usize>,
    /// Connections accepted since start.
    pub accepted: Cell<u64>,
    /// Connections closed since start.
    pub closed: Cell<u64>,
    /// Requests answered since start.
    pub requests: Cell<u64>,
}

/// What a connection needs from its core.
pub struct ConnContext<'a> {
    /// Limits and timeouts.
    pub limits: &'a Limits,
    /// Fired when the core begins a graceful shutdown.
    pub stop: &'a LocalSignal,
    /// The core's counters.
    pub stats: &'a ConnStats,
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address.
    pub local: SocketAddr,
}
