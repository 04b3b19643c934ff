//! A PHP thread: its own engine context (TSRM), pinned to its core, taking
//! one request at a time from its core over the bridge.

use std::ffi::{c_char, c_void};
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use bytes::Bytes;

use ephpm_rt::liveness::AliveGuard;

use crate::bridge::{Event, PhpEnd, ToPhp};
use crate::ffi;
use crate::job::{Field, Job};

/// Output is sent to the core in pieces of this size unless flushed sooner.
pub(crate) const OUT_CHUNK: usize = 64 * 1024;
/// PHP threads get a large stack: PHP detects it and turns runaway
/// recursion into a fatal error ("Maximum call stack size reached")
/// instead of a crash.
const STACK_SIZE: usize = 16 << 20;

/// Starts a PHP thread serving `end`, pinned to `cpu` when given.
pub(crate) fn spawn(
    name: String,
    end: PhpEnd,
    kv: ephpm_kv::KvClient,
    cpu: Option<core_affinity::CoreId>,
) -> std::io::Result<JoinHandle<()>> {
    // Alive from now: a health check right after start must not count a
    // thread that has not been scheduled yet as dead.
    end.shared.alive.store(true, Ordering::Relaxed);
    std::thread::Builder::new().name(name).stack_size(STACK_SIZE).spawn(move || {
        if let Some(cpu) = cpu {
            core_affinity::set_for_current(cpu);
        }
        end.bind_thread();
        let shared = std::sync::Arc::clone(&end.shared);
        let _alive = AliveGuard::new(&shared.alive);
        crate::kv::install(kv);
        ffi::thread_start();
        serve(end);
        ffi::thread_stop();
    })
}

fn serve(mut end: PhpEnd) {
    while let Some(msg) = end.recv_until(|s| s.closed.load(Ordering::SeqCst)) {
        // Body pieces of a request given up earlier are stale.
        if let ToPhp::Job(job) = msg {
            let job = run(&mut end, job);
            end.send(Event::Idle(job));
            end.shared.wake_core();
        }
    }
}

/// The Rust half of one running request; `ctx` of the C callbacks.
pub(crate) struct RequestCtx<'a> {
    pub(crate) end: &'a mut PhpEnd,
    pub(crate) job: &'a Job,
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
}

impl RequestCtx<'_> {
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
        if self.finished {
            return;
        }
        self.ensure_head(200);
        self.send_output();
        self.end.send(Event::End);
        self.finished = true;
        self.end.shared.wake_core();
    }

    /// Whether the core gave this request up.
    pub(crate) fn abandoned(&self) -> bool {
        self.end.shared.abandoned.load(Ordering::Relaxed)
    }
}

fn run(end: &mut PhpEnd, mut job: Box<Job>) -> Box<Job> {
    let started = std::time::Instant::now();
    let arena = job.arena.as_ptr() as *const c_char;
    let at = |f: Field| job.field(f).map_or(std::ptr::null(), |o| arena.wrapping_add(o as usize));
    let info = ffi::ephpm_request_info {
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
    };
    let mut ctx = RequestCtx {
        end,
        job: &job,
        out: Vec::new(),
        headers: Vec::new(),
        status: None,
        content_length: None,
        head_sent: false,
        finished: false,
        body: Bytes::new(),
        body_done: !job.body_follows,
        body_aborted: false,
    };
    let ok = ffi::request_run(&info, &mut ctx as *mut RequestCtx<'_> as *mut c_void);
    if !ok && !ctx.head_sent {
        ctx.headers.clear();
        ctx.headers.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
        ctx.out.clear();
        ctx.out.extend_from_slice(b"500 Internal Server Error: the PHP request could not start\n");
        ctx.ensure_head(500);
    }
    ctx.finish();
    drop(ctx);
    job.run_time = started.elapsed();
    end.shared.last_memory.store(ffi::request_peak_memory(), Ordering::Relaxed);
    job
}
