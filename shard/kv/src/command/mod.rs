//! Commands on a single core's keys: strings and generic key commands.
//! Each takes the command's arguments (name first, upper-cased by the
//! caller) and answers a [`Reply`]. Multi-key commands are split per key
//! by the connection layer before they get here.

use bytes::{Bytes, BytesMut};

use super::keyspace::{Keyspace, Value};
use super::reply::Reply;
use super::table::{flags, lookup, Spec};

mod hashes;
mod lists;
mod sets;
mod zsets;

/// Runs one single-key command against `ks` at time `now` (Unix ms).
pub fn execute(ks: &mut Keyspace, args: &[Bytes], now: u64) -> Reply {
    execute_as(ks, args, now, lookup(args.first().map_or(&b""[..], |n| &n[..])))
}

/// [`execute`] for a caller that already looked the command up.
pub fn execute_as(ks: &mut Keyspace, args: &[Bytes], now: u64, spec: Option<&Spec>) -> Reply {
    ks.commands += 1;
    let name = args.first().map_or(&b""[..], |n| &n[..]);
    // Hits and misses count read commands' lookups only, as Redis's
    // keyspace_hits/misses do: a write's look at its key does not count.
    let counted = (ks.hits, ks.misses);
    let reply = dispatch(ks, args, now, spec);
    if (ks.hits, ks.misses) != counted && !is_read(name, spec) {
        (ks.hits, ks.misses) = counted;
    }
    reply
}

/// Commands whose key lookups count as hits or misses: the read-only
/// ones, and the reads that also change their key.
fn is_read(name: &[u8], spec: Option<&Spec>) -> bool {
    matches!(name, b"GETEX" | b"GETDEL") || spec.is_some_and(|s| s.has(flags::READONLY))
}

