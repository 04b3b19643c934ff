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
    /// A string stored zstd-compressed (over `kv.compression_threshold`
    /// and smaller so); clients see the plain string.
    Packed {
        /// The compressed bytes.
        data: Bytes,
        /// The plain string's length.
        len: usize,
    },
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
            Value::Str(_) | Value::Packed { .. } => "string",
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
            Value::Packed { data, .. } => data.len(),
            Value::Hash(h) => h.iter().map(|(k, v)| k.len() + v.len() + ELEMENT_OVERHEAD).sum(),
            Value::List(l) => l.iter().map(|v| v.len() + ELEMENT_OVERHEAD).sum(),
            Value::Set(s) => s.iter().map(|v| v.len() + ELEMENT_OVERHEAD).sum(),
            Value::ZSet(z) => z.scores.keys().map(|m| 2 * (m.len() + ELEMENT_OVERHEAD)).sum(),
        }
    }

    /// The plain string, if this is one (decompressed when packed).
    pub fn as_string(&self) -> Option<Bytes> {
        match self {
            Value::Str(b) => Some(b.clone()),
            Value::Packed { data, len } => zstd::bulk::decompress(data, *len).ok().map(Bytes::from),
            _ => None,
        }
    }

    /// Whether a collection has no elements left (Redis then deletes the
    /// key).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) | Value::Packed { .. } => false,
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
    /// When the key was last read or written (Unix ms), for LRU eviction.
    pub touched: u64,
    /// The keyspace's write clock at this entry's last change (WATCH).
    pub version: u64,
    /// The number of the last snapshot that copied this entry.
    pub saved: u32,
}

/// Per-entry bookkeeping counted on top of key and value bytes.
const ENTRY_OVERHEAD: usize = 64;
/// Keys sampled per eviction (as Redis's maxmemory-samples).
const EVICTION_SAMPLE: usize = 5;

/// What to do when a write would take the keyspace past its memory limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Eviction {
    /// Refuse the write with Redis's OOM error.
    #[default]
    NoEviction,
    /// Evict the least recently used of a sample of all keys.
    AllKeysLru,
    /// Evict the least recently used of a sample of keys with a TTL.
    VolatileLru,
    /// Evict a random key.
    AllKeysRandom,
    /// Evict the key with the nearest expiry among a sample with a TTL.
    VolatileTtl,
}

impl std::str::FromStr for Eviction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "noeviction" => Eviction::NoEviction,
            "allkeys-lru" => Eviction::AllKeysLru,
            "volatile-lru" => Eviction::VolatileLru,
            "allkeys-random" => Eviction::AllKeysRandom,
            "volatile-ttl" => Eviction::VolatileTtl,
            other => {
                return Err(format!(
                    "`{other}` is not one of noeviction, allkeys-lru, volatile-lru, allkeys-random, volatile-ttl"
                ))
            }
        })
    }
}

mod point_copy;

type Map = indexmap::IndexMap<Bytes, Entry, foldhash::fast::RandomState>;

/// One core's keyspace.
#[derive(Default)]
pub struct Keyspace {
    // An IndexMap (hashbrown inside) so that eviction and the expiry sweep
    // can sample random keys in O(1).
    map: Map,
    /// Keys with an expiry (for the sweep's sampling).
    volatile: usize,
    mem: usize,
    /// Most bytes this keyspace may hold; 0 is no limit.
    limit: usize,
    policy: Eviction,
    /// Strings longer than this are stored compressed when that is smaller;
    /// 0 turns compression off.
    compress_over: usize,
    rng: u64,
    /// Advances on every write; entries keep the value of their last one.
    clock: u64,
    /// Keys removed because they expired.
    pub expired: u64,
    /// Keys removed to stay within the memory limit.
    pub evicted: u64,
    /// Lookups that found a live key.
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Commands run on this keyspace.
    pub commands: u64,
    /// The snapshot being copied, if any.
    copy: Option<point_copy::PointCopy>,
    /// Snapshots begun so far (numbers them).
    snapshots: u32,
}

impl Keyspace {
    /// An empty keyspace without a memory limit.
    pub fn new() -> Self {
        Keyspace { rng: 0x9e37_79b9_7f4a_7c15, ..Keyspace::default() }
    }

    /// An empty keyspace holding at most `limit` bytes (0: no limit).
    pub fn with_limit(limit: usize, policy: Eviction) -> Self {
        Keyspace { limit, policy, ..Keyspace::new() }
    }

