//! Sorted-set commands. Ranks walk the ordered set (O(n) for a rank);
//! score and lex ranges seek straight to their start.

use std::ops::Bound;

use bytes::Bytes;

use super::{arity, not_int, parse_f64, parse_i64, range, scan_pattern, scan_result};
use crate::glob_match;
use crate::keyspace::{Entry, Keyspace, Score, Value, ZSet, ELEMENT_OVERHEAD};
use crate::reply::Reply;

/// Counted bytes per member (it is stored twice).
fn member_size(m: &[u8]) -> usize {
    2 * (m.len() + ELEMENT_OVERHEAD)
}

/// Runs `name` if it is a sorted-set command.
pub(super) fn run(ks: &mut Keyspace, name: &str, a: &[Bytes], now: u64) -> Option<Reply> {
    let r = match name {
        "ZADD" => arity(name, a, 3, usize::MAX).unwrap_or_else(|| zadd(ks, a, now)),
        "ZINCRBY" => arity(name, a, 3, 3)
            .unwrap_or_else(|| zadd(ks, &[a[0].clone(), Bytes::from_static(b"INCR"), a[1].clone(), a[2].clone()], now)),
        "ZREM" => arity(name, a, 2, usize::MAX).unwrap_or_else(|| {
            mutate(ks, &a[0], now, |z, size| {
                let mut n = 0;
                for m in &a[1..] {
                    if z.remove(m).is_some() {
                        *size -= member_size(m);
                        n += 1;
                    }
                }
                Reply::Int(n)
            })
        }),
        "ZSCORE" => {
            arity(name, a, 2, 2).unwrap_or_else(|| read(ks, &a[0], now, |z| score_reply(z.scores.get(&a[1]).copied())))
        }
        "ZMSCORE" => arity(name, a, 2, usize::MAX).unwrap_or_else(|| {
            read(ks, &a[0], now, |z| {
                Reply::Array(a[1..].iter().map(|m| score_reply(z.scores.get(m).copied())).collect())
            })
        }),
        "ZCARD" => arity(name, a, 1, 1).unwrap_or_else(|| read(ks, &a[0], now, |z| Reply::Int(z.len() as i64))),
        "ZCOUNT" => arity(name, a, 3, 3).unwrap_or_else(|| {
            let (Some(min), Some(max)) = (score_bound(&a[1]), score_bound(&a[2])) else { return bad_range() };
            read(ks, &a[0], now, |z| Reply::Int(by_score(z, min, max, false).count() as i64))
        }),
        "ZRANGE" => arity(name, a, 3, usize::MAX).unwrap_or_else(|| zrange(ks, a, now, RangeKind::Rank, false, 3)),
        "ZREVRANGE" => arity(name, a, 3, 4).unwrap_or_else(|| zrange(ks, a, now, RangeKind::Rank, true, 3)),
        "ZRANGEBYSCORE" => {
            arity(name, a, 3, usize::MAX).unwrap_or_else(|| zrange(ks, a, now, RangeKind::Score, false, 3))
        }
        // Its bounds come max first, as with ZRANGE ... BYSCORE REV.
        "ZREVRANGEBYSCORE" => {
            arity(name, a, 3, usize::MAX).unwrap_or_else(|| zrange(ks, a, now, RangeKind::Score, true, 3))
        }
        "ZRANK" | "ZREVRANK" => arity(name, a, 2, 3).unwrap_or_else(|| {
            let with_score = match a.get(2) {
                None => false,
                Some(o) if o.eq_ignore_ascii_case(b"WITHSCORE") => true,
                Some(_) => return Reply::syntax(),
            };
            read(ks, &a[0], now, |z| {
                let Some(&s) = z.scores.get(&a[1]) else { return Reply::Nil };
                let below = z.ordered.range(..(Score(s), a[1].clone())).count();
                let rank = if name == "ZRANK" { below } else { z.len() - 1 - below };
                if with_score {
                    Reply::Array(vec![Reply::Int(rank as i64), score_reply(Some(s))])
                } else {
                    Reply::Int(rank as i64)
                }
            })
        }),
        "ZPOPMIN" | "ZPOPMAX" => arity(name, a, 1, 2).unwrap_or_else(|| {
            let count = match a.get(1).map(|c| parse_i64(c)) {
                None => 1,
                Some(Some(n)) if n >= 0 => n as usize,
                Some(_) => return Reply::err("value is out of range, must be positive"),
            };
            let r = mutate(ks, &a[0], now, |z, size| {
                let mut out = Vec::new();
                for _ in 0..count {
                    let first = if name == "ZPOPMIN" { z.ordered.first() } else { z.ordered.last() };
                    let Some((s, m)) = first.cloned() else { break };
                    z.remove(&m);
                    *size -= member_size(&m);
                    out.push(Reply::Bulk(m));
                    out.push(score_reply(Some(s.0)));
                }
                Reply::Array(out)
            });
            if matches!(r, Reply::Int(0)) {
                Reply::Array(Vec::new())
            } else {
                r
            }
        }),
        "ZSCAN" => arity(name, a, 2, 6).unwrap_or_else(|| match scan_pattern(a) {
            Ok(p) => read(ks, &a[0], now, |z| {
                scan_result(
                    z.ordered
                        .iter()
                        .filter(|(_, m)| glob_match(&p, m))
                        .flat_map(|(s, m)| [Reply::Bulk(m.clone()), score_reply(Some(s.0))])
                        .collect(),
                )
            }),
            Err(e) => e,
        }),
        "ZREMRANGEBYSCORE" => arity(name, a, 3, 3).unwrap_or_else(|| {
            let (Some(min), Some(max)) = (score_bound(&a[1]), score_bound(&a[2])) else { return bad_range() };
            mutate(ks, &a[0], now, |z, size| {
                let doomed: Vec<Bytes> = by_score(z, min, max, false).map(|(_, m)| m.clone()).collect();
                for m in &doomed {
                    z.remove(m);
                    *size -= member_size(m);
                }
                Reply::Int(doomed.len() as i64)
            })
        }),
        _ => return None,
    };
    Some(r)
}

