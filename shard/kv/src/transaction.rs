//! Commands that must be atomic across keys on several cores: MULTI/EXEC
//! (with WATCH), RENAME, RENAMENX, MSETNX, LMOVE and RPOPLPUSH. The
//! coordinating core holds every shard the keys live on, in core order
//! (so two transactions never wait on each other in a cycle), runs the
//! commands as steps on those shards over the mesh, and releases them.
//! While a shard is held, every other command for it waits; no core locks
//! another core's keys.

use bytes::Bytes;

use crate::multikey::{self, KeyRunner};
use crate::node::{Answer, KvNode, Step, TxId};
use crate::table::{flags, is_keyed, lookup};
use crate::{shard_of, Reply};

/// Whether `name` (upper case) may be queued in MULTI.
pub fn can_queue(name: &str) -> bool {
    lookup(name.as_bytes()).is_some_and(|s| s.has(flags::IN_MULTI))
}

/// A watched key and the version it had (`None`: it did not exist).
pub type Watched = (Bytes, Option<u64>);

/// The current version of `key` (for WATCH), asked of its core.
pub async fn version_of(node: &KvNode, key: &Bytes) -> Option<u64> {
    match node.ask(shard_of(key, node.cores()), crate::node::Op::Version(key.clone())).await {
        Answer::Version(v) => v,
        _ => None,
    }
}

/// Runs `cmds` atomically and returns one reply per command.
pub async fn run_atomic(node: &KvNode, cmds: &[Vec<Bytes>]) -> Vec<Reply> {
    run_watched(node, &[], cmds).await.unwrap_or_default()
}

/// As [`run_atomic`], but first checks that no `watched` key changed; if
/// one did, runs nothing and returns `None` (EXEC's null reply).
pub async fn run_watched(node: &KvNode, watched: &[Watched], cmds: &[Vec<Bytes>]) -> Option<Vec<Reply>> {
    let cores = node.cores();
    let watched_keys = watched.iter().map(|(k, _)| k);
    let keys = cmds.iter().flat_map(|c| lookup(&c[0]).into_iter().flat_map(|s| s.keys(c)));
    let mut shards: Vec<usize> = keys.chain(watched_keys).map(|k| shard_of(k, cores)).collect();
    shards.sort_unstable();
    shards.dedup();
    let tx = Holds::take(node, &shards).await;
    for (key, version) in watched {
        if tx.version(key).await != *version {
            return None;
        }
    }
    let mut replies = Vec::with_capacity(cmds.len());
    for c in cmds {
        replies.push(run_one(&tx, c).await);
    }
    Some(replies)
}

/// The shards a transaction holds; dropping it releases them (also when
/// the transaction's task is dropped half-way).
pub struct Holds<'a> {
    node: &'a KvNode,
    tx: TxId,
    shards: Vec<usize>,
}

impl<'a> Holds<'a> {
    /// Holds `shards` (ascending) for a new transaction.
    pub async fn take(node: &'a KvNode, shards: &[usize]) -> Holds<'a> {
        let mut holds = Holds { node, tx: node.new_tx(), shards: Vec::with_capacity(shards.len()) };
        for &s in shards {
            // Listed before the hold is granted: a drop while waiting
            // still withdraws the request.
            holds.shards.push(s);
            node.hold(s, holds.tx).await;
        }
        holds
    }

    /// Runs `step` on shard `shard`, which this transaction holds.
    pub async fn step(&self, shard: usize, step: Step) -> Answer {
        self.node.step(shard, self.tx, step).await
    }

    /// The version of `key` now.
    async fn version(&self, key: &Bytes) -> Option<u64> {
        match self.step(shard_of(key, self.node.cores()), Step::Version(key.clone())).await {
            Answer::Version(v) => v,
            _ => None,
        }
    }
}

impl KeyRunner for Holds<'_> {
    async fn on(&self, key: &Bytes, args: Vec<Bytes>) -> Reply {
        match self.step(shard_of(key, self.node.cores()), Step::Command(args)).await {
            Answer::Reply(r) => r,
            _ => Reply::err("unexpected internal answer"),
        }
    }
}

impl Drop for Holds<'_> {
    fn drop(&mut self) {
        for &s in &self.shards {
            self.node.release(s, self.tx);
        }
        self.node.flush();
    }
}

fn cmd(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

async fn run_one(tx: &Holds<'_>, args: &[Bytes]) -> Reply {
    let name = std::str::from_utf8(&args[0]).unwrap_or("");
    if let Some(reply) = multikey::run(tx, name, args).await {
        return reply;
    }
    match name {
        "PING" => Reply::Status("PONG"),
        "ECHO" if args.len() == 2 => Reply::Bulk(args[1].clone()),
        "RENAME" | "RENAMENX" if args.len() == 3 => rename(tx, &args[1], &args[2], name == "RENAMENX").await,
        "RPOPLPUSH" if args.len() == 3 => lmove(tx, &args[1], &args[2], b"RIGHT", b"LEFT").await,
        "LMOVE" if args.len() == 5 => lmove(tx, &args[1], &args[2], &args[3], &args[4]).await,
        n if is_keyed(n) && args.len() >= 2 => tx.on(&args[1], args.to_vec()).await,
        n => Reply::wrong_args(n),
    }
}

/// LMOVE src dst LEFT|RIGHT LEFT|RIGHT: pops from one end of `src` and
/// pushes onto one end of `dst`, which may live on another core.
async fn lmove(tx: &Holds<'_>, src: &Bytes, dst: &Bytes, from: &[u8], to: &[u8]) -> Reply {
    let pop: &[u8] = match from.to_ascii_uppercase().as_slice() {
        b"LEFT" => b"LPOP",
        b"RIGHT" => b"RPOP",
        _ => return Reply::syntax(),
    };
    let push: &[u8] = match to.to_ascii_uppercase().as_slice() {
        b"LEFT" => b"LPUSH",
        b"RIGHT" => b"RPUSH",
        _ => return Reply::syntax(),
    };
    for key in [src, dst] {
        if !matches!(tx.on(key, cmd(&[b"TYPE", key])).await, Reply::Status("list" | "none")) {
            return Reply::wrong_type();
        }
    }
    // Refused before popping, so the element is never lost.
    if let Answer::Reply(Reply::Error(e)) = tx.step(shard_of(dst, tx.node.cores()), Step::Room).await {
        return Reply::Error(e);
    }
    match tx.on(src, cmd(&[pop, src])).await {
        Reply::Bulk(v) => {
            tx.on(dst, vec![Bytes::copy_from_slice(push), dst.clone(), v.clone()]).await;
            Reply::Bulk(v)
        }
        other => other,
    }
}

/// RENAME / RENAMENX src dst, which may live on different cores.
async fn rename(tx: &Holds<'_>, src: &Bytes, dst: &Bytes, nx: bool) -> Reply {
    let cores = tx.node.cores();
    if tx.on(src, cmd(&[b"EXISTS", src])).await != Reply::Int(1) {
        return Reply::err("no such key");
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::OK };
    }
    if nx && tx.on(dst, cmd(&[b"EXISTS", dst])).await == Reply::Int(1) {
        return Reply::Int(0);
    }
    let Answer::Entry(Some((value, expires))) = tx.step(shard_of(src, cores), Step::Take(src.clone())).await else {
        return Reply::err("no such key");
    };
    tx.step(shard_of(dst, cores), Step::Put(dst.clone(), value, expires)).await;
    if nx {
        Reply::Int(1)
    } else {
        Reply::OK
    }
}
