//! The unsafe boundary with the C shim. Each call enters PHP only through
//! functions of `ephpm_shim.c`, which contain bailouts with zend_try.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, ScriptResult};

type OutputFn = extern "C" fn(ctx: *mut c_void, data: *const c_char, len: usize);

extern "C" {
    fn ephpm_php_startup() -> c_int;
    fn ephpm_php_run_script(path: *const c_char, out: OutputFn, ctx: *mut c_void) -> c_int;
    fn ephpm_php_version() -> *const c_char;
}

static STARTED: AtomicBool = AtomicBool::new(false);

pub(crate) fn startup() -> Result<(), Error> {
    if STARTED.swap(true, Ordering::SeqCst) {
        return Err(Error::AlreadyStarted);
    }
    // SAFETY: called at most once per process (guarded above), on the
    // thread that will run requests; the shim contains any bailout.
    let rc = unsafe { ephpm_php_startup() };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::StartupFailed)
    }
}

pub(crate) fn version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(ephpm_php_version()) }.to_string_lossy().into_owned()
}

/// Receives output from the shim; `ctx` is the `Vec<u8>` of the request.
extern "C" fn collect_output(ctx: *mut c_void, data: *const c_char, len: usize) {
    if ctx.is_null() || data.is_null() || len == 0 {
        return;
    }
    // SAFETY: ctx is the &mut Vec<u8> passed to ephpm_php_run_script for
    // this call, alive for its duration; data points to len readable bytes.
    let (out, bytes) = unsafe { (&mut *(ctx as *mut Vec<u8>), std::slice::from_raw_parts(data as *const u8, len)) };
    out.extend_from_slice(bytes);
}

pub(crate) fn run_script(path: &Path) -> Result<ScriptResult, Error> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::BadPath)?;
    let mut output: Vec<u8> = Vec::new();
    // SAFETY: the engine was started on this thread (Engine is !Send);
    // c_path and output outlive the call; the shim contains bailouts.
    let status =
        unsafe { ephpm_php_run_script(c_path.as_ptr(), collect_output, &mut output as *mut Vec<u8> as *mut c_void) };
    if status < 0 {
        return Err(Error::RequestFailed);
    }
    Ok(ScriptResult { status, output })
}
