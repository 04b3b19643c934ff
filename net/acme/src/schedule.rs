//! When to order: at two thirds of a certificate's lifetime (Let's
//! Encrypt's advice: 60 of 90 days), and after a failure again after a
//! back-off that doubles up to a cap, each delay jittered so that many
//! servers restarted together do not reach the CA together.

use std::time::{Duration, SystemTime};

use crate::cache::Validity;

/// First retry after a failed order.
pub const FIRST_RETRY: Duration = Duration::from_secs(10);
/// Longest wait between retries (Let's Encrypt allows 5 failed
/// validations per name per hour).
pub const MAX_RETRY: Duration = Duration::from_secs(3600);

/// When a certificate with `v` should be replaced.
pub fn renew_at(v: Validity) -> SystemTime {
    let life = v.not_after.duration_since(v.not_before).unwrap_or_default();
    v.not_before + life * 2 / 3
}

/// The wait before retry number `attempt` (1 for the first retry):
/// FIRST_RETRY doubled per attempt, capped at MAX_RETRY, then ±20%.
pub fn retry_delay(attempt: u32) -> Duration {
    let base = FIRST_RETRY.saturating_mul(1 << attempt.saturating_sub(1).min(20)).min(MAX_RETRY);
    jitter(base, fastrand::f64())
}

/// `d` scaled by a factor between 0.8 and 1.2 chosen by `unit` (0..1).
fn jitter(d: Duration, unit: f64) -> Duration {
    d.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_at_two_thirds_of_the_lifetime() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let v = Validity { not_before: start, not_after: start + Duration::from_secs(90 * 86_400) };
        assert_eq!(renew_at(v), start + Duration::from_secs(60 * 86_400));
    }

    #[test]
    fn retries_back_off_with_jitter_up_to_the_cap() {
        assert_eq!(jitter(Duration::from_secs(10), 0.0), Duration::from_secs(8));
        assert_eq!(jitter(Duration::from_secs(10), 1.0), Duration::from_secs(12));
        for attempt in 1..40 {
            let d = retry_delay(attempt);
            let base = FIRST_RETRY.saturating_mul(1 << (attempt - 1).min(20)).min(MAX_RETRY);
            assert!(d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2), "attempt {attempt}: {d:?}");
        }
        assert!(retry_delay(30) <= MAX_RETRY.mul_f64(1.2));
        assert!(retry_delay(2) >= Duration::from_secs(16));
    }
}
