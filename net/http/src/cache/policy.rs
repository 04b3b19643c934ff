//! What may be cached (RFC 9111, for a shared cache): which requests may
//! use the cache, and whether and for how long a response may be stored.

use std::time::{Duration, SystemTime};

use globset::GlobSet;

use crate::http1::{Method, RequestHead};

/// Why a request does not use the cache at all (neither served from it
/// nor stored); shown in `Cache-Status` as `fwd=bypass`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bypass {
    /// Not GET or HEAD.
    Method,
    /// The request carries credentials (Authorization).
    Authorization,
    /// A cookie named in `server.cache.bypass_cookies`.
    Cookie,
    /// The request has a body.
    Body,
}

impl Bypass {
    /// The `detail` in `Cache-Status`.
    pub fn detail(self) -> &'static str {
        match self {
            Bypass::Method => "method",
            Bypass::Authorization => "authorization",
            Bypass::Cookie => "cookie",
            Bypass::Body => "body",
        }
    }
}

/// Decides whether `head` may be answered from the cache. Request
/// Cache-Control and Pragma are ignored, as nginx and Varnish do: a client
/// must not be able to empty a shared cache by asking.
pub fn bypass(head: &RequestHead, has_body: bool, cookies: &GlobSet) -> Option<Bypass> {
    if !matches!(head.method(), Method::Get | Method::Head) {
        return Some(Bypass::Method);
    }
    if has_body {
        return Some(Bypass::Body);
    }
    let mut bypass = None;
    for (name, value) in head.headers() {
        if name.eq_ignore_ascii_case("authorization") {
            return Some(Bypass::Authorization);
        }
        if name.eq_ignore_ascii_case("cookie") && has_listed_cookie(value, cookies) {
            bypass = Some(Bypass::Cookie);
        }
    }
    bypass
}

/// Whether a Cookie header names a cookie that `globs` matches.
fn has_listed_cookie(header: &[u8], globs: &GlobSet) -> bool {
    if globs.is_empty() {
        return false;
    }
    header.split(|&b| b == b';').any(|pair| {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        std::str::from_utf8(name).is_ok_and(|n| !n.trim().is_empty() && globs.is_match(n.trim()))
    })
}

/// Statuses a cache may store without an explicit lifetime (RFC 9110
/// section 15.1: "heuristically cacheable").
const HEURISTIC: &[u16] = &[200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// How long a stored response stays fresh and then may be served stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    /// Fresh for this long after it was stored (its Age already taken off).
    pub fresh: Duration,
    /// After that, served stale for this long while one request refreshes it.
    pub stale: Duration,
}

/// Why a response was not stored (the `detail` of `Cache-Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoStore {
    /// Cache-Control no-store, no-cache or private.
    Directive,
    /// It sets a cookie.
    SetCookie,
    /// `Vary: *`.
    VaryAny,
    /// A status that needs an explicit lifetime and has none.
    Status,
    /// Its lifetime is zero.
    Expired,
    /// A HEAD request's answer has no body to store.
    Head,
    /// Larger than `server.cache.max_entry_size`.
    TooLarge,
    /// The script streamed an error or broke off.
    Incomplete,
}

impl NoStore {
    /// The `detail` in `Cache-Status`.
    pub fn detail(self) -> &'static str {
        match self {
            NoStore::Directive => "no-store",
            NoStore::SetCookie => "set-cookie",
            NoStore::VaryAny => "vary",
            NoStore::Status => "status",
            NoStore::Expired => "expired",
            NoStore::Head => "head",
            NoStore::TooLarge => "too-large",
            NoStore::Incomplete => "incomplete",
        }
    }
}

/// What the cache needs from a response's header lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResponseHeaders {
    /// Header lines to store: everything but Age (added when served).
    pub stored: Vec<u8>,
    /// Request header names the response varies on, lower-cased.
    pub vary: Vec<String>,
    /// `Vary: *`.
    pub vary_any: bool,
    /// A Set-Cookie line is present.
    pub set_cookie: bool,
    /// The ETag, as sent.
    pub etag: Option<Vec<u8>>,
    cache_control: Vec<String>,
    expires: Option<Vec<u8>>,
    date: Option<Vec<u8>>,
    age: u64,
}

