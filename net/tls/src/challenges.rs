//! ACME challenge answers the listeners give while an order is being
//! validated: HTTP-01 key authorizations by token (served by the plain
//! listener) and TLS-ALPN-01 certificates by domain (chosen by the HTTPS
//! listener's certificate resolver when a client asks for `acme-tls/1`).
//!
//! Written by the ACME thread only, a few times per order; read by a core
//! only for a request under `/.well-known/acme-challenge/` or a handshake
//! that offers `acme-tls/1`, so a copy-on-write map behind an `ArcSwap`
//! costs the request path nothing.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;

/// ALPN name of the TLS-ALPN-01 challenge (RFC 8737).
pub const ALPN_ACME_TLS: &[u8] = b"acme-tls/1";

/// The answers to the challenges of orders in progress.
#[derive(Default)]
pub struct Challenges {
    http01: ArcSwap<HashMap<String, String>>,
    tls_alpn01: ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenges")
            .field("http01", &self.http01.load().len())
            .field("tls_alpn01", &self.tls_alpn01.load().len())
            .finish()
    }
}

impl Challenges {
    /// The key authorization to answer for HTTP-01 `token`.
    pub fn http01(&self, token: &str) -> Option<String> {
        self.http01.load().get(token).cloned()
    }

    /// Answers HTTP-01 `token` with `key_authorization` until removed.
    pub fn set_http01(&self, token: &str, key_authorization: &str) {
        self.http01.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(token.to_owned(), key_authorization.to_owned());
            m
        });
    }

    /// Stops answering HTTP-01 `token`.
    pub fn remove_http01(&self, token: &str) {
        self.http01.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.remove(token);
            m
        });
    }

    /// The TLS-ALPN-01 certificate for `domain` (lower case).
    pub fn tls_alpn01(&self, domain: &str) -> Option<Arc<CertifiedKey>> {
        self.tls_alpn01.load().get(&domain.to_ascii_lowercase()).cloned()
    }

    /// Answers TLS-ALPN-01 handshakes for `domain` with `cert` until
    /// removed.
    pub fn set_tls_alpn01(&self, domain: &str, cert: Arc<CertifiedKey>) {
        self.tls_alpn01.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(domain.to_ascii_lowercase(), Arc::clone(&cert));
            m
        });
    }

    /// Stops answering TLS-ALPN-01 for `domain`.
    pub fn remove_tls_alpn01(&self, domain: &str) {
        self.tls_alpn01.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.remove(&domain.to_ascii_lowercase());
            m
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http01_tokens_come_and_go() {
        let c = Challenges::default();
        assert_eq!(c.http01("t1"), None);
        c.set_http01("t1", "t1.thumb");
        c.set_http01("t2", "t2.thumb");
        assert_eq!(c.http01("t1").as_deref(), Some("t1.thumb"));
        c.remove_http01("t1");
        assert_eq!(c.http01("t1"), None);
        assert_eq!(c.http01("t2").as_deref(), Some("t2.thumb"));
    }
}
