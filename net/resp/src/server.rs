//! Server and connection commands: AUTH, HELLO, CLIENT, CONFIG GET, INFO.

use bytes::Bytes;
use ephpm_kv::node::{Answer, Op};
use ephpm_kv::{Reply, ShardFigures};

use super::conn::{RespContext, Session};
use super::dispatch::After;
use super::writer;

/// AUTH [username] password (only the `default` user exists).
pub(super) fn auth(ctx: &RespContext, session: &mut Session, a: &[Bytes]) -> Reply {
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
pub(super) fn hello(ctx: &RespContext, session: &mut Session, args: &[Bytes], out: &mut Vec<u8>) -> After {
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

pub(super) fn client(session: &mut Session, args: &[Bytes]) -> Reply {
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
pub(super) fn config(args: &[Bytes]) -> Reply {
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
        if args[2..].iter().any(|p| ephpm_kv::glob_match(&p.to_ascii_lowercase(), k.as_bytes())) {
            out.push((Reply::bulk(k.as_bytes()), Reply::bulk(v.as_bytes())));
        }
    }
    Reply::Map(out)
}

pub(super) async fn info(ctx: &RespContext) -> Reply {
    let mut f = ShardFigures::default();
    for shard in 0..ctx.node.cores() {
        if let Answer::Figures(one) = ctx.node.ask(shard, Op::Figures).await {
            f.add(&one);
        }
    }
    let ShardFigures {
        keys,
        volatile: expires,
        memory,
        evictions: evicted,
        expirations: expired,
        hits,
        misses,
        mesh_batches,
        mesh_messages,
        ..
    } = f;
    let text = format!(
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\nephpm_version:{}\r\nshards:{}\r\n\r\n\
         # Clients\r\nconnected_clients:{}\r\n\r\n\
         # Memory\r\nused_memory:{memory}\r\n\r\n\
         # Stats\r\nexpired_keys:{expired}\r\nevicted_keys:{evicted}\r\n\
         keyspace_hits:{hits}\r\nkeyspace_misses:{misses}\r\n\
         ephpm_mesh_batches:{mesh_batches}\r\nephpm_mesh_messages:{mesh_messages}\r\n\r\n\
         # Keyspace\r\ndb0:keys={keys},expires={expires},avg_ttl=0\r\n",
        env!("CARGO_PKG_VERSION"),
        ctx.node.cores(),
        ctx.clients.count.get(),
    );
    Reply::Bulk(Bytes::from(text))
}
