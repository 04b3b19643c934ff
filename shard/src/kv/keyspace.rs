//! One core's keys: a hash map of entries with optional expiry, lazy
//! expiry on access plus an active, sample-based sweep, and a running
//! count of the memory the entries take.

use std::collections::VecDeque;

use bytes::Bytes;
use hashbrown::{HashMap, HashSet};

/// A stored value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A binary-safe string.
    Str(Bytes),
    /// A hash: field → value.
    Hash(HashMap<Bytes, Bytes>),
    /// A list.
    List(VecDeque<Bytes>),
    /// A set.
    Set(HashSet<Bytes>),
    /// A sorted set.
    ZSet(ZSet),
}

/// A score with a total order (NaN never gets in: commands refuse it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted set: members by score (ties by member bytes) and each
/// member's score.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSet {
    /// Member → score.
    pub scores: HashMap<Bytes, f64>,
    /// (score, member) in order.
    pub ordered: std::collections::BTreeSet<(Score, Bytes)>,
}

impl ZSet {
    /// Sets `member`'s score; returns the previous one.
    pub fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        let old = self.scores.insert(member.clone(), score);
        if let Some(o) = old {
            self.ordered.remove(&(Score(o), member.clone()));
        }
        self.ordered.insert((Score(score), member));
        old
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (m, s) = self.scores.remove_entry(member)?;
        self.ordered.remove(&(Score(s), m));
        Some(s)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

/// Bookkeeping counted per element of a collection.
pub const ELEMENT_OVERHEAD: usize = 16;

impl Value {
    /// The Redis type name (TYPE).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// Approximate heap bytes (walks collections: for new values only;
    /// changes are then counted by deltas).
    pub fn mem(&self) -> usize {
        match self {
            Value::Str(b) => b.len(),
            Value::Hash(h) => h.iter().map(|(k, v)| k.len() + v.len() + ELEMENT_OVERHEAD).sum(),
            Value::List(l) => l.iter().map(|v| v.len() + ELEMENT_OVERHEAD).sum(),
            Value::Set(s) => s.iter().map(|v| v.len() + ELEMENT_OVERHEAD).sum(),
            Value::ZSet(z) => z.scores.keys().map(|m| 2 * (m.len() + ELEMENT_OVERHEAD)).sum(),
        }
    }

    /// Whether a collection has no elements left (Redis then deletes the
    /// key).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
}

/// A key's entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Expiry in Unix milliseconds, if any.
    pub expires_at: Option<u64>,
    /// The value's counted size; code that changes the value in place
    /// keeps it current (see [`Keyspace::update`]).
    pub size: usize,
}

/// Per-entry bookkeeping counted on top of key and value bytes.
const ENTRY_OVERHEAD: usize = 64;

/// One core's keyspace.
#[derive(Default)]
pub struct Keyspace {
    map: HashMap<Bytes, Entry>,
    /// Keys with an expiry (for the sweep's sampling).
    volatile: usize,
    mem: usize,
    /// Keys removed because they expired.
    pub expired: u64,
}

impl Keyspace {
    /// An empty keyspace.
    pub fn new() -> Self {
        Keyspace::default()
    }

    /// Number of keys (expired ones not yet removed included).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Approximate memory the entries take.
    pub fn memory(&self) -> usize {
        self.mem
    }

