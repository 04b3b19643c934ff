//! The KV store over RESP, with the real redis-cli (Debian's redis-tools)
//! and raw RESP where the wire itself is under test.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{backends, Server};

/// Starts ephpm with a RESP listener on a free port; returns its address.
fn start(io: &str, extra: &str) -> (Server, SocketAddr) {
    with_resp(Server::start(io, &format!("cores = 2\n[kv.redis]\nlisten = \"127.0.0.1:0\"\n{extra}")))
}

/// Waits for the server's RESP address in its log.
/// The first key `<prefix><n>` that core `core` of 2 owns.
fn key_on(core: usize, prefix: &str) -> String {
    (0..).map(|i| format!("{prefix}{i}")).find(|k| ephpm_kv::shard_of(k.as_bytes(), 2) == core).unwrap()
}

fn with_resp(srv: Server) -> (Server, SocketAddr) {
    let addr = srv.resp_addr();
    (srv, addr)
}

/// Runs redis-cli against `addr` and returns its stdout, trimmed.
fn cli(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .output()
        .expect("redis-cli (apt-get install redis-tools)");
    assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// Sends raw bytes, reads until the server has answered `expect_lines`
/// lines or closed.
fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(bytes).unwrap();
    String::from_utf8_lossy(&common::read_until_quiet(&mut s, Duration::from_millis(500))).into_owned()
}

#[test]
fn strings_and_keys_through_redis_cli() {
    for io in backends() {
        let (_srv, addr) = start(io, "");
        assert_eq!(cli(addr, &["PING"]), "PONG", "{io}");
        assert_eq!(cli(addr, &["SET", "greeting", "hello world"]), "OK");
        assert_eq!(cli(addr, &["GET", "greeting"]), "hello world");
        assert_eq!(cli(addr, &["APPEND", "greeting", "!"]), "12");
        assert_eq!(cli(addr, &["STRLEN", "greeting"]), "12");
        assert_eq!(cli(addr, &["GETRANGE", "greeting", "0", "4"]), "hello");
        assert_eq!(cli(addr, &["INCRBY", "n", "41"]), "41");
        assert_eq!(cli(addr, &["INCR", "n"]), "42");
        assert_eq!(cli(addr, &["INCRBYFLOAT", "n", "0.5"]), "42.5");
        assert_eq!(cli(addr, &["INCR", "greeting"]), "ERR value is not an integer or out of range");
        assert_eq!(cli(addr, &["SET", "k", "v", "NX"]), "OK");
        assert_eq!(cli(addr, &["SET", "k", "w", "NX"]), "");
        assert_eq!(cli(addr, &["SET", "k", "w", "XX", "GET"]), "v");
        assert_eq!(cli(addr, &["TYPE", "k"]), "string");
        assert_eq!(cli(addr, &["GET"]), "ERR wrong number of arguments for 'get' command");
        assert!(cli(addr, &["NOSUCH", "x"]).starts_with("ERR unknown command 'nosuch'"), "{io}");
        // Keys spread over both cores; multi-key commands gather them.
        for i in 0..200 {
            cli_quiet(addr, &format!("SET key:{i} v{i}"));
        }
        assert_eq!(cli(addr, &["DBSIZE"]), "203", "{io}");
        assert_eq!(cli(addr, &["MGET", "key:1", "key:2", "nope", "key:199"]), "v1\nv2\n\nv199");
        assert_eq!(cli(addr, &["MSET", "m1", "a", "m2", "b"]), "OK");
        assert_eq!(cli(addr, &["EXISTS", "m1", "m2", "nope", "m1"]), "3");
        let keys = cli(addr, &["KEYS", "key:1?"]);
        assert_eq!(keys.lines().count(), 10, "{io}: {keys}");
        assert_eq!(cli(addr, &["DEL", "m1", "m2", "nope"]), "2");
        assert_eq!(cli(addr, &["FLUSHALL"]), "OK");
        assert_eq!(cli(addr, &["DBSIZE"]), "0");
    }
}

/// Runs a redis-cli command given as one string (no spaces in arguments).
fn cli_quiet(addr: SocketAddr, cmd: &str) {
    let args: Vec<&str> = cmd.split(' ').collect();
    cli(addr, &args);
}

#[test]
fn ttls_expire_lazily_and_actively() {
    for io in backends() {
        let (_srv, addr) = start(io, "");
        assert_eq!(cli(addr, &["SET", "a", "1", "PX", "150"]), "OK");
        assert_eq!(cli(addr, &["EXPIRE", "missing", "10"]), "0");
        for i in 0..50 {
            cli_quiet(addr, &format!("SET t{i} v PX 150"));
        }
        assert_eq!(cli(addr, &["SET", "kept", "v", "EX", "100"]), "OK");
        let ttl: i64 = cli(addr, &["TTL", "kept"]).parse().unwrap();
        assert!((99..=100).contains(&ttl), "{io}: {ttl}");
        std::thread::sleep(Duration::from_millis(600));
        // Nobody touched t0..t49: the sweep removed them.
        assert_eq!(cli(addr, &["DBSIZE"]), "1", "{io}");
        assert_eq!(cli(addr, &["GET", "a"]), "");
        assert_eq!(cli(addr, &["PERSIST", "kept"]), "1");
        assert_eq!(cli(addr, &["TTL", "kept"]), "-1");
    }
}

