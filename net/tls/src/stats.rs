//! A core's TLS counters: handshakes by outcome, version and resumption.
//! Plain cells: only the core's own thread writes them; the node API reads
//! them through the core's probe.

use std::cell::Cell;

use rustls::ProtocolVersion;

use crate::stream::{Refused, TlsStream};

/// A core's TLS counters.
#[derive(Default, Debug)]
pub struct TlsStats {
    /// Completed handshakes with TLS 1.3.
    pub tls13: Cell<u64>,
    /// Completed handshakes with TLS 1.2.
    pub tls12: Cell<u64>,
    /// Completed handshakes that resumed a session (a ticket).
    pub resumed: Cell<u64>,
    /// Handshakes that failed (the client got an alert).
    pub failed: Cell<u64>,
    /// Handshakes not finished within the header timeout.
    pub timed_out: Cell<u64>,
    /// Connections that sent plain HTTP to the TLS port.
    pub plain_http: Cell<u64>,
    /// Clients that left or whose socket failed mid-handshake.
    pub closed: Cell<u64>,
}

/// A copy of the counters, summable across cores.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct TlsSnapshot {
    /// See [`TlsStats::tls13`].
    pub tls13: u64,
    /// See [`TlsStats::tls12`].
    pub tls12: u64,
    /// See [`TlsStats::resumed`].
    pub resumed: u64,
    /// See [`TlsStats::failed`].
    pub failed: u64,
    /// See [`TlsStats::timed_out`].
    pub timed_out: u64,
    /// See [`TlsStats::plain_http`].
    pub plain_http: u64,
    /// See [`TlsStats::closed`].
    pub closed: u64,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

impl TlsStats {
    /// Counts a completed handshake.
    pub fn completed(&self, s: &TlsStream) {
        match s.version() {
            Some(ProtocolVersion::TLSv1_2) => bump(&self.tls12),
            _ => bump(&self.tls13),
        }
        if s.resumed() {
            bump(&self.resumed);
        }
    }

    /// Counts a handshake that did not complete.
    pub fn refused(&self, why: &Refused) {
        bump(match why {
            Refused::PlainHttp => &self.plain_http,
            Refused::Timeout => &self.timed_out,
            Refused::Failed(_) => &self.failed,
            Refused::Closed | Refused::Io(_) => &self.closed,
        });
    }

    /// The counters now.
    pub fn snapshot(&self) -> TlsSnapshot {
        TlsSnapshot {
            tls13: self.tls13.get(),
            tls12: self.tls12.get(),
            resumed: self.resumed.get(),
            failed: self.failed.get(),
            timed_out: self.timed_out.get(),
            plain_http: self.plain_http.get(),
            closed: self.closed.get(),
        }
    }
}

impl TlsSnapshot {
    /// Adds another core's counters.
    pub fn add(&mut self, o: &TlsSnapshot) {
        self.tls13 += o.tls13;
        self.tls12 += o.tls12;
        self.resumed += o.resumed;
        self.failed += o.failed;
        self.timed_out += o.timed_out;
        self.plain_http += o.plain_http;
        self.closed += o.closed;
    }
}
