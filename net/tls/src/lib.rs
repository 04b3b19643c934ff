//! ephpm's TLS, shared by every listener that offers it (HTTP, RESP, the
//! MySQL front, the node API).
//!
//! [`certs`] loads PEM chains and keys; [`store`] holds the set every core
//! serves from and swaps it whole on reload; [`challenges`] holds the
//! answers to ACME challenges in progress; [`settings`] builds the
//! rustls server settings (versions, ALPN, session tickets shared by all
//! cores); [`stream`] runs a core's TLS connections on monoio; [`stats`]
//! counts handshakes per core; [`compat`] gives HTTP/2 the same TLS
//! through tokio's I/O traits. rustls does the protocol, with aws-lc-rs
//! as its crypto provider (see [`settings::provider`]).

#![warn(missing_docs)]

mod buf;
pub mod certs;
pub mod challenges;
pub mod compat;
pub mod settings;
pub mod stats;
pub mod store;
pub mod stream;
pub mod transport;

pub use rustls::ServerConfig;

pub use certs::{CertSet, CertSource};
pub use challenges::{Challenges, ALPN_ACME_TLS};
pub use settings::{server_config, shared_ticketer, MinVersion, TlsSettings};
pub use stats::{TlsSnapshot, TlsStats};
pub use store::CertStore;
pub use stream::{accept, accept_after, Refused, TlsAcceptor, TlsStream};
pub use transport::{MaybeTls, Transport};
