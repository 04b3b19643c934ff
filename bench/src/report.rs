//! Printing results as a table and as JSON.

use serde::Serialize;

/// One measured server in one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// "ephpm" or the peer's name.
    pub server: String,
    /// Requests (or messages) per second.
    pub rate: f64,
    /// Latency percentiles in microseconds: p50, p99, p99.9.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Requests that failed (non-2xx, I/O errors).
    pub errors: u64,
    /// Extra figures (e.g. RSS per connection).
    pub extra: Vec<(String, f64)>,
}

impl Row {
    /// A row with a rate and the server's CPU per request only (the
    /// redis-benchmark scenarios, which report no latency).
    pub fn rate_and_cpu(server: String, rate: f64, cpu_ns: f64) -> Row {
        Row {
            server,
            rate,
            p50_us: 0.0,
            p99_us: 0.0,
            p999_us: 0.0,
            errors: 0,
            extra: vec![("server CPU ns per request".into(), cpu_ns)],
        }
    }
}

/// A scenario's results.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// How it was run.
    pub setup: String,
    /// One row per server.
    pub rows: Vec<Row>,
    /// ephpm / peer ratios by figure name.
    pub ratios: Vec<(String, f64)>,
}

impl Report {
    /// A human-readable table.
    pub fn render(&self) -> String {
        let mut s = format!("scenario: {}\nsetup:    {}\n\n", self.scenario, self.setup);
        s += &format!(
            "{:<12} {:>12} {:>10} {:>10} {:>10} {:>8}\n",
            "server", "rate/s", "p50 us", "p99 us", "p999 us", "errors"
        );
        for r in &self.rows {
            s += &format!(
                "{:<12} {:>12.0} {:>10.1} {:>10.1} {:>10.1} {:>8}\n",
                r.server, r.rate, r.p50_us, r.p99_us, r.p999_us, r.errors
            );
            for (k, v) in &r.extra {
                s += &format!("{:<12}   {k}: {v:.1}\n", "");
            }
        }
        if !self.ratios.is_empty() {
            s += "\n";
            for (k, v) in &self.ratios {
                s += &format!("ratio {k}: {v:.3}\n");
            }
        }
        s
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
