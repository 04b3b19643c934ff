//! The worker loop of one PHP thread and the shim's callbacks into it.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Reason, WorkerSpec, WorkerState, NO_RESTART};
use crate::bridge::{Event, PhpEnd, Shared, ToPhp};
use crate::job::{Field, Job};
use crate::request::RequestCtx;
use crate::{ffi, request};

/// First wait after a failed boot; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between boot attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// PHP messages kept from one boot attempt (the last ones).
const BOOT_LOG_LINES: usize = 8;

thread_local! {
    /// PHP's messages while the worker boots: logged after a good boot,
    /// summed up once per back-off step after a failed one.
    static BOOT_LOG: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Keeps `msg` if this thread is booting a worker (true), else leaves it
/// to the caller (false).
pub(crate) fn capture_boot_message(msg: &str) -> bool {
    BOOT_LOG.with(|b| match b.borrow_mut().as_mut() {
        Some(lines) => {
            if lines.len() == BOOT_LOG_LINES {
                lines.remove(0);
            }
            lines.push(msg.to_string());
            true
        }
        None => false,
    })
}

fn take_boot_log() -> Vec<String> {
    BOOT_LOG.with(|b| b.borrow_mut().take().unwrap_or_default())
}

/// The worker of one PHP thread: `w` of the shim's worker callbacks.
struct Worker<'a> {
    spec: &'a WorkerSpec,
    /// The thread's end while no request is bound.
    end: Option<PhpEnd>,
    /// The bound request.
    req: Option<RequestCtx>,
    /// What the shim reads of the bound request.
    info: Option<ffi::ephpm_request_info>,
    shared: Arc<Shared>,
    /// The script called `ephpm_handle_request()` since this boot.
    reached_loop: bool,
    booted_at: Instant,
    /// Requests served since this boot.
    served: u64,
    /// Why `ephpm_handle_request()` told the script to stop.
    stop: Option<Reason>,
}

impl Worker<'_> {
    fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The first `ephpm_handle_request()` of a boot: the boot is over.
    fn booted(&mut self) {
        self.reached_loop = true;
        let boot_time = self.booted_at.elapsed();
        for line in take_boot_log() {
            tracing::warn!(target: "ephpm::php", "{line}");
        }
        let w = &self.shared().worker;
        if let Ok(mut l) = w.boot_times.lock() {
            l.record(boot_time);
        }
        w.boots.fetch_add(1, Ordering::SeqCst);
    }

    /// Why the worker must stop now, if it must.
    fn must_stop(&self, memory: u64) -> Option<Reason> {
        let shared = self.shared();
        if shared.closed.load(Ordering::SeqCst) {
            return Some(Reason::Reload);
        }
        if let Some(r) = shared.worker.restart_asked() {
            return Some(r);
        }
        if self.spec.max_requests > 0 && self.served >= self.spec.max_requests {
            return Some(Reason::MaxRequests);
        }
        if self.spec.max_memory > 0 && memory > self.spec.max_memory {
            return Some(Reason::Memory);
        }
        None
    }

    /// Waits for the next request and binds it; false when the worker
    /// must stop instead.
    fn next(&mut self) -> bool {
        if !self.reached_loop {
            self.booted();
        }
        if self.stop.is_some() {
            return false;
        }
        if let Some(r) = self.must_stop(0) {
            self.stop = Some(r);
            return false;
        }
        let mut end = self.end.take().expect("no request is bound between requests");
        end.shared.worker.set_state(WorkerState::Idle);
        let job = loop {
            let give_up = |s: &Shared| s.closed.load(Ordering::SeqCst) || s.worker.restart_asked().is_some();
            match end.recv_until(give_up) {
                Some(ToPhp::Job(job)) => break Some(job),
                // Body pieces of a request given up earlier are stale.
                Some(_) => continue,
                None => break None,
            }
        };
        let Some(mut job) = job else {
            self.stop = Some(end.shared.worker.restart_asked().unwrap_or(Reason::Reload));
            self.end = Some(end);
            return false;
        };
        end.shared.worker.set_state(WorkerState::Busy);
        mark_worker(&mut job, self.spec);
        let req = self.req.insert(RequestCtx::new(end, job));
        self.info = Some(req.info());
        true
    }

    /// Completes the bound request; false when the worker must stop now.
    fn done(&mut self, memory: u64) -> bool {
        self.complete_request(memory);
        self.served += 1;
        self.shared().worker.served.store(self.served, Ordering::Relaxed);
        self.stop = self.must_stop(memory);
        self.stop.is_none()
    }

    /// Gives the bound request (if any) back to the core, finished.
    fn complete_request(&mut self, memory: u64) {
        if let Some(req) = self.req.take() {
            self.end = Some(req.complete(memory));
        }
    }
}

