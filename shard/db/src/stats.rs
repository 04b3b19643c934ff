//! Query statistics: per normalized digest (literals → `?`) the count,
//! total/min/max time, rows and errors, and a bounded slow-query log.
//! Each core keeps its own table; a reader (the node API) merges them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ephpm_rt::latency::Latency;

/// Most distinct digests kept per core; later ones count under `other`.
const MAX_DIGESTS: usize = 5000;
/// Most slow queries kept per core.
const MAX_SLOW: usize = 256;
/// Longest query text kept in the slow log.
const MAX_SLOW_TEXT: usize = 4096;

/// One digest's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DigestStats {
    /// Executions.
    pub count: u64,
    /// Executions that failed.
    pub errors: u64,
    /// Total time.
    pub total: Duration,
    /// Fastest.
    pub min: Duration,
    /// Slowest.
    pub max: Duration,
    /// Rows returned or affected.
    pub rows: u64,
}

/// One slow query.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowQuery {
    /// The statement as sent (truncated).
    pub sql: String,
    /// How long it took.
    pub duration: Duration,
    /// Rows returned or affected.
    pub rows: u64,
    /// When it finished.
    pub at: SystemTime,
    /// Its number among the core's slow queries (for [`QueryStats::explain`]).
    pub id: u64,
    /// Its plan, when the proxy's `auto_explain` fetched one.
    pub explain: Option<String>,
}

/// One core's statistics.
#[derive(Debug, Default)]
pub struct QueryStats {
    /// By normalized statement.
    pub digests: HashMap<String, DigestStats>,
    /// The most recent slow queries, oldest first.
    pub slow: VecDeque<SlowQuery>,
    /// Statements run.
    pub queries: u64,
    /// Statements that failed.
    pub errors: u64,
    /// Statements that were slow.
    pub slow_total: u64,
    /// Statement durations.
    pub latency: Latency,
}

/// A core's statistics, shared with whoever reads them.
pub type SharedStats = Arc<Mutex<QueryStats>>;

impl QueryStats {
    /// Records one statement; the slow log's id when it was slow.
    pub fn record(&mut self, sql: &str, took: Duration, rows: u64, ok: bool, slow_threshold: Duration) -> Option<u64> {
        self.record_digest(&normalize(sql), sql, took, rows, ok, slow_threshold)
    }

    /// Attaches a plan to slow query `id`, if it is still in the log.
    pub fn explain(&mut self, id: u64, plan: String) {
        if let Some(q) = self.slow.iter_mut().rev().find(|q| q.id == id) {
            q.explain = Some(plan);
        }
    }

    /// Records one statement whose digest is known (a prepared statement's);
    /// the slow log's id when it was slow.
    pub fn record_digest(
        &mut self,
        digest: &str,
        sql: &str,
        took: Duration,
        rows: u64,
        ok: bool,
        slow_threshold: Duration,
    ) -> Option<u64> {
        let d = match self.digests.get_mut(digest) {
            Some(d) => d,
            None => {
                let key = if self.digests.len() >= MAX_DIGESTS { "other" } else { digest };
                self.digests.entry(key.to_string()).or_default()
            }
        };
        if d.count == 0 || took < d.min {
            d.min = took;
        }
        d.max = d.max.max(took);
        d.count += 1;
        d.total += took;
        d.rows += rows;
        d.errors += u64::from(!ok);
        self.queries += 1;
        self.errors += u64::from(!ok);
        self.latency.record(took);
        if took >= slow_threshold {
            self.slow_total += 1;
            if self.slow.len() == MAX_SLOW {
                self.slow.pop_front();
            }
            let mut text = sql.to_string();
            if text.len() > MAX_SLOW_TEXT {
                let mut cut = MAX_SLOW_TEXT;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            let id = self.slow_total;
            self.slow.push_back(SlowQuery {
                sql: text,
                duration: took,
                rows,
                at: SystemTime::now(),
                id,
                explain: None,
            });
            return Some(id);
        }
        None
    }
}

/// The digest of a statement: literals become `?`, lists of them `(...)`,
/// runs of whitespace one space; comments are dropped.
pub fn normalize(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let push_space = |out: &mut String| {
        if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    };
    while i < b.len() {
        if let Some(end) = super::translate::comment_end(b, i) {
            i = end;
            continue;
        }
        let c = b[i];
        match c {
            b'\'' | b'"' => {
                i += 1;
                while i < b.len() {
                    if b[i] == c && b.get(i + 1) == Some(&c) {
                        i += 2;
                    } else if b[i] == c {
                        break;
                    } else {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                }
                i += 1;
                out.push('?');
            }
            b'0'..=b'9' if !prev_is_word(&out) => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                out.push('?');
            }
            c if c.is_ascii_whitespace() => {
                push_space(&mut out);
                i += 1;
            }
            _ => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] >= 0x80 {
                    i += 1;
                }
                out.push_str(&sql[start..i]);
            }
        }
    }
    collapse_lists(out.trim_end())
}

fn prev_is_word(out: &str) -> bool {
    out.chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '`')
}

/// `(?, ?, ?)` → `(...)`, so IN lists and multi-row VALUES share a digest.
fn collapse_lists(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find("(?") {
        out.push_str(&rest[..p]);
        let tail = &rest[p + 1..];
        let end = tail.find(')').unwrap_or(tail.len());
        let inner = &tail[..end];
        if inner.split(',').all(|x| x.trim() == "?") {
            out.push_str("(...)");
            rest = tail.get(end + 1..).unwrap_or("");
            // `(...), (...), ...` → one.
            while let Some(r) = rest.strip_prefix(", (...)").or_else(|| rest.strip_prefix(",(...)")) {
                rest = r;
            }
            if rest.starts_with(", (?") || rest.starts_with(",(?") {
                let skip = rest.find('(').unwrap_or(0);
                let close = rest.find(')').map(|c| c + 1).unwrap_or(rest.len());
                if rest[skip + 1..close - 1].split(',').all(|x| x.trim() == "?") {
                    rest = &rest[close..];
                }
            }
        } else {
            out.push('(');
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_become_placeholders() {
        assert_eq!(
            normalize("SELECT * FROM t WHERE id = 42 AND name = 'o''k'"),
            "SELECT * FROM t WHERE id = ? AND name = ?"
        );
        assert_eq!(normalize("select  c from sbtest1\n where id=7"), "select c from sbtest1 where id=?");
        assert_eq!(normalize("SELECT a FROM t WHERE id IN (1, 2, 3)"), "SELECT a FROM t WHERE id IN (...)");
        assert_eq!(normalize("INSERT INTO t2 VALUES (1,'a'), (2,'b')"), "INSERT INTO t2 VALUES (...)");
        assert_eq!(normalize("SELECT x1 FROM t -- c\n"), "SELECT x1 FROM t");
    }

    #[test]
    fn slow_queries_are_kept() {
        let mut s = QueryStats::default();
        s.record("SELECT 1", Duration::from_millis(5), 1, true, Duration::from_millis(1));
        s.record("SELECT 2", Duration::from_micros(5), 1, false, Duration::from_millis(1));
        assert_eq!(s.slow.len(), 1);
        let d = &s.digests["SELECT ?"];
        assert_eq!((d.count, d.errors, d.rows), (2, 1, 2));
        assert_eq!(d.min, Duration::from_micros(5));
    }
}
