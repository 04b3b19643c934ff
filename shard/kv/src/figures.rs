//! One shard's figures, as INFO and the node API report them.

use crate::keyspace::Keyspace;

/// One KV shard's figures at one moment.
#[derive(Clone, Debug, Default)]
pub struct ShardFigures {
    /// Keys (expired ones not yet removed included).
    pub keys: u64,
    /// Keys with a TTL.
    pub volatile: u64,
    /// Approximate bytes held.
    pub memory: u64,
    /// Lookups that found a key.
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Keys evicted for the memory limit.
    pub evictions: u64,
    /// Keys removed because they expired.
    pub expirations: u64,
    /// Commands run.
    pub commands: u64,
    /// Batches taken from the cross-core rings.
    pub mesh_batches: u64,
    /// Messages in those batches (over `mesh_batches`: the mean batch).
    pub mesh_messages: u64,
}

impl ShardFigures {
    /// The figures of `ks` now.
    pub fn of(ks: &Keyspace) -> Self {
        ShardFigures {
            keys: ks.len() as u64,
            volatile: ks.volatile() as u64,
            memory: ks.memory() as u64,
            hits: ks.hits,
            misses: ks.misses,
            evictions: ks.evicted,
            expirations: ks.expired,
            commands: ks.commands,
            // The node's, not the keyspace's: see KvNode::figures.
            mesh_batches: 0,
            mesh_messages: 0,
        }
    }

    /// Adds `other`'s figures to these.
    pub fn add(&mut self, other: &ShardFigures) {
        self.keys += other.keys;
        self.volatile += other.volatile;
        self.memory += other.memory;
        self.hits += other.hits;
        self.misses += other.misses;
        self.evictions += other.evictions;
        self.expirations += other.expirations;
        self.commands += other.commands;
        self.mesh_batches += other.mesh_batches;
        self.mesh_messages += other.mesh_messages;
    }
}