fn dispatch(ks: &mut Keyspace, args: &[Bytes], now: u64, spec: Option<&Spec>) -> Reply {
    let Some(name) = args.first() else { return Reply::err("empty command") };
    let name = std::str::from_utf8(name).unwrap_or("");
    let a = &args[1..];
    // Over the memory limit, a write that can grow memory first evicts by
    // the policy, and is refused if that cannot make room (as Redis's
    // maxmemory does before each such command).
    if spec.is_some_and(|s| s.has(flags::DENYOOM)) {
        if let Reply::Error(e) = room(ks) {
            return Reply::Error(e);
        }
    }
    match name {
        "GET" => arity(name, a, 1, 1).unwrap_or_else(|| get(ks, &a[0], now)),
        "SET" => arity(name, a, 2, usize::MAX).unwrap_or_else(|| set(ks, a, now)),
        "SETNX" => arity(name, a, 2, 2).unwrap_or_else(|| match set(ks, &[a[0].clone(), a[1].clone(), nx()], now) {
            Reply::Nil => Reply::Int(0),
            Reply::Error(e) => Reply::Error(e),
            _ => Reply::Int(1),
        }),
        "SETEX" | "PSETEX" => arity(name, a, 3, 3).unwrap_or_else(|| {
            let unit = if name == "SETEX" { "EX" } else { "PX" };
            set(ks, &[a[0].clone(), a[2].clone(), Bytes::from_static(unit.as_bytes()), a[1].clone()], now)
                .map_err_name(name)
        }),
        "GETDEL" => arity(name, a, 1, 1).unwrap_or_else(|| {
            let r = get(ks, &a[0], now);
            if matches!(r, Reply::Bulk(_)) {
                ks.remove(&a[0], now);
            }
            r
        }),
        "GETEX" => arity(name, a, 1, usize::MAX).unwrap_or_else(|| getex(ks, a, now)),
        "STRLEN" => arity(name, a, 1, 1).unwrap_or_else(|| match string(ks, &a[0], now) {
            Ok(Some(v)) => Reply::Int(v.len() as i64),
            Ok(None) => Reply::Int(0),
            Err(e) => e,
        }),
        "APPEND" => arity(name, a, 2, 2).unwrap_or_else(|| append(ks, &a[0], &a[1], now)),
        "INCR" => arity(name, a, 1, 1).unwrap_or_else(|| incr_by(ks, &a[0], 1, now)),
        "DECR" => arity(name, a, 1, 1).unwrap_or_else(|| incr_by(ks, &a[0], -1, now)),
        "INCRBY" | "DECRBY" => arity(name, a, 2, 2).unwrap_or_else(|| match parse_i64(&a[1]) {
            Some(n) if name == "INCRBY" => incr_by(ks, &a[0], n, now),
            Some(n) => {
                n.checked_neg().map_or_else(|| Reply::err("decrement would overflow"), |n| incr_by(ks, &a[0], n, now))
            }
            None => not_int(),
        }),
        "INCRBYFLOAT" => arity(name, a, 2, 2).unwrap_or_else(|| incr_by_float(ks, &a[0], &a[1], now)),
        "GETRANGE" => arity(name, a, 3, 3).unwrap_or_else(|| getrange(ks, a, now)),
        "SETRANGE" => arity(name, a, 3, 3).unwrap_or_else(|| setrange(ks, a, now)),
        "DEL" | "UNLINK" => arity(name, a, 1, 1).unwrap_or_else(|| Reply::Int(i64::from(ks.remove(&a[0], now)))),
        "EXISTS" => arity(name, a, 1, 1).unwrap_or_else(|| Reply::Int(i64::from(ks.get(&a[0], now).is_some()))),
        "TYPE" => arity(name, a, 1, 1)
            .unwrap_or_else(|| Reply::Status(ks.get(&a[0], now).map_or("none", |e| e.value.type_name()))),
        "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => {
            arity(name, a, 2, 3).unwrap_or_else(|| expire(ks, name, a, now))
        }
        "TTL" | "PTTL" => arity(name, a, 1, 1).unwrap_or_else(|| match ks.get(&a[0], now) {
            None => Reply::Int(-2),
            Some(e) => match e.expires_at {
                None => Reply::Int(-1),
                Some(t) if name == "PTTL" => Reply::Int((t - now) as i64),
                // Rounded to the nearest second, as Redis does.
                Some(t) => Reply::Int(((t - now + 500) / 1000) as i64),
            },
        }),
        "PERSIST" => arity(name, a, 1, 1).unwrap_or_else(|| {
            let had = ks.get(&a[0], now).is_some_and(|e| e.expires_at.is_some());
            if had {
                ks.set_expiry(&a[0], None, now);
            }
            Reply::Int(i64::from(had))
        }),
        _ => hashes::run(ks, name, a, now)
            .or_else(|| lists::run(ks, name, a, now))
            .or_else(|| sets::run(ks, name, a, now))
            .or_else(|| zsets::run(ks, name, a, now))
            .unwrap_or_else(|| Reply::err(format!("unknown command '{}'", name.to_ascii_lowercase()))),
    }
}

/// Whether a write could go in now: over the memory limit, evicts by the
/// policy, and refuses when that cannot make room (as Redis's maxmemory
/// does before each `denyoom` command). LMOVE asks before it pops, so a
/// refused push never loses the element.
pub fn room(ks: &mut Keyspace) -> Reply {
    if ks.make_room() {
        Reply::OK
    } else {
        Reply::Error("OOM command not allowed when used memory > 'maxmemory'.".into())
    }
}

/// Deletes `key` only if it holds `value` (a lock released only by its
/// holder: the PHP session handler's). 1 if deleted.
pub fn del_if_eq(ks: &mut Keyspace, key: &[u8], value: &[u8], now: u64) -> Reply {
    let same = matches!(string(ks, key, now), Ok(Some(v)) if v == value);
    if same {
        ks.remove(key, now);
    }
    Reply::Int(i64::from(same))
}

/// Replaces `key` with a set of `members` (SINTERSTORE and friends, once
/// the members were gathered from every core); the set's size.
pub fn store_set(ks: &mut Keyspace, key: Bytes, members: Vec<Bytes>, now: u64) -> Reply {
    if let Reply::Error(e) = room(ks) {
        return Reply::Error(e);
    }
    sets::store(ks, key, members, now)
}

