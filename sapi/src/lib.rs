//! The PHP embedding: libphp (ZTS) behind a small C shim (`src/shim/`) that
//! implements the ephpm SAPI and wraps every entry into the engine in
//! zend_try/zend_catch, so a PHP bailout never unwinds through Rust.
//!
//! Each core owns `php.threads_per_core` PHP threads, pinned to it, each
//! with its own engine context. The core hands a request to an idle
//! thread over an SPSC ring ([`PhpPool`], [`Lease`]) and reads the
//! response back as [`Event`]s: head, body chunks as they are flushed,
//! end.
//!
//! Without a PHP build at compile time (see `build.rs`) the crate compiles
//! and [`available`] is false.

#![warn(missing_docs)]
// Without a PHP build the PHP-thread side of the bridge and the job's
// C-facing parts have no caller outside tests.
#![cfg_attr(not(ephpm_php), allow(dead_code))]

use std::ffi::{CString, OsString};
use std::fmt;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod bridge;
#[cfg(ephpm_php)]
mod callbacks;
#[cfg(ephpm_php)]
mod ffi;
pub mod http;
mod job;
#[cfg(ephpm_php)]
mod kv;
mod pool;
#[cfg(ephpm_php)]
mod request;
#[cfg(ephpm_php)]
mod thread;
pub mod worker;

pub use bridge::{CoreEnd, Event};
pub use job::{Field, Job};
pub use pool::{Lease, PhpPool, PoolSnapshot, PoolStats, ThreadHandle};
pub use worker::{Reason, WorkerControl, WorkerFigures, WorkerSpec, WorkerState};

/// The WordPress object-cache drop-in shipped with ephpm
/// (`sapi/php/wordpress/object-cache.php`), for `ephpm wp`.
pub const WORDPRESS_OBJECT_CACHE: &str = include_str!("../php/wordpress/object-cache.php");

/// The WordPress must-use plugin that purges the page cache when content
/// changes (`sapi/php/wordpress/ephpm-page-cache.php`), for `ephpm wp`.
pub const WORDPRESS_PAGE_CACHE_PLUGIN: &str = include_str!("../php/wordpress/ephpm-page-cache.php");

/// Whether this build links a PHP engine.
pub fn available() -> bool {
    cfg!(ephpm_php)
}

/// The version of the linked PHP (no engine start needed), if any.
pub fn php_version() -> Option<String> {
    #[cfg(ephpm_php)]
    return Some(ffi::version());
    #[cfg(not(ephpm_php))]
    None
}

/// The install prefix of the PHP build linked at compile time, if any.
pub fn php_prefix() -> Option<&'static str> {
    option_env!("EPHPM_PHP_PREFIX")
}

/// Why the engine could not do what was asked.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// Built without PHP.
    Unavailable,
    /// The engine was already started in this process.
    AlreadyStarted,
    /// The engine failed to start (see PHP's messages above).
    StartupFailed,
    /// An ini key or value or an argument holds a NUL byte.
    Nul(String),
    /// A PHP thread could not be spawned.
    Spawn(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable => {
                f.write_str("this build of ephpm has no PHP engine (run tools/build-php.sh and rebuild)")
            }
            Error::AlreadyStarted => f.write_str("the PHP engine was already started in this process"),
            Error::StartupFailed => f.write_str("the PHP engine failed to start"),
            Error::Nul(what) => write!(f, "{what} contains a NUL byte"),
            Error::Spawn(e) => write!(f, "cannot start a PHP thread: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// ini settings every server start applies before the user's `[php.ini]`:
/// OPcache on, and errors logged (to the server's log when `error_log` is
/// unset), as every packaged php.ini for php-fpm has them.
const SERVER_INI: &[(&str, &str)] = &[("zend_extension", "opcache"), ("opcache.enable", "1"), ("log_errors", "1")];

/// Renders ini settings as the "key=value\n" lines PHP parses.
fn ini_lines<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<CString, Error> {
    let mut s = String::new();
    for (k, v) in pairs {
        s.push_str(k);
        s.push('=');
        // Quoted so that ini syntax characters in values stay literal.
        if v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)) {
            s.push_str(v);
        } else {
            s.push('"');
            s.push_str(&v.replace('"', "\\\""));
            s.push('"');
        }
        s.push('\n');
    }
    CString::new(s).map_err(|_| Error::Nul("a php.ini setting".into()))
}

/// The started engine and its PHP threads.
pub struct Engine {
    threads: Vec<JoinHandle<()>>,
    /// Every thread's shared state (for worker restarts).
    shared: Vec<std::sync::Arc<bridge::Shared>>,
    worker: Option<std::sync::Arc<WorkerSpec>>,
}

