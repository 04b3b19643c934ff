//! Set commands on one key (the multi-key ones are gathered by the
//! connection layer from SMEMBERS of each key).

use bytes::Bytes;
use hashbrown::HashSet;

use super::{arity, parse_i64, scan_pattern, scan_result};
use crate::glob_match;
use crate::keyspace::{Entry, Keyspace, Value, ELEMENT_OVERHEAD};
use crate::reply::Reply;

/// Largest |count| SRANDMEMBER answers (a negative count may repeat
/// members, so the set's size does not bound the reply).
const MAX_RANDOM_COUNT: u64 = 1 << 24;

/// Runs `name` if it is a set command.
pub(super) fn run(ks: &mut Keyspace, name: &str, a: &[Bytes], now: u64) -> Option<Reply> {
    let r = match name {
        "SADD" => arity(name, a, 2, usize::MAX).unwrap_or_else(|| {
            match ks.get(&a[0], now) {
                None => ks.set(a[0].clone(), Value::Set(HashSet::new()), None),
                Some(Entry { value: Value::Set(_), .. }) => {}
                Some(_) => return Reply::wrong_type(),
            }
            mutate(ks, &a[0], now, |s, size| {
                let mut added = 0;
                for m in &a[1..] {
                    if s.insert(m.clone()) {
                        *size += m.len() + ELEMENT_OVERHEAD;
                        added += 1;
                    }
                }
                Reply::Int(added)
            })
        }),
        "SREM" => arity(name, a, 2, usize::MAX).unwrap_or_else(|| {
            mutate(ks, &a[0], now, |s, size| {
                let mut removed = 0;
                for m in &a[1..] {
                    if s.remove(m) {
                        *size -= m.len() + ELEMENT_OVERHEAD;
                        removed += 1;
                    }
                }
                Reply::Int(removed)
            })
        }),
        "SMEMBERS" => arity(name, a, 1, 1)
            .unwrap_or_else(|| read(ks, &a[0], now, |s| Reply::Array(s.iter().cloned().map(Reply::Bulk).collect()))),
        "SISMEMBER" => {
            arity(name, a, 2, 2).unwrap_or_else(|| read(ks, &a[0], now, |s| Reply::Int(i64::from(s.contains(&a[1])))))
        }
        "SMISMEMBER" => arity(name, a, 2, usize::MAX).unwrap_or_else(|| {
            read(ks, &a[0], now, |s| {
                Reply::Array(a[1..].iter().map(|m| Reply::Int(i64::from(s.contains(m)))).collect())
            })
        }),
        "SCARD" => arity(name, a, 1, 1).unwrap_or_else(|| read(ks, &a[0], now, |s| Reply::Int(s.len() as i64))),
        "SPOP" => arity(name, a, 1, 2).unwrap_or_else(|| {
            let count = match a.get(1).map(|c| parse_i64(c)) {
                None => None,
                Some(Some(n)) if n >= 0 => Some(n as usize),
                Some(_) => return Reply::err("value is out of range, must be positive"),
            };
            let r = ks.update(&a[0], now, |e| match &mut e.value {
                Value::Set(s) => {
                    let take: Vec<Bytes> = s.iter().take(count.unwrap_or(1)).cloned().collect();
                    for m in &take {
                        s.remove(m);
                        e.size -= m.len() + ELEMENT_OVERHEAD;
                    }
                    match count {
                        None => take.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
                        Some(_) => Reply::Array(take.into_iter().map(Reply::Bulk).collect()),
                    }
                }
                _ => Reply::wrong_type(),
            });
            r.unwrap_or(if count.is_some() { Reply::Array(Vec::new()) } else { Reply::Nil })
        }),
        "SRANDMEMBER" => arity(name, a, 1, 2).unwrap_or_else(|| {
            let count = match a.get(1).map(|c| parse_i64(c)) {
                None => None,
                // A negative count repeats members: bound what it may ask.
                Some(Some(n)) if n.unsigned_abs() <= MAX_RANDOM_COUNT => Some(n),
                Some(Some(_)) => return Reply::err("value is out of range"),
                Some(None) => return super::not_int(),
            };
            read(ks, &a[0], now, |s| match count {
                None => s.iter().next().cloned().map_or(Reply::Nil, Reply::Bulk),
                // Positive: distinct members; negative: may repeat.
                Some(n) if n >= 0 => Reply::Array(s.iter().take(n as usize).cloned().map(Reply::Bulk).collect()),
                Some(n) => {
                    Reply::Array(s.iter().cycle().take(n.unsigned_abs() as usize).cloned().map(Reply::Bulk).collect())
                }
            })
        }),
        "SSCAN" => arity(name, a, 2, 6).unwrap_or_else(|| match scan_pattern(a) {
            Ok(p) => read(ks, &a[0], now, |s| {
                scan_result(s.iter().filter(|m| glob_match(&p, m)).cloned().map(Reply::Bulk).collect())
            }),
            Err(e) => e,
        }),
        _ => return None,
    };
    Some(r)
}

/// Replaces `key` with the given members (see `command::store_set`).
pub(super) fn store(ks: &mut Keyspace, key: Bytes, members: Vec<Bytes>, now: u64) -> Reply {
    let members: HashSet<Bytes> = members.into_iter().collect();
    let n = members.len();
    ks.remove(&key, now);
    if n > 0 {
        ks.set(key, Value::Set(members), None);
    }
    Reply::Int(n as i64)
}

fn read(ks: &mut Keyspace, key: &[u8], now: u64, f: impl FnOnce(&HashSet<Bytes>) -> Reply) -> Reply {
    match ks.get(key, now) {
        None => f(&HashSet::new()),
        Some(Entry { value: Value::Set(s), .. }) => f(s),
        Some(_) => Reply::wrong_type(),
    }
}

fn mutate(ks: &mut Keyspace, key: &[u8], now: u64, f: impl FnOnce(&mut HashSet<Bytes>, &mut usize) -> Reply) -> Reply {
    let r = ks.update(key, now, |e| match &mut e.value {
        Value::Set(s) => f(s, &mut e.size),
        _ => Reply::wrong_type(),
    });
    r.unwrap_or(Reply::Int(0))
}
