//! The page cache's composition: each core's [`PageCache`] gets a
//! [`Fanout`] that carries purges to the other cores over the KV mesh
//! (the one cross-core ring between cores), where they run as
//! [`Op::Run`] on the owning core.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use ephpm_http::cache::{purge_here, CacheConfig, Fanout, PageCache, Purge};
use ephpm_kv::node::{Answer, Op};
use ephpm_kv::{KvNode, Reply};
use futures_util::future::join_all;

use crate::config::Config;

/// `[server.cache]` as the cores use it; `None` when off.
pub(crate) fn config(cfg: &Config) -> Result<Option<CacheConfig>, String> {
    let c = &cfg.server.cache;
    if !c.enabled {
        return Ok(None);
    }
    Ok(Some(CacheConfig {
        max_size: c.max_size.0 as usize,
        max_entry_size: c.max_entry_size.0 as usize,
        default_ttl: c.default_ttl.0,
        stale_while_revalidate: c.stale_while_revalidate.0,
        bypass_cookies: c.cookie_globs()?,
    }))
}

/// Builds a core's cache and makes it the one purges arriving on this
/// thread reach.
pub(crate) fn start(config: CacheConfig, node: Rc<KvNode>, cores: usize) -> Rc<PageCache> {
    let cache = PageCache::new(config, Some(Box::new(MeshFanout { node, cores })));
    cache.register_here();
    cache
}

/// Purges every core: this one in place, the others over the mesh, all at
/// once.
struct MeshFanout {
    node: Rc<KvNode>,
    cores: usize,
}

impl Fanout for MeshFanout {
    fn purge_everywhere(&self, purge: Purge) -> Pin<Box<dyn Future<Output = usize>>> {
        let (node, cores) = (Rc::clone(&self.node), self.cores);
        Box::pin(async move {
            let here = purge_here(&purge);
            let others = (0..cores).filter(|&c| c != node.core()).map(|core| {
                let purge = purge.clone();
                let node = Rc::clone(&node);
                async move {
                    let op = Op::Run(Box::new(move || Reply::Int(purge_here(&purge) as i64)));
                    match node.ask(core, op).await {
                        Answer::Reply(Reply::Int(n)) => n as usize,
                        _ => 0,
                    }
                }
            });
            here + join_all(others).await.into_iter().sum::<usize>()
        })
    }
}