    /// The live entry for `key` (an expired one is removed first).
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        self.expire_if_due(key, now);
        self.map.get(key)
    }

    /// Changes the live entry for `key` in place with `f`, which keeps
    /// `entry.size` current; the keyspace's count follows, and a collection
    /// left empty is removed. `None` when there is no such key.
    pub fn update<R>(&mut self, key: &[u8], now: u64, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        self.expire_if_due(key, now);
        let e = self.map.get_mut(key)?;
        let before = e.size;
        let r = f(e);
        let (after, empty) = (e.size, e.value.is_empty_collection());
        self.mem = (self.mem + after).saturating_sub(before);
        if empty {
            self.remove(key, now);
        }
        Some(r)
    }

    /// Stores `value` under `key` with `expires_at`, replacing any entry.
    pub fn set(&mut self, key: Bytes, value: Value, expires_at: Option<u64>) {
        let size = value.mem();
        let add = key.len() + size + ENTRY_OVERHEAD;
        if expires_at.is_some() {
            self.volatile += 1;
        }
        if let Some(old) = self.map.insert(key.clone(), Entry { value, expires_at, size }) {
            self.forget(key.len(), &old);
        }
        self.mem += add;
    }

    /// Removes `key`; returns whether a live key was removed.
    pub fn remove(&mut self, key: &[u8], now: u64) -> bool {
        self.expire_if_due(key, now);
        match self.map.remove(key) {
            Some(old) => {
                self.forget(key.len(), &old);
                true
            }
            None => false,
        }
    }

    /// Sets or clears the expiry of a live key; false if there is none.
    pub fn set_expiry(&mut self, key: &[u8], at: Option<u64>, now: u64) -> bool {
        self.expire_if_due(key, now);
        let Some(e) = self.map.get_mut(key) else { return false };
        match (e.expires_at.is_some(), at.is_some()) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile -= 1,
            _ => {}
        }
        e.expires_at = at;
        true
    }

    /// Every live key (for KEYS and SCAN on this core).
    pub fn keys(&self, now: u64) -> impl Iterator<Item = &Bytes> {
        self.map.iter().filter(move |(_, e)| e.expires_at.is_none_or(|t| t > now)).map(|(k, _)| k)
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.map.clear();
        self.volatile = 0;
        self.mem = 0;
    }

    /// Active expiry: checks up to `sample` keys with an expiry and removes
    /// the due ones. Returns how many were removed; the caller repeats
    /// while a large share of the sample was due (as Redis does).
    pub fn sweep(&mut self, sample: usize, now: u64) -> usize {
        if self.volatile == 0 {
            return 0;
        }
        // hashbrown iterates in bucket order; starting at a moving offset
        // would be fairer, but a full pass over a sample of volatile keys
        // is enough to keep expired keys from piling up.
        let due: Vec<Bytes> = self
            .map
            .iter()
            .filter(|(_, e)| e.expires_at.is_some())
            .take(sample)
            .filter(|(_, e)| e.expires_at.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &due {
            if let Some(old) = self.map.remove(k) {
                self.forget(k.len(), &old);
                self.expired += 1;
            }
        }
        due.len()
    }

    fn expire_if_due(&mut self, key: &[u8], now: u64) {
        let due = self.map.get(key).is_some_and(|e| e.expires_at.is_some_and(|t| t <= now));
        if due {
            if let Some(old) = self.map.remove(key) {
                self.forget(key.len(), &old);
                self.expired += 1;
            }
        }
    }

    fn forget(&mut self, key_len: usize, old: &Entry) {
        if old.expires_at.is_some() {
            self.volatile -= 1;
        }
        self.mem = self.mem.saturating_sub(key_len + old.size + ENTRY_OVERHEAD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(Bytes::copy_from_slice(v.as_bytes()))
    }

    #[test]
    fn expiry_is_lazy_and_swept() {
        let mut ks = Keyspace::new();
        ks.set(Bytes::from_static(b"a"), s("1"), Some(100));
        ks.set(Bytes::from_static(b"b"), s("2"), None);
        assert!(ks.get(b"a", 99).is_some());
        assert!(ks.get(b"a", 100).is_none());
        assert_eq!(ks.len(), 1);
        for i in 0..50 {
            ks.set(Bytes::from(format!("t{i}")), s("x"), Some(10));
        }
        assert_eq!(ks.sweep(100, 20), 50);
        assert_eq!(ks.len(), 1);
        assert_eq!(ks.expired, 51);
    }

    #[test]
    fn memory_is_counted_and_returned() {
        let mut ks = Keyspace::new();
        ks.set(Bytes::from_static(b"k"), s("value"), None);
        let one = ks.memory();
        assert!(one >= 6);
        ks.set(Bytes::from_static(b"k"), s("v"), None);
        assert!(ks.memory() < one);
        assert!(ks.remove(b"k", 0));
        assert_eq!(ks.memory(), 0);
    }
}