    /// Compresses strings longer than `threshold` bytes (0: never).
    pub fn with_compression(mut self, threshold: usize) -> Self {
        self.compress_over = threshold;
        self
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

    /// The live entry for `key` (an expired one is removed first); marks it
    /// used.
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        let Some(i) = self.live_index(key, now) else {
            self.misses += 1;
            return None;
        };
        self.hits += 1;
        let e = &mut self.map[i];
        e.touched = now;
        Some(e)
    }

    /// Changes the live entry for `key` in place with `f`, which keeps
    /// `entry.size` current; the keyspace's count follows, and a collection
    /// left empty is removed. `None` when there is no such key.
    pub fn update<R>(&mut self, key: &[u8], now: u64, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let i = self.live_index(key, now)?;
        self.preserve(i);
        self.clock += 1;
        let e = &mut self.map[i];
        e.touched = now;
        e.version = self.clock;
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
        let value = self.pack(value);
        let size = value.mem();
        let add = key.len() + size + ENTRY_OVERHEAD;
        if expires_at.is_some() {
            self.volatile += 1;
        }
        if self.copying() {
            if let Some(i) = self.map.get_index_of(&key) {
                self.preserve(i);
            }
        }
        self.clock += 1;
        let version = self.clock;
        // One hash lookup whether the key is new or replaced.
        match self.map.entry(key) {
            indexmap::map::Entry::Occupied(mut slot) => {
                let touched = slot.get().touched;
                let old =
                    std::mem::replace(slot.get_mut(), Entry { value, expires_at, size, touched, version, saved: 0 });
                let key_len = slot.key().len();
                self.forget(key_len, &old);
            }
            indexmap::map::Entry::Vacant(slot) => {
                slot.insert(Entry { value, expires_at, size, touched: 0, version, saved: 0 });
            }
        }
        self.mem += add;
    }

    /// Removes `key`; returns whether a live key was removed.
    pub fn remove(&mut self, key: &[u8], now: u64) -> bool {
        let Some(i) = self.live_index(key, now) else { return false };
        self.preserve_removal(i);
        if let Some((_, old)) = self.map.swap_remove_index(i) {
            self.forget(key.len(), &old);
        }
        true
    }

    /// The bytes `key` is counted for (MEMORY USAGE), if it exists.
    pub fn usage(&mut self, key: &[u8], now: u64) -> Option<usize> {
        self.live_index(key, now).map(|i| key.len() + self.map[i].size + ENTRY_OVERHEAD)
    }

    /// Keys that have a TTL.
    pub fn volatile(&self) -> usize {
        self.volatile
    }

    /// The version of the live `key` (WATCH): it changes whenever the key
    /// is written; `None` when the key does not exist.
    pub fn version(&mut self, key: &[u8], now: u64) -> Option<u64> {
        self.live_index(key, now).map(|i| self.map[i].version)
    }

    /// Removes `key` and returns its live value and expiry (RENAME).
    pub fn take(&mut self, key: &[u8], now: u64) -> Option<(Value, Option<u64>)> {
        let i = self.live_index(key, now)?;
        self.preserve_removal(i);
        let (_, old) = self.map.swap_remove_index(i)?;
        self.forget(key.len(), &old);
        Some((old.value, old.expires_at))
    }

    /// Sets or clears the expiry of a live key; false if there is none.
    pub fn set_expiry(&mut self, key: &[u8], at: Option<u64>, now: u64) -> bool {
        let Some(i) = self.live_index(key, now) else { return false };
        self.preserve(i);
        let e = &mut self.map[i];
        self.clock += 1;
        e.version = self.clock;
        match (e.expires_at.is_some(), at.is_some()) {
            (false, true) => self.volatile += 1,
            (true, false) => self.volatile -= 1,
            _ => {}
        }
        e.expires_at = at;
        true
    }

    /// Every live key (for KEYS on this core).
    pub fn keys(&self, now: u64) -> impl Iterator<Item = &Bytes> {
        self.map.iter().filter(move |(_, e)| e.expires_at.is_none_or(|t| t > now)).map(|(k, _)| k)
    }

    /// Compresses a long string when that makes it smaller.
    fn pack(&self, value: Value) -> Value {
        match value {
            Value::Str(b) if self.compress_over > 0 && b.len() > self.compress_over => {
                match zstd::bulk::compress(&b, 1) {
                    Ok(c) if c.len() < b.len() => Value::Packed { data: Bytes::from(c), len: b.len() },
                    _ => Value::Str(b),
                }
            }
            other => other,
        }
    }