#[test]
fn pipelining_auth_resp3_and_bad_input() {
    for io in backends() {
        let (_srv, addr) = start(io, "password = \"s3cret\"");
        // Before AUTH everything but AUTH/HELLO/QUIT is refused.
        let out = raw(addr, b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            out,
            "-NOAUTH Authentication required.\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+PONG\r\n",
            "{io}"
        );
        // A pipeline of 1000 commands in one write, answered in order.
        let mut pipe = b"AUTH s3cret\r\n".to_vec();
        for i in 0..1000 {
            pipe.extend_from_slice(format!("SET p{i} {i}\r\nGET p{i}\r\n").as_bytes());
        }
        pipe.extend_from_slice(b"QUIT\r\n");
        let out = raw(addr, &pipe);
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(lines[0], "+OK");
        assert_eq!(&lines[1..4], ["+OK", "$1", "0"], "{io}");
        assert_eq!(lines[lines.len() - 2], "+OK", "{io}: QUIT");
        assert_eq!(out.matches("+OK").count(), 1002, "{io}");
        // Several clients pipelining thousands of commands for keys on
        // both cores at once: the mesh rings (1024 slots) fill both ways
        // and must still drain.
        std::thread::scope(|scope| {
            for c in 0..4 {
                scope.spawn(move || {
                    let mut pipe = b"AUTH s3cret\r\n".to_vec();
                    for i in 0..3000 {
                        pipe.extend_from_slice(format!("INCR c{c}:{i}\r\n").as_bytes());
                    }
                    pipe.extend_from_slice(b"QUIT\r\n");
                    let out = raw(addr, &pipe);
                    assert_eq!(out.matches(":1\r\n").count(), 3000, "{io}: client {c}");
                });
            }
        });
        // HELLO 3 switches to RESP3: nil is `_`, hashes are maps, scores
        // are doubles.
        let out = raw(
            addr,
            b"HELLO 3 AUTH default s3cret\r\nGET nothing\r\nHSET h3 f v\r\nHGETALL h3\r\nZADD z3 1.5 m\r\nZSCORE z3 m\r\nQUIT\r\n",
        );
        assert!(out.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{io}: {out}");
        assert!(out.contains("_\r\n:1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n:1\r\n,1.5\r\n"), "{io}: {out}");
        // redis-cli with the password.
        let out = Command::new("redis-cli")
            .args(["-p", &addr.port().to_string(), "--no-auth-warning", "-a", "s3cret", "PING"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "PONG", "{io}");
        // Malformed RESP: an error, then the server closes.
        let out = raw(addr, b"*2\r\n$3\r\nGET\r\n:5\r\nPING\r\n");
        assert_eq!(out, "-ERR Protocol error: expected '$', got ':'\r\n", "{io}");
        let out = raw(addr, b"*1\r\n$-7\r\n");
        assert_eq!(out, "-ERR Protocol error: invalid bulk length\r\n", "{io}");
    }
}

#[test]
fn hashes_lists_and_sets_through_redis_cli() {
    for io in backends() {
        let (_srv, addr) = start(io, "");
        // Hashes.
        assert_eq!(cli(addr, &["HSET", "h", "a", "1", "b", "2"]), "2", "{io}");
        assert_eq!(cli(addr, &["HSET", "h", "a", "10"]), "0");
        assert_eq!(cli(addr, &["HGET", "h", "a"]), "10");
        assert_eq!(cli(addr, &["HMGET", "h", "a", "zz", "b"]), "10\n\n2");
        assert_eq!(cli(addr, &["HSETNX", "h", "a", "x"]), "0");
        assert_eq!(cli(addr, &["HINCRBY", "h", "b", "5"]), "7");
        assert_eq!(cli(addr, &["HINCRBYFLOAT", "h", "f", "1.5"]), "1.5");
        assert_eq!(cli(addr, &["HLEN", "h"]), "3");
        assert_eq!(cli(addr, &["HEXISTS", "h", "f"]), "1");
        let mut all: Vec<String> = cli(addr, &["HGETALL", "h"]).lines().map(String::from).collect();
        all.sort();
        assert_eq!(all, ["1.5", "10", "7", "a", "b", "f"], "{io}");
        assert_eq!(cli(addr, &["HDEL", "h", "a", "b", "f", "nope"]), "3");
        assert_eq!(cli(addr, &["EXISTS", "h"]), "0", "{io}: an emptied hash is deleted");
        // Lists.
        assert_eq!(cli(addr, &["RPUSH", "l", "a", "b", "c"]), "3");
        assert_eq!(cli(addr, &["LPUSH", "l", "z"]), "4");
        assert_eq!(cli(addr, &["LRANGE", "l", "0", "-1"]), "z\na\nb\nc");
        assert_eq!(cli(addr, &["LINDEX", "l", "-1"]), "c");
        assert_eq!(cli(addr, &["LSET", "l", "1", "A"]), "OK");
        assert_eq!(cli(addr, &["LINSERT", "l", "BEFORE", "b", "x"]), "5");
        assert_eq!(cli(addr, &["LREM", "l", "0", "x"]), "1");
        assert_eq!(cli(addr, &["LTRIM", "l", "1", "-1"]), "OK");
        assert_eq!(cli(addr, &["LPOP", "l"]), "A");
        assert_eq!(cli(addr, &["RPOP", "l", "5"]), "c\nb");
        assert_eq!(cli(addr, &["LLEN", "l"]), "0");
        assert_eq!(cli(addr, &["LPUSHX", "l", "q"]), "0");
        // Sets, including ops over keys on different cores.
        assert_eq!(cli(addr, &["SADD", "s1", "a", "b", "c", "a"]), "3");
        assert_eq!(cli(addr, &["SADD", "s2", "b", "c", "d"]), "3");
        assert_eq!(cli(addr, &["SISMEMBER", "s1", "a"]), "1");
        assert_eq!(cli(addr, &["SMISMEMBER", "s1", "a", "d"]), "1\n0");
        assert_eq!(cli(addr, &["SCARD", "s1"]), "3");
        let sorted = |s: String| {
            let mut v: Vec<String> = s.lines().map(String::from).collect();
            v.sort();
            v.join(",")
        };
        assert_eq!(sorted(cli(addr, &["SINTER", "s1", "s2"])), "b,c", "{io}");
        assert_eq!(sorted(cli(addr, &["SUNION", "s1", "s2"])), "a,b,c,d");
        assert_eq!(sorted(cli(addr, &["SDIFF", "s1", "s2"])), "a");
        for i in 0..20 {
            // Destinations on both cores.
            assert_eq!(cli(addr, &["SINTERSTORE", &format!("dst{i}"), "s1", "s2"]), "2");
        }
        assert_eq!(sorted(cli(addr, &["SMEMBERS", "dst7"])), "b,c");
        assert_eq!(cli(addr, &["SREM", "s1", "a", "zz"]), "1");
        assert_eq!(cli(addr, &["SPOP", "s1", "10"]).lines().count(), 2);
        assert_eq!(cli(addr, &["SCARD", "s1"]), "0");
        // Sorted sets.
        assert_eq!(cli(addr, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]), "3");
        assert_eq!(cli(addr, &["ZINCRBY", "z", "2.5", "a"]), "3.5");
        assert_eq!(cli(addr, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]), "b\n2\nc\n3\na\n3.5");
        assert_eq!(cli(addr, &["ZRANGEBYSCORE", "z", "(2", "+inf"]), "c\na");
        assert_eq!(cli(addr, &["ZREVRANGE", "z", "0", "0"]), "a");
        assert_eq!(cli(addr, &["ZRANK", "z", "c"]), "1");
        assert_eq!(cli(addr, &["ZSCORE", "z", "nope"]), "");
        assert_eq!(cli(addr, &["ZCARD", "z"]), "3");
        assert_eq!(cli(addr, &["ZPOPMIN", "z"]), "b\n2");
        assert_eq!(cli(addr, &["TYPE", "z"]), "zset");
        // Types are kept apart.
        assert_eq!(cli(addr, &["SET", "str", "v"]), "OK");
        let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
        for cmd in [&["LPUSH", "str", "x"][..], &["HGET", "str", "a"], &["SADD", "str", "a"], &["SINTER", "s2", "str"]]
        {
            assert_eq!(cli(addr, cmd), wrongtype, "{io}: {cmd:?}");
        }
        assert_eq!(cli(addr, &["GET", "s2"]), wrongtype);
        assert_eq!(cli(addr, &["TYPE", "s2"]), "set");
        assert_eq!(cli(addr, &["SSTORE", "x"]).split(',').next().unwrap(), "ERR unknown command 'sstore'");
    }
}

