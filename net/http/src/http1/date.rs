//! The Date header value, formatted at most once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

thread_local! {
    static CACHE: RefCell<(u64, Bytes)> = const { RefCell::new((u64::MAX, Bytes::new())) };
}

/// The current IMF-fixdate (e.g. `Sun, 06 Nov 1994 08:49:37 GMT`), shared:
/// cloning it costs a reference count, not a copy (HTTP/2's header map).
pub fn now() -> Bytes {
    with_now(Bytes::clone)
}

/// Appends the current IMF-fixdate (HTTP/1.1's head).
pub fn append_now(out: &mut Vec<u8>) {
    with_now(|d| out.extend_from_slice(d));
}

/// Runs `f` on this second's date, formatting it first if the second
/// changed.
fn with_now<R>(f: impl FnOnce(&Bytes) -> R) -> R {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            c.1 = Bytes::from(httpdate::fmt_http_date(now));
            c.0 = secs;
        }
        f(&c.1)
    })
}
