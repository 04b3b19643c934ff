//! The rustls server settings built once from configuration and shared by
//! every core (each core holds its own `Arc` of a clone, so handshakes on
//! different cores do not count references on one cache line).

use std::sync::Arc;

use rustls::server::{NoServerSessionStorage, ProducesTickets};
use rustls::ServerConfig;

use crate::store::CertStore;

/// ALPN name of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN name of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The oldest TLS version a listener accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MinVersion {
    /// TLS 1.2 (ECDHE suites only) and 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl std::str::FromStr for MinVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "1.2" => Ok(MinVersion::Tls12),
            "1.3" => Ok(MinVersion::Tls13),
            other => {
                Err(format!("`{other}` is not a TLS version ephpm accepts as the minimum: use \"1.2\" or \"1.3\""))
            }
        }
    }
}

/// What a listener's TLS offers.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The oldest version accepted.
    pub min_version: MinVersion,
    /// ALPN protocols, most preferred first; empty offers none.
    pub alpn: Vec<Vec<u8>>,
}

/// The session-ticket keys every core shares: rustls' ticketer (AES-256 +
/// HMAC-SHA256 tickets, RFC 5077's construction) rotates them every six
/// hours and still accepts the previous key, so a resumption works on
/// any core and across a rotation.
pub fn shared_ticketer() -> Result<Arc<dyn ProducesTickets>, String> {
    rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| format!("tls: cannot create session-ticket keys: {e}"))
}

/// The crypto provider: aws-lc-rs, rustls' default. It is the faster of
/// the two rustls ships for what a server does most: RSA-2048 and P-256
/// signatures in handshakes (several times ring's RSA speed) and AES-GCM
/// with the CPU's vector units.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The server settings for a listener serving `store`'s certificates.
pub fn server_config(
    store: Arc<CertStore>,
    ticketer: Arc<dyn ProducesTickets>,
    settings: &TlsSettings,
) -> Result<ServerConfig, String> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match settings.min_version {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = settings.alpn.clone();
    // Resumption is by tickets alone: a server-side session cache would be
    // one locked map for every core.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.ticketer = ticketer;
    // One ticket per full handshake: a client resumes one connection at
    // a time, and each ticket costs an encryption and a record.
    config.send_tls13_tickets = 1;
    // No 0-RTT: early data can be replayed.
    config.max_early_data_size = 0;
    Ok(config)
}
