//! The functions the C shim calls back into (declared in
//! `shim/ephpm_callbacks.h`). Each gets the `RequestCtx` of the request
//! running on the calling PHP thread. None of them may panic: a panic
//! cannot unwind into C, so each is written to have no failing path.
//!
//! Every entry point is `unsafe extern "C"`: its caller (the shim) must
//! pass the `RequestCtx` of the request running on the calling thread and
//! pointers valid for the lengths given, as each one's SAFETY line says.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::Ordering::SeqCst;

use crate::bridge::ToPhp;
use crate::request::{RequestCtx, OUT_CHUNK};

/// Header fields the connection writes itself (framing, hop-by-hop).
const CONNECTION_OWNED: [&[u8]; 3] = [b"transfer-encoding", b"connection", b"keep-alive"];

/// # Safety
/// `ctx` is the `RequestCtx` passed to `ephpm_request_run` on this thread,
/// alive and not otherwise borrowed while a callback runs.
unsafe fn request<'a>(ctx: *mut c_void) -> &'a mut RequestCtx {
    // SAFETY: guaranteed by the caller (see above).
    unsafe { &mut *(ctx as *mut RequestCtx) }
}

/// # Safety
/// `data` points to `len` readable bytes (or `len` is 0).
unsafe fn bytes<'a>(data: *const c_char, len: usize) -> &'a [u8] {
    if data.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller (see above).
    unsafe { std::slice::from_raw_parts(data as *const u8, len) }
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_write(ctx: *mut c_void, data: *const c_char, len: usize) -> usize {
    // SAFETY: the shim passes the ctx of the running request and a buffer
    // of len bytes.
    let (req, data) = unsafe { (request(ctx), bytes(data, len)) };
    if req.finished {
        // After ephpm_finish_request() output goes nowhere, as in php-fpm.
        return len;
    }
    if req.abandoned() {
        return 0;
    }
    req.out.extend_from_slice(data);
    if req.out.len() >= OUT_CHUNK {
        req.send_output();
        req.end.shared.wake_core();
    }
    len
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_flush(ctx: *mut c_void) {
    // SAFETY: the shim passes the ctx of the running request.
    let req = unsafe { request(ctx) };
    if !req.finished {
        req.send_output();
        req.end.shared.wake_core();
    }
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_header(ctx: *mut c_void, line: *const c_char, len: usize) {
    // SAFETY: the shim passes the ctx of the running request and the
    // header line's bytes.
    let (req, line) = unsafe { (request(ctx), bytes(line, len)) };
    let Some(colon) = line.iter().position(|&b| b == b':') else { return };
    let name = line[..colon].trim_ascii();
    let value = line[colon + 1..].trim_ascii();
    if name.is_empty() || name.iter().any(|b| !b.is_ascii_graphic()) || value.iter().any(|&b| b == b'\r' || b == b'\n')
    {
        return;
    }
    if name.eq_ignore_ascii_case(b"status") {
        // A CGI-style "Status: 404 Not Found" sets the status, as behind
        // nginx + php-fpm.
        let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
        req.status = std::str::from_utf8(&value[..digits]).ok().and_then(|s| s.parse().ok());
        return;
    }
    if name.eq_ignore_ascii_case(b"content-length") {
        // Kept aside: a HEAD response states it; otherwise the connection
        // frames the body itself.
        req.content_length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        return;
    }
    if CONNECTION_OWNED.iter().any(|n| name.eq_ignore_ascii_case(n)) {
        return;
    }
    req.headers.extend_from_slice(name);
    req.headers.extend_from_slice(b": ");
    req.headers.extend_from_slice(value);
    req.headers.extend_from_slice(b"\r\n");
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_headers_done(ctx: *mut c_void, status: c_int) {
    // SAFETY: the shim passes the ctx of the running request.
    let req = unsafe { request(ctx) };
    let status = req.status.unwrap_or(u16::try_from(status).unwrap_or(500));
    let status = if (100..=999).contains(&status) { status } else { 500 };
    req.ensure_head(status);
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_read_body(ctx: *mut c_void, buf: *mut c_char, len: usize) -> usize {
    // SAFETY: the shim passes the ctx of the running request.
    let req = unsafe { request(ctx) };
    if buf.is_null() {
        return 0;
    }
    // PHP takes a short read for the end of the body
    // (sapi_read_post_block), so fill the buffer unless the body ends.
    let mut filled = 0;
    while filled < len {
        while req.body.is_empty() && !req.body_done {
            match req.end.recv_until(|s| s.abandoned.load(SeqCst) || s.body_aborted.load(SeqCst)) {
                Some(ToPhp::Body(b)) => req.body = b,
                Some(ToPhp::BodyEnd) => req.body_done = true,
                Some(ToPhp::Job(_)) | None => {
                    req.body_done = true;
                    req.body_aborted = true;
                }
            }
        }
        let n = req.body.len().min(len - filled);
        if n == 0 {
            break;
        }
        // SAFETY: buf has room for len bytes (the shim's contract) and
        // filled + n <= len; the source is a separate allocation.
        unsafe { std::ptr::copy_nonoverlapping(req.body.as_ptr(), (buf as *mut u8).add(filled), n) };
        let _ = req.body.split_to(n);
        filled += n;
    }
    filled
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_body_aborted(ctx: *mut c_void) -> c_int {
    // SAFETY: the shim passes the ctx of the running request.
    let req = unsafe { request(ctx) };
    c_int::from(req.body_aborted)
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_getenv(ctx: *mut c_void, name: *const c_char, len: usize) -> *const c_char {
    // SAFETY: the shim passes the ctx of the running request and the name.
    let (req, name) = unsafe { (request(ctx), bytes(name, len)) };
    match req.job.lookup(name) {
        Some(off) => req.job.arena.as_ptr().wrapping_add(off as usize) as *const c_char,
        None => std::ptr::null(),
    }
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_log(_ctx: *mut c_void, message: *const c_char) {
    if message.is_null() {
        return;
    }
    // SAFETY: PHP passes a NUL-terminated message.
    let msg = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    if crate::worker::capture_boot_message(&msg) {
        return;
    }
    tracing::warn!(target: "ephpm::php", "{msg}");
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_finish(ctx: *mut c_void) -> c_int {
    // SAFETY: the shim passes the ctx of the running request.
    let req = unsafe { request(ctx) };
    if req.finished {
        return 0;
    }
    req.finish();
    1
}
