//! The one table of commands: each command's name, arity, flags and key
//! positions, as Redis 7 publishes them in `COMMAND INFO`. Dispatch, the
//! pipelined fast path, keyed routing, what MULTI may queue, the memory
//! limit's write check, hit/miss counting and `COMMAND` all read it, so a
//! command is described once. Names are looked up without allocating.

/// One command's description.
#[derive(Debug)]
pub struct Spec {
    /// The name, upper case.
    pub name: &'static str,
    /// Redis's arity: `n` exactly n arguments (the name included), `-n`
    /// at least n.
    pub arity: i32,
    /// [`flags`] bits.
    pub flags: u16,
    /// Position of the first key (0: none).
    pub first_key: i32,
    /// Position of the last key (-1: the last argument, -2: the one before).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// The command group (`COMMAND DOCS`).
    pub group: &'static str,
}

/// Command flags.
pub mod flags {
    /// Changes data.
    pub const WRITE: u16 = 1;
    /// Only reads data (its lookups count as hits and misses).
    pub const READONLY: u16 = 1 << 1;
    /// May grow memory: refused over the memory limit when nothing can be
    /// evicted.
    pub const DENYOOM: u16 = 1 << 2;
    /// Whole-store or server administration.
    pub const ADMIN: u16 = 1 << 3;
    /// Pub/sub.
    pub const PUBSUB: u16 = 1 << 4;
    /// May block the connection.
    pub const BLOCKING: u16 = 1 << 5;
    /// Constant time.
    pub const FAST: u16 = 1 << 6;
    /// Allowed before AUTH.
    pub const NO_AUTH: u16 = 1 << 7;
    /// A single-key command: runs whole on the core that owns its key
    /// (`command::execute`).
    pub const KEYED: u16 = 1 << 8;
    /// May be queued inside MULTI.
    pub const IN_MULTI: u16 = 1 << 9;
}

use std::sync::OnceLock;

use flags::*;
use hashbrown::HashMap;

const fn spec(name: &'static str, arity: i32, flags: u16, keys: (i32, i32, i32), group: &'static str) -> Spec {
    Spec { name, arity, flags, first_key: keys.0, last_key: keys.1, step: keys.2, group }
}

const NONE: (i32, i32, i32) = (0, 0, 0);
const ONE: (i32, i32, i32) = (1, 1, 1);
const ALL: (i32, i32, i32) = (1, -1, 1);
const PAIRS: (i32, i32, i32) = (1, -1, 2);
const TWO: (i32, i32, i32) = (1, 2, 1);

/// Read a key on its core.
const R: u16 = READONLY | KEYED | IN_MULTI;
/// Write a key on its core.
const W: u16 = WRITE | KEYED | IN_MULTI;
/// Write that may grow memory.
const WM: u16 = WRITE | DENYOOM | KEYED | IN_MULTI;

