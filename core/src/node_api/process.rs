//! The process's own figures from `/proc/self`: CPU time, memory, threads,
//! open file descriptors, start time.

/// What `/proc/self` says now (zeros where it cannot be read).
#[derive(Clone, Debug, Default)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub rss_bytes: u64,
    /// Virtual memory, in bytes.
    pub virtual_bytes: u64,
    /// Threads.
    pub threads: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The open-files limit.
    pub max_fds: u64,
    /// Start time, in seconds since the Unix epoch.
    pub start_time: f64,
}

/// Reads the figures.
pub fn read() -> ProcessStats {
    let mut p = ProcessStats::default();
    // SAFETY: sysconf and getrlimit only read process-wide values and
    // write into the struct passed.
    let (ticks, page, nofile) = unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        let nofile = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 { lim.rlim_cur } else { 0 };
        (libc::sysconf(libc::_SC_CLK_TCK).max(1) as f64, libc::sysconf(libc::_SC_PAGESIZE).max(1) as u64, nofile)
    };
    p.max_fds = nofile;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may
        // hold spaces: state is field 3, utime 14, stime 15, threads 20,
        // starttime 22, vsize 23, rss 24.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        p.cpu_seconds = (num(14) + num(15)) as f64 / ticks;
        p.threads = num(20);
        p.virtual_bytes = num(23);
        p.rss_bytes = num(24) * page;
        p.start_time = boot_time() + num(22) as f64 / ticks;
    }
    p.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    p
}

/// When the machine booted, in seconds since the epoch (`btime`).
fn boot_time() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok())))
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let p = super::read();
        assert!(p.rss_bytes > 0 && p.threads >= 1 && p.open_fds >= 3 && p.max_fds >= p.open_fds, "{p:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(p.start_time > now - 3600.0 && p.start_time <= now + 1.0, "{p:?}");
    }
}
