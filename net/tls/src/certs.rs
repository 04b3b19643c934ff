//! Certificates from PEM files: one chain and its private key per pair,
//! checked to belong together, and the set a listener chooses from by SNI.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Where one certificate comes from: its files and the configuration keys
/// that named them (for error messages).
#[derive(Clone, Debug)]
pub struct CertSource {
    /// The chain's PEM file, leaf first.
    pub cert: PathBuf,
    /// The private key's PEM file (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The configuration key that named `cert`, e.g. `server.tls.cert`.
    pub cert_key: String,
    /// The configuration key that named `key`.
    pub key_key: String,
}

/// One loaded certificate: its chain and signing key, ready for rustls.
#[derive(Clone, Debug)]
pub struct LoadedCert {
    /// The chain and key.
    pub certified: Arc<CertifiedKey>,
}

impl LoadedCert {
    /// Whether this certificate is valid for `name` (its SANs, wildcards
    /// included).
    pub fn serves(&self, name: &str) -> bool {
        let Ok(server_name) = ServerName::try_from(name) else {
            return false;
        };
        let Some(leaf) = self.certified.cert.first() else {
            return false;
        };
        webpki::EndEntityCert::try_from(leaf).is_ok_and(|ee| ee.verify_is_valid_for_subject_name(&server_name).is_ok())
    }
}

/// The certificates a listener serves: the first is the default for an
/// unknown name or no SNI.
#[derive(Clone, Debug)]
pub struct CertSet {
    /// In configuration order.
    pub certs: Vec<LoadedCert>,
}

impl CertSet {
    /// Loads every source; the first failure names its file and key.
    pub fn load(sources: &[CertSource]) -> Result<CertSet, String> {
        if sources.is_empty() {
            return Err("no certificate configured".into());
        }
        let certs = sources.iter().map(load_pair).collect::<Result<Vec<_>, _>>()?;
        Ok(CertSet { certs })
    }

    /// A set holding one certificate already in memory (a self-signed
    /// stand-in, a test).
    pub fn single(certified: Arc<CertifiedKey>) -> CertSet {
        CertSet { certs: vec![LoadedCert { certified }] }
    }

    /// The certificate for the SNI name `name`, or the default.
    pub fn choose(&self, name: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let first = self.certs.first()?;
        // One certificate is the answer whatever the name: no parsing.
        if self.certs.len() == 1 {
            return Some(&first.certified);
        }
        let found = name.and_then(|n| self.certs.iter().find(|c| c.serves(n)));
        Some(&found.unwrap_or(first).certified)
    }
}

/// Loads one chain and key and checks that they match.
pub fn load_pair(src: &CertSource) -> Result<LoadedCert, String> {
    let chain = read_chain(&src.cert).map_err(|e| format!("{}: {}: {e}", src.cert_key, src.cert.display()))?;
    let key = read_key(&src.key).map_err(|e| format!("{}: {}: {e}", src.key_key, src.key.display()))?;
    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).map_err(|e| {
        format!(
            "{}: {}: unsupported private key ({e}); use RSA, ECDSA P-256/P-384 or Ed25519",
            src.key_key,
            src.key.display()
        )
    })?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|_| {
        format!(
            "{}: {} does not belong to the certificate in {} ({})",
            src.key_key,
            src.key.display(),
            src.cert.display(),
            src.cert_key
        )
    })?;
    Ok(LoadedCert { certified: Arc::new(certified) })
}

/// The certificates of a PEM file, leaf first.
pub fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a valid PEM certificate file: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate (-----BEGIN CERTIFICATE-----) in it".into());
    }
    if let Err(e) = webpki::EndEntityCert::try_from(&chain[0]) {
        return Err(format!("the first certificate cannot be parsed: {e}"));
    }
    Ok(chain)
}

/// The private key of a PEM file.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => "no private key (-----BEGIN ... PRIVATE KEY-----) in it".into(),
        e => format!("not a valid PEM private key file: {e}"),
    })
}
