//! The page cache: PHP responses stored per core and served without
//! running the script again (the role of nginx's fastcgi_cache or
//! Varnish), with the semantics of a shared cache (RFC 9111).
//!
//! Each core owns its cache ([`PageCache`]): lookups and stores take no
//! lock and touch no other core. A purge must reach every core; the
//! composition root gives each core's cache a [`Fanout`] that carries a
//! purge to the others over the cross-core ring, and [`purge_here`] is what
//! runs when it arrives. Every response that went through the cache says
//! what happened in a `Cache-Status` header (RFC 9211).

pub mod policy;
pub mod purge;
pub mod store;

mod serve;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::time::Duration;

use globset::GlobSet;

pub use purge::Purge;
pub use serve::serve;
use store::Store;

/// `[server.cache]` as a core uses it.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Bytes of responses a core keeps.
    pub max_size: usize,
    /// Largest response stored.
    pub max_entry_size: usize,
    /// Lifetime of a storable response that names none.
    pub default_ttl: Duration,
    /// How long such a response may then be served stale while one
    /// request refreshes it.
    pub stale_while_revalidate: Duration,
    /// Cookie names (globs) whose presence bypasses the cache.
    pub bypass_cookies: GlobSet,
}

/// Carries a purge to every core (this one included) and resolves to the
/// number of responses removed once every core has done it.
pub trait Fanout {
    /// Purges everywhere.
    fn purge_everywhere(&self, purge: Purge) -> Pin<Box<dyn Future<Output = usize>>>;
}

/// A core's counters (read by the node API through the core's probe).
#[derive(Default)]
pub struct CacheStats {
    /// Served fresh from the cache.
    pub hits: Cell<u64>,
    /// Looked up and not found (or too stale): the script ran.
    pub misses: Cell<u64>,
    /// Did not use the cache (method, credentials, a listed cookie, a body).
    pub bypasses: Cell<u64>,
    /// Served stale while another request refreshed the response.
    pub stale: Cell<u64>,
    /// Responses stored.
    pub stores: Cell<u64>,
    /// Responses removed by purges.
    pub purged: Cell<u64>,
}

/// A snapshot of one core's cache figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheSnapshot {
    /// Served fresh from the cache.
    pub hits: u64,
    /// Looked up and not found.
    pub misses: u64,
    /// Did not use the cache.
    pub bypasses: u64,
    /// Served stale during a refresh.
    pub stale: u64,
    /// Responses stored.
    pub stores: u64,
    /// Responses removed by purges.
    pub purged: u64,
    /// Responses held now.
    pub entries: u64,
    /// Bytes held now.
    pub bytes: u64,
}

impl CacheSnapshot {
    /// Adds `other`'s figures to these.
    pub fn add(&mut self, other: &CacheSnapshot) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.bypasses += other.bypasses;
        self.stale += other.stale;
        self.stores += other.stores;
        self.purged += other.purged;
        self.entries += other.entries;
        self.bytes += other.bytes;
    }
}

/// One core's page cache.
pub struct PageCache {
    config: CacheConfig,
    store: RefCell<Store>,
    stats: CacheStats,
    fanout: Option<Box<dyn Fanout>>,
}

thread_local! {
    /// The cache of the core running on this thread, for purges that
    /// arrive from other cores and threads.
    static HERE: RefCell<Weak<PageCache>> = const { RefCell::new(Weak::new()) };
}

impl PageCache {
    /// A core's cache. `fanout` reaches every core; without one a purge
    /// is this core's only.
    pub fn new(config: CacheConfig, fanout: Option<Box<dyn Fanout>>) -> Rc<PageCache> {
        let store = RefCell::new(Store::new(config.max_size));
        Rc::new(PageCache { config, store, stats: CacheStats::default(), fanout })
    }

    /// Makes this the cache [`purge_here`] purges on the calling thread.
    pub fn register_here(self: &Rc<Self>) {
        HERE.with(|h| *h.borrow_mut() = Rc::downgrade(self));
    }

    /// Removes what `purge` names from this core's cache.
    pub fn purge_local(&self, purge: &Purge) -> usize {
        let n = self.store.borrow_mut().purge(purge);
        self.stats.purged.set(self.stats.purged.get() + n as u64);
        n
    }

    /// Removes what `purge` names from every core's cache; resolves when
    /// every core has.
    pub async fn purge_everywhere(&self, purge: Purge) -> usize {
        match &self.fanout {
            Some(f) => f.purge_everywhere(purge).await,
            None => self.purge_local(&purge),
        }
    }

    /// The core's figures now.
    pub fn snapshot(&self) -> CacheSnapshot {
        let s = &self.stats;
        let store = self.store.borrow();
        CacheSnapshot {
            hits: s.hits.get(),
            misses: s.misses.get(),
            bypasses: s.bypasses.get(),
            stale: s.stale.get(),
            stores: s.stores.get(),
            purged: s.purged.get(),
            entries: store.entries() as u64,
            bytes: store.bytes() as u64,
        }
    }

    fn count(&self, counter: &Cell<u64>) {
        counter.set(counter.get() + 1);
    }
}

/// Purges the cache of the core running on this thread (a purge that
/// came over the ring); 0 when this thread runs no cache.
pub fn purge_here(purge: &Purge) -> usize {
    HERE.with(|h| h.borrow().upgrade().map_or(0, |c| c.purge_local(purge)))
}
