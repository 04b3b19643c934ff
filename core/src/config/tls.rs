//! `[server.tls]`: HTTPS on its own listener, with certificates chosen by
//! SNI, and the plain listener's redirect to it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::units::ByteSize;

/// `[server.tls]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Address of the HTTPS listener, e.g. `"0.0.0.0:443"`; `""` is off.
    pub listen: String,
    /// The certificate chain (PEM, leaf first) of the default certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// The oldest TLS version accepted: `"1.2"` or `"1.3"`.
    pub min_version: String,
    /// The Strict-Transport-Security value sent on HTTPS responses, e.g.
    /// `"max-age=31536000"`; unset sends none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hsts: Option<String>,
    /// While TLS is on, the plain listener answers 308 to the HTTPS URL
    /// (except ACME's HTTP-01 challenges).
    pub redirect: bool,
    /// `[[server.tls.certificates]]`: more certificates, chosen by SNI.
    pub certificates: Vec<CertPair>,
    /// `[server.tls.acme]`: certificates ordered from an ACME CA instead.
    pub acme: AcmeConfig,
}

/// `[server.tls.acme]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// The names to order a certificate for; empty turns ACME off.
    pub domains: Vec<String>,
    /// Contact address given to the CA (expiry and policy mail); `""` none.
    pub email: String,
    /// The ACME directory URL, or `"staging"` / `"production"` for Let's
    /// Encrypt's.
    pub directory: String,
    /// Extra PEM roots trusted for the directory's HTTPS (a private CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_roots: Option<PathBuf>,
    /// Directory for the account key and the certificates.
    pub cache: PathBuf,
    /// The challenge answered when the CA offers both: `"tls-alpn-01"` or
    /// `"http-01"`.
    pub challenge: String,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            domains: Vec::new(),
            email: String::new(),
            directory: ephpm_acme::LETS_ENCRYPT.into(),
            ca_roots: None,
            cache: PathBuf::from("acme"),
            challenge: "tls-alpn-01".into(),
        }
    }
}

impl AcmeConfig {
    /// Whether certificates come from ACME.
    pub fn enabled(&self) -> bool {
        !self.domains.is_empty()
    }

    /// The checked settings the ACME client runs with.
    pub fn settings(&self) -> Result<ephpm_acme::AcmeSettings, String> {
        for d in &self.domains {
            check_domain(d)?;
        }
        if self.email.contains(char::is_whitespace) || (!self.email.is_empty() && !self.email.contains('@')) {
            return Err(format!("server.tls.acme.email: `{}` is not an e-mail address", self.email));
        }
        if self.cache.as_os_str().is_empty() {
            return Err("server.tls.acme.cache: must name a directory".into());
        }
        Ok(ephpm_acme::AcmeSettings {
            domains: self.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            email: (!self.email.is_empty()).then(|| self.email.clone()),
            directory: ephpm_acme::directory_url(&self.directory)?,
            ca_roots: self.ca_roots.clone(),
            cache: self.cache.clone(),
            challenge: self.challenge.parse().map_err(|e| format!("server.tls.acme.challenge: {e}"))?,
        })
    }
}

/// A name an ACME CA can validate by TLS-ALPN-01 or HTTP-01: a DNS name
/// with at least two labels, no wildcard, no IP address.
fn check_domain(d: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("server.tls.acme.domains: `{d}` {why}"));
    if d.starts_with("*.") {
        return bad("is a wildcard; wildcards need the DNS-01 challenge, which ephpm does not answer");
    }
    if d.parse::<std::net::IpAddr>().is_ok() {
        return bad("is an IP address; ACME certificates here are for DNS names");
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if d.len() > 253 || !d.contains('.') || !d.split('.').all(label_ok) {
        return bad("is not a fully qualified DNS name like \"example.com\"");
    }
    Ok(())
}

/// `[[server.tls.certificates]]`: one more certificate.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertPair {
    /// The chain (PEM, leaf first).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            listen: String::new(),
            cert: None,
            key: None,
            min_version: "1.2".into(),
            hsts: None,
            redirect: true,
            certificates: Vec::new(),
            acme: AcmeConfig::default(),
        }
    }
}

