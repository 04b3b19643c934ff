//! One core's stored responses: a map from host and request target to the
//! variants stored for it (one per set of values of the request headers
//! its response varies on), bounded in bytes. Eviction is CLOCK (second
//! chance): a hit only sets a flag, so serving from the cache allocates
//! nothing and moves nothing.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::{Equivalent, HashMap};

use super::policy::Lifetime;
use super::purge::Purge;
use crate::http1::RequestHead;

/// A stored response.
#[derive(Debug)]
pub struct Stored {
    /// Status code.
    pub status: u16,
    /// Header lines as the script sent them (Age left out).
    pub headers: Bytes,
    /// The whole body.
    pub body: Bytes,
    /// The ETag, for conditional requests.
    pub etag: Option<Bytes>,
    /// When it was stored.
    pub stored_at: Instant,
    /// The Age it came with, in seconds.
    pub age: u64,
    /// How long it stays fresh, then may be served stale.
    pub life: Lifetime,
}

impl Stored {
    /// Its Age at `now`, in seconds.
    pub fn age_at(&self, now: Instant) -> u64 {
        self.age + now.saturating_duration_since(self.stored_at).as_secs()
    }

    /// How long it has been stale at `now` (zero while fresh).
    fn staleness(&self, now: Instant) -> Option<Duration> {
        let stale_from = self.stored_at + self.life.fresh;
        now.checked_duration_since(stale_from).filter(|d| !d.is_zero())
    }

    fn cost(&self, key: &Key) -> usize {
        // The map slot, the Rc and the header vectors, roughly.
        const OVERHEAD: usize = 256;
        self.body.len() + self.headers.len() + key.host.len() + key.target.len() + OVERHEAD
    }
}

/// (name, value) of each request header a response varies on; `None`:
/// the request had no such header.
pub type VaryValues = Vec<(String, Option<Vec<u8>>)>;

/// A stored response and the request header values it was stored for.
struct Variant {
    vary: VaryValues,
    resp: Rc<Stored>,
    cost: usize,
}

#[derive(Default)]
struct Slot {
    variants: Vec<Variant>,
    /// A request is refreshing a stale variant (the others get it stale).
    refreshing: bool,
    /// Hit since the clock hand last passed.
    used: bool,
}

/// Where a stored response lives: the request's host (lower-cased, port
/// kept), target (path and query, as sent) and scheme (an HTTPS page may
/// differ from the same URL over HTTP: links, cookies, redirects).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    host: Box<str>,
    target: Box<str>,
    secure: bool,
}

impl Key {
    /// The key of `host`, `target` and the scheme (`secure` for HTTPS).
    pub fn new(host: &str, target: &str, secure: bool) -> Key {
        Key { host: host.into(), target: target.into(), secure }
    }

    /// The key borrowed, for lookups.
    pub fn as_ref(&self) -> KeyRef<'_> {
        KeyRef(&self.host, &self.target, self.secure)
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_ref().hash(h);
    }
}

/// A key borrowed from a request, to look up without allocating: host,
/// target, HTTPS.
#[derive(Clone, Copy)]
pub struct KeyRef<'a>(pub &'a str, pub &'a str, pub bool);

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h);
        self.1.hash(h);
        self.2.hash(h);
    }
}

impl Equivalent<Rc<Key>> for KeyRef<'_> {
    fn equivalent(&self, key: &Rc<Key>) -> bool {
        *key.host == *self.0 && *key.target == *self.1 && key.secure == self.2
    }
}

/// What a lookup found.
pub enum Lookup {
    /// A fresh response.
    Fresh(Rc<Stored>),
    /// A stale response inside its stale-while-revalidate window; `refresh`:
    /// this request is the one that refreshes it (it goes to the script,
    /// and must call [`Store::end_refresh`] or [`Store::insert`]).
    Stale {
        /// The stale response.
        resp: Rc<Stored>,
        /// This request refreshes it.
        refresh: bool,
    },
    /// Nothing usable; `vary`: responses exist for other header values.
    Miss {
        /// A variant for other request header values exists.
        vary: bool,
    },
}

/// Most variants kept per URL; a new one beyond replaces the oldest.
const MAX_VARIANTS: usize = 16;
/// One core's stored responses.
pub struct Store {
    map: HashMap<Rc<Key>, Slot, foldhash::fast::RandomState>,
    /// The CLOCK ring: every key once per insertion (purged keys linger
    /// until the hand reaches them).
    clock: VecDeque<Rc<Key>>,
    bytes: usize,
    entries: usize,
    max: usize,
}

impl Store {
    /// An empty store that keeps at most `max` bytes.
    pub fn new(max: usize) -> Store {
        Store { map: HashMap::default(), clock: VecDeque::new(), bytes: 0, entries: 0, max }
    }