#[test]
fn memory_limit_evicts_or_refuses() {
    for io in backends() {
        let value = "x".repeat(100);
        // allkeys-lru: writes keep succeeding, old keys make room.
        let (srv, addr) = start_with(io, "memory_limit = \"64KiB\"\neviction = \"allkeys-lru\"");
        let mut pipe = String::new();
        for i in 0..2000 {
            pipe.push_str(&format!("SET key:{i} {value}\r\n"));
        }
        pipe.push_str("QUIT\r\n");
        let out = raw(addr, pipe.as_bytes());
        assert_eq!(out.matches("+OK").count(), 2001, "{io}: every write succeeds");
        let keys: usize = cli(addr, &["DBSIZE"]).parse().unwrap();
        assert!(keys > 100 && keys < 2000, "{io}: {keys} keys left");
        assert_eq!(cli(addr, &["GET", "key:1999"]), value, "{io}: the newest key stays");
        drop(srv);
        // noeviction: writes past the limit get Redis's OOM error; reads work.
        let (_srv, addr) = start_with(io, "memory_limit = \"64KiB\"");
        let out = raw(addr, pipe.as_bytes());
        assert!(out.contains("-OOM command not allowed when used memory > 'maxmemory'."), "{io}");
        assert_eq!(cli(addr, &["GET", "key:0"]), value, "{io}");
        assert_eq!(cli(addr, &["DEL", "key:0"]), "1");
        drop(_srv);
        // Long compressible strings are stored compressed: ten 200 KB values
        // fit in 64 KiB, and read back as written.
        let big = "ephpm compresses long strings. ".repeat(6500);
        let (_srv, addr) = start_with(io, "memory_limit = \"64KiB\"\ncompression_threshold = \"1KiB\"");
        let mut pipe = String::new();
        for i in 0..10 {
            let key = format!("big:{i}");
            pipe.push_str(&format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{big}\r\n", key.len(), big.len()));
        }
        pipe.push_str("APPEND big:3 !\r\nQUIT\r\n");
        let out = raw(addr, pipe.as_bytes());
        assert_eq!(out.matches("+OK").count(), 11, "{io}: {}", &out[..out.len().min(300)]);
        assert_eq!(cli(addr, &["STRLEN", "big:3"]), (big.len() + 1).to_string());
        // (redis-cli's output is trimmed, as `cli` trims it.)
        assert!(cli(addr, &["GET", "big:7"]) == big.trim_end(), "{io}: big:7 does not read back");
    }
}

/// Starts with `[kv]` settings (before `[kv.redis]`).
fn start_with(io: &str, kv: &str) -> (Server, SocketAddr) {
    with_resp(Server::start(io, &format!("cores = 2\n[kv]\n{kv}\n[kv.redis]\nlisten = \"127.0.0.1:0\"\n")))
}

#[test]
fn php_functions_share_the_store_with_resp() {
    if !common::php_available() {
        return;
    }
    for io in backends() {
        let root = common::php_fixtures();
        let srv = Server::start_root(io, &root, "cores = 2\n[kv.redis]\nlisten = \"127.0.0.1:0\"");
        let (srv, addr) = with_resp(srv);
        assert_eq!(cli(addr, &["SET", "from-cli", "hello from redis-cli"]), "OK");
        let r = srv.get("/kv.php?prefix=p", "");
        assert_eq!(r.status, 200, "{io}: {}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
        let want = serde_json::json!({
            "get": (0..20).map(|i| format!("v{i}")).collect::<Vec<_>>(),
            "get_missing": null, "set_ttl": true, "ttl": 100, "pttl_le": true,
            "setnx_new": true, "setnx_again": false, "exists": true, "del": 1, "exists_after": false,
            "incr": [1, 42], "expire": true, "ttl_n": 50, "hset": 2, "hget": "2",
            "hgetall": {"f": "1", "g": "2"}, "hdel": 1, "lpush": [1, 2], "lrange": ["b", "a"], "rpop": "a",
            "sadd": 2, "srem": 1, "smembers": ["x"], "scard": 1, "zadd": 2, "zrange": ["a", "b"],
            "hmset": 3, "hincr_by": [2, 12], "hincr_by_float": 2.5,
            "hmset_all": {"a": "12", "b": "two", "3": "x", "f": "2.5"}, "hmset_empty": "ValueError",
            "from_cli": "hello from redis-cli", "wrongtype": false,
        });
        assert_eq!(v, want, "{io}");
        // What PHP wrote, redis-cli reads, whichever core owns the key.
        assert_eq!(cli(addr, &["GET", "p:s:7"]), "v7", "{io}");
        assert_eq!(cli(addr, &["HGET", "p:h", "g"]), "2");
        assert_eq!(cli(addr, &["HGET", "p:hm", "a"]), "12");
        assert_eq!(cli(addr, &["DBSIZE"]), "28", "{io}");
    }
}

#[test]
fn snapshots_survive_a_restart_and_damage_is_reported() {
    let io = backends()[0];
    let keep = tempfile::tempdir().unwrap();
    let snap = keep.path().join("kv.snap");
    let cfg = format!("[kv.snapshot]\npath = \"{}\"\ninterval = \"1h\"", snap.display());
    let (mut srv, addr) = start(io, &cfg);
    assert_eq!(cli(addr, &["SET", "kept", "across restarts"]), "OK");
    assert_eq!(cli(addr, &["HSET", "h", "f", "1"]), "1");
    assert_eq!(cli(addr, &["ZADD", "z", "2", "b", "1", "a"]), "2");
    assert_eq!(cli(addr, &["SET", "short", "v", "PX", "200"]), "OK");
    assert!(srv.terminate().success());
    assert!(srv.wait_log("kv: saved"), "{}", srv.log());
    std::thread::sleep(Duration::from_millis(300));

    let (srv, addr) = start(io, &cfg);
    assert!(srv.log().contains("kv: loaded 3 keys"), "{}", srv.log());
    assert_eq!(cli(addr, &["GET", "kept"]), "across restarts");
    assert_eq!(cli(addr, &["HGET", "h", "f"]), "1");
    assert_eq!(cli(addr, &["ZRANGE", "z", "0", "-1"]), "a\nb");
    assert_eq!(cli(addr, &["EXISTS", "short"]), "0", "an expired key is not brought back");
    drop(srv);

    std::fs::write(&snap, b"\x28\xb5\x2f\xfd garbage").unwrap();
    let (srv, addr) = start(io, &cfg);
    let log = srv.log();
    assert!(log.contains("is damaged") && log.contains("moved aside") && log.contains("starting empty"), "{log}");
    assert_eq!(cli(addr, &["DBSIZE"]), "0");
    assert!(std::fs::read_dir(keep.path())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-")));
}

/// Periodic snapshots are copied while the cores keep serving, and each
/// is one point across every core: after a crash (SIGKILL, no save at
/// exit), the last snapshot never shows half a cross-core transaction,
/// and keys rewritten while it was copied come back whole.
#[test]
fn snapshots_are_one_point_across_cores_while_writes_go_on() {
    use redis::Commands;
    let io = backends()[0];
    let keep = tempfile::tempdir().unwrap();
    let snap = keep.path().join("kv.snap");
    let cfg = format!("[kv.snapshot]\npath = \"{}\"\ninterval = \"150ms\"", snap.display());
    let (srv, addr) = start(io, &cfg);
    let client = redis::Client::open(format!("redis://{addr}/0")).unwrap();
    let mut con = client.get_connection().unwrap();
    // Enough keys that each copy takes many turns of each core.
    let bulk = 30_000;
    for chunk in (0..bulk).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.set(format!("bulk:{i}"), format!("value-{i}")).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let (x, y) = (key_on(0, "s"), key_on(1, "s"));
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut con = client.get_connection().unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: (i64, i64) = redis::pipe().atomic().incr(&x, 1).incr(&y, 1).query(&mut con).unwrap();
            }
        });
        s.spawn(|| {
            // Rewrites every bulk key with the same value, over and over:
            // copy-on-write must keep each whole.
            let mut con = client.get_connection().unwrap();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: () = con.set(format!("bulk:{}", i % bulk), format!("value-{}", i % bulk)).unwrap();
                i += 7;
            }
        });
        // Several snapshots while the writes go on.
        let saved = |srv: &Server| srv.log().matches("kv: saved").count();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while saved(&srv) < 4 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(saved(&srv) >= 4, "{}", srv.log());
    });
    let pid = srv.pid() as i32;
    // SAFETY: signalling the test's own child process.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    drop(srv);
    let (srv, addr) = start(io, &cfg);
    assert!(srv.log().contains("kv: loaded"), "{}", srv.log());
    let client = redis::Client::open(format!("redis://{addr}/0")).unwrap();
    let mut con = client.get_connection().unwrap();
    let (a, b): (i64, i64) = (con.get(&x).unwrap(), con.get(&y).unwrap());
    assert!(a > 0 && a == b, "half a transaction in the snapshot: {a} and {b}");
    let keys: Vec<String> = (0..bulk).map(|i| format!("bulk:{i}")).collect();
    let values: Vec<Option<String>> = con.mget(&keys).unwrap();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(v.as_deref(), Some(format!("value-{i}").as_str()), "bulk:{i}");
    }
}

