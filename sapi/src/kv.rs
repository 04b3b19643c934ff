//! The Rust half of the ephpm_kv_* PHP functions (`shim/kv.c`): each PHP
//! thread holds its core's [`KvClient`]; a call runs in place for this
//! core's keys and over the mesh for others. Replies go back to C in a
//! small tagged encoding the shim decodes into PHP values:
//! `n` nil; `i` i64; `d` f64; `s` bulk, `t` status, `e` error (u64 length
//! then bytes); `a` array (u64 count then items). Integers little-endian.

use std::cell::RefCell;
use std::ffi::{c_char, c_int};

use bytes::Bytes;
use ephpm_http::cache::{purge_here, Purge};
use ephpm_kv::{KvClient, Reply};

thread_local! {
    static CLIENT: RefCell<Option<KvClient>> = const { RefCell::new(None) };
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Gives the calling PHP thread its KV client.
pub(crate) fn install(client: KvClient) {
    client.bind_thread();
    CLIENT.with(|c| *c.borrow_mut() = Some(client));
}

/// Appends the encoding of `reply` to `out`.
fn encode(out: &mut Vec<u8>, reply: &Reply) {
    let mut bytes = |tag: u8, b: &[u8]| {
        out.push(tag);
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    };
    match reply {
        Reply::Nil | Reply::NilArray => out.push(b'n'),
        Reply::Int(n) => {
            out.push(b'i');
            out.extend_from_slice(&n.to_le_bytes());
        }
        Reply::Double(d) => {
            out.push(b'd');
            out.extend_from_slice(&d.to_le_bytes());
        }
        Reply::Bulk(b) => bytes(b's', b),
        Reply::Status(s) => bytes(b't', s.as_bytes()),
        Reply::Error(e) => bytes(b'e', e.as_bytes()),
        Reply::Map(pairs) => {
            out.push(b'a');
            out.extend_from_slice(&(pairs.len() as u64 * 2).to_le_bytes());
            for (k, v) in pairs {
                encode(out, k);
                encode(out, v);
            }
        }
        Reply::Array(items) => {
            out.push(b'a');
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                encode(out, item);
            }
        }
    }
}

/// Runs one command for the calling thread and returns its encoding.
fn call(args: Vec<Bytes>) -> Reply {
    CLIENT.with(|c| match c.borrow_mut().as_mut() {
        // The session handler's compare-and-delete of its lock.
        Some(client) if args.len() == 3 && &args[0][..] == b"DELIFEQ" => {
            let mut args = args.into_iter().skip(1);
            let (key, value) = (args.next().unwrap_or_default(), args.next().unwrap_or_default());
            client.del_if_eq(key, value)
        }
        // The object cache's flush, on every core.
        Some(client) if args.len() == 2 && &args[0][..] == b"FLUSHPREFIX" => {
            client.flush_prefix(args.into_iter().nth(1).unwrap_or_default())
        }
        // The page cache's purge, on every core.
        Some(client) if args.len() == 2 && &args[0][..] == b"CACHEPURGE" => {
            match Purge::parse(&String::from_utf8_lossy(&args[1])) {
                Ok(purge) => client.run_on_every_core(move || Reply::Int(purge_here(&purge) as i64)),
                // PHP names the function in its warning.
                Err(e) => Reply::Error(e),
            }
        }
        Some(client) => client.call(args),
        None => Reply::err("the KV store is not available on this thread"),
    })
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_kv(
    argc: c_int,
    argv: *const *const c_char,
    lens: *const usize,
    out_len: *mut usize,
) -> *const c_char {
    let argc = usize::try_from(argc).unwrap_or(0);
    let mut args = Vec::with_capacity(argc);
    for i in 0..argc {
        // SAFETY: the shim passes argc pointers and lengths, each pointer
        // to `lens[i]` readable bytes, alive for this call.
        let arg = unsafe {
            let p = *argv.add(i) as *const u8;
            let n = *lens.add(i);
            if p.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(p, n)
            }
        };
        args.push(Bytes::copy_from_slice(arg));
    }
    let reply = call(args);
    OUT.with(|o| {
        let mut o = o.borrow_mut();
        o.clear();
        encode(&mut o, &reply);
        if !out_len.is_null() {
            // SAFETY: the shim passes a valid place for the length.
            unsafe { *out_len = o.len() };
        }
        // Valid until this thread's next call (the shim decodes at once).
        o.as_ptr() as *const c_char
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        let mut out = Vec::new();
        encode(&mut out, &Reply::Array(vec![Reply::Int(7), Reply::Nil, Reply::bulk(b"ab")]));
        let mut want = vec![b'a'];
        want.extend_from_slice(&3u64.to_le_bytes());
        want.push(b'i');
        want.extend_from_slice(&7i64.to_le_bytes());
        want.push(b'n');
        want.push(b's');
        want.extend_from_slice(&2u64.to_le_bytes());
        want.extend_from_slice(b"ab");
        assert_eq!(out, want);
    }
}