    /// Bytes stored (bodies, headers and an estimate of the overhead).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Responses stored (every variant counts).
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Looks `key` up for `head` at `now`.
    pub fn lookup(&mut self, key: KeyRef<'_>, head: &RequestHead, now: Instant) -> Lookup {
        let Some(slot) = self.map.get_mut(&key) else { return Lookup::Miss { vary: false } };
        let Some(v) = slot.variants.iter().find(|v| vary_matches(&v.vary, head)) else {
            return Lookup::Miss { vary: true };
        };
        slot.used = true;
        let Some(stale_for) = v.resp.staleness(now) else { return Lookup::Fresh(Rc::clone(&v.resp)) };
        if stale_for > v.resp.life.stale {
            return Lookup::Miss { vary: false };
        }
        let refresh = !std::mem::replace(&mut slot.refreshing, true);
        Lookup::Stale { resp: Rc::clone(&v.resp), refresh }
    }

    /// A refresh ended without storing (the new response was not
    /// storable, or the request broke off).
    pub fn end_refresh(&mut self, key: KeyRef<'_>) {
        if let Some(slot) = self.map.get_mut(&key) {
            slot.refreshing = false;
        }
    }

    /// Stores `resp` for `key` and the request header values `vary`,
    /// replacing what was stored for the same values, and evicts until the
    /// store fits.
    pub fn insert(&mut self, key: KeyRef<'_>, vary: VaryValues, resp: Stored) {
        let owned = Key::new(key.0, key.1, key.2);
        let cost = resp.cost(&owned);
        if let Some(slot) = self.map.get_mut(&key) {
            slot.refreshing = false;
        }
        if cost > self.max {
            return;
        }
        let variant = Variant { vary, resp: Rc::new(resp), cost };
        if !self.map.contains_key(&key) {
            let k = Rc::new(owned);
            self.clock.push_back(Rc::clone(&k));
            self.map.insert(k, Slot::default());
        }
        let Some(slot) = self.map.get_mut(&key) else { return };
        let same = slot.variants.iter().position(|v| same_values(&v.vary, &variant.vary));
        let replaced = match same {
            Some(i) => Some(std::mem::replace(&mut slot.variants[i], variant)),
            None if slot.variants.len() >= MAX_VARIANTS => {
                slot.variants.push(variant);
                Some(slot.variants.remove(0))
            }
            None => {
                slot.variants.push(variant);
                None
            }
        };
        self.bytes += cost;
        self.entries += 1;
        if let Some(old) = replaced {
            self.bytes -= old.cost;
            self.entries -= 1;
        }
        self.evict();
    }

    /// Removes what `purge` names; the number of responses removed.
    pub fn purge(&mut self, purge: &Purge) -> usize {
        let mut removed = 0;
        let (bytes, entries) = (&mut self.bytes, &mut self.entries);
        self.map.retain(|key, slot| {
            if !purge.matches(&key.host, &key.target) {
                return true;
            }
            for v in &slot.variants {
                *bytes -= v.cost;
                *entries -= 1;
                removed += 1;
            }
            false
        });
        if self.map.is_empty() {
            self.clock.clear();
        } else if self.clock.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.clock.retain(|k| map.contains_key(k));
        }
        removed
    }

    /// Evicts by CLOCK until the store fits in its budget.
    fn evict(&mut self) {
        while self.bytes > self.max {
            let Some(key) = self.clock.pop_front() else { break };
            let Some(slot) = self.map.get_mut(&key) else { continue };
            if slot.used {
                slot.used = false;
                self.clock.push_back(key);
                continue;
            }
            if let Some(slot) = self.map.remove(&key) {
                for v in &slot.variants {
                    self.bytes -= v.cost;
                    self.entries -= 1;
                }
            }
        }
    }
}

/// The values `head` has for the header names in `names`.
pub fn vary_values(head: &RequestHead, names: &[String]) -> VaryValues {
    names.iter().map(|name| (name.clone(), request_value(head, name).map(|v| v.into_owned()))).collect()
}

/// Whether the request has the values a variant was stored for.
fn vary_matches(vary: &VaryValues, head: &RequestHead) -> bool {
    vary.iter().all(|(name, want)| request_value(head, name).as_deref() == want.as_deref())
}