#[test]
fn scan_walks_every_core() {
    for io in backends() {
        let (_srv, addr) = start(io, "");
        let mut pipe = String::new();
        for i in 0..300 {
            pipe.push_str(&format!("SET user:{i} x\r\n"));
        }
        pipe.push_str("HSET h a 1 b 2 c 3\r\nSADD s m1 m2 x\r\nZADD z 1 a 2 b\r\nQUIT\r\n");
        raw(addr, pipe.as_bytes());
        // redis-cli --scan drives the SCAN cursor to its end.
        let out = Command::new("redis-cli")
            .args(["-p", &addr.port().to_string(), "--scan", "--pattern", "user:*"])
            .output()
            .unwrap();
        let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 300, "{io}");
        let typed = cli(addr, &["SCAN", "0", "COUNT", "1000", "TYPE", "hash"]);
        assert_eq!(typed.lines().skip(1).collect::<Vec<_>>(), ["h"], "{io}: {typed}");
        assert_eq!(cli(addr, &["HSCAN", "h", "0", "MATCH", "[ab]"]).lines().count(), 5, "{io}");
        assert_eq!(cli(addr, &["SSCAN", "s", "0", "MATCH", "m*"]).lines().count(), 3);
        assert_eq!(cli(addr, &["ZSCAN", "z", "0"]), "0\na\n1\nb\n2");
        assert_eq!(cli(addr, &["SCAN", "x"]), "ERR invalid cursor");
    }
}

