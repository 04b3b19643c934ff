//! A script request through the cache: bypass, hit, stale hit, or a miss
//! that runs the script and stores what it answered when that may be
//! stored (a streamed answer is stored once it has ended whole).

use std::borrow::Cow;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::Stream;

use super::policy::{self, Bypass, NoStore, ResponseHeaders};
use super::store::{self, Key, KeyRef, Lookup, Stored, VaryValues};
use super::{PageCache, Purge};
use crate::app::ScriptHandler;
use crate::http1::response::ChunkStream;
use crate::http1::{Method, Request, RequestHead, Response, ResponseBody};
use crate::router::PhpTarget;

const CACHE_STATUS: &str = "Cache-Status";

/// Why the script ran although the cache was asked (RFC 9211 `fwd`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fwd {
    /// Nothing stored for the URL.
    UriMiss,
    /// Something stored for the URL, for other request header values.
    VaryMiss,
    /// This request refreshes a stale response.
    Stale,
}

impl Fwd {
    fn name(self) -> &'static str {
        match self {
            Fwd::UriMiss => "uri-miss",
            Fwd::VaryMiss => "vary-miss",
            Fwd::Stale => "stale",
        }
    }
}

/// Serves `req` for script `target` through `cache`, running the script
/// with `php` when the cache cannot answer.
pub async fn serve<P: ScriptHandler>(cache: &Rc<PageCache>, php: &P, target: &PhpTarget, req: Request<'_>) -> Response {
    let head = req.head;
    let has_body = req.body.declared_len() != Some(0);
    if let Some(why) = policy::bypass(head, has_body, &cache.config.bypass_cookies) {
        return bypass(cache, php, target, req, why).await;
    }
    let host = host_key(head);
    let key = KeyRef(&host, head.target(), req.secure);
    let now = Instant::now();
    let looked = cache.store.borrow_mut().lookup(key, head, now);
    let fwd = match looked {
        Lookup::Fresh(resp) => {
            cache.count(&cache.stats.hits);
            return from_store(&resp, head, now, "ephpm; hit");
        }
        Lookup::Stale { resp, refresh } if !refresh || head.method() == Method::Head => {
            if refresh {
                // A HEAD answer has no body to store: it cannot refresh.
                cache.store.borrow_mut().end_refresh(key);
            }
            cache.count(&cache.stats.stale);
            return from_store(&resp, head, now, "ephpm; hit; detail=stale");
        }
        Lookup::Stale { .. } => Fwd::Stale,
        Lookup::Miss { vary } => {
            if vary {
                Fwd::VaryMiss
            } else {
                Fwd::UriMiss
            }
        }
    };
    cache.count(&cache.stats.misses);
    let refresh = Refresh { cache: Rc::clone(cache), key: Key::new(key.0, key.1, key.2), active: fwd == Fwd::Stale };
    let resp = php.serve(target, req).await;
    store_response(cache, refresh, head, resp, fwd)
}

/// Runs the script without the cache. An unsafe method's success
/// invalidates what is stored for its URL on every core (RFC 9111
/// section 4.4) before the response goes out.
async fn bypass<P: ScriptHandler>(
    cache: &Rc<PageCache>,
    php: &P,
    target: &PhpTarget,
    req: Request<'_>,
    why: Bypass,
) -> Response {
    let head = req.head;
    cache.count(&cache.stats.bypasses);
    let unsafe_method = !matches!(head.method(), Method::Get | Method::Head | Method::Options);
    let mut resp = php.serve(target, req).await;
    if unsafe_method && (200..400).contains(&resp.status) {
        let host = host_key(head);
        let host = (!host.is_empty()).then(|| super::purge::strip_port(&host).to_string());
        cache.purge_everywhere(Purge::Url { host, target: head.target().to_string() }).await;
    }
    let status: &'static [u8] = match why {
        Bypass::Method => b"ephpm; fwd=bypass; detail=method",
        Bypass::Authorization => b"ephpm; fwd=bypass; detail=authorization",
        Bypass::Cookie => b"ephpm; fwd=bypass; detail=cookie",
        Bypass::Body => b"ephpm; fwd=bypass; detail=body",
    };
    resp.headers.push((CACHE_STATUS, Bytes::from_static(status)));
    resp
}

/// The request's Host, lower-cased (borrowed when it already is).
fn host_key(head: &RequestHead) -> Cow<'_, str> {
    let host = head.header_str("host").unwrap_or("");
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// A stored response as the answer to `head`: a 304 when the request's
/// If-None-Match names its ETag, the head alone for HEAD.
fn from_store(s: &Stored, head: &RequestHead, now: Instant, status: &'static str) -> Response {
    let mut r = Response::new(s.status);
    r.raw_headers = s.headers.clone();
    r.headers.push(("Age", Bytes::from(s.age_at(now).to_string())));
    r.headers.push((CACHE_STATUS, Bytes::from_static(status.as_bytes())));
    if let (Some(etag), Some(inm)) = (&s.etag, head.header("if-none-match")) {
        if (200..300).contains(&s.status) && etag_listed(inm, etag) {
            r.status = 304;
            return r;
        }
    }
    r.body = if head.method() == Method::Head {
        ResponseBody::HeadOnly(Some(s.body.len() as u64))
    } else {
        ResponseBody::Bytes(s.body.clone())
    };
    r
}

