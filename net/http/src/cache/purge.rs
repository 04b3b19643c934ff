//! What a purge removes: one URL, every URL under a prefix, or everything;
//! on one host or on any.

/// A purge request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purge {
    /// Every stored response.
    All,
    /// The responses of one request target (path and query).
    Url {
        /// The host (port left out), or `None` for every host.
        host: Option<String>,
        /// The request target, e.g. `/2024/01/hello/` or `/?p=1`.
        target: String,
    },
    /// The responses of every target that starts with `prefix`.
    Prefix {
        /// The host (port left out), or `None` for every host.
        host: Option<String>,
        /// The start of the targets, e.g. `/blog/`.
        prefix: String,
    },
}

impl Purge {
    /// Reads the form `ephpm_cache_purge()` takes: `"*"` is everything; a
    /// trailing `*` makes a prefix; `http://host/path` names one host,
    /// `/path` every host.
    pub fn parse(spec: &str) -> Result<Purge, String> {
        let spec = spec.trim();
        if spec == "*" {
            return Ok(Purge::All);
        }
        let (host, path) = split_url(spec)?;
        Ok(match path.strip_suffix('*') {
            Some(prefix) => Purge::Prefix { host, prefix: prefix.to_string() },
            None => Purge::Url { host, target: path.to_string() },
        })
    }

    /// A prefix purge (`url` may be absolute, as in [`Purge::parse`]).
    pub fn prefix(url: &str) -> Result<Purge, String> {
        let (host, prefix) = split_url(url.trim())?;
        Ok(Purge::Prefix { host, prefix: prefix.to_string() })
    }

    /// Whether the stored response of `host` (as the request sent it,
    /// lower-cased) and `target` goes.
    pub fn matches(&self, host: &str, target: &str) -> bool {
        let same_host = |want: &Option<String>| want.as_deref().is_none_or(|h| h == strip_port(host));
        match self {
            Purge::All => true,
            Purge::Url { host: h, target: t } => same_host(h) && t == target,
            Purge::Prefix { host: h, prefix } => same_host(h) && target.starts_with(prefix.as_str()),
        }
    }
}

/// Splits `http(s)://host[:port]/path` into the lower-cased host without
/// its port and the path; a bare `/path` has no host.
fn split_url(spec: &str) -> Result<(Option<String>, &str), String> {
    if spec.starts_with('/') {
        return Ok((None, spec));
    }
    let rest = spec
        .strip_prefix("http://")
        .or_else(|| spec.strip_prefix("https://"))
        .ok_or_else(|| format!("`{spec}` is not `*`, a path starting with `/` or an http(s) URL"))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    if authority.is_empty() {
        return Err(format!("`{spec}` has no host"));
    }
    Ok((Some(strip_port(&authority.to_ascii_lowercase()).to_string()), path))
}

/// A host without its port (IPv6 literals keep their brackets).
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rfind(':').map_or(host, |i| &host[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(Purge::parse("*"), Ok(Purge::All));
        assert_eq!(Purge::parse("/a?b=1"), Ok(Purge::Url { host: None, target: "/a?b=1".into() }));
        assert_eq!(Purge::parse("/blog/*"), Ok(Purge::Prefix { host: None, prefix: "/blog/".into() }));
        assert_eq!(
            Purge::parse("https://Example.COM:8443/x"),
            Ok(Purge::Url { host: Some("example.com".into()), target: "/x".into() })
        );
        assert_eq!(Purge::parse("http://h"), Ok(Purge::Url { host: Some("h".into()), target: "/".into() }));
        assert!(Purge::parse("ftp://h/").is_err());
        assert!(Purge::parse("x").is_err());
        assert!(Purge::parse("http:///x").is_err());
    }

    #[test]
    fn matches_hosts_without_ports() {
        let p = Purge::parse("http://example.com/a").unwrap();
        assert!(p.matches("example.com:8080", "/a"));
        assert!(p.matches("example.com", "/a"));
        assert!(!p.matches("other.com", "/a"));
        assert!(!p.matches("example.com", "/a/b"));
        let p = Purge::parse("/a*").unwrap();
        assert!(p.matches("any", "/a/b") && p.matches("[::1]:80", "/abc") && !p.matches("any", "/b"));
        assert!(Purge::parse("http://[::1]/").unwrap().matches("[::1]:8080", "/"));
    }
}