#[test]
fn transactions_and_renames_across_cores() {
    for io in backends() {
        let (_srv, addr) = start(io, "");
        // Keys k0..k9 land on both cores; the transaction sees and changes
        // them all at once.
        let mut tx = String::from("MULTI\r\n");
        for i in 0..10 {
            tx.push_str(&format!("INCRBY k{i} {i}\r\n"));
        }
        tx.push_str("MGET k0 k9\r\nEXEC\r\nQUIT\r\n");
        let out = raw(addr, tx.as_bytes());
        assert!(out.starts_with("+OK\r\n+QUEUED\r\n"), "{io}: {out}");
        assert!(out.contains("*11\r\n:0\r\n:1\r\n:2\r\n"), "{io}: {out}");
        assert!(out.contains("*2\r\n$1\r\n0\r\n$1\r\n9\r\n"), "{io}: {out}");
        // A refused command aborts the transaction; DISCARD drops it.
        let out = raw(
            addr,
            b"MULTI\r\nSET a 1\r\nFLUSHALL\r\nEXEC\r\nMULTI\r\nSET a 1\r\nDISCARD\r\nEXISTS a\r\nEXEC\r\nQUIT\r\n",
        );
        assert!(out.contains("-EXECABORT Transaction discarded because of previous errors."), "{io}: {out}");
        assert!(out.contains("+OK\r\n:0\r\n-ERR EXEC without MULTI"), "{io}: {out}");
        // RENAME moves a key (and its TTL) between cores.
        for i in 0..10 {
            assert_eq!(cli(addr, &["SET", &format!("src{i}"), &format!("v{i}"), "EX", "100"]), "OK");
            assert_eq!(cli(addr, &["RENAME", &format!("src{i}"), &format!("dst{i}")]), "OK", "{io}");
            assert_eq!(cli(addr, &["GET", &format!("dst{i}")]), format!("v{i}"));
            assert_eq!(cli(addr, &["EXISTS", &format!("src{i}")]), "0");
        }
        assert!(cli(addr, &["TTL", "dst3"]).parse::<i64>().unwrap() > 90);
        assert_eq!(cli(addr, &["RENAME", "nope", "x"]), "ERR no such key");
        assert_eq!(cli(addr, &["RENAMENX", "dst1", "dst2"]), "0");
        assert_eq!(cli(addr, &["MSETNX", "n1", "a", "n2", "b"]), "1");
        assert_eq!(cli(addr, &["MSETNX", "n3", "c", "n2", "z"]), "0");
        assert_eq!(cli(addr, &["MGET", "n2", "n3"]), "b", "{io}: nothing set when one exists (trailing nil trimmed)");
    }
}

