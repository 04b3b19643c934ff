//! Certificates made here rather than ordered: the self-signed stand-in
//! served until the first order succeeds, and the TLS-ALPN-01 challenge
//! certificate (RFC 8737, section 3).

use std::sync::Arc;

use rcgen::{CertificateParams, CustomExtension, DistinguishedName, DnType, KeyPair};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A self-signed certificate for `domains` (ECDSA P-256), valid for a
/// week: browsers warn, but the site answers and the redirect works
/// while the CA is unreachable.
pub fn self_signed(domains: &[String]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = CertificateParams::new(domains.to_vec()).map_err(|e| format!("acme: {e}"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "ephpm self-signed stand-in until ACME succeeds");
    params.distinguished_name = dn;
    let start = std::time::SystemTime::now();
    params.not_before = start.into();
    params.not_after = (start + std::time::Duration::from_secs(7 * 86_400)).into();
    make(params)
}

/// The TLS-ALPN-01 certificate for `domain`: its only name is `domain`
/// and its critical acmeIdentifier extension holds the SHA-256 digest of
/// the key authorization.
pub fn tls_alpn01(domain: &str, key_authorization_digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = CertificateParams::new(vec![domain.to_owned()]).map_err(|e| format!("acme: {e}"))?;
    params.distinguished_name = DistinguishedName::new();
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(key_authorization_digest)];
    make(params)
}

fn make(params: CertificateParams) -> Result<Arc<CertifiedKey>, String> {
    let key = KeyPair::generate().map_err(|e| format!("acme: cannot make a key: {e}"))?;
    let cert = params.self_signed(&key).map_err(|e| format!("acme: cannot sign a certificate: {e}"))?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    certified(vec![cert.der().clone()], &der)
}

/// A chain and its key, ready for rustls.
pub fn certified(chain: Vec<CertificateDer<'static>>, key: &PrivateKeyDer<'_>) -> Result<Arc<CertifiedKey>, String> {
    let signer =
        rustls::crypto::aws_lc_rs::sign::any_supported_type(key).map_err(|e| format!("acme: unusable key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}
