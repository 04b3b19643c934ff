//! Test harness: starts the real `ephpm` binary on a loopback port with a
//! fixture document root, and speaks raw HTTP/1.1 to it.
#![allow(dead_code)]

pub mod mariadb;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ephpm");

/// What `fixtures/php/db.php` prints when PDO and mysqli work against a
/// MySQL-compatible endpoint (the embedded database or the proxy).
pub const DB_PHP_CHECKS: &[&str] = &[
    "emulated insert id: '2'",
    "emulated rows: [{\"id\":1,\"name\":\"apple\",\"qty\":3,\"created\":\"2024-05-01 10:00:00\"},{\"id\":2,\"name\":\"pear\",\"qty\":7,\"created\":\"2024-05-02 11:30:00\"}]",
    "emulated updated: 1",
    "emulated after rollback: 2",
    "emulated after commit: 1",
    "emulated duplicate: '1062 23000'",
    "emulated missing: '1146 42S02'",
    "emulated syntax: 1064",
    "native insert id: '2'",
    "native rows: [{\"id\":1,\"name\":\"apple\",\"qty\":3,\"created\":\"2024-05-01 10:00:00\"},{\"id\":2,\"name\":\"pear\",\"qty\":7,\"created\":\"2024-05-02 11:30:00\"}]",
    "native updated: 1",
    "native after rollback: 2",
    "native after commit: 1",
    "native duplicate: '1062 23000'",
    "native missing: '1146 42S02'",
    "native syntax: 1064",
    "mysqli insert id: 1",
    "mysqli body: true",
    "mysqli prepared rows: 1",
    "mysqli rolled back: 0",
    "mysqli multi: '1,2'",
    "mysqli error: '1146 42S02'",
    "change user: true",
    "change user refused: 1045",
    "bad password: 1045",
];

/// The I/O backends to test on this machine.
pub fn backends() -> Vec<&'static str> {
    let out = Command::new(BIN).arg("version").output().expect("run ephpm version");
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("io_uring available") {
        vec!["uring", "epoll"]
    } else {
        eprintln!("SKIPPED: io_uring unavailable, testing the epoll backend only");
        vec!["epoll"]
    }
}

/// A running server and its fixture root.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub io: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// Whether the command-line tool `tool` is installed. Missing, the test
/// that needs it skips visibly; in CI (`CI` set) it fails instead, since
/// ci/setup.sh installs every tool the tests use.
pub fn have(tool: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found && std::env::var_os("CI").is_some() {
        panic!("{tool} is required in CI (ci/setup.sh installs it)");
    }
    if !found {
        eprintln!("SKIPPED: {tool} not installed (ci/setup.sh installs it)");
    }
    found
}