impl ResponseHeaders {
    /// Reads serialized header lines ("Name: value\r\n" each).
    pub fn parse(raw: &[u8]) -> ResponseHeaders {
        let mut h = ResponseHeaders::default();
        for line in raw.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
            let name = String::from_utf8_lossy(&line[..colon]).trim().to_ascii_lowercase();
            let value = line[colon + 1..].trim_ascii();
            match name.as_str() {
                "age" => {
                    h.age = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
                    continue;
                }
                "cache-control" => h.cache_control.extend(directives(value)),
                "vary" => {
                    for field in String::from_utf8_lossy(value).split(',') {
                        let field = field.trim().to_ascii_lowercase();
                        match field.as_str() {
                            "" => {}
                            "*" => h.vary_any = true,
                            _ if !h.vary.contains(&field) => h.vary.push(field),
                            _ => {}
                        }
                    }
                }
                "set-cookie" => h.set_cookie = true,
                "etag" => h.etag = Some(value.to_vec()),
                "expires" => h.expires = Some(value.to_vec()),
                "date" => h.date = Some(value.to_vec()),
                _ => {}
            }
            h.stored.extend_from_slice(line);
            h.stored.extend_from_slice(b"\r\n");
        }
        h
    }

    /// The Age the response came with, in seconds.
    pub fn age(&self) -> u64 {
        self.age
    }

    fn has(&self, directive: &str) -> bool {
        self.cache_control.iter().any(|d| d == directive || d.starts_with(&format!("{directive}=")))
    }

    fn seconds(&self, directive: &str) -> Option<u64> {
        let prefix = format!("{directive}=");
        self.cache_control
            .iter()
            .find_map(|d| d.strip_prefix(&prefix))
            .map(|v| v.trim_matches('"').parse().unwrap_or(0))
    }

    /// Whether (and for how long) a response with `status` and these
    /// headers may be stored. `default_ttl` and `default_stale` apply
    /// only when the response names no lifetime of its own.
    pub fn lifetime(&self, status: u16, default_ttl: Duration, default_stale: Duration) -> Result<Lifetime, NoStore> {
        if self.has("no-store") || self.has("no-cache") || self.has("private") {
            return Err(NoStore::Directive);
        }
        if self.set_cookie {
            return Err(NoStore::SetCookie);
        }
        if self.vary_any {
            return Err(NoStore::VaryAny);
        }
        if matches!(status, 100..=199 | 206 | 304) {
            return Err(NoStore::Status);
        }
        let explicit = self.explicit_lifetime();
        let (fresh, stale) = match explicit {
            Some(fresh) => {
                let revalidate = self.has("must-revalidate") || self.has("proxy-revalidate") || self.has("s-maxage");
                let stale = if revalidate { 0 } else { self.seconds("stale-while-revalidate").unwrap_or(0) };
                (Duration::from_secs(fresh.saturating_sub(self.age)), Duration::from_secs(stale))
            }
            None if HEURISTIC.contains(&status) || self.has("public") => (default_ttl, default_stale),
            None => return Err(NoStore::Status),
        };
        if fresh.is_zero() && stale.is_zero() {
            return Err(NoStore::Expired);
        }
        Ok(Lifetime { fresh, stale })
    }

    /// s-maxage, else max-age, else Expires less Date (or now), in seconds.
    fn explicit_lifetime(&self) -> Option<u64> {
        if let Some(s) = self.seconds("s-maxage") {
            return Some(s);
        }
        if let Some(s) = self.seconds("max-age") {
            return Some(s);
        }
        let expires = self.expires.as_ref()?;
        // An invalid Expires means already expired (RFC 9111 section 5.3).
        let Some(at) = http_date(expires) else { return Some(0) };
        let now = self.date.as_deref().and_then(http_date).unwrap_or_else(SystemTime::now);
        Some(at.duration_since(now).map_or(0, |d| d.as_secs()))
    }
}