fn bad_range() -> Reply {
    Reply::err("min or max is not a float")
}

/// A score: a RESP3 double (a bulk string in RESP2, printed as Redis
/// prints it).
fn score_reply(s: Option<f64>) -> Reply {
    match s {
        None => Reply::Nil,
        Some(s) => Reply::Double(s),
    }
}

fn parse_score(b: &[u8]) -> Option<f64> {
    match b.to_ascii_lowercase().as_slice() {
        b"inf" | b"+inf" => Some(f64::INFINITY),
        b"-inf" => Some(f64::NEG_INFINITY),
        // -0 and 0 are one score (they would sort apart).
        _ => parse_f64(b).map(|v| if v == 0.0 { 0.0 } else { v }),
    }
}

/// `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
fn score_bound(b: &[u8]) -> Option<Bound<f64>> {
    match b.strip_prefix(b"(") {
        Some(rest) => parse_score(rest).map(Bound::Excluded),
        None => parse_score(b).map(Bound::Included),
    }
}

/// `[a`, `(a`, `-`, `+`; `None` for anything else.
fn lex_bound(b: &[u8]) -> Option<LexBound> {
    match b {
        b"-" => Some(LexBound::Min),
        b"+" => Some(LexBound::Max),
        _ => match b.split_first() {
            Some((b'[', rest)) => Some(LexBound::Incl(Bytes::copy_from_slice(rest))),
            Some((b'(', rest)) => Some(LexBound::Excl(Bytes::copy_from_slice(rest))),
            _ => None,
        },
    }
}

#[derive(Clone, Debug)]
enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

impl LexBound {
    fn above_min(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(b) => m >= &b[..],
            LexBound::Excl(b) => m > &b[..],
        }
    }
    fn below_max(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(b) => m <= &b[..],
            LexBound::Excl(b) => m < &b[..],
        }
    }
}

