//! The certificate set every core serves from, swapped whole when the files
//! change or on SIGHUP: a handshake sees either the old set or the new,
//! never a mix, and a broken new file leaves the old set in service.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::certs::{CertSet, CertSource};
use crate::challenges::{Challenges, ALPN_ACME_TLS};

/// How often the watcher looks at the files' modification times.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// The current certificates of one listener (or of several sharing the
/// same files), read lock-free by every core's handshakes.
pub struct CertStore {
    current: ArcSwap<CertSet>,
    sources: Vec<CertSource>,
    /// TLS-ALPN-01 answers, used only for handshakes offering `acme-tls/1`.
    challenges: Arc<Challenges>,
    /// Reloads that replaced the set.
    pub reloads: AtomicU64,
    /// Reloads refused because a file was broken.
    pub reload_failures: AtomicU64,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore").field("sources", &self.sources).finish_non_exhaustive()
    }
}

impl CertStore {
    /// Loads the certificates; an error names the file and its key.
    pub fn load(sources: Vec<CertSource>) -> Result<Arc<CertStore>, String> {
        let set = CertSet::load(&sources)?;
        Ok(Arc::new(CertStore {
            current: ArcSwap::from_pointee(set),
            sources,
            challenges: Arc::default(),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        }))
    }

    /// A store serving certificates that come from no file (ACME's
    /// stand-in, tests); [`CertStore::reload`] keeps them.
    pub fn fixed(set: CertSet) -> Arc<CertStore> {
        Arc::new(CertStore {
            current: ArcSwap::from_pointee(set),
            sources: Vec::new(),
            challenges: Arc::default(),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        })
    }

    /// The ACME challenge answers the listeners serving this store give.
    pub fn challenges(&self) -> &Arc<Challenges> {
        &self.challenges
    }

    /// The set in service now.
    pub fn current(&self) -> Arc<CertSet> {
        self.current.load_full()
    }

    /// Puts `set` in service for every handshake from now on.
    pub fn replace(&self, set: CertSet) {
        self.current.store(Arc::new(set));
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads the files again. On success the new set is in service; on
    /// failure the old one stays and the error names the file.
    pub fn reload(&self) -> Result<usize, String> {
        if self.sources.is_empty() {
            return Ok(self.current.load().certs.len());
        }
        match CertSet::load(&self.sources) {
            Ok(set) => {
                let n = set.certs.len();
                self.replace(set);
                Ok(n)
            }
            Err(e) => {
                self.reload_failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// The files the set comes from.
    pub fn files(&self) -> Vec<PathBuf> {
        self.sources.iter().flat_map(|s| [s.cert.clone(), s.key.clone()]).collect()
    }

    /// Starts a thread that reloads the set (logging the outcome) whenever
    /// one of its files changes; it runs for the life of the process.
    pub fn watch(self: &Arc<Self>) -> std::io::Result<()> {
        if self.sources.is_empty() {
            return Ok(());
        }
        let store = Arc::clone(self);
        std::thread::Builder::new().name("ephpm-tls-watch".into()).spawn(move || {
            let files = store.files();
            let mut seen = stamps(&files);
            loop {
                std::thread::sleep(WATCH_INTERVAL);
                let now = stamps(&files);
                if now != seen {
                    seen = now;
                    store.reload_logged("a certificate file changed");
                }
            }
        })?;
        Ok(())
    }

    /// Reloads and logs what happened, with `why` it was asked.
    pub fn reload_logged(&self, why: &str) {
        match self.reload() {
            Ok(n) => tracing::info!("tls: {why}; {n} certificate(s) reloaded"),
            Err(e) => {
                tracing::error!("tls: {why}, but the new certificate is not used: {e}; the old one stays in service")
            }
        }
    }
}

/// What identifies a file's version: its modification time, length and
/// inode (a renewal tool may replace it by a rename).
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    use std::os::unix::fs::MetadataExt;
    files.iter().map(|f| std::fs::metadata(f).ok().and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())))).collect()
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A TLS-ALPN-01 validation offers acme-tls/1 alone (RFC 8737, 3)
        // and must get the challenge certificate or nothing.
        if let Some(mut alpn) = hello.alpn() {
            if alpn.next() == Some(ALPN_ACME_TLS) && alpn.next().is_none() {
                return self.challenges.tls_alpn01(hello.server_name()?);
            }
        }
        let set = self.current.load();
        set.choose(hello.server_name()).cloned()
    }
}
