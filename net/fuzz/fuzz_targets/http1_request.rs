//! Fuzzes the HTTP/1.1 request parser, the chunked body decoder and path
//! normalization: none may panic, whatever the bytes.
#![no_main]

use ephpm_http::http1::body::ChunkedDecoder;
use ephpm_http::http1::{Limits, RequestHead};
use ephpm_http::router::path::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_head_size: 4096, max_headers: 32, max_body_size: 1 << 16, ..Limits::default() };
    let mut head = RequestHead::default();
    if let Ok(Some(n)) = head.parse(data, &limits) {
        let _ = normalize(head.path());
        let _ = head.headers().count();
        let mut decoder = ChunkedDecoder::new(limits.max_body_size);
        let mut out = Vec::new();
        let _ = decoder.decode(&data[n..], &mut out);
    }
    let _ = normalize(&String::from_utf8_lossy(data));
});
