//! A snapshot copied while the keyspace keeps serving: the copy of every
//! key as it was at one point, taken a few keys at a time.
//!
//! At the point, the snapshot notes the write clock (its epoch). A key
//! whose version is at most the epoch is still as it was then. The copy
//! walks the table in index order; before any write changes or removes a
//! key that is still as it was and not yet copied, the key is copied first
//! (copy-on-write, per key). Each entry notes the number of the last
//! snapshot that copied it, so no key is copied twice. Removing a key
//! moves the table's last key into its slot: when that slot was already
//! walked, the moved key is copied first, or the walk would miss it.

use super::Keyspace;
use crate::snapshot::Record;

/// A snapshot in progress in one keyspace.
pub(super) struct PointCopy {
    /// This snapshot's number (entries note it once copied).
    number: u32,
    /// The write clock at the point.
    epoch: u64,
    /// The point's time: keys expired by then are left out.
    at: u64,
    /// The next table index the walk copies.
    cursor: usize,
    /// What has been copied so far.
    out: Vec<Record>,
}

impl Keyspace {
    /// Starts a snapshot at this point (a snapshot still in progress is
    /// dropped); copy it with [`Keyspace::copy_step`].
    pub fn begin_snapshot(&mut self, now: u64) {
        self.snapshots = self.snapshots.wrapping_add(1).max(1);
        self.copy = Some(PointCopy {
            number: self.snapshots,
            epoch: self.clock,
            at: now,
            cursor: 0,
            out: Vec::with_capacity(self.map.len()),
        });
    }

    /// Copies up to `n` more keys of the snapshot in progress; once every
    /// key is copied, ends the snapshot and returns its records.
    pub fn copy_step(&mut self, n: usize) -> Option<Vec<Record>> {
        let (start, end) = {
            let copy = self.copy.as_ref()?;
            (copy.cursor, copy.cursor.saturating_add(n).min(self.map.len()))
        };
        for i in start..end {
            self.preserve(i);
        }
        let copy = self.copy.as_mut()?;
        copy.cursor = end;
        if end < self.map.len() {
            return None;
        }
        let copy = self.copy.take()?;
        let at = copy.at;
        let mut out = copy.out;
        out.retain(|(_, _, expires)| expires.is_none_or(|t| t > at));
        Some(out)
    }

    /// Whether a snapshot is being copied.
    pub fn copying(&self) -> bool {
        self.copy.is_some()
    }

    /// Before the entry at `i` changes: copies it if the snapshot in
    /// progress still needs it.
    pub(super) fn preserve(&mut self, i: usize) {
        let Some(copy) = self.copy.as_mut() else { return };
        let Some((key, e)) = self.map.get_index_mut(i) else { return };
        if e.version <= copy.epoch && e.saved != copy.number {
            e.saved = copy.number;
            copy.out.push((key.clone(), e.value.clone(), e.expires_at));
        }
    }

    /// Before the entry at `i` is swap-removed: copies it, and the last
    /// entry too when it is about to move into a slot already walked.
    pub(super) fn preserve_removal(&mut self, i: usize) {
        let Some(cursor) = self.copy.as_ref().map(|c| c.cursor) else { return };
        self.preserve(i);
        let last = self.map.len().saturating_sub(1);
        if i < cursor && last != i {
            self.preserve(last);
        }
    }

    /// Before every entry goes (FLUSHALL): copies all the snapshot needs.
    pub(super) fn preserve_all(&mut self) {
        let Some(cursor) = self.copy.as_ref().map(|c| c.cursor) else { return };
        for i in cursor..self.map.len() {
            self.preserve(i);
        }
        if let Some(copy) = self.copy.as_mut() {
            copy.cursor = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::{Keyspace, Value};

    fn s(v: &str) -> Value {
        Value::Str(Bytes::copy_from_slice(v.as_bytes()))
    }

    fn key(i: usize) -> Bytes {
        Bytes::from(format!("k{i}"))
    }

    /// Writes, removals, expiry and a flush between the steps of a copy
    /// never change what it holds: every key as it was at the point, once.
    #[test]
    fn a_copy_holds_the_point_whatever_happens_between_steps() {
        for scenario in 0..4 {
            let mut ks = Keyspace::new();
            for i in 0..1000 {
                ks.set(key(i), s(&format!("v{i}")), None);
            }
            ks.set(Bytes::from_static(b"gone-soon"), s("x"), Some(1));
            let now = 1_000_000;
            ks.begin_snapshot(now);
            let mut out = None;
            let mut step = 0;
            while out.is_none() {
                out = ks.copy_step(37);
                step += 1;
                // Between steps: overwrite, remove (moving the last key into
                // walked slots), add, change in place, and in one scenario
                // flush everything.
                let i = (step * 53) % 1000;
                match scenario {
                    0 => ks.set(key(i), s("changed"), None),
                    1 => {
                        ks.remove(&key(i), now);
                        ks.remove(&key(999 - i), now);
                    }
                    2 => {
                        ks.set(Bytes::from(format!("new{step}")), s("new"), None);
                        ks.update(&key(i), now, |e| e.value = s("in place"));
                        ks.set_expiry(&key((i + 1) % 1000), Some(5), now);
                    }
                    _ if step == 5 => ks.clear(),
                    _ => {}
                }
            }
            let mut got: Vec<(Bytes, Value)> = out.unwrap().into_iter().map(|(k, v, _)| (k, v)).collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            let mut want: Vec<(Bytes, Value)> = (0..1000).map(|i| (key(i), s(&format!("v{i}")))).collect();
            want.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(got.len(), want.len(), "scenario {scenario}: keys copied");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.0, w.0, "scenario {scenario}");
                assert_eq!(g.1.as_string(), w.1.as_string(), "scenario {scenario}: {:?}", g.0);
            }
            assert!(!ks.copying());
        }
    }
}
