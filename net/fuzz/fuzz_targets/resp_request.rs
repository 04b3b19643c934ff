//! Fuzzes the RESP request parser and, for whatever parses, the KV
//! commands and the reply writer: none may panic, whatever the bytes.
#![no_main]

use bytes::Bytes;
use ephpm_resp::parser::{parse, ParseLimits};
use ephpm_resp::writer;
use ephpm_kv::command::execute;
use ephpm_kv::Keyspace;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits { max_args: 64, max_bulk: 1 << 16 };
    let mut ks = Keyspace::new();
    let mut pos = 0;
    let mut out = Vec::new();
    while let Ok(Some((mut args, n))) = parse(&data[pos..], &limits) {
        pos += n;
        if args.is_empty() {
            continue;
        }
        args[0] = Bytes::from(args[0].to_ascii_uppercase());
        let reply = execute(&mut ks, &args, 1_000_000);
        writer::write(&mut out, &reply, pos % 2 == 0);
    }
});
