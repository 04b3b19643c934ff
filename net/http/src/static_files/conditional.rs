//! Conditional requests (RFC 9110 section 13): If-None-Match,
//! If-Modified-Since and If-Range.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::http1::RequestHead;

/// Whether the client's copy is current (answer 304).
pub(super) fn not_modified(head: &RequestHead, etag: &[u8], mtime: SystemTime) -> bool {
    if let Some(inm) = head.header("if-none-match") {
        // If-None-Match takes precedence; weak comparison.
        return etag_list_matches(inm, etag);
    }
    match head.header_str("if-modified-since").and_then(|v| httpdate::parse_http_date(v).ok()) {
        Some(since) => secs(mtime) <= secs(since),
        None => false,
    }
}

/// Whether a Range header may be honoured: If-Range absent or matching.
pub(super) fn if_range_allows(head: &RequestHead, etag: &[u8], mtime: SystemTime) -> bool {
    let Some(v) = head.header("if-range") else {
        return true;
    };
    if v.starts_with(b"\"") {
        // Strong comparison for If-Range.
        return v == etag;
    }
    std::str::from_utf8(v).ok().and_then(|s| httpdate::parse_http_date(s).ok()).is_some_and(|d| secs(d) == secs(mtime))
}

fn etag_list_matches(list: &[u8], etag: &[u8]) -> bool {
    let ours = strip_weak(etag);
    list.split(|b| *b == b',').map(crate::http1::parser::trim).any(|t| t == b"*" || strip_weak(t) == ours)
}

fn strip_weak(t: &[u8]) -> &[u8] {
    t.strip_prefix(b"W/").unwrap_or(t)
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