impl TlsConfig {
    /// Whether HTTPS is on.
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty()
    }

    /// Checks what can be checked without reading the files.
    pub fn validate(&self) -> Result<(), String> {
        self.min_version.parse::<ephpm_tls::MinVersion>().map_err(|e| format!("server.tls.min_version: {e}"))?;
        if let Some(h) = &self.hsts {
            if h.is_empty() || h.bytes().any(|b| b.is_ascii_control()) || !h.contains("max-age=") {
                return Err(format!(
                    "server.tls.hsts: `{h}` is not a Strict-Transport-Security value like \"max-age=31536000\""
                ));
            }
        }
        for (i, c) in self.certificates.iter().enumerate() {
            if c.cert.as_os_str().is_empty() || c.key.as_os_str().is_empty() {
                return Err(format!("server.tls.certificates[{i}]: needs both cert and key"));
            }
        }
        if self.acme.enabled() {
            self.acme.settings()?;
            if !self.enabled() {
                return Err("server.tls.listen: [server.tls.acme] needs an HTTPS address \
                            (e.g. \"0.0.0.0:443\")"
                    .into());
            }
            if self.cert.is_some() || self.key.is_some() || !self.certificates.is_empty() {
                return Err("server.tls.cert: certificates come either from files (server.tls.cert, \
                            server.tls.key, [[server.tls.certificates]]) or from [server.tls.acme], not both"
                    .into());
            }
        }
        if !self.enabled() {
            if self.cert.is_some() || !self.certificates.is_empty() {
                return Err("server.tls.listen: certificates are configured but no HTTPS address; \
                            set server.tls.listen (e.g. \"0.0.0.0:443\")"
                    .into());
            }
            return Ok(());
        }
        self.listen.parse::<std::net::SocketAddr>().map_err(|_| {
            format!("server.tls.listen: `{}` is not an address like \"0.0.0.0:443\" or \"[::]:443\"", self.listen)
        })?;
        match (&self.cert, &self.key) {
            (Some(_), Some(_)) => Ok(()),
            (None, None) if self.acme.enabled() => Ok(()),
            (None, None) => Err("server.tls.cert: HTTPS needs a certificate: set server.tls.cert and server.tls.key, \
                                 or [server.tls.acme] domains"
                .into()),
            (Some(_), None) => Err("server.tls.key: server.tls.cert is set but its key is not".into()),
            (None, Some(_)) => Err("server.tls.cert: server.tls.key is set but its certificate is not".into()),
        }
    }

    /// The certificate files, default first, with the keys naming them.
    pub fn sources(&self) -> Vec<ephpm_tls::CertSource> {
        let mut out = Vec::new();
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            out.push(ephpm_tls::CertSource {
                cert: cert.clone(),
                key: key.clone(),
                cert_key: "server.tls.cert".into(),
                key_key: "server.tls.key".into(),
            });
        }
        for (i, c) in self.certificates.iter().enumerate() {
            out.push(ephpm_tls::CertSource {
                cert: c.cert.clone(),
                key: c.key.clone(),
                cert_key: format!("server.tls.certificates[{i}].cert"),
                key_key: format!("server.tls.certificates[{i}].key"),
            });
        }
        out
    }
}

/// `[server.http2]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http2Config {
    /// Offer HTTP/2: h2 by ALPN on the TLS listener, h2c with prior
    /// knowledge on the plain one.
    pub enabled: bool,
    /// Streams a client may have open at once on one connection.
    pub max_concurrent_streams: u32,
    /// Largest decoded header list a client may send (its fields' names
    /// and values, plus 32 bytes each).
    pub max_header_list_size: ByteSize,
    /// Each stream's initial receive window.
    pub initial_stream_window: ByteSize,
    /// The connection's receive window.
    pub initial_connection_window: ByteSize,
}

impl Default for Http2Config {
    fn default() -> Self {
        let d = ephpm_http::http2::Http2Settings::default();
        Http2Config {
            enabled: true,
            max_concurrent_streams: d.max_concurrent_streams,
            max_header_list_size: ByteSize(u64::from(d.max_header_list_size)),
            initial_stream_window: ByteSize(u64::from(d.initial_stream_window)),
            initial_connection_window: ByteSize(u64::from(d.initial_connection_window)),
        }
    }
}

/// The largest flow-control window HTTP/2 allows (RFC 9113, 6.9.1).
const MAX_WINDOW: u64 = (1 << 31) - 1;

impl Http2Config {
    /// Checks the values against what the protocol allows.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=10_000).contains(&self.max_concurrent_streams) {
            return Err("server.http2.max_concurrent_streams: must be between 1 and 10000".into());
        }
        if !(1024..=(16 << 20)).contains(&self.max_header_list_size.0) {
            return Err("server.http2.max_header_list_size: must be between 1KiB and 16MiB".into());
        }
        for (key, v) in [
            ("initial_stream_window", self.initial_stream_window.0),
            ("initial_connection_window", self.initial_connection_window.0),
        ] {
            if !(65_535..=MAX_WINDOW).contains(&v) {
                return Err(format!("server.http2.{key}: must be between 65535 bytes and 2GiB - 1"));
            }
        }
        Ok(())
    }

    /// The settings the cores announce, when HTTP/2 is on.
    pub fn settings(&self) -> Option<ephpm_http::http2::Http2Settings> {
        self.enabled.then_some(ephpm_http::http2::Http2Settings {
            max_concurrent_streams: self.max_concurrent_streams,
            max_header_list_size: self.max_header_list_size.0 as u32,
            initial_stream_window: self.initial_stream_window.0 as u32,
            initial_connection_window: self.initial_connection_window.0 as u32,
        })
    }
}