/// Every command, sorted by name.
pub static COMMANDS: &[Spec] = &[
    spec("APPEND", 3, WM | FAST, ONE, "string"),
    spec("AUTH", -2, NO_AUTH | FAST, NONE, "connection"),
    spec("BLPOP", -3, WRITE | BLOCKING, (1, -2, 1), "list"),
    spec("BRPOP", -3, WRITE | BLOCKING, (1, -2, 1), "list"),
    spec("CLIENT", -2, 0, NONE, "connection"),
    spec("COMMAND", -1, 0, NONE, "server"),
    spec("CONFIG", -2, ADMIN, NONE, "server"),
    spec("DBSIZE", 1, READONLY | FAST, NONE, "server"),
    spec("DECR", 2, WM | FAST, ONE, "string"),
    spec("DECRBY", 3, WM | FAST, ONE, "string"),
    spec("DEL", -2, WRITE | KEYED | IN_MULTI, ALL, "generic"),
    spec("DISCARD", 1, FAST, NONE, "transactions"),
    spec("ECHO", 2, FAST | IN_MULTI, NONE, "connection"),
    spec("EXEC", 1, 0, NONE, "transactions"),
    spec("EXISTS", -2, READONLY | FAST | KEYED | IN_MULTI, ALL, "generic"),
    spec("EXPIRE", -3, W | FAST, ONE, "generic"),
    spec("EXPIREAT", -3, W | FAST, ONE, "generic"),
    spec("FLUSHALL", -1, WRITE | ADMIN, NONE, "server"),
    spec("FLUSHDB", -1, WRITE | ADMIN, NONE, "server"),
    spec("GET", 2, R | FAST, ONE, "string"),
    spec("GETDEL", 2, W | FAST, ONE, "string"),
    spec("GETEX", -2, W | FAST, ONE, "string"),
    spec("GETRANGE", 4, R, ONE, "string"),
    spec("HDEL", -3, W | FAST, ONE, "hash"),
    spec("HELLO", -1, NO_AUTH | FAST, NONE, "connection"),
    spec("HEXISTS", 3, R | FAST, ONE, "hash"),
    spec("HGET", 3, R | FAST, ONE, "hash"),
    spec("HGETALL", 2, R, ONE, "hash"),
    spec("HINCRBY", 4, WM | FAST, ONE, "hash"),
    spec("HINCRBYFLOAT", 4, WM | FAST, ONE, "hash"),
    spec("HKEYS", 2, R, ONE, "hash"),
    spec("HLEN", 2, R | FAST, ONE, "hash"),
    spec("HMGET", -3, R | FAST, ONE, "hash"),
    spec("HMSET", -4, WM | FAST, ONE, "hash"),
    spec("HSCAN", -3, R, ONE, "hash"),
    spec("HSET", -4, WM | FAST, ONE, "hash"),
    spec("HSETNX", 4, WM | FAST, ONE, "hash"),
    spec("HSTRLEN", 3, R | FAST, ONE, "hash"),
    spec("HVALS", 2, R, ONE, "hash"),
    spec("INCR", 2, WM | FAST, ONE, "string"),
    spec("INCRBY", 3, WM | FAST, ONE, "string"),
    spec("INCRBYFLOAT", 3, WM | FAST, ONE, "string"),
    spec("INFO", -1, 0, NONE, "server"),
    spec("KEYS", 2, READONLY, NONE, "generic"),
    spec("LINDEX", 3, R, ONE, "list"),
    spec("LINSERT", 5, WM, ONE, "list"),
    spec("LLEN", 2, R | FAST, ONE, "list"),
    spec("LMOVE", 5, WRITE | DENYOOM | IN_MULTI, TWO, "list"),
    spec("LPOP", -2, W | FAST, ONE, "list"),
    spec("LPUSH", -3, WM | FAST, ONE, "list"),
    spec("LPUSHX", -3, WM | FAST, ONE, "list"),
    spec("LRANGE", 4, R, ONE, "list"),
    spec("LREM", 4, W, ONE, "list"),
    spec("LSET", 4, WM, ONE, "list"),
    spec("LTRIM", 4, W, ONE, "list"),
    spec("MEMORY", -2, READONLY, NONE, "server"),
    spec("MGET", -2, READONLY | FAST | IN_MULTI, ALL, "string"),
    spec("MSET", -3, WRITE | DENYOOM | IN_MULTI, PAIRS, "string"),
    spec("MSETNX", -3, WRITE | DENYOOM | IN_MULTI, PAIRS, "string"),
    spec("MULTI", 1, FAST, NONE, "transactions"),
    spec("PERSIST", 2, W | FAST, ONE, "generic"),
    spec("PEXPIRE", -3, W | FAST, ONE, "generic"),
    spec("PEXPIREAT", -3, W | FAST, ONE, "generic"),
    spec("PING", -1, FAST | IN_MULTI, NONE, "connection"),
    spec("PSETEX", 4, WM, ONE, "string"),
    spec("PSUBSCRIBE", -2, PUBSUB, NONE, "pubsub"),
    spec("PTTL", 2, R | FAST, ONE, "generic"),
    spec("PUBLISH", 3, PUBSUB | FAST, NONE, "pubsub"),
    spec("PUNSUBSCRIBE", -1, PUBSUB, NONE, "pubsub"),
    spec("QUIT", -1, NO_AUTH | FAST, NONE, "connection"),
    spec("RANDOMKEY", 1, READONLY, NONE, "generic"),
    spec("RENAME", 3, WRITE | IN_MULTI, TWO, "generic"),
    spec("RENAMENX", 3, WRITE | FAST | IN_MULTI, TWO, "generic"),
    spec("RPOP", -2, W | FAST, ONE, "list"),
    spec("RPOPLPUSH", 3, WRITE | DENYOOM | IN_MULTI, TWO, "list"),
    spec("RPUSH", -3, WM | FAST, ONE, "list"),
    spec("RPUSHX", -3, WM | FAST, ONE, "list"),
    spec("SADD", -3, WM | FAST, ONE, "set"),
    spec("SCAN", -2, READONLY, NONE, "generic"),
    spec("SCARD", 2, R | FAST, ONE, "set"),
    spec("SDIFF", -2, READONLY, ALL, "set"),
    spec("SDIFFSTORE", -3, WRITE | DENYOOM, ALL, "set"),
    spec("SELECT", 2, FAST, NONE, "connection"),
    spec("SET", -3, WM, ONE, "string"),
    spec("SETEX", 4, WM, ONE, "string"),
    spec("SETNX", 3, WM | FAST, ONE, "string"),
    spec("SETRANGE", 4, WM, ONE, "string"),
    spec("SINTER", -2, READONLY, ALL, "set"),
    spec("SINTERSTORE", -3, WRITE | DENYOOM, ALL, "set"),
    spec("SISMEMBER", 3, R | FAST, ONE, "set"),
    spec("SMEMBERS", 2, R, ONE, "set"),
    spec("SMISMEMBER", -3, R | FAST, ONE, "set"),
    spec("SPOP", -2, W | FAST, ONE, "set"),
    spec("SRANDMEMBER", -2, R, ONE, "set"),
    spec("SREM", -3, W | FAST, ONE, "set"),
    spec("SSCAN", -3, R, ONE, "set"),
    spec("STRLEN", 2, R | FAST, ONE, "string"),
    spec("SUBSCRIBE", -2, PUBSUB, NONE, "pubsub"),
    spec("SUNION", -2, READONLY, ALL, "set"),
    spec("SUNIONSTORE", -3, WRITE | DENYOOM, ALL, "set"),
    spec("TIME", 1, FAST, NONE, "server"),
    spec("TTL", 2, R | FAST, ONE, "generic"),
    spec("TYPE", 2, R | FAST, ONE, "generic"),
    spec("UNLINK", -2, WRITE | FAST | KEYED | IN_MULTI, ALL, "generic"),
    spec("UNSUBSCRIBE", -1, PUBSUB, NONE, "pubsub"),
    spec("UNWATCH", 1, FAST, NONE, "transactions"),
    spec("WATCH", -2, FAST, ALL, "transactions"),
    spec("ZADD", -4, WM | FAST, ONE, "sorted-set"),
    spec("ZCARD", 2, R | FAST, ONE, "sorted-set"),
    spec("ZCOUNT", 4, R | FAST, ONE, "sorted-set"),
    spec("ZINCRBY", 4, WM | FAST, ONE, "sorted-set"),
    spec("ZMSCORE", -3, R | FAST, ONE, "sorted-set"),
    spec("ZPOPMAX", -2, W | FAST, ONE, "sorted-set"),
    spec("ZPOPMIN", -2, W | FAST, ONE, "sorted-set"),
    spec("ZRANGE", -4, R, ONE, "sorted-set"),
    spec("ZRANGEBYSCORE", -4, R, ONE, "sorted-set"),
    spec("ZRANK", -3, R | FAST, ONE, "sorted-set"),
    spec("ZREM", -3, W | FAST, ONE, "sorted-set"),
    spec("ZREMRANGEBYSCORE", 4, W, ONE, "sorted-set"),
    spec("ZREVRANGE", -4, R, ONE, "sorted-set"),
    spec("ZREVRANGEBYSCORE", -4, R, ONE, "sorted-set"),
    spec("ZREVRANK", -3, R | FAST, ONE, "sorted-set"),
    spec("ZSCAN", -3, R, ONE, "sorted-set"),
    spec("ZSCORE", 3, R | FAST, ONE, "sorted-set"),
];