    /// One SCAN step over this keyspace: up to `count` slots from
    /// `cursor`, keys matching `keep`; returns the next cursor (0 at the
    /// end) and the keys.
    pub fn scan(
        &self,
        cursor: usize,
        count: usize,
        now: u64,
        keep: impl Fn(&Bytes, &Entry) -> bool,
    ) -> (usize, Vec<Bytes>) {
        let end = cursor.saturating_add(count.max(1)).min(self.map.len());
        let keys = (cursor..end)
            .filter_map(|i| self.map.get_index(i))
            .filter(|(k, e)| e.expires_at.is_none_or(|t| t > now) && keep(k, e))
            .map(|(k, _)| k.clone())
            .collect();
        (if end >= self.map.len() { 0 } else { end }, keys)
    }

    /// Every live key with its value and expiry, copied for a snapshot
    /// (strings by reference count).
    pub fn snapshot_records(&self) -> Vec<(Bytes, Value, Option<u64>)> {
        let now = super::now_ms();
        self.map
            .iter()
            .filter(|(_, e)| e.expires_at.is_none_or(|t| t > now))
            .map(|(k, e)| (k.clone(), e.value.clone(), e.expires_at))
            .collect()
    }

    /// Removes every key that starts with `prefix`; returns how many live
    /// keys went.
    pub fn remove_prefix(&mut self, prefix: &[u8], now: u64) -> usize {
        let doomed: Vec<Bytes> = self.map.keys().filter(|k| k.starts_with(prefix)).cloned().collect();
        doomed.iter().filter(|k| self.remove(k, now)).count()
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.preserve_all();
        self.map.clear();
        self.volatile = 0;
        self.mem = 0;
    }

    /// Makes room before a write: while over the limit, evicts by the
    /// policy. Returns false (the write must be refused with OOM) when the
    /// policy forbids evicting or nothing more can be evicted.
    pub fn make_room(&mut self) -> bool {
        while self.limit > 0 && self.mem > self.limit {
            let victim = match self.policy {
                Eviction::NoEviction => None,
                Eviction::AllKeysRandom => {
                    self.random_index().and_then(|i| self.map.get_index(i)).map(|(k, _)| k.clone())
                }
                Eviction::AllKeysLru => self.pick(false, |e| e.touched),
                Eviction::VolatileLru => self.pick(true, |e| e.touched),
                Eviction::VolatileTtl => self.pick(true, |e| e.expires_at.unwrap_or(u64::MAX)),
            };
            let Some(i) = victim.and_then(|key| self.map.get_index_of(&key)) else { return false };
            self.preserve_removal(i);
            if let Some((key, old)) = self.map.swap_remove_index(i) {
                self.forget(key.len(), &old);
                self.evicted += 1;
            }
        }
        true
    }

    /// The sampled key with the lowest `rank` (only keys with a TTL when
    /// `volatile`).
    fn pick(&mut self, volatile: bool, rank: impl Fn(&Entry) -> u64) -> Option<Bytes> {
        if volatile && self.volatile == 0 {
            return None;
        }
        let mut best: Option<(u64, usize)> = None;
        let tries = if volatile { EVICTION_SAMPLE * 8 } else { EVICTION_SAMPLE };
        let mut found = 0;
        for _ in 0..tries {
            let i = self.random_index()?;
            let (_, e) = self.map.get_index(i)?;
            if volatile && e.expires_at.is_none() {
                continue;
            }
            let r = rank(e);
            if best.is_none_or(|(b, _)| r < b) {
                best = Some((r, i));
            }
            found += 1;
            if found == EVICTION_SAMPLE {
                break;
            }
        }
        if best.is_none() && volatile {
            // Few keys have a TTL: sampling missed them; find one.
            best = self.map.values().position(|e| e.expires_at.is_some()).map(|i| (0, i));
        }
        best.and_then(|(_, i)| self.map.get_index(i)).map(|(k, _)| k.clone())
    }

    fn random_index(&mut self) -> Option<usize> {
        if self.map.is_empty() {
            return None;
        }
        // xorshift64: sampling needs spread, not secrecy.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Some((self.rng % self.map.len() as u64) as usize)
    }

