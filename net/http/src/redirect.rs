//! The plain listener's answer while TLS is on: 308 to the same URL over
//! HTTPS, except ACME's HTTP-01 challenges, which must be answered over
//! plain HTTP.

use std::net::IpAddr;
use std::rc::Rc;

use bytes::Bytes;

use crate::http1::{Request, Response, Service};

/// Path prefix of ACME HTTP-01 challenges (RFC 8555, section 8.3).
pub const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Redirects plain-HTTP requests to HTTPS; passes the rest to `inner`.
pub struct HttpsRedirect<S> {
    inner: Rc<S>,
    /// The HTTPS port written into the location; `None` for 443.
    port: Option<u16>,
}

impl<S> HttpsRedirect<S> {
    /// Redirects to HTTPS on `tls_port`.
    pub fn new(inner: Rc<S>, tls_port: u16) -> Self {
        HttpsRedirect { inner, port: (tls_port != 443).then_some(tls_port) }
    }
}

impl<S: Service> Service for HttpsRedirect<S> {
    async fn call(&self, req: Request<'_>) -> Response {
        if req.secure || req.head.path().starts_with(ACME_CHALLENGE_PREFIX) {
            return self.inner.call(req).await;
        }
        let location = location(req.head.header_str("host"), req.local.ip(), self.port, req.head.target());
        Response::error(308, "this site is served over HTTPS").header("Location", Bytes::from(location))
    }
}

/// `https://host[:port]/target`. The host is the request's Host without
/// its port, when it is a plain host name or address; else the address
/// the request came in on.
pub fn location(host: Option<&str>, local: IpAddr, port: Option<u16>, target: &str) -> String {
    let host = host.map(strip_port).filter(|h| is_host(h));
    let host = match host {
        Some(h) => h.to_ascii_lowercase(),
        None => match local {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        },
    };
    // An origin-form target keeps its path and query; anything else
    // (absolute-form, `*`) goes to the root.
    let target = if target.starts_with('/') { target } else { "/" };
    match port {
        Some(p) => format!("https://{host}:{p}{target}"),
        None => format!("https://{host}{target}"),
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rfind(':').map_or(host, |i| &host[..i])
}

/// A host name, IPv4 address or bracketed IPv6 address: nothing that could
/// turn the location into another URL.
fn is_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !h.is_empty() && h.len() <= 253 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_path_and_query_and_drops_the_plain_port() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(location(Some("Example.com:8080"), lo, Some(8443), "/a?b=1"), "https://example.com:8443/a?b=1");
        assert_eq!(location(Some("example.com"), lo, None, "/"), "https://example.com/");
        assert_eq!(location(Some("[::1]:80"), lo, None, "/x"), "https://[::1]/x");
    }

    #[test]
    fn a_strange_host_becomes_the_local_address() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(location(Some("evil.com/x@"), lo, None, "/"), "https://127.0.0.1/");
        assert_eq!(location(None, "::1".parse().unwrap(), Some(4443), "*"), "https://[::1]:4443/");
        assert_eq!(location(Some("[nothex]"), lo, None, "/"), "https://127.0.0.1/");
    }
}
