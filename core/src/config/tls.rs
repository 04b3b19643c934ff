//! `[server.tls]`: HTTPS on its own listener, with certificates chosen by
//! SNI, and the plain listener's redirect to it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
            (None, None) => {
                Err("server.tls.cert: HTTPS needs a certificate: set server.tls.cert and server.tls.key".into())
            }
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
