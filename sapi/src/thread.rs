//! A PHP thread: its own engine context (TSRM), pinned to its core, taking
//! one request at a time from its core over the bridge, either running
//! each request's script from the top (classic mode) or handing requests
//! to its worker script (worker mode).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use ephpm_rt::liveness::AliveGuard;

use crate::bridge::{PhpEnd, ToPhp};
use crate::worker::WorkerSpec;
use crate::{ffi, request, worker};

/// PHP threads get a large stack: PHP detects it and turns runaway
/// recursion into a fatal error ("Maximum call stack size reached")
/// instead of a crash.
const STACK_SIZE: usize = 16 << 20;

/// Starts a PHP thread serving `end`, pinned to `cpu` when given; with
/// `worker`, in worker mode.
pub(crate) fn spawn(
    name: String,
    end: PhpEnd,
    kv: ephpm_kv::KvClient,
    cpu: Option<core_affinity::CoreId>,
    worker: Option<Arc<WorkerSpec>>,
) -> std::io::Result<JoinHandle<()>> {
    // Alive from now: a health check right after start must not count a
    // thread that has not been scheduled yet as dead.
    end.shared.alive.store(true, Ordering::Relaxed);
    std::thread::Builder::new().name(name).stack_size(STACK_SIZE).spawn(move || {
        if let Some(cpu) = cpu {
            core_affinity::set_for_current(cpu);
        }
        end.bind_thread();
        let shared = Arc::clone(&end.shared);
        let _alive = AliveGuard::new(&shared.alive);
        crate::kv::install(kv);
        ffi::thread_start();
        match worker {
            Some(spec) => worker::serve(end, &spec),
            None => serve(end),
        }
        ffi::thread_stop();
    })
}

/// Classic mode: each request runs its script from the top.
fn serve(mut end: PhpEnd) {
    while let Some(msg) = end.recv_until(|s| s.closed.load(Ordering::SeqCst)) {
        // Body pieces of a request given up earlier are stale.
        if let ToPhp::Job(job) = msg {
            end = request::run(end, job);
        }
    }
}
