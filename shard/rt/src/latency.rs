//! A latency histogram one core records into: an hdrhistogram in
//! microseconds (1% precision from 1 µs to an hour) plus the exact sum.
//! Readers get a copy (through the core, never by locking it) and merge
//! the copies of all cores.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Longest latency kept exactly; longer ones count as this.
const MAX_MICROS: u64 = 3_600_000_000;

/// One core's latencies of one kind.
#[derive(Clone, Debug)]
pub struct Latency {
    hist: Histogram<u64>,
    sum_micros: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, MAX_MICROS, 2).expect("static hdrhistogram bounds are valid");
        Latency { hist, sum_micros: 0 }
    }

    /// Records one duration.
    #[inline]
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(us.clamp(1, MAX_MICROS));
        self.sum_micros = self.sum_micros.saturating_add(us);
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Latency) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }

    /// Durations recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Sum of the durations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros as f64 / 1e6
    }

    /// The duration at quantile `q` (0.0–1.0), in seconds; 0 when empty.
    pub fn quantile_seconds(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.highest_equivalent(self.hist.value_at_quantile(q)) as f64 / 1e6
    }

    /// Counts per bucket, each bucket running from the previous upper
    /// bound (seconds, ascending) to its own; the last is `+Inf`. This is
    /// what prometheus-client's histogram encoder sums into `le` buckets.
    pub fn buckets(&self, bounds: &[f64]) -> Vec<(f64, u64)> {
        let mut below = 0;
        let mut out: Vec<(f64, u64)> = bounds
            .iter()
            .map(|&b| {
                let us = ((b * 1e6) as u64).clamp(1, MAX_MICROS);
                let upto = if self.hist.is_empty() { 0 } else { self.hist.count_between(0, us) };
                let n = upto.saturating_sub(below);
                below = below.max(upto);
                (b, n)
            })
            .collect();
        out.push((f64::INFINITY, self.count().saturating_sub(below)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_buckets_and_merge() {
        let mut a = Latency::new();
        for ms in 1..=100 {
            a.record(Duration::from_millis(ms));
        }
        let mut b = Latency::new();
        b.record(Duration::from_secs(2));
        a.merge(&b);
        assert_eq!(a.count(), 101);
        assert!((a.sum_seconds() - 7.05).abs() < 1e-9, "{}", a.sum_seconds());
        let p50 = a.quantile_seconds(0.5);
        assert!((0.050..0.052).contains(&p50), "p50 {p50}");
        assert!(a.quantile_seconds(1.0) >= 2.0);
        let buckets = a.buckets(&[0.01, 0.1, 1.0]);
        assert_eq!(buckets[0].1, 10);
        assert_eq!(buckets[1].1, 90);
        assert_eq!(buckets[2].1, 0);
        assert_eq!(buckets[3], (f64::INFINITY, 1));
        assert_eq!(Latency::new().quantile_seconds(0.99), 0.0);
    }
}
