//! ephpm's ACME client: certificates for `[server.tls.acme]` ordered from
//! an ACME CA (Let's Encrypt by default), cached, and renewed, with the
//! challenges answered by ephpm's own listeners.
//!
//! [`start`] builds the certificate store the HTTPS listener serves from:
//! the cached certificate when it covers the domains, else a self-signed
//! stand-in. It then starts one thread (`ephpm-acme`, a small tokio
//! runtime driving [instant-acme](https://docs.rs/instant-acme)) that
//! orders when the certificate is missing or at two thirds of its
//! lifetime, puts the new one in service on every core at once, and
//! retries failures with a jittered back-off ([`schedule`]). Challenges
//! are answered through the store's [`ephpm_tls::Challenges`]: TLS-ALPN-01
//! by the HTTPS listener's certificate resolver, HTTP-01 by the plain
//! listener.
//!
//! Why instant-acme under our own loop rather than rustls-acme: rustls-acme
//! owns the TLS acceptor and its own tokio listener, while ephpm's cores
//! run their own accept loops on monoio and share one certificate store
//! with file reloads; instant-acme only speaks the protocol, so the
//! orders, the cache and the schedule stay ours and off the cores.

#![warn(missing_docs)]

pub mod cache;
mod certgen;
mod client;
mod order;
pub mod schedule;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ephpm_tls::{CertSet, CertStore};
use instant_acme::{Account, AccountCredentials, NewAccount};
use rustls::RootCertStore;

use crate::cache::{Cache, Validity};

/// Let's Encrypt's production directory, the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (`directory = "staging"`).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The challenge to answer when the CA offers both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeKind {
    /// TLS-ALPN-01 (RFC 8737): answered on the HTTPS port.
    TlsAlpn01,
    /// HTTP-01 (RFC 8555, 8.3): answered on the plain port.
    Http01,
}

impl std::str::FromStr for ChallengeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tls-alpn-01" => Ok(ChallengeKind::TlsAlpn01),
            "http-01" => Ok(ChallengeKind::Http01),
            other => Err(format!("`{other}` is not a challenge ephpm answers: use \"tls-alpn-01\" or \"http-01\"")),
        }
    }
}

/// What `[server.tls.acme]` asks for, checked.
#[derive(Clone, Debug)]
pub struct AcmeSettings {
    /// The names on the certificate (the first is its subject).
    pub domains: Vec<String>,
    /// Contact address given to the CA, if any.
    pub email: Option<String>,
    /// The directory URL.
    pub directory: String,
    /// Extra trusted roots for the directory's HTTPS (a private CA).
    pub ca_roots: Option<PathBuf>,
    /// Where the account and the certificates are kept.
    pub cache: PathBuf,
    /// The challenge preferred.
    pub challenge: ChallengeKind,
}

/// The directory URL for the `directory` setting: `"production"` (or
/// empty) and `"staging"` are Let's Encrypt's; anything else must be an
/// https URL.
pub fn directory_url(setting: &str) -> Result<String, String> {
    match setting {
        "" | "production" | "letsencrypt" => Ok(LETS_ENCRYPT.into()),
        "staging" => Ok(LETS_ENCRYPT_STAGING.into()),
        url if url.starts_with("https://") && url.len() > "https://".len() => Ok(url.into()),
        other => Err(format!(
            "server.tls.acme.directory: `{other}` is not an https:// URL (or \"staging\" or \"production\")"
        )),
    }
}

/// Builds the store the HTTPS listener serves from (the cached certificate,
/// else a self-signed stand-in) and starts the thread that orders and
/// renews. Errors name the configuration key.
pub fn start(settings: AcmeSettings) -> Result<Arc<CertStore>, String> {
    // Read now, so that a bad file stops the start (before the cache is
    // created).
    let roots = client::roots(settings.ca_roots.as_deref())?;
    let cache = Cache::open(&settings.cache, &settings.directory)?;
    let names = settings.domains.join(", ");
    let (set, validity) = match cache.certificate(&settings.domains) {
        Some(c) => {
            let left = c.validity.not_after.duration_since(SystemTime::now()).unwrap_or_default();
            tracing::info!(
                "acme: serving the cached certificate for {names} from {} ({} days left)",
                cache.dir().display(),
                left.as_secs() / 86_400
            );
            (c.set, Some(c.validity))
        }
        None => {
            tracing::warn!("acme: no certificate for {names} yet; serving a self-signed one until the CA issues it");
            (CertSet::single(certgen::self_signed(&settings.domains)?), None)
        }
    };
    let store = CertStore::fixed(set);
    let for_thread = Arc::clone(&store);
    std::thread::Builder::new()
        .name("ephpm-acme".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return tracing::error!("acme: cannot start its runtime: {e}; certificates will not renew"),
            };
            rt.block_on(run(settings, cache, roots, for_thread, validity));
        })
        .map_err(|e| format!("acme: cannot start its thread: {e}"))?;
    Ok(store)
}