/// The longest command name.
const LONGEST: usize = 16;

/// Names to table positions. A hash of at most 16 bytes and one compare:
/// a binary search's seven or eight compares cost a local `ephpm_kv_get`
/// from PHP about 150 ns more.
type Index = HashMap<&'static [u8], usize, foldhash::fast::FixedState>;

static INDEX: OnceLock<Index> = OnceLock::new();

/// The command called `name` (any case), without allocating.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    let index = INDEX.get_or_init(|| COMMANDS.iter().enumerate().map(|(i, s)| (s.name.as_bytes(), i)).collect());
    if name.len() > LONGEST {
        return None;
    }
    // Most clients send upper case: look the name up as it is first.
    if let Some(&i) = index.get(name) {
        return Some(&COMMANDS[i]);
    }
    let mut upper = [0u8; LONGEST];
    let buf = &mut upper[..name.len()];
    buf.copy_from_slice(name);
    buf.make_ascii_uppercase();
    index.get(&*buf).map(|&i| &COMMANDS[i])
}

impl Spec {
    /// Whether `n` arguments (the name included) fit the arity.
    pub fn arity_ok(&self, n: usize) -> bool {
        let n = n as i32;
        if self.arity >= 0 {
            n == self.arity
        } else {
            n >= -self.arity
        }
    }

