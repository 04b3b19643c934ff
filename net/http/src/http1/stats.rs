//! A core's HTTP counters and request-latency histogram. Only the core
//! writes them (plain cells, no atomics, no locks); the node API gets a
//! [`HttpSnapshot`] by asking the core over the mesh.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use ephpm_rt::latency::Latency;

use super::parser::Method;

/// Method labels, in [`Method`]'s order, with the rare ones as `other`.
pub const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "other"];
/// Status-class labels.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One core's HTTP figures.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Connections open now.
    pub open: Cell<usize>,
    /// Connections accepted since start.
    pub accepted: Cell<u64>,
    /// Connections closed since start.
    pub closed: Cell<u64>,
    /// Requests answered since start.
    pub requests: Cell<u64>,
    /// Of those, requests over HTTP/2.
    pub h2_requests: Cell<u64>,
    /// HTTP/2 connections since start.
    pub h2_connections: Cell<u64>,
    /// HTTP/2 connections cut off for misbehaving (floods, rapid resets).
    pub h2_abusive: Cell<u64>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    by_kind: [[Cell<u64>; 5]; 8],
    latency: RefCell<Latency>,
    /// Per-request figures (method/status counts, latency, bytes) are
    /// recorded (`metrics.enabled`).
    detailed: bool,
}

/// A copy of one core's figures, sendable to another thread.
#[derive(Clone, Debug, Default)]
pub struct HttpSnapshot {
    /// Connections open.
    pub open: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections closed.
    pub closed: u64,
    /// Requests answered.
    pub requests: u64,
    /// Requests answered over HTTP/2.
    pub h2_requests: u64,
    /// HTTP/2 connections.
    pub h2_connections: u64,
    /// HTTP/2 connections cut off for misbehaving.
    pub h2_abusive: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Requests by [`METHODS`] × [`STATUS_CLASSES`].
    pub by_kind: [[u64; 5]; 8],
    /// Request latency.
    pub latency: Latency,
}

impl HttpStats {
    /// Counters for one core; `detailed` turns per-request figures on.
    pub fn new(detailed: bool) -> Self {
        HttpStats { detailed, ..HttpStats::default() }
    }

    /// Whether per-request figures (latency among them) are recorded.
    pub fn detailed(&self) -> bool {
        self.detailed
    }

    /// Counts one answered request.
    #[inline]
    pub fn record(&self, method: Method, status: u16, took: Duration) {
        self.requests.set(self.requests.get() + 1);
        if !self.detailed {
            return;
        }
        let m = (method as usize).min(METHODS.len() - 1);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let cell = &self.by_kind[m][class];
        cell.set(cell.get() + 1);
        self.latency.borrow_mut().record(took);
    }

    /// Counts bytes moved on a connection.
    #[inline]
    pub fn add_bytes(&self, read: u64, written: u64) {
        if self.detailed {
            self.bytes_in.set(self.bytes_in.get() + read);
            self.bytes_out.set(self.bytes_out.get() + written);
        }
    }

    /// Copies the figures.
    pub fn snapshot(&self) -> HttpSnapshot {
        HttpSnapshot {
            open: self.open.get() as u64,
            accepted: self.accepted.get(),
            closed: self.closed.get(),
            requests: self.requests.get(),
            h2_requests: self.h2_requests.get(),
            h2_connections: self.h2_connections.get(),
            h2_abusive: self.h2_abusive.get(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            by_kind: std::array::from_fn(|m| std::array::from_fn(|c| self.by_kind[m][c].get())),
            latency: self.latency.borrow().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_class() {
        let s = HttpStats::new(true);
        s.record(Method::Get, 200, Duration::from_millis(1));
        s.record(Method::Trace, 404, Duration::from_millis(2));
        s.record(Method::Post, 503, Duration::from_millis(3));
        s.add_bytes(10, 20);
        let snap = s.snapshot();
        assert_eq!(snap.requests, 3);
        assert_eq!(snap.by_kind[0][1], 1);
        assert_eq!(snap.by_kind[7][3], 1);
        assert_eq!(snap.by_kind[2][4], 1);
        assert_eq!((snap.bytes_in, snap.bytes_out), (10, 20));
        assert_eq!(snap.latency.count(), 3);

        let off = HttpStats::new(false);
        off.record(Method::Get, 200, Duration::from_millis(1));
        off.add_bytes(10, 20);
        let snap = off.snapshot();
        assert_eq!((snap.requests, snap.bytes_in, snap.latency.count()), (1, 0, 0));
    }
}