#[test]
fn pubsub_reaches_subscribers_on_every_core() {
    for io in backends() {
        let (_srv, addr) = start(io, "");
        // Several subscribers: the kernel spreads them over both cores.
        let mut subs: Vec<TcpStream> = (0..6)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.write_all(b"SUBSCRIBE news\r\n").unwrap();
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).unwrap();
                assert_eq!(&buf[..n], b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n", "{io}");
                s
            })
            .collect();
        let mut pat = TcpStream::connect(addr).unwrap();
        pat.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        pat.write_all(b"PSUBSCRIBE n*\r\nGET x\r\n").unwrap();
        let mut buf = [0u8; 512];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("only (P|S)SUBSCRIBE") {
            let n = pat.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(cli(addr, &["PUBLISH", "news", "hello"]), "7", "{io}: six subscribers and one pattern");
        assert_eq!(cli(addr, &["PUBLISH", "other", "x"]), "0");
        for s in &mut subs {
            let mut got = Vec::new();
            while got.len() < 38 {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(String::from_utf8_lossy(&got), "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n", "{io}");
        }
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("hello") {
            let n = pat.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            String::from_utf8_lossy(&got).contains("*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n"),
            "{io}"
        );
        // Unsubscribed connections are back to normal commands.
        subs[0].write_all(b"UNSUBSCRIBE\r\nPING\r\n").unwrap();
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("PONG") {
            let n = subs[0].read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert!(
            String::from_utf8_lossy(&got).starts_with("*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n+PONG"),
            "{io}"
        );
        drop(subs);
        assert_eq!(cli(addr, &["PUBLISH", "news", "again"]), "1", "{io}: closed subscribers are gone");
    }
}

#[test]
fn watch_aborts_exec_when_a_key_changed() {
    for io in backends() {
        let (_srv, addr) = start(io, "");
        assert_eq!(cli(addr, &["SET", "balance", "10"]), "OK");
        // Untouched: the transaction runs.
        let out = raw(addr, b"WATCH balance missing\r\nMULTI\r\nINCRBY balance 5\r\nEXEC\r\nQUIT\r\n");
        assert_eq!(out, "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n:15\r\n+OK\r\n", "{io}");
        // Changed by another client between WATCH and EXEC: null, nothing runs.
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"WATCH balance\r\nMULTI\r\nINCRBY balance 100\r\n").unwrap();
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("QUEUED") {
            let n = s.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(cli(addr, &["SET", "balance", "0"]), "OK");
        s.write_all(b"EXEC\r\nGET balance\r\n").unwrap();
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).ends_with("$1\r\n0\r\n") {
            let n = s.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(String::from_utf8_lossy(&got), "*-1\r\n$1\r\n0\r\n", "{io}");
        // A key that appears after WATCH also counts as changed.
        let out = raw(addr, b"WATCH fresh\r\nSET fresh 1\r\nMULTI\r\nSET x 1\r\nEXEC\r\nUNWATCH\r\nQUIT\r\n");
        assert!(out.contains("*-1\r\n+OK\r\n+OK\r\n"), "{io}: {out}");
    }
}

#[test]
fn lmove_and_blocking_pops() {
    for io in backends() {
        let (_srv, addr) = start(io, "");
        assert_eq!(cli(addr, &["RPUSH", "q:a", "1", "2", "3"]), "3");
        for i in 0..6 {
            // Destinations on both cores.
            assert_eq!(cli(addr, &["LMOVE", "q:a", &format!("q:b{i}"), "LEFT", "RIGHT"]).len(), 1);
            if i == 2 {
                break;
            }
        }
        assert_eq!(cli(addr, &["LMOVE", "q:a", "q:b", "LEFT", "RIGHT"]), "");
        assert_eq!(cli(addr, &["RPUSH", "r", "x", "y"]), "2");
        assert_eq!(cli(addr, &["RPOPLPUSH", "r", "r2"]), "y");
        assert_eq!(cli(addr, &["LRANGE", "r2", "0", "-1"]), "y");
        assert_eq!(cli(addr, &["SET", "str", "v"]), "OK");
        assert_eq!(
            cli(addr, &["LMOVE", "r", "str", "LEFT", "LEFT"]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(cli(addr, &["LLEN", "r"]), "1", "{io}: nothing popped for a wrong destination");
        // BLPOP answers at once when a key has elements, in key order.
        assert_eq!(cli(addr, &["BLPOP", "empty", "r", "0"]), "r\nx");
        // It waits for a push from another client: still blocked before
        // the push, answered soon after it (long before its 5 s timeout).
        let waiter = std::thread::spawn(move || cli(addr, &["BRPOP", "jobs", "5"]));
        std::thread::sleep(Duration::from_millis(300));
        assert!(!waiter.is_finished(), "{io}: BRPOP on an empty list returned at once");
        let pushed = Instant::now();
        assert_eq!(cli(addr, &["LPUSH", "jobs", "job-1"]), "1");
        assert_eq!(waiter.join().unwrap(), "jobs\njob-1", "{io}");
        assert!(pushed.elapsed() < Duration::from_secs(2), "{io}: BRPOP was not woken by the push");
        // And gives up at its timeout.
        let started = Instant::now();
        assert_eq!(cli(addr, &["BLPOP", "nothing", "0.3"]), "");
        assert!(started.elapsed() >= Duration::from_millis(300), "{io}");
    }
}

#[test]
fn the_redis_crate_works_against_ephpm() {
    use redis::Commands;
    for io in backends() {
        let (_srv, addr) = start(io, "password = \"pw\"");
        let client = redis::Client::open(format!("redis://:pw@{addr}/0")).unwrap();
        let mut con = client.get_connection().unwrap();
        let _: () = con.set_ex("rk", "value", 60).unwrap();
        let v: String = con.get("rk").unwrap();
        assert_eq!(v, "value", "{io}");
        let n: i64 = con.incr("counter", 5).unwrap();
        assert_eq!(n, 5);
        let _: () = con.hset_multiple("rh", &[("a", "1"), ("b", "2")]).unwrap();
        let h: std::collections::HashMap<String, String> = con.hgetall("rh").unwrap();
        assert_eq!(h.len(), 2);
        let _: () = con.rpush("rl", &["x", "y", "z"]).unwrap();
        let l: Vec<String> = con.lrange("rl", 0, -1).unwrap();
        assert_eq!(l, ["x", "y", "z"]);
        let _: () = con.zadd("rz", "m", 1.5).unwrap();
        let z: Vec<(String, f64)> = con.zrange_withscores("rz", 0, -1).unwrap();
        assert_eq!(z, [("m".to_string(), 1.5)]);
        // A pipeline, and a transaction (WATCH/MULTI/EXEC) driven by the crate.
        let (a, b): (i64, i64) = redis::pipe().incr("p1", 1).incr("p2", 2).query(&mut con).unwrap();
        assert_eq!((a, b), (1, 2));
        let (total,): (i64,) = redis::transaction(&mut con, &["p1", "p2"], |con, pipe| {
            let p1: i64 = con.get("p1")?;
            pipe.incr("p2", p1).query(con)
        })
        .unwrap();
        assert_eq!(total, 3, "{io}");
        let missing: Option<String> = con.get("nope").unwrap();
        assert_eq!(missing, None);
        let err = con.lpush::<_, _, i64>("rk", "x").unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"), "{io}");
    }
}

#[test]
fn limits_info_and_memory_usage() {
    for io in backends() {
        // cores = 2 from `start`: max_clients is per core, so 2 per core.
        let (_srv, addr) = start(io, "max_clients = 2\nmax_query_buffer = \"4KiB\"");
        // Ten clients at once: at most two per core are served.
        let mut held: Vec<TcpStream> = Vec::new();
        let (mut served, mut refused) = (0, 0);
        for _ in 0..10 {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"PING\r\n").unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap_or(0);
            match &buf[..n] {
                b"+PONG\r\n" => served += 1,
                b if b.starts_with(b"-ERR max number of clients reached") => refused += 1,
                other => panic!("{io}: {:?}", String::from_utf8_lossy(other)),
            }
            held.push(s);
        }
        assert!(served <= 4 && refused >= 6, "{io}: {served} served, {refused} refused");
        drop(held);
        std::thread::sleep(Duration::from_millis(100));
        // A command that would need more than the query buffer: error, close.
        let mut big = b"*2\r\n$3\r\nGET\r\n$100000\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'k', 8000));
        let out = raw(addr, &big);
        assert!(out.starts_with("-ERR query buffer limit reached"), "{io}: {out}");
        assert_eq!(cli(addr, &["SET", "mk", &"v".repeat(1000)]), "OK");
        let usage: usize = cli(addr, &["MEMORY", "USAGE", "mk"]).parse().unwrap();
        assert!((1002..1200).contains(&usage), "{io}: {usage}");
        let info = cli(addr, &["INFO"]);
        assert!(info.contains("db0:keys=1,expires=0") && info.contains("shards:2"), "{io}: {info}");
        assert!(info.contains("keyspace_hits:") && info.contains("keyspace_misses:"), "{io}: {info}");
    }
}

/// Cross-core transactions stay atomic and isolated under concurrent
/// clients: counters on two cores raised together are never seen apart,
/// and a key renamed back and forth between cores is always in exactly
/// one place.
#[test]
fn cross_core_transactions_are_isolated_under_concurrency() {
    use redis::Commands;
    for io in backends() {
        let (_srv, addr) = start(io, "");
        // Two keys on different cores, and two more for the renames.
        let (x, y) = (key_on(0, "c"), key_on(1, "c"));
        let (p, q) = (format!("{x}:p"), format!("{y}:q"));
        let client = redis::Client::open(format!("redis://{addr}/0")).unwrap();
        let _: () = client.get_connection().unwrap().set(&p, "token").unwrap();
        let ops = 150;
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    let mut con = client.get_connection().unwrap();
                    for _ in 0..ops {
                        let _: (i64, i64) = redis::pipe().atomic().incr(&x, 1).incr(&y, 1).query(&mut con).unwrap();
                    }
                });
            }
            s.spawn(|| {
                let mut con = client.get_connection().unwrap();
                for i in 0..ops {
                    let (from, to) = if i % 2 == 0 { (&p, &q) } else { (&q, &p) };
                    let _: () = con.rename(from, to).unwrap();
                }
            });
            for _ in 0..2 {
                s.spawn(|| {
                    let mut con = client.get_connection().unwrap();
                    for _ in 0..ops {
                        let (a, b): (Option<i64>, Option<i64>) =
                            redis::pipe().atomic().get(&x).get(&y).query(&mut con).unwrap();
                        assert_eq!(a, b, "{io}: a transaction was seen half done");
                        let (e1, e2): (i64, i64) =
                            redis::pipe().atomic().exists(&p).exists(&q).query(&mut con).unwrap();
                        assert_eq!(e1 + e2, 1, "{io}: the renamed key is in {} places", e1 + e2);
                    }
                });
            }
        });
        let mut con = client.get_connection().unwrap();
        let totals: (i64, i64) = (con.get(&x).unwrap(), con.get(&y).unwrap());
        assert_eq!(totals, (3 * ops, 3 * ops), "{io}");
    }
}