    /// Whether the command has every flag of `f`.
    pub fn has(&self, f: u16) -> bool {
        self.flags & f == f
    }

    /// The flags as `COMMAND INFO` names them.
    pub fn flag_names(&self) -> Vec<&'static str> {
        const NAMES: [(u16, &str); 8] = [
            (WRITE, "write"),
            (READONLY, "readonly"),
            (DENYOOM, "denyoom"),
            (ADMIN, "admin"),
            (PUBSUB, "pubsub"),
            (BLOCKING, "blocking"),
            (FAST, "fast"),
            (NO_AUTH, "no_auth"),
        ];
        NAMES.iter().filter(|(f, _)| self.has(*f)).map(|(_, n)| *n).collect()
    }

    /// The keys of `args` (the name first), by the key positions.
    pub fn keys<'a>(&self, args: &'a [bytes::Bytes]) -> impl Iterator<Item = &'a bytes::Bytes> {
        let n = args.len() as i32;
        let last = if self.last_key < 0 { n + self.last_key } else { self.last_key };
        let (first, step) = (self.first_key, self.step.max(1));
        let range = if first == 0 { 0..0 } else { first as usize..(last + 1).clamp(first, n) as usize };
        args[range].iter().step_by(step as usize)
    }
}

/// Whether `name` (upper case) is a single-key command that runs whole on
/// its key's core.
pub fn is_keyed(name: &str) -> bool {
    lookup(name.as_bytes()).is_some_and(|s| s.has(KEYED))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn sorted_unique_and_looked_up_in_any_case() {
        assert!(COMMANDS.windows(2).all(|w| w[0].name < w[1].name), "COMMANDS must stay sorted by name");
        assert!(COMMANDS.iter().all(|s| s.name.len() <= LONGEST && s.name == s.name.to_ascii_uppercase()));
        assert_eq!(lookup(b"get").map(|s| s.name), Some("GET"));
        assert_eq!(lookup(b"ZrEvRaNgEbYsCoRe").map(|s| s.name), Some("ZREVRANGEBYSCORE"));
        assert!(lookup(b"NOSUCH").is_none() && lookup(b"A-NAME-LONGER-THAN-ANY").is_none() && lookup(b"").is_none());
    }

    #[test]
    fn arity_flags_and_keys() {
        let get = lookup(b"GET").unwrap();
        assert!(get.arity_ok(2) && !get.arity_ok(3) && get.has(READONLY | KEYED));
        let set = lookup(b"SET").unwrap();
        assert!(set.arity_ok(3) && set.arity_ok(6) && !set.arity_ok(2) && set.has(DENYOOM));
        let args = |s: &str| s.split(' ').map(|a| Bytes::copy_from_slice(a.as_bytes())).collect::<Vec<_>>();
        let keys = |name: &[u8], a: &[Bytes]| lookup(name).unwrap().keys(a).cloned().collect::<Vec<_>>();
        assert_eq!(keys(b"MSET", &args("MSET a 1 b 2")), args("a b"));
        assert_eq!(keys(b"BLPOP", &args("BLPOP a b 0")), args("a b"));
        assert_eq!(keys(b"RENAME", &args("RENAME a b")), args("a b"));
        assert_eq!(keys(b"PING", &args("PING")), Vec::<Bytes>::new());
        assert_eq!(lookup(b"SINTERSTORE").unwrap().flag_names(), ["write", "denyoom"]);
    }
}
