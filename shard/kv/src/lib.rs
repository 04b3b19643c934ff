//! ephpm's KV store. Each core owns the keys that hash to it
//! ([`shard_of`]) in its own [`Keyspace`], shared only with that core's
//! PHP threads ([`shard`]). An operation on another core's key travels
//! over the mesh to that core's [`node`]; commands that must be atomic
//! across cores hold the shards they touch ([`transaction`]); snapshots
//! are taken by the cores themselves at one consistent point
//! ([`snapshot`]). This crate knows no wire protocol: RESP is
//! `ephpm-resp`'s, PHP's access is [`client`].

#![warn(missing_docs)]

pub mod client;
pub mod command;
pub mod figures;
mod glob;
pub use glob::glob_match;
pub mod keyspace;
pub mod multikey;
pub mod node;
pub mod pubsub;
pub mod reply;
pub mod shard;
pub mod snapshot;
pub mod table;
pub mod transaction;

pub use client::{KvClient, KvInbox};
pub use figures::ShardFigures;
pub use keyspace::{Eviction, Keyspace};
pub use node::{KvMsg, KvNode};
pub use reply::Reply;
pub use shard::SharedKeyspace;

use std::hash::{BuildHasher, Hasher};

/// The core that owns `key` among `cores` cores. Stable for the life of
/// the process (the same fixed-seed hash on every core).
pub fn shard_of(key: &[u8], cores: usize) -> usize {
    if cores <= 1 {
        return 0;
    }
    let mut h = foldhash::fast::FixedState::with_seed(0x6570_686d).build_hasher();
    h.write(key);
    (h.finish() % cores as u64) as usize
}

/// Milliseconds since the Unix epoch (the clock TTLs are kept in).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn keys_spread_over_cores_and_stay_put() {
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            let k = format!("key:{i}");
            let s = shard_of(k.as_bytes(), 4);
            assert_eq!(s, shard_of(k.as_bytes(), 4));
            counts[s] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        assert_eq!(shard_of(b"x", 1), 0);
    }
}
