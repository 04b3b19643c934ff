//! Running one command: connection commands here, key commands on the
//! core that owns the key (through the core's KV node), multi-key and
//! whole-store commands split over the cores and gathered.

use bytes::Bytes;
use ephpm_shard::kv::command::is_keyed;
use ephpm_shard::kv::{shard_of, Reply};

use super::conn::{RespContext, Session};
use super::{transaction, writer};

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
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    args[0] = Bytes::from(name.clone());
    if !session.authed && !matches!(name.as_str(), "AUTH" | "HELLO" | "QUIT") {
        writer::write(out, &Reply::Error("NOAUTH Authentication required.".into()), session.resp3);
        return After::Continue;
    }
    if session.subscriptions() > 0
        && !session.resp3
        && !matches!(name.as_str(), "SUBSCRIBE" | "UNSUBSCRIBE" | "PSUBSCRIBE" | "PUNSUBSCRIBE" | "PING" | "QUIT")
    {
        let e = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            name.to_ascii_lowercase()
        );
        writer::write(out, &Reply::Error(e), false);
        return After::Continue;
    }
    if session.multi.is_some() && !matches!(name.as_str(), "EXEC" | "DISCARD" | "MULTI" | "QUIT" | "WATCH") {
        let reply = if transaction::can_queue(&name) {
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
    let reply = match name.as_str() {
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
                    transaction::run_watched(&ctx.keyspaces, &watched, &queue).map_or(Reply::NilArray, Reply::Array)
                }
            }
        }
        "WATCH" if session.multi.is_some() => Reply::err("WATCH inside MULTI is not allowed"),
        "WATCH" if args.len() >= 2 => {
            for key in &args[1..] {
                let version = transaction::version_of(&ctx.keyspaces, key);
                session.watched.push((key.clone(), version));
            }
            Reply::OK
        }
        "UNWATCH" => {
            session.watched.clear();
            Reply::OK
        }
        "RENAME" | "RENAMENX" if args.len() == 3 => one_atomic(ctx, args),
        "MSETNX" if args.len() >= 3 && args.len() % 2 == 1 => one_atomic(ctx, args),
        "LMOVE" if args.len() == 5 => one_atomic(ctx, args),
        "RPOPLPUSH" if args.len() == 3 => one_atomic(ctx, args),
        "BLPOP" | "BRPOP" if args.len() >= 3 => blocking_pop(ctx, &name, &args[1..]).await,
        "QUIT" => {
            writer::write(out, &Reply::OK, session.resp3);
            return After::Close;
        }
        "SUBSCRIBE" | "PSUBSCRIBE" if args.len() >= 2 => {
            subscribe(ctx, session, &name, &args[1..], out);
            return After::Continue;
        }
        "UNSUBSCRIBE" | "PUNSUBSCRIBE" => {
            unsubscribe(ctx, session, &name, &args[1..], out);
            return After::Continue;
        }
        "PING" if session.subscriptions() > 0 && !session.resp3 => {
            let payload = args.get(1).cloned().unwrap_or_default();
            writer::write_push(out, &[Reply::bulk(b"pong"), Reply::Bulk(payload)], false);
            return After::Continue;
        }
        "PUBLISH" if args.len() == 3 => {
            let deliver = vec![Bytes::from_static(b"PUBLISHLOCAL"), args[1].clone(), args[2].clone()];
            sum_all(ctx, &deliver).await
        }
        "HELLO" => return hello(ctx, session, &args, out),
        "PING" => match args.len() {
            1 => Reply::Status("PONG"),
            2 => Reply::Bulk(args[1].clone()),
            _ => Reply::wrong_args("ping"),
        },
        "ECHO" if args.len() == 2 => Reply::Bulk(args[1].clone()),
        "AUTH" => auth(ctx, session, &args[1..]),
        "SELECT" if args.len() == 2 => match &args[1][..] {
            b"0" => Reply::OK,
            _ => Reply::err("DB index is out of range"),
        },
        "CLIENT" => client(session, &args),
        "COMMAND" => match args.get(1).map(|a| a.to_ascii_uppercase()) {
            Some(sub) if sub == b"COUNT" => Reply::Int(KNOWN.len() as i64),
            _ => Reply::Array(Vec::new()),
        },
        "TIME" => {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Reply::Array(vec![
                Reply::Bulk(Bytes::from(t.as_secs().to_string())),
                Reply::Bulk(Bytes::from(t.subsec_micros().to_string())),
            ])
        }
        "CONFIG" => config(&args),
        "INFO" => info(ctx).await,
        "MEMORY" if args.len() == 3 && args[1].eq_ignore_ascii_case(b"USAGE") => {
            keyed(ctx, vec![Bytes::from_static(b"MEMUSAGE"), args[2].clone()]).await
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
        "MGET" if args.len() >= 2 => {
            let mut items = Vec::with_capacity(args.len() - 1);
            for key in &args[1..] {
                let r = keyed(ctx, vec![Bytes::from_static(b"GET"), key.clone()]).await;
                // A key of another type reads as nil in MGET.
                items.push(if matches!(r, Reply::Error(_)) { Reply::Nil } else { r });
            }
            Reply::Array(items)
        }
        "MSET" if args.len() >= 3 && args.len() % 2 == 1 => {
            for pair in args[1..].chunks(2) {
                keyed(ctx, vec![Bytes::from_static(b"SET"), pair[0].clone(), pair[1].clone()]).await;
            }
            Reply::OK
        }
        "DEL" | "UNLINK" | "EXISTS" if args.len() >= 2 => {
            let mut n = 0;
            for key in &args[1..] {
                if let Reply::Int(k) = keyed(ctx, vec![args[0].clone(), key.clone()]).await {
                    n += k;
                }
            }
            Reply::Int(n)
        }
        "SCAN" if args.len() >= 2 => scan(ctx, &args).await,
        "SINTER" | "SUNION" | "SDIFF" if args.len() >= 2 => match set_op(ctx, &name, &args[1..]).await {
            Ok(members) => Reply::Array(members.into_iter().map(Reply::Bulk).collect()),
            Err(e) => e,
        },
        "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" if args.len() >= 3 => {
            match set_op(ctx, &name[..name.len() - 5], &args[2..]).await {
                Ok(members) => {
                    let mut store = vec![Bytes::from_static(b"SSTORE"), args[1].clone()];
                    store.extend(members);
                    keyed(ctx, store).await
                }
                Err(e) => e,
            }
        }
        n if is_keyed(n) && args.len() >= 2 => keyed(ctx, args).await,
        n if is_keyed(n) || KNOWN.contains(&n) => Reply::wrong_args(n),
        _ => Reply::Error(format!(
            "ERR unknown command '{}', with args beginning with: {}",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
            args[1..].iter().take(8).map(|a| format!("'{}' ", String::from_utf8_lossy(a))).collect::<String>()
        )),
    };
    writer::write(out, &reply, session.resp3);
    After::Continue
}

