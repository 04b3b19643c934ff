//! Commands that must be atomic across keys on several cores: MULTI/EXEC,
//! RENAME, RENAMENX and MSETNX. They lock the keyspaces of every core their
//! keys live on, in core order (so two of them never deadlock), run, and
//! unlock, without awaiting in between: other cores wait for at most the
//! length of the transaction. Everything else reaches another core's keys
//! only through the mesh.

use std::collections::BTreeMap;
use std::sync::MutexGuard;

use bytes::Bytes;
use ephpm_kv::command::{execute, is_keyed};
use ephpm_kv::keyspace::Keyspace;
use ephpm_kv::node::lock;
use ephpm_kv::{now_ms, shard_of, Reply, SharedKeyspace};

/// Commands a transaction can hold besides the single-key ones.
const MULTI_KEY: &[&str] =
    &["MGET", "MSET", "MSETNX", "DEL", "UNLINK", "EXISTS", "RENAME", "RENAMENX", "LMOVE", "RPOPLPUSH", "PING", "ECHO"];

/// Whether `name` (upper case) may be queued in MULTI.
pub fn can_queue(name: &str) -> bool {
    is_keyed(name) || MULTI_KEY.contains(&name)
}

/// The keys a command touches.
fn keys_of(args: &[Bytes]) -> Vec<&Bytes> {
    let name = std::str::from_utf8(&args[0]).unwrap_or("");
    match name {
        "MSET" | "MSETNX" => args[1..].iter().step_by(2).collect(),
        "MGET" | "DEL" | "UNLINK" | "EXISTS" | "RENAME" | "RENAMENX" => args[1..].iter().collect(),
        "LMOVE" | "RPOPLPUSH" => args[1..args.len().min(3)].iter().collect(),
        "PING" | "ECHO" => Vec::new(),
        _ => args.get(1).into_iter().collect(),
    }
}

/// A watched key and the version it had (`None`: it did not exist).
pub type Watched = (Bytes, Option<u64>);

/// The current version of `key` (for WATCH).
pub fn version_of(keyspaces: &[SharedKeyspace], key: &Bytes) -> Option<u64> {
    lock(&keyspaces[shard_of(key, keyspaces.len())]).version(key, now_ms())
}

/// Runs `cmds` atomically over `keyspaces` (one per core) and returns one
/// reply per command.
pub fn run_atomic(keyspaces: &[SharedKeyspace], cmds: &[Vec<Bytes>]) -> Vec<Reply> {
    run_watched(keyspaces, &[], cmds).unwrap_or_default()
}

/// As [`run_atomic`], but first checks that no `watched` key changed; if
/// one did, runs nothing and returns `None` (EXEC's null reply).
pub fn run_watched(keyspaces: &[SharedKeyspace], watched: &[Watched], cmds: &[Vec<Bytes>]) -> Option<Vec<Reply>> {
    let cores = keyspaces.len();
    let watched_keys = watched.iter().map(|(k, _)| k);
    let mut shards: Vec<usize> =
        cmds.iter().flat_map(|c| keys_of(c)).chain(watched_keys).map(|k| shard_of(k, cores)).collect();
    shards.sort_unstable();
    shards.dedup();
    // In core order: two transactions never wait on each other in a cycle.
    let mut locked: BTreeMap<usize, MutexGuard<'_, Keyspace>> =
        shards.into_iter().map(|s| (s, lock(&keyspaces[s]))).collect();
    let now = now_ms();
    for (key, version) in watched {
        let current = locked.get_mut(&shard_of(key, cores)).and_then(|g| g.version(key, now));
        if current != *version {
            return None;
        }
    }
    Some(cmds.iter().map(|c| run_one(&mut locked, cores, c, now)).collect())
}

