//! The Date header value, formatted at most once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends the current IMF-fixdate (e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn append_now(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            c.1 = httpdate::fmt_http_date(now);
            c.0 = secs;
        }
        out.extend_from_slice(c.1.as_bytes());
    });
}
