//! Worker mode (`[php.worker]`): each PHP thread boots the worker script
//! once and hands it one request after another through
//! `ephpm_handle_request()` (`shim/worker.c`), instead of running a script
//! from the top per request.
//!
//! The thread restarts its script after `max_requests`, above
//! `max_memory`, after a crash, an `exit()` or a time-out, and when asked
//! (a rolling restart: [`WorkerControl`]). A script that fails to boot is
//! retried with an exponential back-off (up to 10 s), during which the
//! thread answers its requests with 503 and `Retry-After`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ephpm_rt::latency::Latency;

use crate::bridge::Shared;

#[cfg(ephpm_php)]
mod run;
#[cfg(ephpm_php)]
pub(crate) use run::{capture_boot_message, serve};

/// What every worker thread runs (`[php.worker]`).
#[derive(Clone, Debug)]
pub struct WorkerSpec {
    /// The worker script as configured: absolute, or relative to `root`.
    pub script: PathBuf,
    /// The document root as configured (symlinks are resolved again at
    /// every boot, so a switched `current` link deploys a new release).
    pub root: PathBuf,
    /// Requests before a worker restarts (0: never).
    pub max_requests: u64,
    /// PHP memory after a request above which the worker restarts (0: no
    /// limit).
    pub max_memory: u64,
    /// Longest a boot may take before its first `ephpm_handle_request()`.
    pub boot_timeout: Duration,
    /// `$_SERVER['FRANKENPHP_WORKER']` too.
    pub frankenphp_compat: bool,
    /// Variables every script gets (`db.inject_env`), in `$_SERVER` at
    /// boot as in each request.
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What a worker thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum WorkerState {
    /// Running its script up to the first `ephpm_handle_request()`.
    Booting = 0,
    /// Waiting for a request.
    Idle = 1,
    /// Handling a request.
    Busy = 2,
    /// Its script failed to boot; waiting to try again (503 meanwhile).
    Failing = 3,
}

impl WorkerState {
    /// Every state, in metric order.
    pub const ALL: [WorkerState; 4] =
        [WorkerState::Booting, WorkerState::Idle, WorkerState::Busy, WorkerState::Failing];

    /// The label used in metrics and the node API.
    pub fn name(self) -> &'static str {
        match self {
            WorkerState::Booting => "booting",
            WorkerState::Idle => "idle",
            WorkerState::Busy => "busy",
            WorkerState::Failing => "failing",
        }
    }

    fn from_u8(v: u8) -> WorkerState {
        WorkerState::ALL.get(v as usize).copied().unwrap_or(WorkerState::Booting)
    }
}

/// Why a worker's script was started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    /// It served `max_requests`.
    MaxRequests = 0,
    /// Its PHP memory after a request was above `max_memory`.
    Memory = 1,
    /// A fatal error or an uncaught exception.
    Crash = 2,
    /// A rolling restart (node API, SIGUSR2).
    Reload = 3,
    /// A watched file changed.
    Watch = 4,
    /// PHP's time limit (`max_execution_time`, `boot_timeout`).
    Timeout = 5,
    /// `exit()` in a handler, or the script's loop ended on its own.
    Exit = 6,
    /// The script failed to boot (each retry counts).
    BootFailure = 7,
}

impl Reason {
    /// Every reason, in metric order.
    pub const ALL: [Reason; 8] = [
        Reason::MaxRequests,
        Reason::Memory,
        Reason::Crash,
        Reason::Reload,
        Reason::Watch,
        Reason::Timeout,
        Reason::Exit,
        Reason::BootFailure,
    ];

    /// The label used in metrics and the node API.
    pub fn name(self) -> &'static str {
        match self {
            Reason::MaxRequests => "max_requests",
            Reason::Memory => "memory",
            Reason::Crash => "crash",
            Reason::Reload => "reload",
            Reason::Watch => "watch",
            Reason::Timeout => "timeout",
            Reason::Exit => "exit",
            Reason::BootFailure => "boot_failure",
        }
    }
}

/// No restart asked for (the value of [`WorkerStats::restart`]).
pub(crate) const NO_RESTART: u8 = u8::MAX;

/// One worker thread's figures, written by the thread, read by scrapes.
#[derive(Debug)]
pub(crate) struct WorkerStats {
    /// Whether the thread runs in worker mode at all.
    pub(crate) enabled: AtomicBool,
    pub(crate) state: AtomicU8,
    /// A restart asked for from outside (a [`Reason`]), or [`NO_RESTART`].
    pub(crate) restart: AtomicU8,
    pub(crate) restarts: [AtomicU64; Reason::ALL.len()],
    /// Boots that reached `ephpm_handle_request()`.
    pub(crate) boots: AtomicU64,
    /// Requests served since the last boot.
    pub(crate) served: AtomicU64,
    pub(crate) boot_times: Mutex<Latency>,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            enabled: AtomicBool::new(false),
            state: AtomicU8::new(WorkerState::Booting as u8),
            restart: AtomicU8::new(NO_RESTART),
            restarts: Default::default(),
            boots: AtomicU64::new(0),
            served: AtomicU64::new(0),
            boot_times: Mutex::new(Latency::new()),
        }
    }
}

