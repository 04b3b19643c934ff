//! The servers under test: ephpm and its peers, each a real process.

pub mod ephpm;
pub mod nginx;
pub mod php_fpm;

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// A running server process.
pub struct Peer {
    /// Display name.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process (for nginx, the master).
    pub child: Child,
    /// Keeps its temp files alive.
    pub _dir: tempfile::TempDir,
}

impl Peer {
    /// Resident memory of the process and its children, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.id();
        rss_of(pid) + children_of(&[pid]).into_iter().map(rss_of).sum::<u64>()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        stop(&mut self.child, libc::SIGTERM);
    }
}

/// Asks a child to stop with `signal`, waits up to 5 s, then kills it.
pub fn stop(child: &mut Child, signal: i32) {
    // SAFETY: kill(2) on a child we started.
    unsafe { libc::kill(child.id() as i32, signal) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time a process has run so far, all threads, in nanoseconds (the
/// first field of each thread's schedstat).
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    threads
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time of each of `pids` and of their children (nginx's workers,
/// php-fpm's children), in nanoseconds.
pub fn tree_cpu_ns(pids: &[u32]) -> u64 {
    if pids.is_empty() {
        return 0;
    }
    pids.iter().copied().chain(children_of(pids)).map(cpu_ns).sum()
}

/// The processes whose parent is one of `pids`.
fn children_of(pids: &[u32]) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|p| parent_of(*p).is_some_and(|parent| pids.contains(&parent)))
        .collect()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state, ppid, ...
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until `addr` accepts connections.
pub fn wait_ready(addr: SocketAddr, child: &mut Child, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited during start-up ({status})"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("{what} did not start listening on {addr}"))
}

/// A free loopback port.
pub fn free_port() -> Result<SocketAddr, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map_err(|e| e.to_string())
}

/// Writes the shared document root: the files every scenario requests.
pub fn write_docroot(dir: &Path) -> Result<(), String> {
    let w = |name: &str, data: Vec<u8>| std::fs::write(dir.join(name), data).map_err(|e| e.to_string());
    w("small.txt", (0..1024).map(|i| b'a' + (i % 26) as u8).collect())?;
    w("large.bin", (0..(1u32 << 20)).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect())?;
    w("index.html", b"<h1>bench</h1>\n".to_vec())?;
    w("hello.php", b"<?php echo \"Hello from PHP\\n\";\n".to_vec())?;
    // json-php: build a 50-element array and encode it.
    w(
        "json.php",
        b"<?php\n$items = [];\nfor ($i = 0; $i < 50; $i++) {\n    $items[] = ['id' => $i, 'name' => \"item $i\", 'price' => $i * 1.25, 'tags' => ['a', 'b'], 'active' => $i % 2 === 0];\n}\nheader('Content-Type: application/json');\necho json_encode(['items' => $items, 'count' => count($items)]);\n"
            .to_vec(),
    )
}

/// Lifts the soft open-file limit to the hard one (idle-conns needs it).
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