/// Whether an If-None-Match value lists `etag` (weak comparison).
fn etag_listed(if_none_match: &[u8], etag: &[u8]) -> bool {
    let bare = |t: &[u8]| -> Vec<u8> { t.trim_ascii().strip_prefix(b"W/").unwrap_or(t.trim_ascii()).to_vec() };
    let want = bare(etag);
    if_none_match.trim_ascii() == b"*" || if_none_match.split(|&b| b == b',').any(|t| bare(t) == want)
}

/// Ends a refresh when the request that took it on finishes without
/// storing (not storable, or the stream broke off), so another may.
struct Refresh {
    cache: Rc<PageCache>,
    key: Key,
    active: bool,
}

impl Drop for Refresh {
    fn drop(&mut self) {
        if self.active {
            self.cache.store.borrow_mut().end_refresh(self.key.as_ref());
        }
    }
}

/// What will be stored once a body is whole.
struct Pending {
    refresh: Refresh,
    vary: VaryValues,
    status: u16,
    headers: Bytes,
    etag: Option<Bytes>,
    age: u64,
    life: policy::Lifetime,
    stored_at: Instant,
}

impl Pending {
    fn store(self, body: Bytes) {
        let Pending { refresh, vary, status, headers, etag, age, life, stored_at } = self;
        let stored = Stored { status, headers, body, etag, stored_at, age, life };
        let cache = &refresh.cache;
        cache.store.borrow_mut().insert(refresh.key.as_ref(), vary, stored);
        cache.count(&cache.stats.stores);
    }
}

/// Stores `resp` when it may be, and marks it with what happened.
fn store_response(cache: &PageCache, refresh: Refresh, head: &RequestHead, mut resp: Response, fwd: Fwd) -> Response {
    let parsed = ResponseHeaders::parse(&resp.raw_headers);
    let cfg = &cache.config;
    let verdict =
        parsed.lifetime(resp.status, cfg.default_ttl, cfg.stale_while_revalidate).and_then(|life| match &resp.body {
            ResponseBody::HeadOnly(_) => Err(NoStore::Head),
            ResponseBody::File { .. } => Err(NoStore::Incomplete),
            b if b.len().is_some_and(|n| n > cfg.max_entry_size as u64) => Err(NoStore::TooLarge),
            _ => Ok(life),
        });
    let life = match verdict {
        Ok(life) => life,
        Err(why) => {
            let status = format!("ephpm; fwd={}; detail={}", fwd.name(), why.detail());
            resp.headers.push((CACHE_STATUS, Bytes::from(status)));
            return resp;
        }
    };
    let mut headers = Vec::with_capacity(parsed.stored.len() + 64);
    crate::http1::response::write_fields(&mut headers, &resp.headers);
    headers.extend_from_slice(&parsed.stored);
    let pending = Pending {
        refresh,
        vary: store::vary_values(head, &parsed.vary),
        status: resp.status,
        headers: Bytes::from(headers),
        age: parsed.age(),
        etag: parsed.etag.map(Bytes::from),
        life,
        stored_at: Instant::now(),
    };
    let stored = match std::mem::replace(&mut resp.body, ResponseBody::Empty) {
        ResponseBody::Bytes(b) => {
            pending.store(b.clone());
            resp.body = ResponseBody::Bytes(b);
            true
        }
        ResponseBody::Empty => {
            pending.store(Bytes::new());
            true
        }
        ResponseBody::Stream(inner) => {
            let tee = Tee { inner, parts: Vec::new(), len: 0, max: cfg.max_entry_size, pending: Some(pending) };
            resp.body = ResponseBody::Stream(Box::pin(tee));
            false
        }
        other => {
            resp.body = other;
            false
        }
    };
    let status = format!("ephpm; fwd={}{}", fwd.name(), if stored { "; stored" } else { "" });
    resp.headers.push((CACHE_STATUS, Bytes::from(status)));
    resp
}

/// A streamed body passed through whole, kept aside as it goes, and
/// stored when it ends complete and within `max`.
struct Tee {
    inner: ChunkStream,
    parts: Vec<Bytes>,
    len: usize,
    max: usize,
    /// `None` once storing is given up (or done).
    pending: Option<Pending>,
}

impl Stream for Tee {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = std::task::ready!(this.inner.as_mut().poll_next(cx));
        match &item {
            Some(Ok(chunk)) if this.pending.is_some() => {
                this.len += chunk.len();
                if this.len > this.max {
                    this.pending = None;
                    this.parts = Vec::new();
                } else {
                    this.parts.push(chunk.clone());
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) => this.pending = None,
            None => {
                if let Some(pending) = this.pending.take() {
                    pending.store(Bytes::from(std::mem::take(&mut this.parts).concat()));
                }
            }
        }
        Poll::Ready(item)
    }
}

#[cfg(test)]
mod tests {
    use super::etag_listed;

    #[test]
    fn etags_compare_weakly() {
        assert!(etag_listed(b"\"a\"", b"\"a\""));
        assert!(etag_listed(b"W/\"a\"", b"\"a\""));
        assert!(etag_listed(b"\"x\", W/\"a\"", b"W/\"a\""));
        assert!(etag_listed(b"*", b"\"a\""));
        assert!(!etag_listed(b"\"b\"", b"\"a\""));
    }
}