/// Members with scores inside [min, max], ascending (or descending).
fn by_score(z: &ZSet, min: Bound<f64>, max: Bound<f64>, rev: bool) -> Box<dyn Iterator<Item = &(Score, Bytes)> + '_> {
    let lo = match min {
        Bound::Included(s) | Bound::Excluded(s) => Bound::Included((Score(s), Bytes::new())),
        Bound::Unbounded => Bound::Unbounded,
    };
    let inside = move |(s, _): &&(Score, Bytes)| {
        let above = match min {
            Bound::Included(m) => s.0 >= m,
            Bound::Excluded(m) => s.0 > m,
            Bound::Unbounded => true,
        };
        let below = match max {
            Bound::Included(m) => s.0 <= m,
            Bound::Excluded(m) => s.0 < m,
            Bound::Unbounded => true,
        };
        above && below
    };
    let iter = z.ordered.range((lo, Bound::Unbounded));
    if rev {
        Box::new(iter.rev().filter(inside))
    } else {
        Box::new(
            iter.take_while(move |e| match max {
                Bound::Included(m) => e.0 .0 <= m,
                Bound::Excluded(m) => e.0 .0 < m,
                Bound::Unbounded => true,
            })
            .filter(inside),
        )
    }
}

#[derive(Clone, Copy, PartialEq)]
enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count]
/// [WITHSCORES], and the older forms mapped onto it.
fn zrange(ks: &mut Keyspace, a: &[Bytes], now: u64, mut kind: RangeKind, mut rev: bool, opts_from: usize) -> Reply {
    let (mut with_scores, mut limit) = (false, None::<(i64, i64)>);
    let mut i = opts_from;
    while i < a.len() {
        match a[i].to_ascii_uppercase().as_slice() {
            b"WITHSCORES" => with_scores = true,
            b"REV" => rev = true,
            b"BYSCORE" => kind = RangeKind::Score,
            b"BYLEX" => kind = RangeKind::Lex,
            b"LIMIT" if i + 2 < a.len() => {
                let (Some(o), Some(c)) = (parse_i64(&a[i + 1]), parse_i64(&a[i + 2])) else { return not_int() };
                limit = Some((o, c));
                i += 2;
            }
            _ => return Reply::syntax(),
        }
        i += 1;
    }
    if limit.is_some() && kind == RangeKind::Rank {
        return Reply::err("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    }
    if with_scores && kind == RangeKind::Lex {
        return Reply::err("syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    // With REV the bounds of BYSCORE/BYLEX come max first.
    let (lo_arg, hi_arg) = if rev && kind != RangeKind::Rank { (&a[2], &a[1]) } else { (&a[1], &a[2]) };
    let picked: Result<Vec<(Score, Bytes)>, Reply> = match kind {
        RangeKind::Rank => {
            let (Some(s), Some(e)) = (parse_i64(&a[1]), parse_i64(&a[2])) else { return not_int() };
            read_items(ks, &a[0], now, |z| match range(s, e, z.len()) {
                None => Vec::new(),
                Some((s, e)) if rev => z.ordered.iter().rev().skip(s).take(e - s + 1).cloned().collect(),
                Some((s, e)) => z.ordered.iter().skip(s).take(e - s + 1).cloned().collect(),
            })
        }
        RangeKind::Score => {
            let (Some(min), Some(max)) = (score_bound(lo_arg), score_bound(hi_arg)) else { return bad_range() };
            read_items(ks, &a[0], now, |z| by_score(z, min, max, rev).cloned().collect())
        }
        RangeKind::Lex => {
            let (Some(min), Some(max)) = (lex_bound(lo_arg), lex_bound(hi_arg)) else {
                return Reply::err("min or max not valid string range item");
            };
            read_items(ks, &a[0], now, |z| {
                let it = z.ordered.iter().filter(|(_, m)| min.above_min(m) && max.below_max(m)).cloned();
                if rev {
                    it.collect::<Vec<_>>().into_iter().rev().collect()
                } else {
                    it.collect()
                }
            })
        }
    };
    let mut items = match picked {
        Ok(v) => v,
        Err(e) => return e,
    };
    if let Some((offset, count)) = limit {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let count = if count < 0 { usize::MAX } else { count as usize };
        items = items.into_iter().skip(offset).take(count).collect();
    }
    let mut out = Vec::with_capacity(items.len() * if with_scores { 2 } else { 1 });
    for (s, m) in items {
        out.push(Reply::Bulk(m));
        if with_scores {
            out.push(score_reply(Some(s.0)));
        }
    }
    Reply::Array(out)
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...].
fn zadd(ks: &mut Keyspace, a: &[Bytes], now: u64) -> Reply {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) = (false, false, false, false, false, false);
    let mut i = 1;
    while i < a.len() {
        match a[i].to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            b"CH" => ch = true,
            b"INCR" => incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &a[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Reply::syntax();
    }
    if nx && xx {
        return Reply::err("XX and NX options at the same time are not compatible");
    }
    if (gt && lt) || (nx && (gt || lt)) {
        return Reply::err("GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && pairs.len() != 2 {
        return Reply::err("INCR option supports a single increment-element pair");
    }
    let mut parsed = Vec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks(2) {
        match parse_score(&p[0]) {
            Some(s) => parsed.push((s, p[1].clone())),
            None => return Reply::err("value is not a valid float"),
        }
    }
    match ks.get(&a[0], now) {
        None if xx => return if incr { Reply::Nil } else { Reply::Int(0) },
        None => ks.set(a[0].clone(), Value::ZSet(ZSet::default()), None),
        Some(Entry { value: Value::ZSet(_), .. }) => {}
        Some(_) => return Reply::wrong_type(),
    }
    mutate(ks, &a[0], now, |z, size| {
        let (mut added, mut changed) = (0, 0);
        let mut incr_result = Reply::Nil;
        for (score, member) in parsed {
            let old = z.scores.get(&member).copied();
            if (nx && old.is_some()) || (xx && old.is_none()) {
                continue;
            }
            let new = if incr { old.unwrap_or(0.0) + score } else { score };
            if new.is_nan() {
                return Reply::err("resulting score is not a number (NaN)");
            }
            if let Some(o) = old {
                if (gt && new <= o) || (lt && new >= o) {
                    continue;
                }
                if new != o {
                    z.insert(member, new);
                    changed += 1;
                }
            } else {
                *size += member_size(&member);
                z.insert(member, new);
                added += 1;
            }
            incr_result = score_reply(Some(new));
        }
        if incr {
            incr_result
        } else {
            Reply::Int(if ch { added + changed } else { added })
        }
    })
}

fn read(ks: &mut Keyspace, key: &[u8], now: u64, f: impl FnOnce(&ZSet) -> Reply) -> Reply {
    match ks.get(key, now) {
        None => f(&ZSet::default()),
        Some(Entry { value: Value::ZSet(z), .. }) => f(z),
        Some(_) => Reply::wrong_type(),
    }
}

fn read_items(
    ks: &mut Keyspace,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&ZSet) -> Vec<(Score, Bytes)>,
) -> Result<Vec<(Score, Bytes)>, Reply> {
    match ks.get(key, now) {
        None => Ok(Vec::new()),
        Some(Entry { value: Value::ZSet(z), .. }) => Ok(f(z)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

fn mutate(ks: &mut Keyspace, key: &[u8], now: u64, f: impl FnOnce(&mut ZSet, &mut usize) -> Reply) -> Reply {
    let r = ks.update(key, now, |e| match &mut e.value {
        Value::ZSet(z) => f(z, &mut e.size),
        _ => Reply::wrong_type(),
    });
    r.unwrap_or(Reply::Int(0))
}