/// Commands answered here besides the key commands (for COMMAND COUNT and
/// the arity error).
const KNOWN: &[&str] = &[
    "QUIT",
    "HELLO",
    "PING",
    "ECHO",
    "AUTH",
    "SELECT",
    "CLIENT",
    "COMMAND",
    "TIME",
    "CONFIG",
    "INFO",
    "DBSIZE",
    "FLUSHDB",
    "FLUSHALL",
    "KEYS",
    "RANDOMKEY",
    "MGET",
    "MSET",
    "DEL",
    "UNLINK",
    "EXISTS",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "SCAN",
    "MULTI",
    "EXEC",
    "DISCARD",
    "RENAME",
    "RENAMENX",
    "MSETNX",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PSUBSCRIBE",
    "PUNSUBSCRIBE",
    "PUBLISH",
    "WATCH",
    "UNWATCH",
    "LMOVE",
    "RPOPLPUSH",
    "BLPOP",
    "BRPOP",
    "MEMORY",
];

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. The cursor walks the
/// cores in turn: `index * cores + core`, `index` a slot of that core's
/// key table.
async fn scan(ctx: &RespContext, args: &[Bytes]) -> Reply {
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
        let step = vec![
            Bytes::from_static(b"SCANSHARD"),
            Bytes::from(index.to_string()),
            Bytes::from(count.to_string()),
            pattern.clone(),
            ty.clone(),
        ];
        let Reply::Array(mut part) = ctx.node.call(shard as usize, step).await else {
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
async fn set_op(ctx: &RespContext, op: &str, keys: &[Bytes]) -> Result<Vec<Bytes>, Reply> {
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

/// SUBSCRIBE / PSUBSCRIBE: one confirmation per channel or pattern.
fn subscribe(ctx: &RespContext, session: &mut Session, name: &str, targets: &[Bytes], out: &mut Vec<u8>) {
    let mb = session.mailbox.get_or_insert_with(Default::default).clone();
    let pattern = name == "PSUBSCRIBE";
    for t in targets {
        let added = if pattern { ctx.node.pubsub.psubscribe(t, &mb) } else { ctx.node.pubsub.subscribe(t, &mb) };
        if added {
            if pattern {
                session.patterns.push(t.clone())
            } else {
                session.channels.push(t.clone())
            }
        }
        let kind: &[u8] = if pattern { b"psubscribe" } else { b"subscribe" };
        let count = Reply::Int(session.subscriptions() as i64);
        writer::write_push(out, &[Reply::bulk(kind), Reply::Bulk(t.clone()), count], session.resp3);
    }
}

/// UNSUBSCRIBE / PUNSUBSCRIBE, of the given ones or of all.
fn unsubscribe(ctx: &RespContext, session: &mut Session, name: &str, targets: &[Bytes], out: &mut Vec<u8>) {
    let pattern = name == "PUNSUBSCRIBE";
    let kind: &[u8] = if pattern { b"punsubscribe" } else { b"unsubscribe" };
    let current = if pattern { session.patterns.clone() } else { session.channels.clone() };
    let targets: Vec<Bytes> = if targets.is_empty() { current } else { targets.to_vec() };
    if targets.is_empty() {
        let count = Reply::Int(session.subscriptions() as i64);
        writer::write_push(out, &[Reply::bulk(kind), Reply::Nil, count], session.resp3);
        return;
    }
    for t in targets {
        if let Some(mb) = &session.mailbox {
            if pattern {
                ctx.node.pubsub.punsubscribe(&t, mb);
                session.patterns.retain(|p| *p != t);
            } else {
                ctx.node.pubsub.unsubscribe(&t, mb);
                session.channels.retain(|c| *c != t);
            }
        }
        let count = Reply::Int(session.subscriptions() as i64);
        writer::write_push(out, &[Reply::bulk(kind), Reply::Bulk(t), count], session.resp3);
    }
}

/// Writes the messages waiting in a subscribed connection's mailbox.
pub fn write_messages(mb: &ephpm_shard::kv::pubsub::Mailbox, session: &Session, out: &mut Vec<u8>) {
    for (pattern, channel, message) in mb.drain() {
        match pattern {
            Some(p) => writer::write_push(
                out,
                &[Reply::bulk(b"pmessage"), Reply::Bulk(p), Reply::Bulk(channel), Reply::Bulk(message)],
                session.resp3,
            ),
            None => writer::write_push(
                out,
                &[Reply::bulk(b"message"), Reply::Bulk(channel), Reply::Bulk(message)],
                session.resp3,
            ),
        }
    }
}

/// How often a blocked BLPOP/BRPOP looks at its keys again.
const BLOCK_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// BLPOP / BRPOP key [key ...] timeout: the first of the keys (in order)
/// with an element gives `[key, element]`; with none, waits until one has
/// or the timeout (seconds, fractions allowed, 0 for ever) passes, then
/// nil. A blocked client looks at its keys every few milliseconds (keys
/// live on several cores, and a poll costs one mesh round trip per key).
async fn blocking_pop(ctx: &RespContext, name: &str, a: &[Bytes]) -> Reply {
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

/// One atomic cross-core command.
fn one_atomic(ctx: &RespContext, args: Vec<Bytes>) -> Reply {
    transaction::run_atomic(&ctx.keyspaces, &[args]).pop().unwrap_or(Reply::Nil)
}

/// A single-key command on the key's core.
async fn keyed(ctx: &RespContext, args: Vec<Bytes>) -> Reply {
    let shard = shard_of(&args[1], ctx.node.cores());
    ctx.node.call(shard, args).await
}

/// Runs `args` on every core, in core order.
async fn all(ctx: &RespContext, args: &[Bytes]) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(ctx.node.cores());
    for shard in 0..ctx.node.cores() {
        replies.push(ctx.node.call(shard, args.to_vec()).await);
    }
    replies
}

async fn sum_all(ctx: &RespContext, args: &[Bytes]) -> Reply {
    let total = all(ctx, args).await.iter().map(|r| if let Reply::Int(n) = r { *n } else { 0 }).sum();
    Reply::Int(total)
}

/// AUTH [username] password (only the `default` user exists).
fn auth(ctx: &RespContext, session: &mut Session, a: &[Bytes]) -> Reply {
    let (user, pass) = match a {
        [pass] => (&b"default"[..], pass),
        [user, pass] => (&user[..], pass),
        _ => return Reply::wrong_args("auth"),
    };
    let Some(expected) = ctx.password.as_deref() else {
        return Reply::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        );
    };
    if user == b"default" && constant_time_eq(pass, expected.as_bytes()) {
        session.authed = true;
        Reply::OK
    } else {
        Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]].
fn hello(ctx: &RespContext, session: &mut Session, args: &[Bytes], out: &mut Vec<u8>) -> After {
    let mut i = 1;
    let mut proto = if session.resp3 { 3 } else { 2 };
    if let Some(v) = args.get(1) {
        match &v[..] {
            b"2" => proto = 2,
            b"3" => proto = 3,
            _ => {
                writer::write(out, &Reply::Error("NOPROTO unsupported protocol version".into()), session.resp3);
                return After::Continue;
            }
        }
        i = 2;
    }
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        if opt == b"AUTH" && i + 2 < args.len() {
            let r = auth(ctx, session, &args[i + 1..i + 3]);
            if matches!(r, Reply::Error(_)) {
                writer::write(out, &r, session.resp3);
                return After::Continue;
            }
            i += 3;
        } else if opt == b"SETNAME" && i + 1 < args.len() {
            session.name = Some(args[i + 1].clone());
            i += 2;
        } else {
            writer::write(out, &Reply::syntax(), session.resp3);
            return After::Continue;
        }
    }
    if !session.authed {
        writer::write(out, &Reply::Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()), session.resp3);
        return After::Continue;
    }
    session.resp3 = proto == 3;
    writer::write_map(
        out,
        &[
            ("server", Reply::bulk(b"redis")),
            ("version", Reply::bulk(REDIS_VERSION.as_bytes())),
            ("proto", Reply::Int(proto)),
            ("id", Reply::Int(session.id as i64)),
            ("mode", Reply::bulk(b"standalone")),
            ("role", Reply::bulk(b"master")),
            ("modules", Reply::Array(Vec::new())),
        ],
        session.resp3,
    );
    After::Continue
}