/// Adds what tells a script it runs in a worker.
fn mark_worker(job: &mut Job, spec: &WorkerSpec) {
    job.var(b"EPHPM_WORKER", b"1");
    if spec.frankenphp_compat {
        job.var(b"FRANKENPHP_WORKER", b"1");
    }
}

/// The request the script boots in: no client, `$_SERVER` with the
/// document root, the script and the configured variables.
fn boot_job(spec: &WorkerSpec, root: &Path, script: &Path) -> Box<Job> {
    let mut job = Box::<Job>::default();
    for (k, v) in &spec.env {
        job.var(k, v);
    }
    let script_bytes = script.as_os_str().as_bytes();
    let root_bytes = root.as_os_str().as_bytes();
    let name = script_bytes.strip_prefix(root_bytes).filter(|n| n.starts_with(b"/")).unwrap_or(script_bytes);
    job.var(b"DOCUMENT_ROOT", root_bytes);
    job.var(b"SCRIPT_FILENAME", script_bytes);
    job.var(b"SCRIPT_NAME", name);
    job.var(b"PHP_SELF", name);
    job.var(b"SERVER_SOFTWARE", concat!("ephpm/", env!("CARGO_PKG_VERSION")).as_bytes());
    job.set(Field::ScriptFilename, script_bytes);
    mark_worker(&mut job, spec);
    job.request_time =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    job.body_follows = false;
    job
}

/// The document root and worker script as they resolve now.
fn resolve(spec: &WorkerSpec) -> Result<(PathBuf, PathBuf), String> {
    let root = std::fs::canonicalize(&spec.root).map_err(|e| format!("{}: {e}", spec.root.display()))?;
    let script = if spec.script.is_absolute() { spec.script.clone() } else { spec.root.join(&spec.script) };
    let script = std::fs::canonicalize(&script).map_err(|e| format!("{}: {e}", script.display()))?;
    Ok((root, script))
}

