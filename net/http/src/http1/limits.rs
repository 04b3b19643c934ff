//! The limits and timeouts one connection enforces.

use std::time::Duration;

/// Limits applied to every request; each breach is answered as RFC 9110 says.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Request line plus headers, in bytes (431 beyond).
    pub max_head_size: usize,
    /// Number of header fields (431 beyond).
    pub max_headers: usize,
    /// Request body, in bytes (413 beyond).
    pub max_body_size: u64,
    /// Time to receive a complete request head once its first byte arrived
    /// (408 beyond).
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection is kept open.
    pub keep_alive_timeout: Duration,
    /// Time to receive a whole request (head and body) and send its
    /// response (408 while reading; the connection is closed while writing).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: 16 * 1024,
            max_headers: 100,
            max_body_size: 8 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            request_timeout: Duration::from_secs(60),
        }
    }
}
