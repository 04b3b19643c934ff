use bytes::Bytes;

use super::execute;
use crate::keyspace::Keyspace;
use crate::reply::Reply;

fn run(ks: &mut Keyspace, now: u64, cmd: &str) -> Reply {
    let args: Vec<Bytes> = cmd.split(' ').map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
    execute(ks, &args, now)
}

fn bulk(s: &str) -> Reply {
    Reply::bulk(s.as_bytes())
}

#[test]
fn set_options() {
    let mut ks = Keyspace::new();
    assert_eq!(run(&mut ks, 0, "SET k v"), Reply::OK);
    assert_eq!(run(&mut ks, 0, "SET k w NX"), Reply::Nil);
    assert_eq!(run(&mut ks, 0, "SET k w XX GET"), bulk("v"));
    assert_eq!(run(&mut ks, 0, "SET n v XX"), Reply::Nil);
    assert_eq!(run(&mut ks, 1000, "SET t v EX 10"), Reply::OK);
    assert_eq!(run(&mut ks, 1000, "TTL t"), Reply::Int(10));
    assert_eq!(run(&mut ks, 1000, "PTTL t"), Reply::Int(10_000));
    assert_eq!(run(&mut ks, 2000, "SET t w KEEPTTL"), Reply::OK);
    assert_eq!(run(&mut ks, 2000, "PTTL t"), Reply::Int(9_000));
    assert_eq!(run(&mut ks, 2000, "SET t w PXAT 5000"), Reply::OK);
    assert_eq!(run(&mut ks, 5000, "GET t"), Reply::Nil);
    assert_eq!(run(&mut ks, 0, "SET k v EX 0"), Reply::err("invalid expire time in 'set' command"));
    assert_eq!(run(&mut ks, 0, "SET k v EX x"), Reply::err("value is not an integer or out of range"));
    assert_eq!(run(&mut ks, 0, "SET k v NX XX"), Reply::syntax());
    assert_eq!(run(&mut ks, 0, "SET k v EX 1 PX 1"), Reply::syntax());
    assert_eq!(run(&mut ks, 0, "SET k"), Reply::wrong_args("set"));
}

#[test]
fn counters_and_strings() {
    let mut ks = Keyspace::new();
    assert_eq!(run(&mut ks, 0, "INCR c"), Reply::Int(1));
    assert_eq!(run(&mut ks, 0, "INCRBY c 41"), Reply::Int(42));
    assert_eq!(run(&mut ks, 0, "DECRBY c 2"), Reply::Int(40));
    assert_eq!(run(&mut ks, 0, "DECR c"), Reply::Int(39));
    assert_eq!(run(&mut ks, 0, "SET s abc"), Reply::OK);
    assert_eq!(run(&mut ks, 0, "INCR s"), Reply::err("value is not an integer or out of range"));
    assert_eq!(run(&mut ks, 0, "SET big 9223372036854775807"), Reply::OK);
    assert_eq!(run(&mut ks, 0, "INCR big"), Reply::err("increment or decrement would overflow"));
    assert_eq!(run(&mut ks, 0, "INCRBYFLOAT f 10.5"), bulk("10.5"));
    assert_eq!(run(&mut ks, 0, "INCRBYFLOAT f 0.1"), bulk("10.6"));
    assert_eq!(run(&mut ks, 0, "INCRBYFLOAT f -10.6"), bulk("0"));
    assert_eq!(run(&mut ks, 0, "APPEND s def"), Reply::Int(6));
    assert_eq!(run(&mut ks, 0, "STRLEN s"), Reply::Int(6));
    assert_eq!(run(&mut ks, 0, "GETRANGE s 1 -2"), bulk("bcde"));
    assert_eq!(run(&mut ks, 0, "GETRANGE s 10 20"), bulk(""));
    assert_eq!(run(&mut ks, 0, "SETRANGE s 8 xy"), Reply::Int(10));
    assert_eq!(run(&mut ks, 0, "GET s"), Reply::bulk(b"abcdef\0\0xy"));
    assert_eq!(run(&mut ks, 0, "GETDEL s"), Reply::bulk(b"abcdef\0\0xy"));
    assert_eq!(run(&mut ks, 0, "EXISTS s"), Reply::Int(0));
    assert_eq!(run(&mut ks, 0, "SETNX s 1"), Reply::Int(1));
    assert_eq!(run(&mut ks, 0, "SETNX s 2"), Reply::Int(0));
    assert_eq!(run(&mut ks, 0, "SETEX e 0 v"), Reply::err("invalid expire time in 'setex' command"));
}

