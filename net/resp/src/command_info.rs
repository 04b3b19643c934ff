//! COMMAND and its subcommands, answered from the command table
//! (`ephpm_kv::table`).

use bytes::Bytes;
use ephpm_kv::table::{lookup, Spec, COMMANDS};
use ephpm_kv::Reply;

/// COMMAND, COMMAND COUNT, COMMAND INFO name..., COMMAND DOCS [name...]
/// and COMMAND LIST, from the command table (clients such as redis-py in
/// cluster mode and Predis read them).
pub(super) fn run(args: &[Bytes]) -> Reply {
    let sub = args.get(1).map(|s| s.to_ascii_uppercase()).unwrap_or_default();
    let named = || args[2..].iter().map(|n| lookup(n));
    match &sub[..] {
        b"" => Reply::Array(COMMANDS.iter().map(info).collect()),
        b"COUNT" if args.len() == 2 => Reply::Int(COMMANDS.len() as i64),
        b"LIST" if args.len() == 2 => {
            Reply::Array(COMMANDS.iter().map(|s| Reply::Bulk(Bytes::from(s.name.to_ascii_lowercase()))).collect())
        }
        b"INFO" if args.len() == 2 => Reply::Array(COMMANDS.iter().map(info).collect()),
        b"INFO" => Reply::Array(named().map(|s| s.map_or(Reply::NilArray, info)).collect()),
        b"DOCS" => {
            let specs: Vec<&Spec> =
                if args.len() == 2 { COMMANDS.iter().collect() } else { named().flatten().collect() };
            Reply::Map(
                specs.into_iter().map(|s| (Reply::Bulk(Bytes::from(s.name.to_ascii_lowercase())), docs(s))).collect(),
            )
        }
        _ => Reply::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(&sub)
        )),
    }
}

/// One command as `COMMAND INFO` describes it (Redis 7's ten fields).
fn info(s: &Spec) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(s.name.to_ascii_lowercase())),
        Reply::Int(s.arity.into()),
        Reply::Array(s.flag_names().into_iter().map(Reply::Status).collect()),
        Reply::Int(s.first_key.into()),
        Reply::Int(s.last_key.into()),
        Reply::Int(s.step.into()),
        Reply::Array(vec![Reply::Status(acl_category(s.group))]),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

/// `COMMAND DOCS` for one command: its group (summaries are not kept).
fn docs(s: &Spec) -> Reply {
    Reply::Map(vec![
        (Reply::bulk(b"summary"), Reply::bulk(b"")),
        (Reply::bulk(b"group"), Reply::Bulk(Bytes::from_static(s.group.as_bytes()))),
    ])
}

/// The ACL category of a command group.
fn acl_category(group: &str) -> &'static str {
    match group {
        "string" => "@string",
        "hash" => "@hash",
        "list" => "@list",
        "set" => "@set",
        "sorted-set" => "@sortedset",
        "pubsub" => "@pubsub",
        "transactions" => "@transaction",
        "connection" => "@connection",
        "server" => "@admin",
        _ => "@keyspace",
    }
}
