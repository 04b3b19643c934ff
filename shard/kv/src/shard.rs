//! A core's keyspace as the core and its own PHP threads share it. The
//! lock is taken only by that core and its PHP threads (pinned to the same
//! CPU); other cores reach the keys through the core's node, over the
//! mesh, and never lock them.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::keyspace::Keyspace;

/// One core's keys, and whether a cross-core transaction holds them.
pub struct Shard {
    keys: Keyspace,
    /// A transaction (MULTI/EXEC, RENAME, ...) holds the shard: a PHP
    /// thread must not touch the keys in place but queue behind it through
    /// the core's node.
    pub held: bool,
}

impl Shard {
    /// A shard over `keys`, not held.
    pub fn new(keys: Keyspace) -> Self {
        Shard { keys, held: false }
    }
}

impl Deref for Shard {
    type Target = Keyspace;

    fn deref(&self) -> &Keyspace {
        &self.keys
    }
}

impl DerefMut for Shard {
    fn deref_mut(&mut self) -> &mut Keyspace {
        &mut self.keys
    }
}

/// A core's shard, shared with that core's own PHP threads only.
pub type SharedKeyspace = Arc<Mutex<Shard>>;

/// A new shared shard over `keys`.
pub fn shared(keys: Keyspace) -> SharedKeyspace {
    Arc::new(Mutex::new(Shard::new(keys)))
}

/// Locks a shard. A panic while it was held cannot leave it half changed
/// in a way later commands mind, so a poisoned lock is used on.
pub fn lock(ks: &SharedKeyspace) -> MutexGuard<'_, Shard> {
    ks.lock().unwrap_or_else(|p| p.into_inner())
}