trait NameErr {
    fn map_err_name(self, name: &str) -> Reply;
}

impl NameErr for Reply {
    /// SETEX reports a bad expire time with its own name.
    fn map_err_name(self, name: &str) -> Reply {
        match self {
            Reply::Error(e) if e.contains("invalid expire time") => {
                Reply::Error(format!("ERR invalid expire time in '{}' command", name.to_ascii_lowercase()))
            }
            other => other,
        }
    }
}

fn nx() -> Bytes {
    Bytes::from_static(b"NX")
}

/// The MATCH pattern of an HSCAN/SSCAN/ZSCAN (`key cursor [MATCH p]
/// [COUNT n]`). The whole collection comes back in one step (cursor 0),
/// which the SCAN contract allows: COUNT is a hint.
pub(super) fn scan_pattern(a: &[Bytes]) -> Result<Bytes, Reply> {
    if std::str::from_utf8(&a[1]).ok().and_then(|c| c.parse::<u64>().ok()).is_none() {
        return Err(Reply::err("invalid cursor"));
    }
    let mut pattern = Bytes::from_static(b"*");
    let mut i = 2;
    while i + 1 < a.len() {
        match a[i].to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = a[i + 1].clone(),
            b"COUNT" if parse_i64(&a[i + 1]).is_some_and(|n| n > 0) => {}
            _ => return Err(Reply::syntax()),
        }
        i += 2;
    }
    if i != a.len() {
        return Err(Reply::syntax());
    }
    Ok(pattern)
}

/// A finished scan step.
pub(super) fn scan_result(items: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk(b"0"), Reply::Array(items)])
}

pub(super) fn arity(name: &str, a: &[Bytes], min: usize, max: usize) -> Option<Reply> {
    (a.len() < min || a.len() > max).then(|| Reply::wrong_args(name))
}

pub(super) fn not_int() -> Reply {
    Reply::err("value is not an integer or out of range")
}

pub(super) fn parse_i64(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    // Redis refuses "+1", " 1" and "01"-style forms only partly; plain
    // decimal with an optional minus is what clients send.
    if s.is_empty() || s.starts_with('+') || s.trim() != s {
        return None;
    }
    s.parse().ok()
}