/// Waits for `child` at most `limit` (then kills it) and collects its output.
pub fn wait_output(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs `ephpm serve` in `dir` with `config` (after a `[server]` on a free
/// port, the node API off) and expects it to refuse to start; its output.
pub fn refuses(dir: &Path, config: &str) -> String {
    let path = dir.join("bad.toml");
    std::fs::write(&path, format!("[server]\nlisten = \"127.0.0.1:0\"\n[node_api]\nlisten = \"\"\n{config}")).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_output(child, Duration::from_secs(15));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "started with a bad setting:\n{text}");
    text
}

/// A directory the test command provides in `var` (printed by `tool`).
/// Missing, the test skips visibly, unless `EPHPM_REQUIRE_PHP` is set (as
/// in CI), which makes it fail.
pub fn required_dir(var: &str, tool: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os(var).map(PathBuf::from) else {
        assert!(
            std::env::var_os("EPHPM_REQUIRE_PHP").is_none(),
            "EPHPM_REQUIRE_PHP is set but {var} is not (run {tool})"
        );
        eprintln!("SKIPPED: {var} is not set ({tool} prints it)");
        return None;
    };
    Some(dir)
}

/// Whether this build serves PHP. Without it PHP tests skip, visibly,
/// unless `EPHPM_REQUIRE_PHP` is set (as in CI), which makes them fail.
pub fn php_available() -> bool {
    let out = Command::new(BIN).arg("version").output().expect("run ephpm version");
    if String::from_utf8_lossy(&out.stdout).contains("PHP 8") {
        return true;
    }
    assert!(std::env::var_os("EPHPM_REQUIRE_PHP").is_none(), "EPHPM_REQUIRE_PHP is set but ephpm has no PHP engine");
    eprintln!("SKIPPED: ephpm was built without PHP (run tools/build-php.sh, then rebuild)");
    false
}

/// Writes the fixture document root under `dir/root`.
pub fn write_fixtures(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in ["sub", "vendor", "blog"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let w = |p: &str, data: &[u8]| std::fs::write(root.join(p), data).unwrap();
    w("index.html", b"<h1>home</h1>\n");
    w("small.txt", &[b'a'; 1024]);
    w("sub/index.html", b"sub index\n");
    w("vendor/secret.txt", b"vendor\n");
    w(".env", b"SECRET=1\n");
    w("index.php", b"<?php echo 'hi';\n");
    w("style.css", "body { color: red; }\n".repeat(200).as_bytes());
    w("pre.js", "console.log('precompressed');\n".repeat(50).as_bytes());
    w("pre.js.gz", b"PRECOMPRESSED-GZ");
    let big: Vec<u8> = (0..(2u32 << 20)).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    w("big.bin", &big);
    w("big.txt", "line of compressible text for the streaming encoder\n".repeat(40_000).as_bytes());
    std::fs::write(dir.join("outside.txt"), b"outside\n").unwrap();
    std::os::unix::fs::symlink(dir.join("outside.txt"), root.join("escape.txt")).unwrap();
    root
}

/// The PHP fixtures directory (`core/tests/fixtures/php`).
pub fn php_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/php")
}

/// Reads what the peer sends until it closes or stays quiet for `quiet`.
pub fn read_until_quiet(s: &mut TcpStream, quiet: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// `toml` unless the test configures `section` itself: it turns off a
/// listener whose default port (3306, 9090) parallel tests would race for.
fn unless_configured(extra: &str, section: &str, toml: &'static str) -> &'static str {
    if extra.contains(section) {
        ""
    } else {
        toml
    }
}

/// The embedded database's listener off, unless configured.
fn no_db(extra: &str) -> &'static str {
    unless_configured(extra, "[db", "[db.sqlite]\nlisten = \"\"\n")
}

/// The node API off, unless configured.
fn no_node_api(extra: &str) -> &'static str {
    unless_configured(extra, "[node_api]", "[node_api]\nlisten = \"\"\n")
}

impl Server {
    /// Starts on backend `io` with extra TOML appended to the base config.
    pub fn start(io: &str, extra: &str) -> Server {
        Self::start_env(io, extra, &[])
    }

    /// As [`Server::start`], with extra environment variables.
    pub fn start_env(io: &str, extra: &str, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let root = write_fixtures(dir.path());
        let cores = if extra.contains("cores =") { "" } else { "cores = 2\n" };
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n{cores}io = \"{io}\"\ndocument_root = \"{}\"\ndeny = [\"/vendor/*\"]\n{extra}\n{}{}",
            root.display(),
            no_db(extra),
            no_node_api(extra)
        );
        let config = merge_log(&config);
        let cfg_path = dir.path().join("ephpm.toml");
        std::fs::write(&cfg_path, config).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--config").arg(&cfg_path).current_dir(dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (child, addr, log) = spawn_and_wait(cmd);
        Server { child: Some(child), addr, dir, io: io.to_string(), log }
    }

    /// Starts on backend `io` serving `root`, with extra TOML appended
    /// (sections after `[server]` may follow in `extra`).
    pub fn start_root(io: &str, root: &Path, extra: &str) -> Server {
        Self::start_root_at(io, "127.0.0.1:0", root, extra)
    }

    /// As [`Server::start_root`], with `server.listen = listen`.
    pub fn start_root_at(io: &str, listen: &str, root: &Path, extra: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "[server]\nlisten = \"{listen}\"\nio = \"{io}\"\ndocument_root = \"{}\"\n{extra}\n{}{}",
            root.display(),
            no_db(extra),
            no_node_api(extra)
        );
        let cfg_path = dir.path().join("ephpm.toml");
        std::fs::write(&cfg_path, merge_log(&config)).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--config").arg(&cfg_path).current_dir(dir.path());
        let (child, addr, log) = spawn_and_wait(cmd);
        Server { child: Some(child), addr, dir, io: io.to_string(), log }
    }

    /// The address of the MySQL listener, from the log.
    pub fn mysql_addr(&self) -> SocketAddr {
        assert!(self.wait_log("MySQL listening on mysql://"), "no MySQL listener in the log:\n{}", self.log());
        let log = self.log();
        let addr = log.split("MySQL listening on mysql://").nth(1).unwrap().split_whitespace().next().unwrap();
        addr.parse().unwrap()
    }

    /// The address of the node API, from the log.
    pub fn node_api_addr(&self) -> SocketAddr {
        assert!(self.wait_log("node API on http://"), "no node API in the log:\n{}", self.log());
        let log = self.log();
        let addr = log.split("node API on http://").nth(1).unwrap().split_whitespace().next().unwrap();
        addr.parse().unwrap()
    }

    /// The address of the HTTPS listener, from the log.
    pub fn tls_addr(&self) -> SocketAddr {
        assert!(self.wait_log("listening on https://"), "no HTTPS listener in the log:\n{}", self.log());
        let log = self.log();
        let addr = log.split("listening on https://").nth(1).unwrap().split_whitespace().next().unwrap();
        addr.parse().unwrap()
    }

    /// Sends `req` (a whole request) on a new connection and reads one
    /// response.
    pub fn request(&self, req: &str) -> Resp {
        let mut s = self.connect();
        s.write_all(req.as_bytes()).unwrap();
        read_response(&mut BufReader::new(s), req.starts_with("HEAD "))
    }

    /// Sends SIGTERM and waits for the exit status (at most 20 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) with a pid we own.
        unsafe { libc_kill(child.id() as i32, 15) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "server did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    /// The RESP listener's address, from the log (`kv.redis.listen` on
    /// port 0).
    pub fn resp_addr(&self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if let Some(addr) = log.split("RESP listening on redis://").nth(1) {
                return addr.split_whitespace().next().unwrap().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "no RESP listener in the log:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits up to 5 s for a log line containing `needle` (lines reach the
    /// test through a background reader, a little after they are written).
    pub fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.log().contains(needle) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// A fresh connection with a 10 s read timeout.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Sends `req` on a new connection and reads until the server closes.
    pub fn raw(&self, req: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        s.write_all(req).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    }

    /// GET `path` with extra header lines, Connection: close.
    pub fn get(&self, path: &str, headers: &str) -> Resp {
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n");
        let mut s = self.connect();
        s.write_all(req.as_bytes()).unwrap();
        read_response(&mut BufReader::new(s), false)
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn merge_log(config: &str) -> String {
    if config.contains("[log]") {
        config.to_string()
    } else {
        format!("{config}\n[log]\nrequests = false\n")
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Spawns `cmd`, waits for its "listening on" line and returns the address.
pub fn spawn_and_wait(mut cmd: Command) -> (Child, SocketAddr, Arc<Mutex<Vec<String>>>) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn ephpm");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    for stream in
        [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
    {
        let log = Arc::clone(&log);
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let addr = line
                    .split("listening on http://")
                    .nth(1)
                    .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string());
                // Log first, so a test that sees the address also sees the line.
                log.lock().unwrap().push(line);
                if let Some(addr) = addr {
                    let _ = tx.send(addr);
                }
            }
        });
    }
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(addr) => (child, addr.parse().expect("listen address"), log),
        Err(_) => {
            let _ = child.kill();
            std::thread::sleep(Duration::from_millis(100));
            panic!("server did not start; log:\n{}", log.lock().unwrap().join("\n"));
        }
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (Content-Length, chunked, or until close).
pub fn read_response<R: BufRead>(r: &mut R, head_only: bool) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 =
        line.split_whitespace().nth(1).unwrap_or_else(|| panic!("bad status line {line:?}")).parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut resp = Resp { status, headers, body: Vec::new(), chunked: false };
    if head_only || status == 304 || status == 204 || status / 100 == 1 {
        return resp;
    }
    if resp.header("transfer-encoding") == Some("chunked") {
        resp.chunked = true;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let n = usize::from_str_radix(line.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = resp.header("content-length") {
        let mut body = vec![0; len.parse().unwrap()];
        r.read_exact(&mut body).unwrap();
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body).unwrap();
    }
    resp
}

/// Whether the server closed `s` (EOF within 5 s).
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}
