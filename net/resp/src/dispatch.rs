//! Running one command: connection commands here, key commands on the
//! core that owns the key (through the core's KV node), multi-key and
//! whole-store commands split over the cores and gathered.

use bytes::Bytes;
use ephpm_kv::multikey::{self, KeyRunner};
use ephpm_kv::node::{Answer, Op};
use ephpm_kv::table::{flags, lookup};
use ephpm_kv::transaction;
use ephpm_kv::{shard_of, Reply};

use super::conn::{RespContext, Session};
use super::{command_info, cross_core, server, subscribe, writer};

/// What the connection does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    /// Read the next command.
    Continue,
    /// Send what is queued and close (QUIT).
    Close,
}

/// Runs `args` (name first) for `session`, appending the reply to `out`.
pub async fn run(ctx: &RespContext, session: &mut Session, mut args: Vec<Bytes>, out: &mut Vec<u8>) -> After {
    // The command table names the command (no allocation for its name).
    let spec = lookup(&args[0]);
    let name: &'static str = spec.map_or("", |s| s.name);
    if spec.is_some() {
        args[0] = Bytes::from_static(name.as_bytes());
    }
    if !session.authed && !spec.is_some_and(|s| s.has(flags::NO_AUTH)) {
        writer::write(out, &Reply::Error("NOAUTH Authentication required.".into()), session.resp3);
        return After::Continue;
    }
    if session.subscriptions() > 0
        && !session.resp3
        && !matches!(name, "SUBSCRIBE" | "UNSUBSCRIBE" | "PSUBSCRIBE" | "PUNSUBSCRIBE" | "PING" | "QUIT")
    {
        let e = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        );
        writer::write(out, &Reply::Error(e), false);
        return After::Continue;
    }
    let Some(spec) = spec else {
        if session.multi.is_some() {
            session.multi_failed = true;
        }
        writer::write(out, &unknown(&args), session.resp3);
        return After::Continue;
    };
    if !spec.arity_ok(args.len()) {
        if session.multi.is_some() {
            session.multi_failed = true;
        }
        writer::write(out, &Reply::wrong_args(name), session.resp3);
        return After::Continue;
    }
    if session.multi.is_some() && !matches!(name, "EXEC" | "DISCARD" | "MULTI" | "QUIT" | "WATCH") {
        let reply = if transaction::can_queue(name) {
            if let Some(q) = session.multi.as_mut() {
                q.push(args);
            }
            Reply::Status("QUEUED")
        } else {
            session.multi_failed = true;
            Reply::err(format!("'{}' cannot be used in MULTI here", name.to_ascii_lowercase()))
        };
        writer::write(out, &reply, session.resp3);
        return After::Continue;
    }
    let reply = match name {
        "MULTI" if session.multi.is_some() => Reply::err("MULTI calls can not be nested"),
        "MULTI" => {
            session.multi = Some(Vec::new());
            session.multi_failed = false;
            Reply::OK
        }
        "DISCARD" => match session.multi.take() {
            Some(_) => {
                session.watched.clear();
                Reply::OK
            }
            None => Reply::err("DISCARD without MULTI"),
        },
        "EXEC" => {
            let watched = std::mem::take(&mut session.watched);
            match session.multi.take() {
                None => Reply::err("EXEC without MULTI"),
                Some(_) if std::mem::take(&mut session.multi_failed) => {
                    Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
                }
                // A watched key changed: nothing runs, the reply is null.
                Some(queue) => {
                    transaction::run_watched(&ctx.node, &watched, &queue).await.map_or(Reply::NilArray, Reply::Array)
                }
            }
        }
        "WATCH" if session.multi.is_some() => Reply::err("WATCH inside MULTI is not allowed"),
        "WATCH" if args.len() >= 2 => {
            for key in &args[1..] {
                let version = transaction::version_of(&ctx.node, key).await;
                session.watched.push((key.clone(), version));
            }
            Reply::OK
        }
        "UNWATCH" => {
            session.watched.clear();
            Reply::OK
        }
        "RENAME" | "RENAMENX" if args.len() == 3 => one_atomic(ctx, args).await,
        "MSETNX" if args.len() >= 3 && args.len() % 2 == 1 => one_atomic(ctx, args).await,
        "LMOVE" if args.len() == 5 => one_atomic(ctx, args).await,
        "RPOPLPUSH" if args.len() == 3 => one_atomic(ctx, args).await,
        "BLPOP" | "BRPOP" => cross_core::blocking_pop(ctx, name, &args[1..]).await,
        "QUIT" => {
            writer::write(out, &Reply::OK, session.resp3);
            return After::Close;
        }
        "SUBSCRIBE" | "PSUBSCRIBE" if args.len() >= 2 => {
            subscribe::subscribe(ctx, session, name, &args[1..], out);
            return After::Continue;
        }
        "UNSUBSCRIBE" | "PUNSUBSCRIBE" => {
            subscribe::unsubscribe(ctx, session, name, &args[1..], out);
            return After::Continue;
        }
        "PING" if session.subscriptions() > 0 && !session.resp3 => {
            let payload = args.get(1).cloned().unwrap_or_default();
            writer::write_push(out, &[Reply::bulk(b"pong"), Reply::Bulk(payload)], false);
            return After::Continue;
        }
        "PUBLISH" if args.len() == 3 => {
            let mut receivers = 0;
            for shard in 0..ctx.node.cores() {
                let op = Op::Publish { channel: args[1].clone(), message: args[2].clone() };
                if let Answer::Reply(Reply::Int(n)) = ctx.node.ask(shard, op).await {
                    receivers += n;
                }
            }
            Reply::Int(receivers)
        }
        "HELLO" => return server::hello(ctx, session, &args, out),
        "PING" => match args.len() {
            1 => Reply::Status("PONG"),
            2 => Reply::Bulk(args[1].clone()),
            _ => Reply::wrong_args("ping"),
        },
        "ECHO" if args.len() == 2 => Reply::Bulk(args[1].clone()),
        "AUTH" => server::auth(ctx, session, &args[1..]),
        "SELECT" if args.len() == 2 => match &args[1][..] {
            b"0" => Reply::OK,
            _ => Reply::err("DB index is out of range"),
        },
        "CLIENT" => server::client(session, &args),
        "COMMAND" => command_info::run(&args),
        "TIME" => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Reply::Array(vec![
                Reply::Bulk(Bytes::from(t.as_secs().to_string())),
                Reply::Bulk(Bytes::from(t.subsec_micros().to_string())),
            ])
        }
        "CONFIG" => server::config(&args),
        "INFO" => server::info(ctx).await,
        "MEMORY" if args.len() == 3 && args[1].eq_ignore_ascii_case(b"USAGE") => {
            let shard = shard_of(&args[2], ctx.node.cores());
            match ctx.node.ask(shard, Op::MemoryUsage(args[2].clone())).await {
                Answer::Reply(r) => r,
                _ => Reply::Nil,
            }
        }
        "DBSIZE" => sum_all(ctx, &args).await,
        "FLUSHDB" | "FLUSHALL" => {
            all(ctx, &[args[0].clone()]).await;
            Reply::OK
        }
        "KEYS" if args.len() == 2 => {
            let mut keys = Vec::new();
            for r in all(ctx, &args).await {
                if let Reply::Array(mut part) = r {
                    keys.append(&mut part);
                }
            }
            Reply::Array(keys)
        }
        "RANDOMKEY" => {
            let mut found = Reply::Nil;
            for r in all(ctx, &args).await {
                if matches!(r, Reply::Bulk(_)) {
                    found = r;
                    break;
                }
            }
            found
        }
        "MGET" | "MSET" | "DEL" | "UNLINK" | "EXISTS" => {
            multikey::run(&Direct(ctx), name, &args).await.unwrap_or_else(|| Reply::wrong_args(name))
        }
        "SCAN" if args.len() >= 2 => cross_core::scan(ctx, &args).await,
        "SINTER" | "SUNION" | "SDIFF" => match cross_core::set_op(ctx, name, &args[1..]).await {
            Ok(members) => Reply::Array(members.into_iter().map(Reply::Bulk).collect()),
            Err(e) => e,
        },
        "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" if args.len() >= 3 => {
            match cross_core::set_op(ctx, &name[..name.len() - 5], &args[2..]).await {
                Ok(members) => {
                    let op = Op::StoreSet { key: args[1].clone(), members };
                    match ctx.node.ask(shard_of(&args[1], ctx.node.cores()), op).await {
                        Answer::Reply(r) => r,
                        _ => Reply::err("unexpected internal answer"),
                    }
                }
                Err(e) => e,
            }
        }
        _ if spec.has(flags::KEYED) => keyed(ctx, args).await,
        _ => Reply::wrong_args(name),
    };
    writer::write(out, &reply, session.resp3);
    After::Continue
}

