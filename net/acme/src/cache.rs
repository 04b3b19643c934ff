//! The ACME cache directory: the account's credentials and the current
//! certificate with its key, one subdirectory per ACME directory URL, so
//! a restart reuses both and does not order again, and switching from
//! staging to production starts a fresh account.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ephpm_tls::certs::{read_chain, read_key, LoadedCert};
use ephpm_tls::CertSet;

/// Where one directory's account and certificate live.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

/// A certificate read back from the cache.
pub struct Cached {
    /// The chain and key, ready to serve.
    pub set: CertSet,
    /// Its validity, from the leaf.
    pub validity: Validity,
}

/// A certificate's validity period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// notBefore.
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
}

impl Cache {
    /// The cache for `directory_url` under `root`, created (mode 0700) if
    /// missing; an error names `root`.
    pub fn open(root: &Path, directory_url: &str) -> Result<Cache, String> {
        let dir = root.join(slug(directory_url));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("server.tls.acme.cache: cannot create {}: {e}", dir.display()))?;
        set_mode(root, 0o700);
        set_mode(&dir, 0o700);
        Ok(Cache { dir })
    }

    /// The directory this cache writes to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn account_path(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    /// The certificate chain's path (PEM, leaf first).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// The certificate key's path (PEM, PKCS#8).
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// The stored account credentials (JSON), if any.
    pub fn account(&self) -> Option<String> {
        std::fs::read_to_string(self.account_path()).ok()
    }

    /// Stores the account credentials.
    pub fn save_account(&self, json: &str) -> Result<(), String> {
        write_private(&self.account_path(), json.as_bytes())
    }

    /// The cached certificate, when there is one that covers every name
    /// in `domains`; a broken or foreign one is ignored (and reordered).
    pub fn certificate(&self, domains: &[String]) -> Option<Cached> {
        let chain = read_chain(&self.cert_path()).ok()?;
        let key = read_key(&self.key_path()).ok()?;
        let validity = validity(chain.first()?.as_ref())?;
        let certified = crate::certgen::certified(chain, &key).ok()?;
        certified.keys_match().ok()?;
        let loaded = LoadedCert { certified };
        if !domains.iter().all(|d| loaded.serves(d)) {
            return None;
        }
        Some(Cached { set: CertSet { certs: vec![loaded] }, validity })
    }

    /// Stores a new certificate and its key; the key first, so a crash in
    /// between leaves a pair that does not match (and is reordered)
    /// rather than a certificate with a stale key that looks valid.
    pub fn save_certificate(&self, chain_pem: &str, key_pem: &str) -> Result<(), String> {
        write_private(&self.key_path(), key_pem.as_bytes())?;
        write_private(&self.cert_path(), chain_pem.as_bytes())
    }
}

/// The validity period of a DER certificate.
pub fn validity(der: &[u8]) -> Option<Validity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let v = cert.validity();
    let at = |secs: i64| Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(secs).ok()?));
    Some(Validity { not_before: at(v.not_before.timestamp())?, not_after: at(v.not_after.timestamp())? })
}

/// A file name for a directory URL: its host and path, with anything but
/// letters, digits, `.` and `-` turned into `_`.
fn slug(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.trim_end_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect()
}

/// Writes `bytes` to `path` through a temporary file and a rename, readable
/// by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("acme: cannot write {}: {e}", path.display()))
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_urls_become_safe_names() {
        assert_eq!(slug("https://acme-v02.api.letsencrypt.org/directory"), "acme-v02.api.letsencrypt.org_directory");
        assert_eq!(slug("https://127.0.0.1:14000/dir/"), "127.0.0.1_14000_dir");
    }

    #[test]
    fn a_certificate_round_trips_and_must_cover_the_domains() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(root.path(), "https://ca.test/directory").unwrap();
        assert!(cache.certificate(&["a.test".into()]).is_none());
        let key = rcgen::KeyPair::generate().unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["a.test".into(), "b.test".into()]).unwrap().self_signed(&key).unwrap();
        cache.save_certificate(&cert.pem(), &key.serialize_pem()).unwrap();
        let got = cache.certificate(&["a.test".into(), "b.test".into()]).expect("cached");
        assert!(got.validity.not_after > got.validity.not_before);
        assert!(cache.certificate(&["c.test".into()]).is_none(), "a name the certificate lacks");
        cache.save_account("{}").unwrap();
        assert_eq!(cache.account().as_deref(), Some("{}"));
    }
}