impl Engine {
    /// Starts the engine (once per process) with `ini` over the defaults;
    /// with `worker`, every PHP thread runs that worker script.
    pub fn start(ini: &[(String, String)], worker: Option<WorkerSpec>) -> Result<Engine, Error> {
        let all = SERVER_INI.iter().copied().chain(ini.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let lines = ini_lines(all)?;
        let compat = worker.as_ref().is_some_and(|w| w.frankenphp_compat);
        #[cfg(ephpm_php)]
        {
            ffi::engine_start(&lines, compat)?;
            Ok(Engine { threads: Vec::new(), shared: Vec::new(), worker: worker.map(std::sync::Arc::new) })
        }
        #[cfg(not(ephpm_php))]
        {
            let _ = (lines, compat, worker);
            Err(Error::Unavailable)
        }
    }

    /// Starts a PHP thread for each of `kv` (its KV client) for core
    /// `core`, pinned to `cpu` when given, and returns the core's ends of
    /// them.
    pub fn spawn_threads(
        &mut self,
        core: usize,
        kv: Vec<ephpm_kv::KvClient>,
        cpu: Option<usize>,
    ) -> Result<Vec<CoreEnd>, Error> {
        #[cfg(ephpm_php)]
        {
            let mut ends = Vec::with_capacity(kv.len());
            for (i, client) in kv.into_iter().enumerate() {
                let (core_end, php_end) = bridge::pair();
                let cpu = cpu.map(|id| core_affinity::CoreId { id });
                self.shared.push(std::sync::Arc::clone(&core_end.shared));
                let handle = thread::spawn(format!("ephpm-php-{core}.{i}"), php_end, client, cpu, self.worker.clone())
                    .map_err(|e| Error::Spawn(e.to_string()))?;
                self.threads.push(handle);
                ends.push(core_end);
            }
            Ok(ends)
        }
        #[cfg(not(ephpm_php))]
        {
            let _ = (core, kv, cpu, &self.threads);
            Err(Error::Unavailable)
        }
    }

    /// Rolling restarts of the worker threads, in worker mode; each thread
    /// may take `per_thread` to finish its request and boot again.
    pub fn worker_control(&self, per_thread: Duration) -> Option<std::sync::Arc<WorkerControl>> {
        self.worker.as_ref()?;
        Some(std::sync::Arc::new(WorkerControl::new(self.shared.clone(), per_thread)))
    }

    /// Stops the engine once every PHP thread has ended (they end when
    /// their core's ends are dropped). Threads still running a script
    /// after `grace` are left to the process exit.
    pub fn stop(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.threads.iter().any(|t| !t.is_finished()) {
            tracing::warn!("PHP threads still running at exit; skipping the engine shutdown");
            return;
        }
        for t in self.threads {
            let _ = t.join();
        }
        #[cfg(ephpm_php)]
        ffi::engine_stop();
    }
}

/// What `ephpm php` is asked to do (php-cli's options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliMode {
    /// Run the script `args[0]` with the rest as its arguments.
    Script,
    /// `-r CODE`: run code; `args` are its `$argv` after the first.
    Code(String),
    /// `-v`: the version.
    Version,
    /// `-m`: the compiled-in modules.
    Modules,
    /// `-i`: phpinfo() as text.
    Info,
    /// `-l`: check the syntax of `args[0]`.
    Lint,
}

/// Runs as php-cli would (`ephpm php ...`). Returns the exit status.
pub fn run_cli(mode: CliMode, args: Vec<OsString>, ini: &[(String, String)]) -> Result<i32, Error> {
    use std::os::unix::ffi::OsStringExt;
    let mut args: Vec<CString> = args
        .into_iter()
        .map(|a| CString::new(a.into_vec()).map_err(|_| Error::Nul("an argument".into())))
        .collect::<Result<_, _>>()?;
    if !matches!(mode, CliMode::Script | CliMode::Lint) {
        // As php-cli names the script of -r, -v, -m and -i.
        args.insert(0, CString::new("Standard input code").expect("no NUL"));
    }
    let code = match &mode {
        CliMode::Code(c) => Some(CString::new(c.as_bytes()).map_err(|_| Error::Nul("the -r code".into()))?),
        _ => None,
    };
    let lines = ini_lines(ini.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    #[cfg(ephpm_php)]
    return ffi::cli_main(&mode, code.as_ref(), &args, &lines);
    #[cfg(not(ephpm_php))]
    {
        let _ = (mode, code, args, lines);
        Err(Error::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ini_values_are_quoted_when_needed() {
        let pairs = [("memory_limit", "256M"), ("error_log", "/tmp/a b.log"), ("x", "say \"hi\"")];
        let s = super::ini_lines(pairs).unwrap();
        assert_eq!(s.to_str().unwrap(), "memory_limit=256M\nerror_log=\"/tmp/a b.log\"\nx=\"say \\\"hi\\\"\"\n");
    }
}