/// The reply to a command the table does not know.
fn unknown(args: &[Bytes]) -> Reply {
    Reply::Error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
        args[1..].iter().take(8).map(|a| format!("'{}' ", String::from_utf8_lossy(a))).collect::<String>()
    ))
}

/// Multi-key commands outside a transaction: each key on its core.
struct Direct<'a>(&'a RespContext);

impl KeyRunner for Direct<'_> {
    async fn on(&self, _key: &Bytes, args: Vec<Bytes>) -> Reply {
        keyed(self.0, args).await
    }
}

/// One atomic cross-core command.
async fn one_atomic(ctx: &RespContext, args: Vec<Bytes>) -> Reply {
    transaction::run_atomic(&ctx.node, &[args]).await.pop().unwrap_or(Reply::Nil)
}

/// A single-key command on the key's core.
pub(super) async fn keyed(ctx: &RespContext, args: Vec<Bytes>) -> Reply {
    let shard = shard_of(&args[1], ctx.node.cores());
    ctx.node.call(shard, args).await
}

/// Runs `args` on every core, in core order.
pub(super) async fn all(ctx: &RespContext, args: &[Bytes]) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(ctx.node.cores());
    for shard in 0..ctx.node.cores() {
        replies.push(ctx.node.call(shard, args.to_vec()).await);
    }
    replies
}

pub(super) async fn sum_all(ctx: &RespContext, args: &[Bytes]) -> Reply {
    let total = all(ctx, args).await.iter().map(|r| if let Reply::Int(n) = r { *n } else { 0 }).sum();
    Reply::Int(total)
}