    /// Active expiry: checks up to `sample` random keys with an expiry and
    /// removes the due ones. Returns how many were removed; the caller
    /// repeats while a large share of the sample was due (as Redis does).
    pub fn sweep(&mut self, sample: usize, now: u64) -> usize {
        let mut removed = 0;
        let mut checked = 0;
        for _ in 0..sample * 4 {
            if self.volatile == 0 || checked == sample {
                break;
            }
            let Some(i) = self.random_index() else { break };
            let Some((_, e)) = self.map.get_index(i) else { break };
            let Some(t) = e.expires_at else { continue };
            checked += 1;
            if t <= now {
                self.preserve_removal(i);
                if let Some((k, old)) = self.map.swap_remove_index(i) {
                    self.forget(k.len(), &old);
                    self.expired += 1;
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Where `key`'s live entry is, removing it first if it has expired:
    /// one hash lookup, then index access.
    fn live_index(&mut self, key: &[u8], now: u64) -> Option<usize> {
        let i = self.map.get_index_of(key)?;
        if self.map[i].expires_at.is_some_and(|t| t <= now) {
            self.preserve_removal(i);
            if let Some((k, old)) = self.map.swap_remove_index(i) {
                self.forget(k.len(), &old);
                self.expired += 1;
            }
            return None;
        }
        Some(i)
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
        let mut swept = 0;
        for _ in 0..100 {
            swept += ks.sweep(20, 20);
        }
        assert_eq!(swept, 50);
        assert_eq!(ks.len(), 1);
        assert_eq!(ks.expired, 51);
    }

    #[test]
    fn every_lookup_removes_an_expired_key_first() {
        let mut ks = Keyspace::new();
        let dead = |ks: &mut Keyspace| ks.set(Bytes::from_static(b"k"), s("v"), Some(10));
        dead(&mut ks);
        assert_eq!((ks.volatile(), ks.version(b"k", 9).is_some()), (1, true));
        assert!(ks.update(b"k", 10, |_| ()).is_none());
        assert_eq!((ks.len(), ks.memory(), ks.volatile(), ks.expired), (0, 0, 0, 1));
        for lookup in [
            (|ks: &mut Keyspace| ks.remove(b"k", 10)) as fn(&mut Keyspace) -> bool,
            |ks| ks.take(b"k", 10).is_some(),
            |ks| ks.set_expiry(b"k", None, 10),
            |ks| ks.usage(b"k", 10).is_some(),
            |ks| ks.version(b"k", 10).is_some(),
            |ks| ks.get(b"k", 10).is_some(),
        ] {
            dead(&mut ks);
            assert!(!lookup(&mut ks));
            assert_eq!((ks.len(), ks.memory(), ks.volatile()), (0, 0, 0));
        }
        assert_eq!(ks.expired, 7);
        // Replacing a key counts its memory once and keeps its LRU stamp.
        ks.set(Bytes::from_static(b"k"), s("one"), None);
        ks.get(b"k", 5);
        let one = ks.memory();
        ks.set(Bytes::from_static(b"k"), s("two"), Some(50));
        assert_eq!((ks.memory(), ks.volatile(), ks.len()), (one, 1, 1));
        assert_eq!(ks.map[0].touched, 5);
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

    #[test]
    fn long_strings_are_stored_compressed_when_smaller() {
        let mut ks = Keyspace::new().with_compression(100);
        let text = Bytes::from("abc".repeat(10_000));
        ks.set(Bytes::from_static(b"big"), Value::Str(text.clone()), None);
        assert!(ks.memory() < 2_000, "{}", ks.memory());
        assert_eq!(ks.get(b"big", 0).unwrap().value.as_string(), Some(text));
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        ks.set(Bytes::from_static(b"noise"), Value::Str(Bytes::from(noise.clone())), None);
        assert!(matches!(ks.get(b"noise", 0).unwrap().value, Value::Str(_)), "kept plain: not smaller");
    }

    #[test]
    fn eviction_policies() {
        let fill = |ks: &mut Keyspace| {
            for i in 0..100u64 {
                ks.set(Bytes::from(format!("k{i}")), s("0123456789"), (i % 2 == 0).then_some(1_000_000 + i));
                ks.get(format!("k{i}").as_bytes(), i);
                assert!(ks.make_room());
            }
        };
        let mut ks = Keyspace::with_limit(4000, Eviction::NoEviction);
        for i in 0..100u64 {
            ks.set(Bytes::from(format!("k{i}")), s("0123456789"), None);
        }
        assert!(!ks.make_room(), "noeviction refuses");
        for policy in [Eviction::AllKeysLru, Eviction::AllKeysRandom, Eviction::VolatileLru, Eviction::VolatileTtl] {
            let mut ks = Keyspace::with_limit(4000, policy);
            fill(&mut ks);
            assert!(ks.memory() <= 4000, "{policy:?}");
            assert!(ks.evicted > 0, "{policy:?}");
            if matches!(policy, Eviction::VolatileLru | Eviction::VolatileTtl) {
                assert!(
                    (1..100).step_by(2).all(|i| ks.get(format!("k{i}").as_bytes(), 200).is_some()),
                    "{policy:?} kept keys without a TTL"
                );
            }
        }
        // LRU keeps recently used keys: the newest few survive.
        let mut ks = Keyspace::with_limit(4000, Eviction::AllKeysLru);
        fill(&mut ks);
        assert!(ks.get(b"k99", 200).is_some());
    }
}
