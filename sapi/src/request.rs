//! The Rust half of one request on a PHP thread: what the C callbacks
//! write into (output, headers, status) and read from (body, variables),
//! and a classic request's run from start to Idle.

use std::ffi::{c_char, c_void};
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::bridge::{Event, PhpEnd};
use crate::ffi;
use crate::job::{Field, Job};

/// Output is sent to the core in pieces of this size unless flushed sooner.
pub(crate) const OUT_CHUNK: usize = 64 * 1024;

/// One running request; `ctx` of the C callbacks. It holds the thread's
/// end of the bridge and the job while the request runs.
pub(crate) struct RequestCtx {
    pub(crate) end: PhpEnd,
    pub(crate) job: Box<Job>,
    pub(crate) out: Vec<u8>,
    pub(crate) headers: Vec<u8>,
    pub(crate) status: Option<u16>,
    /// The script's Content-Length header, if it set one.
    pub(crate) content_length: Option<u64>,
    pub(crate) head_sent: bool,
    pub(crate) finished: bool,
    pub(crate) body: Bytes,
    pub(crate) body_done: bool,
    /// The body ended because it broke, not because it was complete.
    pub(crate) body_aborted: bool,
    started: std::time::Instant,
}

impl RequestCtx {
    /// A request for `job`, answered over `end`.
    pub(crate) fn new(end: PhpEnd, job: Box<Job>) -> Self {
        let body_done = !job.body_follows;
        RequestCtx {
            end,
            job,
            out: Vec::new(),
            headers: Vec::new(),
            status: None,
            content_length: None,
            head_sent: false,
            finished: false,
            body: Bytes::new(),
            body_done,
            body_aborted: false,
            started: std::time::Instant::now(),
        }
    }

    /// What the shim reads of the request; its pointers are into the job,
    /// valid while the job is neither changed nor given back.
    pub(crate) fn info(&self) -> ffi::ephpm_request_info {
        request_info(&self.job)
    }

    /// Sends buffered output as one chunk.
    pub(crate) fn send_output(&mut self) {
        if !self.out.is_empty() {
            let chunk = std::mem::take(&mut self.out);
            self.end.send(Event::Chunk(Bytes::from(chunk)));
        }
    }

    /// Sends the head if PHP never did (it normally sends it itself).
    pub(crate) fn ensure_head(&mut self, status: u16) {
        if !self.head_sent {
            self.head_sent = true;
            let headers = Bytes::from(std::mem::take(&mut self.headers));
            self.end.send(Event::Head { status, headers, content_length: self.content_length });
        }
    }

    /// Completes the response: remaining output, then End.
    pub(crate) fn finish(&mut self) {
        self.finish_quietly();
        self.end.shared.wake_core();
    }

    /// As [`RequestCtx::finish`], leaving the core's wake-up to the caller.
    fn finish_quietly(&mut self) {
        if self.finished {
            return;
        }
        self.ensure_head(200);
        self.send_output();
        self.end.send(Event::End);
        self.finished = true;
    }

    /// Whether the core gave this request up.
    pub(crate) fn abandoned(&self) -> bool {
        self.end.shared.abandoned.load(Ordering::Relaxed)
    }

    /// Finishes the response if the script did not, gives the job back to
    /// the core (the thread is free) and returns the thread's end.
    pub(crate) fn complete(mut self, peak_memory: u64) -> PhpEnd {
        // One wake-up for the end of the response and the free thread.
        self.finish_quietly();
        let RequestCtx { mut end, mut job, started, .. } = self;
        job.run_time = started.elapsed();
        end.shared.last_memory.store(peak_memory, Ordering::Relaxed);
        end.send(Event::Idle(job));
        end.shared.wake_core();
        end
    }
}

/// The shim's view of `job`: pointers into its arena.
pub(crate) fn request_info(job: &Job) -> ffi::ephpm_request_info {
    let arena = job.arena.as_ptr() as *const c_char;
    let at = |f: Field| job.field(f).map_or(std::ptr::null(), |o| arena.wrapping_add(o as usize));
    ffi::ephpm_request_info {
        method: at(Field::Method),
        request_uri: at(Field::RequestUri),
        query_string: at(Field::QueryString),
        script_filename: at(Field::ScriptFilename),
        path_translated: at(Field::ScriptFilename),
        content_type: at(Field::ContentType),
        content_length: job.content_length,
        proto_num: job.proto_num,
        authorization: at(Field::Authorization),
        cookies: at(Field::Cookies),
        request_time: job.request_time,
        arena,
        vars: job.vars.as_ptr() as *const ffi::ephpm_var,
        var_count: job.vars.len(),
    }
}

/// Runs one classic request (the script from the top) and returns the
/// thread's end once the job is back with the core.
pub(crate) fn run(end: PhpEnd, job: Box<Job>) -> PhpEnd {
    let mut ctx = RequestCtx::new(end, job);
    let info = ctx.info();
    let ok = ffi::request_run(&info, &mut ctx as *mut RequestCtx as *mut c_void);
    if !ok && !ctx.head_sent {
        ctx.headers.clear();
        ctx.headers.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
        ctx.out.clear();
        ctx.out.extend_from_slice(b"500 Internal Server Error: the PHP request could not start\n");
        ctx.ensure_head(500);
    }
    ctx.complete(ffi::request_peak_memory())
}
