//! `EPHPM_STOP_WITH_PARENT`: a server started by another program (such as
//! `php artisan octane:ephpm`) stops when that program dies, however it
//! dies. PHP without pcntl cannot forward a SIGTERM it receives, so the
//! kernel does it: PR_SET_PDEATHSIG sends us SIGTERM, which shuts down
//! gracefully as usual.

/// Arranges for SIGTERM when the parent process exits, if the environment asks for it.
pub fn stop_with_parent_if_asked() {
    if std::env::var_os("EPHPM_STOP_WITH_PARENT").is_none_or(|v| v.is_empty() || v == "0") {
        return;
    }
    // SAFETY: getppid has no preconditions; prctl(PR_SET_PDEATHSIG) takes a
    // signal number and changes only this process's death signal.
    let orphaned = unsafe {
        let before = libc::getppid();
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
        // The parent may have died before the prctl: then no signal comes.
        before == 1 || libc::getppid() != before
    };
    if orphaned {
        // SAFETY: raise sends a signal to this process; the handlers are set
        // up by then, so it is the same graceful stop.
        unsafe { libc::raise(libc::SIGTERM) };
    }
}