#[test]
fn expiry_commands() {
    let mut ks = Keyspace::new();
    run(&mut ks, 0, "SET k v");
    assert_eq!(run(&mut ks, 0, "TTL k"), Reply::Int(-1));
    assert_eq!(run(&mut ks, 0, "TTL none"), Reply::Int(-2));
    assert_eq!(run(&mut ks, 0, "EXPIRE k 10 XX"), Reply::Int(0));
    assert_eq!(run(&mut ks, 0, "EXPIRE k 10 NX"), Reply::Int(1));
    assert_eq!(run(&mut ks, 0, "EXPIRE k 5 GT"), Reply::Int(0));
    assert_eq!(run(&mut ks, 0, "PEXPIRE k 5000 LT"), Reply::Int(1));
    assert_eq!(run(&mut ks, 0, "PTTL k"), Reply::Int(5000));
    assert_eq!(run(&mut ks, 0, "PERSIST k"), Reply::Int(1));
    assert_eq!(run(&mut ks, 0, "PERSIST k"), Reply::Int(0));
    assert_eq!(run(&mut ks, 0, "GETEX k PX 100"), bulk("v"));
    assert_eq!(run(&mut ks, 0, "PTTL k"), Reply::Int(100));
    assert_eq!(run(&mut ks, 0, "GETEX k PERSIST"), bulk("v"));
    assert_eq!(run(&mut ks, 0, "TTL k"), Reply::Int(-1));
    assert_eq!(run(&mut ks, 10_000, "EXPIREAT k 5"), Reply::Int(1));
    assert_eq!(run(&mut ks, 10_000, "EXISTS k"), Reply::Int(0));
    assert_eq!(run(&mut ks, 0, "TYPE k"), Reply::Status("none"));
    run(&mut ks, 0, "SET k v");
    assert_eq!(run(&mut ks, 0, "TYPE k"), Reply::Status("string"));
    assert_eq!(run(&mut ks, 0, "DEL k"), Reply::Int(1));
    assert_eq!(run(&mut ks, 0, "NOPE k"), Reply::err("unknown command 'nope'"));
}

#[test]
fn sorted_sets() {
    let mut ks = Keyspace::new();
    assert_eq!(run(&mut ks, 0, "ZADD z 1 a 2 b 3 c"), Reply::Int(3));
    assert_eq!(run(&mut ks, 0, "ZADD z XX CH 5 a 9 x"), Reply::Int(1));
    assert_eq!(run(&mut ks, 0, "ZADD z GT 4 a"), Reply::Int(0));
    assert_eq!(run(&mut ks, 0, "ZSCORE z a"), Reply::Double(5.0));
    assert_eq!(run(&mut ks, 0, "ZINCRBY z 0.5 b"), Reply::Double(2.5));
    assert_eq!(run(&mut ks, 0, "ZADD z INCR 1 c"), Reply::Double(4.0));
    let arr = |v: &[&str]| Reply::Array(v.iter().map(|s| bulk(s)).collect());
    assert_eq!(run(&mut ks, 0, "ZRANGE z 0 -1"), arr(&["b", "c", "a"]));
    let d = Reply::Double;
    assert_eq!(
        run(&mut ks, 0, "ZRANGE z 0 -1 REV WITHSCORES"),
        Reply::Array(vec![bulk("a"), d(5.0), bulk("c"), d(4.0), bulk("b"), d(2.5)])
    );
    assert_eq!(run(&mut ks, 0, "ZRANGEBYSCORE z (2.5 +inf"), arr(&["c", "a"]));
    assert_eq!(run(&mut ks, 0, "ZREVRANGEBYSCORE z 5 -inf LIMIT 1 1"), arr(&["c"]));
    assert_eq!(run(&mut ks, 0, "ZRANGE z 3 4 BYSCORE"), arr(&["c"]));
    assert_eq!(run(&mut ks, 0, "ZCOUNT z -inf 4"), Reply::Int(2));
    assert_eq!(run(&mut ks, 0, "ZRANK z a"), Reply::Int(2));
    assert_eq!(run(&mut ks, 0, "ZREVRANK z a"), Reply::Int(0));
    assert_eq!(run(&mut ks, 0, "ZPOPMIN z"), Reply::Array(vec![bulk("b"), d(2.5)]));
    assert_eq!(run(&mut ks, 0, "ZPOPMAX z 5"), Reply::Array(vec![bulk("a"), d(5.0), bulk("c"), d(4.0)]));
    assert_eq!(run(&mut ks, 0, "EXISTS z"), Reply::Int(0));
    assert_eq!(run(&mut ks, 0, "ZADD l 0 a 0 b 0 c"), Reply::Int(3));
    assert_eq!(run(&mut ks, 0, "ZRANGE l [b + BYLEX"), arr(&["b", "c"]));
    assert_eq!(run(&mut ks, 0, "ZRANGE l (c - BYLEX REV"), arr(&["b", "a"]));
    assert_eq!(run(&mut ks, 0, "ZREMRANGEBYSCORE l 0 0"), Reply::Int(3));
    assert_eq!(
        run(&mut ks, 0, "ZADD z NX XX 1 a"),
        Reply::err("XX and NX options at the same time are not compatible")
    );
    assert_eq!(run(&mut ks, 0, "ZADD z 1"), Reply::wrong_args("zadd"));
    assert_eq!(run(&mut ks, 0, "ZADD z 1 a 2"), Reply::syntax());
    assert_eq!(run(&mut ks, 0, "ZADD z x a"), Reply::err("value is not a valid float"));
    run(&mut ks, 0, "SET s v");
    assert_eq!(run(&mut ks, 0, "ZADD s 1 a"), Reply::wrong_type());
}

#[test]
fn found_by_fuzzing() {
    let mut ks = Keyspace::new();
    run(&mut ks, 0, "SADD s a");
    assert_eq!(run(&mut ks, 0, "SRANDMEMBER s -9223372036854775808"), Reply::err("value is out of range"));
    assert_eq!(run(&mut ks, 0, "SRANDMEMBER s -3"), Reply::Array(vec![bulk("a"), bulk("a"), bulk("a")]));
}

#[test]
fn hits_and_misses_count_reads_only() {
    let mut ks = Keyspace::new();
    run(&mut ks, 0, "GET k");
    run(&mut ks, 0, "SET k v");
    run(&mut ks, 0, "SET k w");
    run(&mut ks, 0, "GET k");
    run(&mut ks, 0, "HGET h f");
    run(&mut ks, 0, "INCR n");
    assert_eq!((ks.hits, ks.misses, ks.commands), (1, 2, 6));
}