/// The lower-cased directives of a Cache-Control value.
fn directives(value: &[u8]) -> impl Iterator<Item = String> + '_ {
    value
        .split(|&b| b == b',')
        .map(|d| String::from_utf8_lossy(d).trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

fn http_date(v: &[u8]) -> Option<SystemTime> {
    httpdate::parse_http_date(std::str::from_utf8(v).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);
    const STALE: Duration = Duration::from_secs(30);

    fn life(raw: &str, status: u16) -> Result<Lifetime, NoStore> {
        ResponseHeaders::parse(raw.as_bytes()).lifetime(status, TTL, STALE)
    }

    fn secs(fresh: u64, stale: u64) -> Result<Lifetime, NoStore> {
        Ok(Lifetime { fresh: Duration::from_secs(fresh), stale: Duration::from_secs(stale) })
    }

    #[test]
    fn lifetimes_follow_the_directives() {
        assert_eq!(life("Content-Type: text/html\r\n", 200), secs(60, 30));
        assert_eq!(life("Cache-Control: max-age=10\r\n", 200), secs(10, 0));
        assert_eq!(life("Cache-Control: public, max-age=10, s-maxage=99\r\n", 200), secs(99, 0));
        assert_eq!(life("Cache-Control: max-age=10, stale-while-revalidate=5\r\n", 200), secs(10, 5));
        assert_eq!(life("Cache-Control: max-age=10, stale-while-revalidate=5, must-revalidate\r\n", 200), secs(10, 0));
        assert_eq!(life("Cache-Control: max-age=10\r\nAge: 4\r\n", 200), secs(6, 0));
        assert_eq!(life("cache-control: MAX-AGE=0\r\n", 200), Err(NoStore::Expired));
        for never in ["no-store", "no-cache", "private", "no-cache=\"Set-Cookie\"", "private, max-age=60"] {
            assert_eq!(life(&format!("Cache-Control: {never}\r\n"), 200), Err(NoStore::Directive), "{never}");
        }
        assert_eq!(life("Set-Cookie: a=1\r\n", 200), Err(NoStore::SetCookie));
        assert_eq!(life("Vary: Cookie, *\r\n", 200), Err(NoStore::VaryAny));
    }

    #[test]
    fn statuses_without_a_lifetime_need_one() {
        assert_eq!(life("", 404), secs(60, 30));
        assert_eq!(life("", 302), Err(NoStore::Status));
        assert_eq!(life("", 500), Err(NoStore::Status));
        assert_eq!(life("Cache-Control: max-age=5\r\n", 302), secs(5, 0));
        assert_eq!(life("Cache-Control: public\r\n", 302), secs(60, 30));
        assert_eq!(life("Cache-Control: max-age=5\r\n", 206), Err(NoStore::Status));
    }

    #[test]
    fn expires_counts_from_date() {
        let raw = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nExpires: Sun, 06 Nov 1994 08:50:37 GMT\r\n";
        assert_eq!(life(raw, 200), secs(60, 0));
        assert_eq!(life("Expires: 0\r\n", 200), Err(NoStore::Expired));
        assert_eq!(life("Expires: Thu, 19 Nov 1981 08:52:00 GMT\r\n", 200), Err(NoStore::Expired));
    }

    #[test]
    fn stored_lines_drop_age_and_vary_is_read() {
        let h = ResponseHeaders::parse(b"Age: 3\r\nVary: Accept-Encoding, accept-encoding,Origin\r\nX-A: b\r\n");
        assert_eq!(h.stored, b"Vary: Accept-Encoding, accept-encoding,Origin\r\nX-A: b\r\n");
        assert_eq!(h.vary, ["accept-encoding", "origin"]);
        assert_eq!(h.age(), 3);
    }

    #[test]
    fn cookies_match_by_name() {
        let mut b = globset::GlobSetBuilder::new();
        b.add(globset::Glob::new("wordpress_logged_in_*").unwrap());
        b.add(globset::Glob::new("PHPSESSID").unwrap());
        let g = b.build().unwrap();
        assert!(has_listed_cookie(b"a=1; wordpress_logged_in_abc=x", &g));
        assert!(has_listed_cookie(b"PHPSESSID=1", &g));
        assert!(!has_listed_cookie(b"a=wordpress_logged_in_abc; wordpress_test_cookie=1", &g));
        assert!(!has_listed_cookie(b"phpsessid2=1", &g));
    }
}