/// Orders whenever the certificate is due, forever.
async fn run(
    settings: AcmeSettings,
    cache: Cache,
    roots: RootCertStore,
    store: Arc<CertStore>,
    mut current: Option<Validity>,
) {
    let names = settings.domains.join(", ");
    let mut account: Option<Account> = None;
    let mut failures = 0u32;
    let mut due = current.map_or(SystemTime::now(), schedule::renew_at);
    loop {
        // Sleep in steps, so a wall clock that jumps is noticed.
        while let Ok(wait) = due.duration_since(SystemTime::now()) {
            if wait.is_zero() {
                break;
            }
            tokio::time::sleep(wait.min(Duration::from_secs(3600))).await;
        }
        match renew(&settings, &cache, &roots, &store, &mut account).await {
            Ok(v) => {
                failures = 0;
                current = Some(v);
                due = schedule::renew_at(v);
                let days = |t: SystemTime| t.duration_since(SystemTime::now()).unwrap_or_default().as_secs() / 86_400;
                tracing::info!(
                    "acme: new certificate for {names} in service on every core (valid {} more days, renewal in {} days)",
                    days(v.not_after),
                    days(due)
                );
            }
            Err(e) => {
                failures += 1;
                let wait = schedule::retry_delay(failures);
                let serving = if current.is_some() { "the current certificate" } else { "the self-signed one" };
                tracing::error!(
                    "acme: ordering a certificate for {names} from {} failed (attempt {failures}): {e}; \
                     {serving} stays in service; next try in {} s",
                    settings.directory,
                    wait.as_secs()
                );
                due = SystemTime::now() + wait;
            }
        }
    }
}

/// One order: the account (cached, else registered), the certificate,
/// stored in the cache and put in service.
async fn renew(
    settings: &AcmeSettings,
    cache: &Cache,
    roots: &RootCertStore,
    store: &CertStore,
    account: &mut Option<Account>,
) -> Result<Validity, String> {
    if account.is_none() {
        *account = Some(open_account(settings, cache, roots).await?);
    }
    let acct = account.as_ref().expect("set above");
    let issued = match order::order(acct, &settings.domains, settings.challenge, store.challenges()).await {
        Ok(i) => i,
        Err(e) => {
            // The next try logs in again from the cached credentials
            // (a fresh nonce and directory), not with this session.
            *account = None;
            return Err(e);
        }
    };
    cache.save_certificate(&issued.chain_pem, &issued.key_pem)?;
    let cached = cache
        .certificate(&settings.domains)
        .ok_or("the CA issued a certificate that does not cover every configured domain")?;
    store.replace(cached.set);
    Ok(cached.validity)
}

/// The cached account, or a new one registered (and cached).
async fn open_account(settings: &AcmeSettings, cache: &Cache, roots: &RootCertStore) -> Result<Account, String> {
    if let Some(json) = cache.account() {
        match serde_json::from_str::<AccountCredentials>(&json) {
            Ok(creds) => {
                let http = client::http_client(roots)?;
                return Account::builder_with_http(http)
                    .from_credentials(creds)
                    .await
                    .map_err(|e| format!("loading the cached account: {e}"));
            }
            Err(e) => tracing::warn!("acme: the cached account is unreadable ({e}); registering a new one"),
        }
    }
    let contact: Vec<String> = settings.email.iter().map(|e| format!("mailto:{e}")).collect();
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
    let http = client::http_client(roots)?;
    let (account, creds) = Account::builder_with_http(http)
        .create(&new, settings.directory.clone(), None)
        .await
        .map_err(|e| format!("registering an account: {e}"))?;
    let json = serde_json::to_string(&creds).map_err(|e| format!("acme: {e}"))?;
    cache.save_account(&json)?;
    tracing::info!("acme: registered an account with {}", settings.directory);
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_shortcuts_and_urls() {
        assert_eq!(directory_url("").unwrap(), LETS_ENCRYPT);
        assert_eq!(directory_url("staging").unwrap(), LETS_ENCRYPT_STAGING);
        assert_eq!(directory_url("https://127.0.0.1:14000/dir").unwrap(), "https://127.0.0.1:14000/dir");
        let e = directory_url("http://ca.test/dir").unwrap_err();
        assert!(e.contains("server.tls.acme.directory"), "{e}");
        assert!("dns-01".parse::<ChallengeKind>().is_err());
    }
}
