//! Hash commands.

use bytes::Bytes;
use hashbrown::HashMap;

use super::{arity, format_float, not_int, parse_f64, parse_i64, scan_pattern, scan_result};
use crate::glob_match;
use crate::keyspace::{Entry, Keyspace, Value, ELEMENT_OVERHEAD};
use crate::reply::Reply;

/// Runs `name` if it is a hash command.
pub(super) fn run(ks: &mut Keyspace, name: &str, a: &[Bytes], now: u64) -> Option<Reply> {
    let r = match name {
        "HSET" | "HMSET" => arity(name, a, 3, usize::MAX)
            .or_else(|| a.len().is_multiple_of(2).then(|| Reply::wrong_args(name)))
            .unwrap_or_else(|| {
                let added =
                    write(ks, &a[0], now, |h, size| a[1..].chunks(2).filter(|p| put(h, size, &p[0], &p[1])).count());
                match added {
                    Ok(n) if name == "HSET" => Reply::Int(n as i64),
                    Ok(_) => Reply::OK,
                    Err(e) => e,
                }
            }),
        "HSETNX" => arity(name, a, 3, 3).unwrap_or_else(|| {
            match write(ks, &a[0], now, |h, size| !h.contains_key(&a[1]) && put(h, size, &a[1], &a[2])) {
                Ok(set) => Reply::Int(i64::from(set)),
                Err(e) => e,
            }
        }),
        "HGET" => arity(name, a, 2, 2)
            .unwrap_or_else(|| read(ks, &a[0], now, |h| h.get(&a[1]).cloned().map_or(Reply::Nil, Reply::Bulk))),
        "HMGET" => arity(name, a, 2, usize::MAX).unwrap_or_else(|| {
            read(ks, &a[0], now, |h| {
                Reply::Array(a[1..].iter().map(|f| h.get(f).cloned().map_or(Reply::Nil, Reply::Bulk)).collect())
            })
        }),
        "HSTRLEN" => arity(name, a, 2, 2)
            .unwrap_or_else(|| read(ks, &a[0], now, |h| Reply::Int(h.get(&a[1]).map_or(0, |v| v.len() as i64)))),
        "HDEL" => arity(name, a, 2, usize::MAX).unwrap_or_else(|| {
            let removed = ks.update(&a[0], now, |e| match &mut e.value {
                Value::Hash(h) => {
                    let mut n = 0;
                    for f in &a[1..] {
                        if let Some(v) = h.remove(f) {
                            e.size -= f.len() + v.len() + ELEMENT_OVERHEAD;
                            n += 1;
                        }
                    }
                    Reply::Int(n)
                }
                _ => Reply::wrong_type(),
            });
            removed.unwrap_or(Reply::Int(0))
        }),
        "HGETALL" => arity(name, a, 1, 1).unwrap_or_else(|| {
            read(ks, &a[0], now, |h| {
                Reply::Map(h.iter().map(|(k, v)| (Reply::Bulk(k.clone()), Reply::Bulk(v.clone()))).collect())
            })
        }),
        "HKEYS" => arity(name, a, 1, 1)
            .unwrap_or_else(|| read(ks, &a[0], now, |h| Reply::Array(h.keys().cloned().map(Reply::Bulk).collect()))),
        "HVALS" => arity(name, a, 1, 1)
            .unwrap_or_else(|| read(ks, &a[0], now, |h| Reply::Array(h.values().cloned().map(Reply::Bulk).collect()))),
        "HLEN" => arity(name, a, 1, 1).unwrap_or_else(|| read(ks, &a[0], now, |h| Reply::Int(h.len() as i64))),
        "HEXISTS" => arity(name, a, 2, 2)
            .unwrap_or_else(|| read(ks, &a[0], now, |h| Reply::Int(i64::from(h.contains_key(&a[1]))))),
        "HINCRBY" => arity(name, a, 3, 3).unwrap_or_else(|| {
            let Some(by) = parse_i64(&a[2]) else { return not_int() };
            let r = write(ks, &a[0], now, |h, size| {
                let cur = match h.get(&a[1]) {
                    Some(v) => match parse_i64(v) {
                        Some(n) => n,
                        None => return Reply::err("hash value is not an integer"),
                    },
                    None => 0,
                };
                let Some(next) = cur.checked_add(by) else {
                    return Reply::err("increment or decrement would overflow");
                };
                put(h, size, &a[1], &Bytes::from(next.to_string()));
                Reply::Int(next)
            });
            r.unwrap_or_else(|e| e)
        }),
        "HINCRBYFLOAT" => arity(name, a, 3, 3).unwrap_or_else(|| {
            let Some(by) = parse_f64(&a[2]) else { return Reply::err("value is not a valid float") };
            let r = write(ks, &a[0], now, |h, size| {
                let cur = match h.get(&a[1]) {
                    Some(v) => match parse_f64(v) {
                        Some(n) => n,
                        None => return Reply::err("hash value is not a float"),
                    },
                    None => 0.0,
                };
                let next = cur + by;
                if !next.is_finite() {
                    return Reply::err("increment would produce NaN or Infinity");
                }
                let text = Bytes::from(format_float(next));
                put(h, size, &a[1], &text);
                Reply::Bulk(text)
            });
            r.unwrap_or_else(|e| e)
        }),
        "HSCAN" => arity(name, a, 2, 6).unwrap_or_else(|| match scan_pattern(a) {
            Ok(p) => read(ks, &a[0], now, |h| {
                scan_result(
                    h.iter()
                        .filter(|(f, _)| glob_match(&p, f))
                        .flat_map(|(f, v)| [Reply::Bulk(f.clone()), Reply::Bulk(v.clone())])
                        .collect(),
                )
            }),
            Err(e) => e,
        }),
        _ => return None,
    };
    Some(r)
}

/// Sets a field, keeping `size` current; true if the field is new.
fn put(h: &mut HashMap<Bytes, Bytes>, size: &mut usize, field: &Bytes, value: &Bytes) -> bool {
    *size += value.len();
    match h.insert(field.clone(), value.clone()) {
        Some(old) => {
            *size -= old.len();
            false
        }
        None => {
            *size += field.len() + ELEMENT_OVERHEAD;
            true
        }
    }
}

/// Reads the hash at `key` (an empty one when missing).
fn read(ks: &mut Keyspace, key: &[u8], now: u64, f: impl FnOnce(&HashMap<Bytes, Bytes>) -> Reply) -> Reply {
    match ks.get(key, now) {
        None => f(&HashMap::new()),
        Some(Entry { value: Value::Hash(h), .. }) => f(h),
        Some(_) => Reply::wrong_type(),
    }
}

/// Changes the hash at `key`, creating it when missing.
fn write<R>(
    ks: &mut Keyspace,
    key: &Bytes,
    now: u64,
    f: impl FnOnce(&mut HashMap<Bytes, Bytes>, &mut usize) -> R,
) -> Result<R, Reply> {
    match ks.get(key, now) {
        None => ks.set(key.clone(), Value::Hash(HashMap::new()), None),
        Some(Entry { value: Value::Hash(_), .. }) => {}
        Some(_) => return Err(Reply::wrong_type()),
    }
    let r = ks.update(key, now, |e| match &mut e.value {
        Value::Hash(h) => Some(f(h, &mut e.size)),
        _ => None,
    });
    r.flatten().ok_or_else(Reply::wrong_type)
}