fn same_values(a: &VaryValues, b: &VaryValues) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// The request's value of header `name`: its fields joined with ", ", as
/// one field (RFC 9110 section 5.3), borrowed when there is one.
fn request_value<'a>(head: &'a RequestHead, name: &str) -> Option<std::borrow::Cow<'a, [u8]>> {
    let mut fields = head.headers().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let first = fields.next()?;
    match fields.next() {
        None => Some(std::borrow::Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = [first, b", ", second].concat();
            for more in fields {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(more);
            }
            Some(std::borrow::Cow::Owned(joined))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::Limits;

    fn head(raw: &str) -> RequestHead {
        let mut h = RequestHead::default();
        h.parse(raw.as_bytes(), &Limits::default()).unwrap().unwrap();
        h
    }

    fn stored(body: &str, fresh: u64, stale: u64, at: Instant) -> Stored {
        Stored {
            status: 200,
            headers: Bytes::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
            etag: None,
            stored_at: at,
            age: 0,
            life: Lifetime { fresh: Duration::from_secs(fresh), stale: Duration::from_secs(stale) },
        }
    }

    fn body(l: Lookup) -> String {
        match l {
            Lookup::Fresh(s) => format!("fresh:{}", String::from_utf8_lossy(&s.body)),
            Lookup::Stale { resp, refresh } => format!("stale:{}:{refresh}", String::from_utf8_lossy(&resp.body)),
            Lookup::Miss { vary } => format!("miss:{vary}"),
        }
    }

    #[test]
    fn variants_are_kept_per_vary_value() {
        let mut s = Store::new(1 << 20);
        let now = Instant::now();
        let gz = head("GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n");
        let plain = head("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        let vary = ["accept-encoding".to_string()];
        s.insert(KeyRef("h", "/", false), vary_values(&gz, &vary), stored("gz", 60, 0, now));
        assert_eq!(body(s.lookup(KeyRef("h", "/", false), &plain, now)), "miss:true");
        s.insert(KeyRef("h", "/", false), vary_values(&plain, &vary), stored("plain", 60, 0, now));
        assert_eq!(body(s.lookup(KeyRef("h", "/", false), &gz, now)), "fresh:gz");
        assert_eq!(body(s.lookup(KeyRef("h", "/", false), &plain, now)), "fresh:plain");
        assert_eq!(body(s.lookup(KeyRef("other", "/", false), &plain, now)), "miss:false");
        s.insert(KeyRef("h", "/", false), vary_values(&gz, &vary), stored("gz2", 60, 0, now));
        assert_eq!((s.entries(), body(s.lookup(KeyRef("h", "/", false), &gz, now))), (2, "fresh:gz2".into()));
    }

    #[test]
    fn one_request_refreshes_a_stale_entry() {
        let mut s = Store::new(1 << 20);
        let then = Instant::now();
        let h = head("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        s.insert(KeyRef("", "/", false), Vec::new(), stored("a", 1, 10, then));
        let later = then + Duration::from_secs(3);
        assert_eq!(body(s.lookup(KeyRef("", "/", false), &h, later)), "stale:a:true");
        assert_eq!(body(s.lookup(KeyRef("", "/", false), &h, later)), "stale:a:false");
        s.end_refresh(KeyRef("", "/", false));
        assert_eq!(body(s.lookup(KeyRef("", "/", false), &h, later)), "stale:a:true");
        assert_eq!(body(s.lookup(KeyRef("", "/", false), &h, then + Duration::from_secs(12))), "miss:false");
        s.insert(KeyRef("", "/", false), Vec::new(), stored("b", 1, 10, later));
        assert_eq!(body(s.lookup(KeyRef("", "/", false), &h, later)), "fresh:b");
    }

    #[test]
    fn evicts_the_unused_first_and_purges() {
        let h = head("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let now = Instant::now();
        let big = "x".repeat(1000);
        let mut s = Store::new(3 * 1300);
        for p in ["/a", "/b", "/c"] {
            s.insert(KeyRef("", p, false), Vec::new(), stored(&big, 60, 0, now));
        }
        assert!(matches!(s.lookup(KeyRef("", "/a", false), &h, now), Lookup::Fresh(_)));
        s.insert(KeyRef("", "/d", false), Vec::new(), stored(&big, 60, 0, now));
        assert!(matches!(s.lookup(KeyRef("", "/a", false), &h, now), Lookup::Fresh(_)), "a was used: kept");
        assert!(matches!(s.lookup(KeyRef("", "/b", false), &h, now), Lookup::Miss { .. }), "b was not: evicted");
        assert!(s.bytes() <= 3 * 1300);
        assert_eq!(s.purge(&Purge::parse("/*").unwrap()), 3);
        assert_eq!((s.bytes(), s.entries()), (0, 0));
        s.insert(KeyRef("", "/e", false), Vec::new(), stored(&big, 60, 0, now));
        assert_eq!(s.purge(&Purge::parse("/f").unwrap()), 0);
        assert_eq!(s.purge(&Purge::All), 1);
    }
}