pub(super) fn parse_f64(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    let v: f64 = s.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

/// The string at `key`: `Ok(None)` when missing, `Err` for another type.
fn string(ks: &mut Keyspace, key: &[u8], now: u64) -> Result<Option<Bytes>, Reply> {
    match ks.get(key, now) {
        None => Ok(None),
        Some(e) => e.value.as_string().map(Some).ok_or_else(Reply::wrong_type),
    }
}

fn get(ks: &mut Keyspace, key: &[u8], now: u64) -> Reply {
    match string(ks, key, now) {
        Ok(Some(v)) => Reply::Bulk(v),
        Ok(None) => Reply::Nil,
        Err(e) => e,
    }
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL].
fn set(ks: &mut Keyspace, a: &[Bytes], now: u64) -> Reply {
    let (key, value) = (&a[0], &a[1]);
    let (mut nx, mut xx, mut get_old, mut keep_ttl) = (false, false, false, false);
    let mut expires_at: Option<u64> = None;
    let mut i = 2;
    while i < a.len() {
        let opt = a[i].to_ascii_uppercase();
        match opt.as_slice() {
            b"NX" if !xx => nx = true,
            b"XX" if !nx => xx = true,
            b"GET" => get_old = true,
            b"KEEPTTL" if expires_at.is_none() => keep_ttl = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if expires_at.is_none() && !keep_ttl => {
                let Some(n) = a.get(i + 1).and_then(|b| parse_i64(b)) else {
                    return if a.get(i + 1).is_some() { not_int() } else { Reply::syntax() };
                };
                if n <= 0 {
                    return Reply::err("invalid expire time in 'set' command");
                }
                let n = n as u64;
                let at = match opt.as_slice() {
                    b"EX" => n.checked_mul(1000).and_then(|ms| ms.checked_add(now)),
                    b"PX" => n.checked_add(now),
                    b"EXAT" => n.checked_mul(1000),
                    _ => Some(n),
                };
                match at.filter(|&t| t < i64::MAX as u64) {
                    Some(t) => expires_at = Some(t),
                    None => return Reply::err("invalid expire time in 'set' command"),
                }
                i += 1;
            }
            _ => return Reply::syntax(),
        }
        i += 1;
    }
    let old = match string(ks, key, now) {
        Ok(v) => v,
        Err(e) if get_old => return e,
        Err(_) => None,
    };
    let exists = ks.get(key, now).is_some();
    if (nx && exists) || (xx && !exists) {
        return if get_old { old.map_or(Reply::Nil, Reply::Bulk) } else { Reply::Nil };
    }
    if keep_ttl {
        expires_at = ks.get(key, now).and_then(|e| e.expires_at);
    }
    ks.set(key.clone(), Value::Str(value.clone()), expires_at);
    if get_old {
        old.map_or(Reply::Nil, Reply::Bulk)
    } else {
        Reply::OK
    }
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST].
fn getex(ks: &mut Keyspace, a: &[Bytes], now: u64) -> Reply {
    let key = &a[0];
    let mut new_expiry: Option<Option<u64>> = None;
    match a.len() {
        1 => {}
        2 if a[1].eq_ignore_ascii_case(b"PERSIST") => new_expiry = Some(None),
        3 => {
            let Some(n) = parse_i64(&a[2]) else { return not_int() };
            if n <= 0 {
                return Reply::err("invalid expire time in 'getex' command");
            }
            let n = n as u64;
            let at = match a[1].to_ascii_uppercase().as_slice() {
                b"EX" => now.saturating_add(n.saturating_mul(1000)),
                b"PX" => now.saturating_add(n),
                b"EXAT" => n.saturating_mul(1000),
                b"PXAT" => n,
                _ => return Reply::syntax(),
            };
            new_expiry = Some(Some(at));
        }
        _ => return Reply::syntax(),
    }
    let r = get(ks, key, now);
    if let (Reply::Bulk(_), Some(at)) = (&r, new_expiry) {
        ks.set_expiry(key, at, now);
    }
    r
}

fn append(ks: &mut Keyspace, key: &Bytes, more: &[u8], now: u64) -> Reply {
    let (old, ttl) = match ks.get(key, now) {
        None => (Bytes::new(), None),
        Some(e) => match e.value.as_string() {
            Some(b) => (b, e.expires_at),
            None => return Reply::wrong_type(),
        },
    };
    let mut v = BytesMut::with_capacity(old.len() + more.len());
    v.extend_from_slice(&old);
    v.extend_from_slice(more);
    let len = v.len();
    ks.set(key.clone(), Value::Str(v.freeze()), ttl);
    Reply::Int(len as i64)
}

fn incr_by(ks: &mut Keyspace, key: &Bytes, by: i64, now: u64) -> Reply {
    let (cur, ttl) = match ks.get(key, now) {
        None => (0, None),
        Some(e) => match e.value.as_string() {
            Some(b) => match parse_i64(&b) {
                Some(n) => (n, e.expires_at),
                None => return not_int(),
            },
            None => return Reply::wrong_type(),
        },
    };
    let Some(next) = cur.checked_add(by) else { return Reply::err("increment or decrement would overflow") };
    ks.set(key.clone(), Value::Str(Bytes::from(next.to_string())), ttl);
    Reply::Int(next)
}

fn incr_by_float(ks: &mut Keyspace, key: &Bytes, by: &[u8], now: u64) -> Reply {
    let Some(by) = parse_f64(by) else { return Reply::err("value is not a valid float") };
    let (cur, ttl) = match ks.get(key, now) {
        None => (0.0, None),
        Some(e) => match e.value.as_string() {
            Some(b) => match parse_f64(&b) {
                Some(n) => (n, e.expires_at),
                None => return Reply::err("value is not a valid float"),
            },
            None => return Reply::wrong_type(),
        },
    };
    let next = cur + by;
    if !next.is_finite() {
        return Reply::err("increment would produce NaN or Infinity");
    }
    let text = format_float(next);
    ks.set(key.clone(), Value::Str(Bytes::from(text.clone())), ttl);
    Reply::Bulk(Bytes::from(text))
}

/// Formats as Redis does for INCRBYFLOAT: shortest form, no exponent for
/// ordinary magnitudes, no trailing zeros.
pub(super) fn format_float(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e17 {
        format!("{}", v as i64)
    } else {
        // Rust prints the shortest digits that read back as the same f64.
        format!("{v}")
    }
}

/// Resolves Redis's inclusive, possibly negative range over `len`.
pub(super) fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let s = if start < 0 { (len + start).max(0) } else { start };
    let e = if end < 0 { len + end } else { end.min(len - 1) };
    (s <= e && s < len && len > 0).then_some((s as usize, e as usize))
}

