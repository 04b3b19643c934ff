//! php-fpm from the same PHP build ephpm links (the prefix `ephpm version`
//! reports), pm = static, OPcache on, no php.ini: the same engine and
//! settings as ephpm's PHP threads.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running php-fpm master and its socket.
pub struct PhpFpm {
    child: Child,
    /// The FastCGI socket.
    pub socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl PhpFpm {
    /// The master's process id (its children are the workers).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PhpFpm {
    fn drop(&mut self) {
        // SIGQUIT: php-fpm's graceful stop.
        super::stop(&mut self.child, libc::SIGQUIT);
    }
}

/// The PHP build ephpm was linked against, from `ephpm version`.
pub fn php_prefix(ephpm: &Path) -> Result<PathBuf, String> {
    let out = Command::new(ephpm).arg("version").output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix = text
        .lines()
        .find_map(|l| l.split(" from ").nth(1).filter(|_| l.starts_with("PHP ")))
        .ok_or("ephpm was built without PHP: run tools/build-php.sh, then rebuild")?;
    Ok(PathBuf::from(prefix.trim()))
}

/// Starts php-fpm with `children` static workers, confined to the first
/// `cpus` CPUs: the same CPUs ephpm's cores (and their PHP threads) get.
pub fn start(prefix: &Path, children: usize, cpus: usize) -> Result<PhpFpm, String> {
    start_with_ini(prefix, children, cpus, &[])
}

/// As [`start`], with extra php.ini settings (`key=value`, as `-d` takes them).
pub fn start_with_ini(prefix: &Path, children: usize, cpus: usize, ini: &[String]) -> Result<PhpFpm, String> {
    let bin = prefix.join("sbin/php-fpm");
    if !bin.exists() {
        return Err(format!("{} not found (tools/build-php.sh builds it)", bin.display()));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let socket = dir.path().join("fpm.sock");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let user = if root { "user = root\ngroup = root\n" } else { "" };
    let conf = format!(
        "[global]\nerror_log = {d}/fpm.log\ndaemonize = no\npid = {d}/fpm.pid\n\n[www]\n{user}listen = {sock}\nlisten.backlog = 4096\npm = static\npm.max_children = {children}\npm.max_requests = 0\nclear_env = yes\n",
        d = dir.path().display(),
        sock = socket.display(),
    );
    let conf_path = dir.path().join("php-fpm.conf");
    std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg(format!("0-{}", cpus.max(1) - 1)).arg(&bin).args(["-n", "-y"]).arg(&conf_path).args([
        "-d",
        "zend_extension=opcache",
        "-d",
        "opcache.enable=1",
    ]);
    for setting in ini {
        cmd.arg("-d").arg(setting);
    }
    if root {
        cmd.arg("-R");
    }
    let mut child =
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().map_err(|e| format!("cannot start php-fpm: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !socket.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("fpm.log")).unwrap_or_default();
            return Err(format!("php-fpm exited during start-up ({status}): {log}"));
        }
        if Instant::now() > deadline {
            return Err("php-fpm did not create its socket".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(PhpFpm { child, socket, _dir: dir })
}