/// The Redis version ephpm reports to clients (the command set it follows).
const REDIS_VERSION: &str = "7.2.0";

fn client(session: &mut Session, args: &[Bytes]) -> Reply {
    let sub = args.get(1).map(|s| s.to_ascii_uppercase()).unwrap_or_default();
    match (&sub[..], args.len()) {
        (b"SETNAME", 3) => {
            session.name = Some(args[2].clone());
            Reply::OK
        }
        (b"GETNAME", 2) => session.name.clone().map_or(Reply::Nil, Reply::Bulk),
        (b"ID", 2) => Reply::Int(session.id as i64),
        (b"SETINFO", 4) => Reply::OK,
        (b"INFO", 2) | (b"LIST", _) => Reply::Bulk(Bytes::from(format!(
            "id={} name={} db=0 resp={}\n",
            session.id,
            session.name.as_deref().map(String::from_utf8_lossy).unwrap_or_default(),
            if session.resp3 { 3 } else { 2 }
        ))),
        _ => Reply::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&sub)
        )),
    }
}

/// CONFIG GET for the fields clients probe; other subcommands refused.
fn config(args: &[Bytes]) -> Reply {
    let sub = args.get(1).map(|s| s.to_ascii_uppercase()).unwrap_or_default();
    if sub != b"GET" || args.len() < 3 {
        return Reply::err("CONFIG supports only GET here (ephpm is configured through ephpm.toml)");
    }
    const FIELDS: &[(&str, &str)] = &[
        ("databases", "1"),
        ("maxmemory", "0"),
        ("maxmemory-policy", "noeviction"),
        ("save", ""),
        ("appendonly", "no"),
    ];
    let mut out = Vec::new();
    for (k, v) in FIELDS {
        if args[2..].iter().any(|p| ephpm_shard::kv::glob_match(&p.to_ascii_lowercase(), k.as_bytes())) {
            out.push(Reply::bulk(k.as_bytes()));
            out.push(Reply::bulk(v.as_bytes()));
        }
    }
    Reply::Array(out)
}

async fn info(ctx: &RespContext) -> Reply {
    let mut totals = [0i64; 5];
    for r in all(ctx, &[Bytes::from_static(b"STATS")]).await {
        if let Reply::Array(items) = r {
            for (t, item) in totals.iter_mut().zip(items) {
                if let Reply::Int(n) = item {
                    *t += n;
                }
            }
        }
    }
    let [keys, expires, memory, evicted, expired] = totals;
    let text = format!(
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\nephpm_version:{}\r\nshards:{}\r\n\r\n\
         # Clients\r\nconnected_clients:{}\r\n\r\n\
         # Memory\r\nused_memory:{memory}\r\n\r\n\
         # Stats\r\nexpired_keys:{expired}\r\nevicted_keys:{evicted}\r\n\r\n\
         # Keyspace\r\ndb0:keys={keys},expires={expires},avg_ttl=0\r\n",
        env!("CARGO_PKG_VERSION"),
        ctx.node.cores(),
        ctx.clients.get(),
    );
    Reply::Bulk(Bytes::from(text))
}