/// PHP threads of both cores reach both cores' keys at once (each thread
/// over its own ring to the owner), while RESP transactions hold the same
/// shards: no increment is lost and no request hangs.
#[test]
fn php_threads_reach_every_core_concurrently_beside_transactions() {
    if !common::php_available() {
        return;
    }
    use redis::Commands;
    for io in backends() {
        let root = common::php_fixtures();
        let srv = Server::start_root(
            io,
            &root,
            "cores = 2\n[php]\nthreads_per_core = 3\n[kv.redis]\nlisten = \"127.0.0.1:0\"",
        );
        let (srv, addr) = with_resp(srv);
        let (x, y) = (key_on(0, "t"), key_on(1, "t"));
        let client = redis::Client::open(format!("redis://{addr}/0")).unwrap();
        let (requests, per_request, txs) = (6, 300, 150);
        std::thread::scope(|s| {
            for _ in 0..requests {
                s.spawn(|| {
                    let r = srv.get(&format!("/kv_incr.php?keys={x},{y}&n={per_request}"), "");
                    assert_eq!((r.status, r.text()), (200, "done".to_string()), "{io}");
                });
            }
            for _ in 0..2 {
                s.spawn(|| {
                    let mut con = client.get_connection().unwrap();
                    for _ in 0..txs {
                        let _: (i64, i64) = redis::pipe().atomic().incr(&x, 1).incr(&y, 1).query(&mut con).unwrap();
                    }
                });
            }
        });
        let mut con = client.get_connection().unwrap();
        let totals: (i64, i64) = (con.get(&x).unwrap(), con.get(&y).unwrap());
        let want = requests * per_request + 2 * txs;
        assert_eq!(totals, (want, want), "{io}");
    }
}

