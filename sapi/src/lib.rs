//! The PHP embedding: libphp (ZTS, embed SAPI) behind a small C shim
//! (`src/shim/ephpm_shim.c`) that wraps every entry into the engine in
//! zend_try/zend_catch, so a PHP bailout never unwinds through Rust.
//!
//! This is the first layer of the PHP issue: it starts the engine and runs
//! a script as one request on the starting thread, capturing its output
//! and exit status. Per-core PHP threads, the full SAPI (superglobals,
//! headers, bodies) and the HTTP handler build on it.
//!
//! Without a PHP build at compile time (see `build.rs`) the crate compiles
//! and [`available`] is false.

use std::fmt;
use std::path::Path;

#[cfg(ephpm_php)]
mod ffi;

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
    /// php_embed_init failed.
    StartupFailed,
    /// The request could not start (php_request_startup failed).
    RequestFailed,
    /// The path cannot be passed to C (it contains a NUL byte).
    BadPath,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Unavailable => "this build of ephpm has no PHP engine (run tools/build-php.sh and rebuild)",
            Error::AlreadyStarted => "the PHP engine was already started in this process",
            Error::StartupFailed => "the PHP engine failed to start",
            Error::RequestFailed => "the PHP request failed to start",
            Error::BadPath => "script path contains a NUL byte",
        })
    }
}

impl std::error::Error for Error {}

/// What running a script produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ScriptResult {
    /// Exit status: `exit(N)` gives N, a fatal error 255, else 0.
    pub status: i32,
    /// Everything the script printed.
    pub output: Vec<u8>,
}

/// The started engine, bound to the thread that started it.
pub struct Engine {
    // Not Send: the engine's request state belongs to its thread.
    _thread_bound: std::marker::PhantomData<*const ()>,
}

impl Engine {
    /// Starts the engine (once per process) on the calling thread.
    pub fn start() -> Result<Engine, Error> {
        #[cfg(ephpm_php)]
        {
            ffi::startup()?;
            Ok(Engine { _thread_bound: std::marker::PhantomData })
        }
        #[cfg(not(ephpm_php))]
        Err(Error::Unavailable)
    }

    /// Runs the script at `path` as one request and returns its output.
    pub fn run_script(&self, path: &Path) -> Result<ScriptResult, Error> {
        #[cfg(ephpm_php)]
        return ffi::run_script(path);
        #[cfg(not(ephpm_php))]
        {
            let _ = path;
            Err(Error::Unavailable)
        }
    }
}
