//! Commands whose keys live on several cores, answered by asking each:
//! SCAN, SINTER/SUNION/SDIFF, and the blocking pops.

use bytes::Bytes;
use ephpm_kv::node::{Answer, Op};
use ephpm_kv::Reply;

use super::conn::RespContext;
use super::dispatch::keyed;

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. The cursor walks the
/// cores in turn: `index * cores + core`, `index` a slot of that core's
/// key table.
pub(super) async fn scan(ctx: &RespContext, args: &[Bytes]) -> Reply {
    let cores = ctx.node.cores() as u64;
    let Some(cursor) = std::str::from_utf8(&args[1]).ok().and_then(|c| c.parse::<u64>().ok()) else {
        return Reply::err("invalid cursor");
    };
    let (mut pattern, mut count, mut ty) = (Bytes::from_static(b"*"), 10u64, Bytes::new());
    let mut i = 2;
    while i + 1 < args.len() {
        match args[i].to_ascii_uppercase().as_slice() {
            b"MATCH" => pattern = args[i + 1].clone(),
            b"COUNT" => match std::str::from_utf8(&args[i + 1]).ok().and_then(|c| c.parse::<u64>().ok()) {
                Some(n) if n > 0 => count = n,
                _ => return Reply::syntax(),
            },
            b"TYPE" => ty = args[i + 1].clone(),
            _ => return Reply::syntax(),
        }
        i += 2;
    }
    if i != args.len() {
        return Reply::syntax();
    }
    let (mut shard, mut index) = (cursor % cores, cursor / cores);
    let mut keys = Vec::new();
    loop {
        let step =
            Op::Scan { index: index as usize, count: count as usize, pattern: pattern.clone(), kind: ty.clone() };
        let Answer::Reply(Reply::Array(mut part)) = ctx.node.ask(shard as usize, step).await else {
            return Reply::err("scan failed");
        };
        let next = match part.first() {
            Some(Reply::Int(n)) => *n as u64,
            _ => 0,
        };
        keys.extend(part.drain(1..));
        if next != 0 {
            return scan_reply(next * cores + shard, keys);
        }
        // This core is done: go on with the next one, or finish.
        shard += 1;
        index = 0;
        if shard == cores {
            return scan_reply(0, keys);
        }
        if keys.len() as u64 >= count {
            return scan_reply(shard, keys);
        }
    }
}

fn scan_reply(cursor: u64, keys: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Bulk(Bytes::from(cursor.to_string())), Reply::Array(keys)])
}

/// SINTER, SUNION or SDIFF over `keys`, which may live on several cores:
/// each key's members are fetched from its core and combined here.
pub(super) async fn set_op(ctx: &RespContext, op: &str, keys: &[Bytes]) -> Result<Vec<Bytes>, Reply> {
    let mut sets = Vec::with_capacity(keys.len());
    for key in keys {
        match keyed(ctx, vec![Bytes::from_static(b"SMEMBERS"), key.clone()]).await {
            Reply::Array(items) => sets.push(
                items
                    .into_iter()
                    .filter_map(|r| if let Reply::Bulk(b) = r { Some(b) } else { None })
                    .collect::<Vec<_>>(),
            ),
            Reply::Error(e) => return Err(Reply::Error(e)),
            _ => sets.push(Vec::new()),
        }
    }
    let mut iter = sets.into_iter();
    let first: Vec<Bytes> = iter.next().unwrap_or_default();
    let mut acc: hashbrown::HashSet<Bytes> = first.into_iter().collect();
    for next in iter {
        let next: hashbrown::HashSet<Bytes> = next.into_iter().collect();
        match op {
            "SINTER" => acc.retain(|m| next.contains(m)),
            "SUNION" => acc.extend(next),
            _ => acc.retain(|m| !next.contains(m)),
        }
    }
    Ok(acc.into_iter().collect())
}

/// How often a blocked BLPOP/BRPOP looks at its keys again.
const BLOCK_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// BLPOP / BRPOP key [key ...] timeout: the first of the keys (in order)
/// with an element gives `[key, element]`; with none, waits until one has
/// or the timeout (seconds, fractions allowed, 0 for ever) passes, then
/// nil. A blocked client looks at its keys every few milliseconds (keys
/// live on several cores, and a poll costs one mesh round trip per key).
pub(super) async fn blocking_pop(ctx: &RespContext, name: &str, a: &[Bytes]) -> Reply {
    let (keys, timeout) = a.split_at(a.len() - 1);
    let Some(secs) = std::str::from_utf8(&timeout[0]).ok().and_then(|t| t.parse::<f64>().ok()) else {
        return Reply::err("timeout is not a float or out of range");
    };
    if !(0.0..=1e9).contains(&secs) {
        return Reply::err("timeout is negative");
    }
    let deadline = (secs > 0.0).then(|| std::time::Instant::now() + std::time::Duration::from_secs_f64(secs));
    let pop: &'static [u8] = if name == "BLPOP" { b"LPOP" } else { b"RPOP" };
    loop {
        for key in keys {
            match keyed(ctx, vec![Bytes::from_static(pop), key.clone()]).await {
                Reply::Bulk(v) => return Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(v)]),
                Reply::Error(e) => return Reply::Error(e),
                _ => {}
            }
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) || ctx.stop.is_fired() {
            return Reply::NilArray;
        }
        monoio::time::sleep(BLOCK_POLL).await;
    }
}