/// COMMAND answers from the one command table: counts, INFO in Redis 7's
/// shape (arity, flags, key positions), DOCS; arity is checked from the
/// table on the pipelined path and the slow one alike; internal commands
/// are not reachable over RESP.
#[test]
fn command_table_answers_command_and_checks_arity() {
    let (_srv, addr) = start("auto", "");
    let count: usize = cli(addr, &["COMMAND", "COUNT"]).parse().unwrap();
    assert!(count > 100, "{count}");
    let info = cli(addr, &["COMMAND", "INFO", "mset", "get", "nosuch"]);
    let lines: Vec<&str> = info.lines().collect();
    // mset: arity -3, flags write/denyoom, keys 1..-1 step 2.
    assert_eq!(&lines[..6], ["mset", "-3", "write", "denyoom", "1", "-1"], "{info}");
    assert!(info.contains("get\n2\nreadonly\nfast\n1\n1\n1"), "{info}");
    let docs = cli(addr, &["COMMAND", "DOCS", "lpush"]);
    assert!(docs.contains("lpush") && docs.contains("list"), "{docs}");
    let list = cli(addr, &["COMMAND", "LIST"]);
    assert_eq!(list.lines().count(), count);
    // Arity errors, pipelined (single-key fast path) and not.
    let out = raw(addr, b"GET a b\r\nMSET a\r\nPING\r\nQUIT\r\n");
    assert!(out.starts_with("-ERR wrong number of arguments for 'get' command\r\n"), "{out}");
    assert!(out.contains("-ERR wrong number of arguments for 'mset' command\r\n+PONG\r\n"), "{out}");
    for internal in ["SSTORE k a", "ROOM k", "DELIFEQ k v"] {
        let out = raw(addr, format!("{internal}\r\nQUIT\r\n").as_bytes());
        assert!(out.starts_with("-ERR unknown command"), "{internal}: {out}");
    }
    // A wrong arity inside MULTI aborts the transaction, as in Redis.
    let out = raw(addr, b"MULTI\r\nGET\r\nSET x 1\r\nEXEC\r\nQUIT\r\n");
    assert!(out.contains("-EXECABORT"), "{out}");
}
