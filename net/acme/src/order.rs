//! One order, from `newOrder` to the certificate: every authorization
//! answered by the configured challenge (or the other one when the CA does
//! not offer it), the answers put in place on ephpm's own listeners and
//! taken down afterwards, whatever happened.

use std::time::Duration;

use ephpm_tls::Challenges;
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, Order, OrderStatus, RetryPolicy,
};

use crate::{certgen, ChallengeKind};

/// How long the CA may take to validate, and then to issue.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(120);

/// A certificate just issued: the chain (PEM, leaf first) and its key.
pub struct Issued {
    /// The chain.
    pub chain_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
}

/// Orders a certificate for `domains`. The error says what failed, with
/// the CA's problem documents.
pub async fn order(
    account: &Account,
    domains: &[String],
    prefer: ChallengeKind,
    challenges: &Challenges,
) -> Result<Issued, String> {
    let ids: Vec<Identifier> = domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
    let mut order = account.new_order(&NewOrder::new(&ids)).await.map_err(|e| format!("newOrder: {e}"))?;
    let mut answers = Answers { challenges, http01: Vec::new(), tls_alpn01: Vec::new() };
    answer_all(&mut order, prefer, &mut answers).await?;
    let retry = RetryPolicy::new().initial_delay(Duration::from_millis(500)).timeout(VALIDATION_TIMEOUT);
    let status = order.poll_ready(&retry).await.map_err(|e| format!("validation: {e}"))?;
    if status != OrderStatus::Ready {
        return Err(format!("validation failed: {}", failures(&mut order).await));
    }
    drop(answers);
    let key_pem = order.finalize().await.map_err(|e| format!("finalize: {e}"))?;
    let chain_pem = order.poll_certificate(&retry).await.map_err(|e| format!("certificate: {e}"))?;
    Ok(Issued { chain_pem, key_pem })
}

/// The challenge answers in place for one order; removed when dropped.
struct Answers<'a> {
    challenges: &'a Challenges,
    http01: Vec<String>,
    tls_alpn01: Vec<String>,
}

impl Drop for Answers<'_> {
    fn drop(&mut self) {
        for t in &self.http01 {
            self.challenges.remove_http01(t);
        }
        for d in &self.tls_alpn01 {
            self.challenges.remove_tls_alpn01(d);
        }
    }
}

/// Puts an answer in place for each pending authorization and tells the
/// CA it may validate.
async fn answer_all(order: &mut Order, prefer: ChallengeKind, answers: &mut Answers<'_>) -> Result<(), String> {
    let mut auths = order.authorizations();
    while let Some(next) = auths.next().await {
        let mut authz = next.map_err(|e| format!("authorization: {e}"))?;
        let domain = match authz.identifier().identifier {
            Identifier::Dns(d) => d.clone(),
            other => return Err(format!("the CA asks to authorize {other:?}, which is not a DNS name")),
        };
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(format!("the authorization for {domain} is {other:?}")),
        }
        let offered: Vec<ChallengeType> = authz.challenges.iter().map(|c| c.r#type.clone()).collect();
        let kind = pick(prefer, &offered)
            .ok_or_else(|| format!("the CA offers no tls-alpn-01 or http-01 challenge for {domain} ({offered:?})"))?;
        let mut challenge = authz.challenge(kind.clone()).ok_or("the chosen challenge vanished")?;
        let key_auth = challenge.key_authorization();
        match kind {
            ChallengeType::TlsAlpn01 => {
                let cert = certgen::tls_alpn01(&domain, key_auth.digest().as_ref())?;
                answers.challenges.set_tls_alpn01(&domain, cert);
                answers.tls_alpn01.push(domain.clone());
            }
            _ => {
                answers.challenges.set_http01(&challenge.token, key_auth.as_str());
                answers.http01.push(challenge.token.clone());
            }
        }
        tracing::info!("acme: answering {} for {domain}", challenge_name(&kind));
        challenge.set_ready().await.map_err(|e| format!("challenge for {domain}: {e}"))?;
    }
    Ok(())
}

/// The challenge to answer: the preferred one when offered, else the
/// other one this server can answer.
pub fn pick(prefer: ChallengeKind, offered: &[ChallengeType]) -> Option<ChallengeType> {
    let (first, second) = match prefer {
        ChallengeKind::TlsAlpn01 => (ChallengeType::TlsAlpn01, ChallengeType::Http01),
        ChallengeKind::Http01 => (ChallengeType::Http01, ChallengeType::TlsAlpn01),
    };
    [first, second].into_iter().find(|t| offered.contains(t))
}

fn challenge_name(t: &ChallengeType) -> &'static str {
    match t {
        ChallengeType::TlsAlpn01 => "tls-alpn-01",
        ChallengeType::Http01 => "http-01",
        _ => "another challenge",
    }
}

/// What the CA said about each failed challenge (its problem documents),
/// and about the order.
async fn failures(order: &mut Order) -> String {
    let mut out = Vec::new();
    if let Some(p) = &order.state().error {
        out.push(format!("order: {p}"));
    }
    let mut auths = order.authorizations();
    while let Some(Ok(mut authz)) = auths.next().await {
        let name = authz.identifier().to_string();
        if let Ok(state) = authz.refresh().await {
            for c in &state.challenges {
                if let Some(p) = &c.error {
                    out.push(format!("{name} {}: {p} (status {})", challenge_name(&c.r#type), p.status.unwrap_or(0)));
                }
            }
        }
    }
    if out.is_empty() {
        "the CA gave no reason".into()
    } else {
        out.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preferred_challenge_is_chosen_when_offered() {
        let both = [ChallengeType::Http01, ChallengeType::Dns01, ChallengeType::TlsAlpn01];
        assert_eq!(pick(ChallengeKind::TlsAlpn01, &both), Some(ChallengeType::TlsAlpn01));
        assert_eq!(pick(ChallengeKind::Http01, &both), Some(ChallengeType::Http01));
        assert_eq!(pick(ChallengeKind::TlsAlpn01, &[ChallengeType::Http01]), Some(ChallengeType::Http01));
        assert_eq!(pick(ChallengeKind::Http01, &[ChallengeType::Dns01]), None);
    }
}