fn getrange(ks: &mut Keyspace, a: &[Bytes], now: u64) -> Reply {
    let (Some(start), Some(end)) = (parse_i64(&a[1]), parse_i64(&a[2])) else { return not_int() };
    match string(ks, &a[0], now) {
        Ok(Some(v)) => match range(start, end, v.len()) {
            Some((s, e)) => Reply::Bulk(v.slice(s..=e)),
            None => Reply::Bulk(Bytes::new()),
        },
        Ok(None) => Reply::Bulk(Bytes::new()),
        Err(e) => e,
    }
}

/// Largest string SETRANGE may create (Redis's proto-max-bulk-len).
const MAX_STRING: usize = 512 << 20;

fn setrange(ks: &mut Keyspace, a: &[Bytes], now: u64) -> Reply {
    let Some(offset) = parse_i64(&a[1]) else { return not_int() };
    if offset < 0 {
        return Reply::err("offset is out of range");
    }
    let offset = offset as usize;
    if offset + a[2].len() > MAX_STRING {
        return Reply::err("string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    let (old, ttl) = match ks.get(&a[0], now) {
        None => (Bytes::new(), None),
        Some(e) => match e.value.as_string() {
            Some(b) => (b, e.expires_at),
            None => return Reply::wrong_type(),
        },
    };
    if a[2].is_empty() {
        return Reply::Int(old.len() as i64);
    }
    let mut v = BytesMut::from(&old[..]);
    if v.len() < offset + a[2].len() {
        v.resize(offset + a[2].len(), 0);
    }
    v[offset..offset + a[2].len()].copy_from_slice(&a[2]);
    let len = v.len();
    ks.set(a[0].clone(), Value::Str(v.freeze()), ttl);
    Reply::Int(len as i64)
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key n [NX|XX|GT|LT].
fn expire(ks: &mut Keyspace, name: &str, a: &[Bytes], now: u64) -> Reply {
    let Some(n) = parse_i64(&a[1]) else { return not_int() };
    let at = match name {
        "EXPIRE" => n.checked_mul(1000).and_then(|ms| ms.checked_add(now as i64)),
        "PEXPIRE" => n.checked_add(now as i64),
        "EXPIREAT" => n.checked_mul(1000),
        _ => Some(n),
    };
    let Some(at) = at else {
        return Reply::err(format!("invalid expire time in '{}' command", name.to_ascii_lowercase()));
    };
    let Some(current) = ks.get(&a[0], now).map(|e| e.expires_at) else { return Reply::Int(0) };
    if let Some(flag) = a.get(2) {
        let ok = match flag.to_ascii_uppercase().as_slice() {
            b"NX" => current.is_none(),
            b"XX" => current.is_some(),
            b"GT" => current.is_some_and(|c| at > c as i64),
            b"LT" => current.is_none_or(|c| at < c as i64),
            _ => return Reply::err(format!("Unsupported option {}", String::from_utf8_lossy(flag))),
        };
        if !ok {
            return Reply::Int(0);
        }
    }
    if at <= now as i64 {
        ks.remove(&a[0], now);
    } else {
        ks.set_expiry(&a[0], Some(at as u64), now);
    }
    Reply::Int(1)
}

#[cfg(test)]
mod tests;
