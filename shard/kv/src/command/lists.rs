//! List commands (blocking and cross-key ones are not here yet).

use std::collections::VecDeque;

use bytes::Bytes;

use super::{arity, not_int, parse_i64, range};
use crate::keyspace::{Entry, Keyspace, Value, ELEMENT_OVERHEAD};
use crate::reply::Reply;

/// Runs `name` if it is a list command.
pub(super) fn run(ks: &mut Keyspace, name: &str, a: &[Bytes], now: u64) -> Option<Reply> {
    let r = match name {
        "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => arity(name, a, 2, usize::MAX).unwrap_or_else(|| {
            let exists = match ks.get(&a[0], now) {
                None => false,
                Some(Entry { value: Value::List(_), .. }) => true,
                Some(_) => return Reply::wrong_type(),
            };
            if !exists {
                if name.ends_with('X') {
                    return Reply::Int(0);
                }
                ks.set(a[0].clone(), Value::List(VecDeque::new()), None);
            }
            let front = name.starts_with('L');
            mutate(ks, &a[0], now, |l, size| {
                for v in &a[1..] {
                    *size += v.len() + ELEMENT_OVERHEAD;
                    if front {
                        l.push_front(v.clone());
                    } else {
                        l.push_back(v.clone());
                    }
                }
                Reply::Int(l.len() as i64)
            })
        }),
        "LPOP" | "RPOP" => arity(name, a, 1, 2).unwrap_or_else(|| {
            let count = match a.get(1) {
                None => None,
                Some(c) => match parse_i64(c) {
                    Some(n) if n >= 0 => Some(n as usize),
                    _ => return Reply::err("value is out of range, must be positive"),
                },
            };
            let front = name == "LPOP";
            let r = mutate(ks, &a[0], now, |l, size| {
                let mut popped = Vec::new();
                for _ in 0..count.unwrap_or(1) {
                    let v = if front { l.pop_front() } else { l.pop_back() };
                    let Some(v) = v else { break };
                    *size -= v.len() + ELEMENT_OVERHEAD;
                    popped.push(Reply::Bulk(v));
                }
                match count {
                    None => popped.pop().unwrap_or(Reply::Nil),
                    Some(_) => Reply::Array(popped),
                }
            });
            match r {
                // A missing key: nil, or the null array with a count.
                Reply::Int(0) if count.is_some() => Reply::NilArray,
                Reply::Int(0) => Reply::Nil,
                other => other,
            }
        }),
        "LLEN" => arity(name, a, 1, 1).unwrap_or_else(|| read(ks, &a[0], now, |l| Reply::Int(l.len() as i64))),
        "LRANGE" => arity(name, a, 3, 3).unwrap_or_else(|| {
            let (Some(s), Some(e)) = (parse_i64(&a[1]), parse_i64(&a[2])) else { return not_int() };
            read(ks, &a[0], now, |l| match range(s, e, l.len()) {
                Some((s, e)) => Reply::Array(l.range(s..=e).cloned().map(Reply::Bulk).collect()),
                None => Reply::Array(Vec::new()),
            })
        }),
        "LINDEX" => arity(name, a, 2, 2).unwrap_or_else(|| {
            let Some(i) = parse_i64(&a[1]) else { return not_int() };
            read(ks, &a[0], now, |l| index(i, l.len()).and_then(|i| l.get(i)).cloned().map_or(Reply::Nil, Reply::Bulk))
        }),
        "LSET" => arity(name, a, 3, 3).unwrap_or_else(|| {
            let Some(i) = parse_i64(&a[1]) else { return not_int() };
            match ks.get(&a[0], now) {
                None => return Reply::err("no such key"),
                Some(Entry { value: Value::List(_), .. }) => {}
                Some(_) => return Reply::wrong_type(),
            }
            mutate(ks, &a[0], now, |l, size| match index(i, l.len()) {
                Some(i) => {
                    *size = *size + a[2].len() - l[i].len();
                    l[i] = a[2].clone();
                    Reply::OK
                }
                None => Reply::err("index out of range"),
            })
        }),
        "LREM" => arity(name, a, 3, 3).unwrap_or_else(|| {
            let Some(count) = parse_i64(&a[1]) else { return not_int() };
            mutate(ks, &a[0], now, |l, size| {
                let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                let mut removed = 0;
                let idx: Vec<usize> = if count >= 0 { (0..l.len()).collect() } else { (0..l.len()).rev().collect() };
                let mut drop_at = Vec::new();
                for i in idx {
                    if removed == limit {
                        break;
                    }
                    if l[i] == a[2] {
                        drop_at.push(i);
                        removed += 1;
                    }
                }
                drop_at.sort_unstable_by(|x, y| y.cmp(x));
                for i in drop_at {
                    if let Some(v) = l.remove(i) {
                        *size -= v.len() + ELEMENT_OVERHEAD;
                    }
                }
                Reply::Int(removed as i64)
            })
        }),
        "LTRIM" => arity(name, a, 3, 3).unwrap_or_else(|| {
            let (Some(s), Some(e)) = (parse_i64(&a[1]), parse_i64(&a[2])) else { return not_int() };
            let r = mutate(ks, &a[0], now, |l, size| {
                let keep = range(s, e, l.len());
                let old: VecDeque<Bytes> = std::mem::take(l);
                for (i, v) in old.into_iter().enumerate() {
                    if keep.is_some_and(|(s, e)| (s..=e).contains(&i)) {
                        l.push_back(v);
                    } else {
                        *size -= v.len() + ELEMENT_OVERHEAD;
                    }
                }
                Reply::OK
            });
            if matches!(r, Reply::Int(0)) {
                Reply::OK
            } else {
                r
            }
        }),
        "LINSERT" => arity(name, a, 4, 4).unwrap_or_else(|| {
            let before = match a[1].to_ascii_uppercase().as_slice() {
                b"BEFORE" => true,
                b"AFTER" => false,
                _ => return Reply::syntax(),
            };
            mutate(ks, &a[0], now, |l, size| match l.iter().position(|v| *v == a[2]) {
                Some(i) => {
                    l.insert(if before { i } else { i + 1 }, a[3].clone());
                    *size += a[3].len() + ELEMENT_OVERHEAD;
                    Reply::Int(l.len() as i64)
                }
                None => Reply::Int(-1),
            })
        }),
        _ => return None,
    };
    Some(r)
}

/// A Redis list index (negative from the end) as a position, if inside.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn read(ks: &mut Keyspace, key: &[u8], now: u64, f: impl FnOnce(&VecDeque<Bytes>) -> Reply) -> Reply {
    match ks.get(key, now) {
        None => f(&VecDeque::new()),
        Some(Entry { value: Value::List(l), .. }) => f(l),
        Some(_) => Reply::wrong_type(),
    }
}

/// Changes the list at `key`; a missing key answers `:0`.
fn mutate(ks: &mut Keyspace, key: &[u8], now: u64, f: impl FnOnce(&mut VecDeque<Bytes>, &mut usize) -> Reply) -> Reply {
    let r = ks.update(key, now, |e| match &mut e.value {
        Value::List(l) => f(l, &mut e.size),
        _ => Reply::wrong_type(),
    });
    r.unwrap_or(Reply::Int(0))
}