/// Worker mode: boots the script, again and again, until the core is gone.
pub(crate) fn serve(end: PhpEnd, spec: &WorkerSpec) {
    end.shared.worker.enabled.store(true, Ordering::Relaxed);
    let name = std::thread::current().name().unwrap_or("ephpm-php").to_string();
    let mut w = Worker {
        spec,
        shared: Arc::clone(&end.shared),
        end: Some(end),
        req: None,
        info: None,
        reached_loop: false,
        booted_at: Instant::now(),
        served: 0,
        stop: None,
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        if w.shared().closed.load(Ordering::SeqCst) {
            return;
        }
        let failure = boot_once(&mut w).err();
        if w.shared().closed.load(Ordering::SeqCst) {
            return;
        }
        let Some(why) = failure else {
            backoff = FIRST_BACKOFF;
            continue;
        };
        let shared = Arc::clone(&w.shared);
        shared.worker.count(Reason::BootFailure);
        shared.worker.set_state(WorkerState::Failing);
        log_boot_failure(&name, &why, backoff);
        let end = w.end.as_mut().expect("no request is bound after the script ended");
        refuse_until(end, Instant::now() + backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Runs the script once, until it ends. Err: it never reached
/// `ephpm_handle_request()`, and why.
fn boot_once(w: &mut Worker<'_>) -> Result<(), String> {
    let shared = Arc::clone(&w.shared);
    shared.worker.set_state(WorkerState::Booting);
    shared.worker.restart.store(NO_RESTART, Ordering::SeqCst);
    shared.worker.served.store(0, Ordering::Relaxed);
    w.reached_loop = false;
    w.served = 0;
    w.stop = None;
    w.booted_at = Instant::now();
    let (root, script) = resolve(w.spec).map_err(|e| format!("php.worker.script: cannot open {e}"))?;
    let job = boot_job(w.spec, &root, &script);
    let info = request::request_info(&job);
    BOOT_LOG.with(|b| *b.borrow_mut() = Some(Vec::new()));
    let timeout = w.spec.boot_timeout.as_secs_f64().ceil().max(1.0) as i64;
    let outcome = ffi::worker_run(&info, w as *mut Worker<'_> as *mut c_void, timeout);
    let messages = take_boot_log();
    drop(job);
    // The script died inside a handler: its request got what PHP sent as
    // the engine shut down; finish it and free the thread.
    w.complete_request(ffi::request_peak_memory());
    if !w.reached_loop {
        let why = match outcome {
            ffi::WorkerOutcome::TimedOut => {
                format!("it did not reach ephpm_handle_request() within {timeout}s (php.worker.boot_timeout)")
            }
            ffi::WorkerOutcome::Returned => "it ended without calling ephpm_handle_request()".to_string(),
            _ => "it failed before calling ephpm_handle_request()".to_string(),
        };
        let detail = if messages.is_empty() { String::new() } else { format!(": {}", messages.join(" | ")) };
        return Err(format!("{} {why}{detail}", script.display()));
    }
    let reason = match outcome {
        ffi::WorkerOutcome::Crashed => Reason::Crash,
        ffi::WorkerOutcome::TimedOut => Reason::Timeout,
        ffi::WorkerOutcome::Exited | ffi::WorkerOutcome::BootFailed => Reason::Exit,
        ffi::WorkerOutcome::Returned => w.stop.unwrap_or(Reason::Exit),
    };
    if !shared.closed.load(Ordering::SeqCst) {
        shared.worker.count(reason);
        tracing::debug!(reason = reason.name(), served = w.served, "PHP worker restarting");
    }
    Ok(())
}

/// Last failure logged, by any thread: the same failure is logged once
/// per back-off step, not once per thread.
static LAST_FAILURE: Mutex<Option<(String, Duration)>> = Mutex::new(None);

fn log_boot_failure(thread: &str, why: &str, backoff: Duration) {
    let Ok(mut last) = LAST_FAILURE.lock() else { return };
    if last.as_ref().is_some_and(|(w, b)| w == why && *b == backoff) {
        return;
    }
    *last = Some((why.to_string(), backoff));
    tracing::error!(
        thread,
        "PHP worker script failed to boot: {why}; retrying in {backoff:?} (clients get 503 meanwhile)"
    );
}

/// Answers every request with 503 until `deadline` (or the core closes).
fn refuse_until(end: &mut PhpEnd, deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline || end.shared.closed.load(Ordering::SeqCst) {
            return;
        }
        let msg = end.recv_before(Some(deadline), |s| s.closed.load(Ordering::SeqCst));
        let Some(ToPhp::Job(job)) = msg else { continue };
        let retry = deadline.saturating_duration_since(Instant::now()).as_secs_f64().ceil().max(1.0) as u64;
        let headers = format!("Content-Type: text/plain; charset=utf-8\r\nRetry-After: {retry}\r\n");
        end.send(Event::Head { status: 503, headers: Bytes::from(headers), content_length: None });
        end.send(Event::Chunk(Bytes::from_static(
            b"503 Service Unavailable: the PHP worker script failed to boot (see the server log)\n",
        )));
        end.send(Event::End);
        end.send(Event::Idle(job));
        end.shared.wake_core();
    }
}

/// # Safety
/// `w` is the `Worker` given to `ephpm_worker_run` on this thread, alive
/// and not otherwise borrowed while the callback runs.
unsafe fn worker<'a>(w: *mut c_void) -> &'a mut Worker<'a> {
    // SAFETY: guaranteed by the caller (see above).
    unsafe { &mut *(w as *mut Worker<'a>) }
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_worker_next(
    w: *mut c_void,
    info: *mut *const ffi::ephpm_request_info,
    ctx: *mut *mut c_void,
) -> c_int {
    // SAFETY: the shim passes the worker of the script running on this
    // thread.
    let w = unsafe { worker(w) };
    if !w.next() {
        return 0;
    }
    let req = w.req.as_mut().expect("next() bound a request");
    // SAFETY: the shim passes pointers to two locals to fill in.
    unsafe {
        *ctx = req as *mut RequestCtx as *mut c_void;
        *info = w.info.as_ref().expect("next() described the request");
    }
    1
}

#[no_mangle]
unsafe extern "C" fn ephpm_rs_worker_done(w: *mut c_void, memory: usize) -> c_int {
    // SAFETY: the shim passes the worker of the script running on this
    // thread.
    let w = unsafe { worker(w) };
    c_int::from(w.done(memory as u64))
}