fn run_one(ks: &mut BTreeMap<usize, MutexGuard<'_, Keyspace>>, cores: usize, args: &[Bytes], now: u64) -> Reply {
    let name = std::str::from_utf8(&args[0]).unwrap_or("");
    let mut on = |key: &Bytes, cmd: Vec<Bytes>| -> Reply {
        match ks.get_mut(&shard_of(key, cores)) {
            Some(guard) => execute(guard, &cmd, now),
            None => Reply::err("key not locked"),
        }
    };
    match name {
        "PING" => Reply::Status("PONG"),
        "ECHO" if args.len() == 2 => Reply::Bulk(args[1].clone()),
        "MGET" if args.len() >= 2 => Reply::Array(
            args[1..]
                .iter()
                .map(|k| match on(k, vec![Bytes::from_static(b"GET"), k.clone()]) {
                    Reply::Error(_) => Reply::Nil,
                    r => r,
                })
                .collect(),
        ),
        "MSET" if args.len() >= 3 && args.len() % 2 == 1 => {
            for p in args[1..].chunks(2) {
                on(&p[0], vec![Bytes::from_static(b"SET"), p[0].clone(), p[1].clone()]);
            }
            Reply::OK
        }
        "MSETNX" if args.len() >= 3 && args.len() % 2 == 1 => {
            let taken = args[1..]
                .chunks(2)
                .any(|p| on(&p[0], vec![Bytes::from_static(b"EXISTS"), p[0].clone()]) == Reply::Int(1));
            if taken {
                return Reply::Int(0);
            }
            for p in args[1..].chunks(2) {
                on(&p[0], vec![Bytes::from_static(b"SET"), p[0].clone(), p[1].clone()]);
            }
            Reply::Int(1)
        }
        "DEL" | "UNLINK" | "EXISTS" if args.len() >= 2 => Reply::Int(
            args[1..]
                .iter()
                .map(|k| match on(k, vec![args[0].clone(), k.clone()]) {
                    Reply::Int(n) => n,
                    _ => 0,
                })
                .sum(),
        ),
        "RENAME" | "RENAMENX" if args.len() == 3 => rename(ks, cores, &args[1], &args[2], name == "RENAMENX", now),
        "RPOPLPUSH" if args.len() == 3 => lmove(&mut on, &args[1], &args[2], b"RIGHT", b"LEFT"),
        "LMOVE" if args.len() == 5 => lmove(&mut on, &args[1], &args[2], &args[3], &args[4]),
        n if is_keyed(n) && args.len() >= 2 => on(&args[1], args.to_vec()),
        n => Reply::wrong_args(n),
    }
}

/// LMOVE src dst LEFT|RIGHT LEFT|RIGHT: pops from one end of `src` and
/// pushes onto one end of `dst`, which may live on another core.
fn lmove(on: &mut impl FnMut(&Bytes, Vec<Bytes>) -> Reply, src: &Bytes, dst: &Bytes, from: &[u8], to: &[u8]) -> Reply {
    let pop = match from.to_ascii_uppercase().as_slice() {
        b"LEFT" => "LPOP",
        b"RIGHT" => "RPOP",
        _ => return Reply::syntax(),
    };
    let push = match to.to_ascii_uppercase().as_slice() {
        b"LEFT" => "LPUSH",
        b"RIGHT" => "RPUSH",
        _ => return Reply::syntax(),
    };
    let ty = |on: &mut dyn FnMut(&Bytes, Vec<Bytes>) -> Reply, k: &Bytes| {
        on(k, vec![Bytes::from_static(b"TYPE"), k.clone()])
    };
    for key in [src, dst] {
        if !matches!(ty(on, key), Reply::Status("list" | "none")) {
            return Reply::wrong_type();
        }
    }
    // Refused before popping, so the element is never lost.
    if let Reply::Error(e) = on(dst, vec![Bytes::from_static(b"ROOM"), dst.clone()]) {
        return Reply::Error(e);
    }
    match on(src, vec![Bytes::from_static(pop.as_bytes()), src.clone()]) {
        Reply::Bulk(v) => {
            on(dst, vec![Bytes::from_static(push.as_bytes()), dst.clone(), v.clone()]);
            Reply::Bulk(v)
        }
        other => other,
    }
}

/// RENAME / RENAMENX src dst, which may live on different cores.
fn rename(
    ks: &mut BTreeMap<usize, MutexGuard<'_, Keyspace>>,
    cores: usize,
    src: &Bytes,
    dst: &Bytes,
    nx: bool,
    now: u64,
) -> Reply {
    let (s, d) = (shard_of(src, cores), shard_of(dst, cores));
    if ks.get_mut(&s).is_none_or(|g| g.get(src, now).is_none()) {
        return Reply::err("no such key");
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::OK };
    }
    if nx && ks.get_mut(&d).is_some_and(|g| g.get(dst, now).is_some()) {
        return Reply::Int(0);
    }
    let Some((value, expires)) = ks.get_mut(&s).and_then(|g| g.take(src, now)) else {
        return Reply::err("no such key");
    };
    if let Some(g) = ks.get_mut(&d) {
        g.set(dst.clone(), value, expires);
    }
    if nx {
        Reply::Int(1)
    } else {
        Reply::OK
    }
}