impl WorkerStats {
    pub(crate) fn set_state(&self, s: WorkerState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// The thread's state now.
    pub(crate) fn state(&self) -> WorkerState {
        WorkerState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub(crate) fn count(&self, r: Reason) {
        self.restarts[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Asks the thread to restart after its current request (or now, if it
    /// waits for one), for `r`.
    pub(crate) fn ask_restart(&self, r: Reason) {
        self.restart.store(r as u8, Ordering::SeqCst);
    }

    pub(crate) fn restart_asked(&self) -> Option<Reason> {
        let v = self.restart.load(Ordering::SeqCst);
        Reason::ALL.get(v as usize).copied()
    }

    /// A copy of the figures.
    pub(crate) fn figures(&self) -> WorkerFigures {
        let mut states = [0; 4];
        states[self.state() as usize] = 1;
        WorkerFigures {
            states,
            restarts: std::array::from_fn(|i| self.restarts[i].load(Ordering::Relaxed)),
            boots: self.boots.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
            boot_time: self.boot_times.lock().map(|l| l.clone()).unwrap_or_default(),
        }
    }
}

/// Worker figures of one thread, or summed over several.
#[derive(Clone, Debug, Default)]
pub struct WorkerFigures {
    /// Threads in each [`WorkerState`] (indexed as [`WorkerState::ALL`]).
    pub states: [u64; 4],
    /// Restarts by [`Reason`] (indexed as [`Reason::ALL`]).
    pub restarts: [u64; Reason::ALL.len()],
    /// Boots that reached `ephpm_handle_request()`.
    pub boots: u64,
    /// Requests served since each thread's last boot.
    pub served: u64,
    /// How long boots took, up to the first `ephpm_handle_request()`.
    pub boot_time: Latency,
}

impl WorkerFigures {
    /// Adds `other` into these.
    pub fn add(&mut self, other: &WorkerFigures) {
        for (a, b) in self.states.iter_mut().zip(other.states) {
            *a += b;
        }
        for (a, b) in self.restarts.iter_mut().zip(other.restarts) {
            *a += b;
        }
        self.boots += other.boots;
        self.served += other.served;
        self.boot_time.merge(&other.boot_time);
    }
}

/// Rolling restarts of every worker thread of the server.
pub struct WorkerControl {
    threads: Vec<Arc<Shared>>,
    /// Longest one thread may take to finish its request and boot again.
    per_thread: Duration,
    running: Arc<AtomicBool>,
}

impl WorkerControl {
    pub(crate) fn new(threads: Vec<Arc<Shared>>, per_thread: Duration) -> Self {
        WorkerControl { threads, per_thread, running: Arc::new(AtomicBool::new(false)) }
    }

    /// Restarts the workers one thread at a time, each after its current
    /// request, the next once the previous has booted (or failed to), so
    /// the others keep serving. Returns false, doing nothing, while an
    /// earlier rolling restart is still going.
    pub fn restart(&self, reason: Reason) -> bool {
        if self.running.swap(true, Ordering::SeqCst) {
            return false;
        }
        let threads = self.threads.clone();
        let (per_thread, running) = (self.per_thread, Arc::clone(&self.running));
        let spawned = std::thread::Builder::new().name("ephpm-worker-restart".into()).spawn(move || {
            tracing::info!(reason = reason.name(), threads = threads.len(), "restarting the PHP workers one by one");
            for t in &threads {
                restart_one(t, reason, per_thread);
            }
            tracing::info!("PHP workers restarted");
            running.store(false, Ordering::SeqCst);
        });
        if spawned.is_err() {
            self.running.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Whether a rolling restart is going on.
    pub fn restarting(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }
}

/// Asks one thread to restart and waits until it has booted again.
fn restart_one(t: &Shared, reason: Reason, limit: Duration) {
    let w = &t.worker;
    let boots = w.boots.load(Ordering::SeqCst);
    let failures = w.restarts[Reason::BootFailure as usize].load(Ordering::SeqCst);
    w.ask_restart(reason);
    t.wake_php_always();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !t.closed.load(Ordering::SeqCst) && t.alive.load(Ordering::Relaxed) {
        let booted = w.boots.load(Ordering::SeqCst) > boots;
        let failed = w.restarts[Reason::BootFailure as usize].load(Ordering::SeqCst) > failures;
        if booted || failed {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
