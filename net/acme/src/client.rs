//! The HTTPS client that talks to the ACME directory: the system's trusted
//! roots plus `ca_roots` (a private CA, pebble in tests), read once.

use std::path::Path;

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, HttpClient};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The system roots plus the certificates in `ca_roots`, read once at
/// start-up; an error names the file.
pub fn roots(ca_roots: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let _ = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_roots {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("server.tls.acme.ca_roots: {}: cannot read it: {e}", path.display()))?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("server.tls.acme.ca_roots: {}: not a PEM certificate file: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("server.tls.acme.ca_roots: {}: no certificate in it", path.display()));
        }
        for c in certs {
            roots.add(c).map_err(|e| format!("server.tls.acme.ca_roots: {}: {e}", path.display()))?;
        }
    }
    if roots.is_empty() {
        return Err("server.tls.acme: no trusted root certificates (install ca-certificates, or set \
                    server.tls.acme.ca_roots)"
            .into());
    }
    Ok(roots)
}

/// An HTTP client for instant-acme trusting `roots`.
pub fn http_client(roots: &RootCertStore) -> Result<Box<dyn HttpClient>, String> {
    let tls = rustls::ClientConfig::builder_with_provider(ephpm_tls::settings::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("acme: {e}"))?
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http1().build();
    let client: Client<_, BodyWrapper<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    Ok(Box::new(client))
}
