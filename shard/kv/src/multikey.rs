//! The commands that name several keys, split into one single-key command
//! per key and gathered: MGET, MSET, MSETNX, DEL, UNLINK and EXISTS. The
//! same code serves a plain command (each key on its core, over the mesh)
//! and a transaction (each key on a shard the transaction holds).

use std::future::Future;

use bytes::Bytes;

use crate::Reply;

/// Runs a single-key command on the core that owns its key.
pub trait KeyRunner {
    /// Runs `args` (name first) on the shard of `key`.
    fn on(&self, key: &Bytes, args: Vec<Bytes>) -> impl Future<Output = Reply>;
}

fn cmd(name: &'static [u8], rest: &[&Bytes]) -> Vec<Bytes> {
    let mut v = Vec::with_capacity(rest.len() + 1);
    v.push(Bytes::from_static(name));
    v.extend(rest.iter().map(|b| (*b).clone()));
    v
}

/// Runs `name` (upper case, arity already checked) over its keys; `None`
/// when `name` is not one of these commands.
pub async fn run(r: &impl KeyRunner, name: &str, args: &[Bytes]) -> Option<Reply> {
    Some(match name {
        "MGET" => {
            let mut items = Vec::with_capacity(args.len() - 1);
            for k in &args[1..] {
                // A key of another type reads as nil in MGET.
                items.push(match r.on(k, cmd(b"GET", &[k])).await {
                    Reply::Error(_) => Reply::Nil,
                    reply => reply,
                });
            }
            Reply::Array(items)
        }
        "MSET" | "MSETNX" if args.len().is_multiple_of(2) => Reply::wrong_args(name),
        "MSET" => {
            for p in args[1..].chunks(2) {
                r.on(&p[0], cmd(b"SET", &[&p[0], &p[1]])).await;
            }
            Reply::OK
        }
        "MSETNX" => {
            // Atomic only where the runner holds the keys' shards.
            for p in args[1..].chunks(2) {
                if r.on(&p[0], cmd(b"EXISTS", &[&p[0]])).await == Reply::Int(1) {
                    return Some(Reply::Int(0));
                }
            }
            for p in args[1..].chunks(2) {
                r.on(&p[0], cmd(b"SET", &[&p[0], &p[1]])).await;
            }
            Reply::Int(1)
        }
        "DEL" | "UNLINK" | "EXISTS" => {
            let mut n = 0;
            for k in &args[1..] {
                if let Reply::Int(c) = r.on(k, vec![args[0].clone(), k.clone()]).await {
                    n += c;
                }
            }
            Reply::Int(n)
        }
        _ => return None,
    })
}
