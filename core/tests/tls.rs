//! HTTPS with real clients: curl, openssl s_client, Python's ssl module and
//! wrk, against certificates made by openssl, on every backend.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A self-signed certificate for `cn` and `sans` (`DNS:a,IP:b`), ECDSA
/// P-256 or RSA 2048, written as `<name>.crt` and `<name>.key` in `dir`.
fn make_cert(dir: &Path, name: &str, rsa: bool, cn: &str, sans: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let kind: &[&str] =
        if rsa { &["-newkey", "rsa:2048"] } else { &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] };
    let out = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "30"])
        .args(kind)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/CN={cn}"), "-addext", &format!("subjectAltName={sans}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

/// `[server.tls]` on a free port with `cert` and `key`, then `extra` lines.
fn tls_section(cert: &Path, key: &Path, extra: &str) -> String {
    format!(
        "[server.tls]\nlisten = \"127.0.0.1:0\"\ncert = \"{}\"\nkey = \"{}\"\n{extra}\n",
        cert.display(),
        key.display()
    )
}

/// `openssl s_client` to `addr` with `args`; stdout and stderr together.
fn s_client(addr: SocketAddr, args: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closing stdin ends the session once the handshake (and, for TLS 1.3,
    // the session ticket that follows it) is through.
    std::thread::sleep(Duration::from_millis(300));
    drop(child.stdin.take());
    let out = wait_output(child, Duration::from_secs(10));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The subject CN line of the certificate `s_client` was shown.
fn served_cn(out: &str) -> String {
    out.lines().find(|l| l.starts_with("subject=")).unwrap_or_else(|| panic!("no subject in:\n{out}")).to_string()
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl").args(["-sS", "--max-time", "10", "-k"]).args(args).output().unwrap();
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn metrics(srv: &Server) -> String {
    let mut s = TcpStream::connect(srv.node_api_addr()).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The sum over cores of `ephpm_tls_handshakes_total{result=...}`.
fn handshakes(text: &str, result: &str) -> u64 {
    let label = format!("result=\"{result}\"}}");
    text.lines()
        .filter(|l| l.starts_with("ephpm_tls_handshakes_total{") && l.contains(&label))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn https_serves_files_and_php_redirects_plain_http_and_counts_handshakes() {
    if !have("curl") || !have("openssl") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path(), "site", false, "localhost", "DNS:localhost,IP:127.0.0.1");
    for io in backends() {
        let extra = format!(
            "{}[node_api]\nlisten = \"127.0.0.1:0\"\n",
            tls_section(&cert, &key, "hsts = \"max-age=31536000\"")
        );
        let srv = Server::start(io, &extra);
        let tls = srv.tls_addr();
        let https = |p: &str| format!("https://{tls}{p}");

        // Static files: body, Range, HSTS, keep-alive reuse.
        let (body, _) = curl(&[&https("/small.txt")]);
        assert_eq!(body, "a".repeat(1024), "{io}");
        let (head, _) = curl(&["-I", &https("/small.txt")]);
        assert!(head.to_ascii_lowercase().contains("strict-transport-security: max-age=31536000"), "{io}: {head}");
        let (part, _) = curl(&["-r", "0-9", &https("/small.txt")]);
        assert_eq!(part, "aaaaaaaaaa");
        let big = std::fs::read(srv.dir.path().join("root/big.bin")).unwrap();
        let out = Command::new("curl").args(["-sk", "--max-time", "20", &https("/big.bin")]).output().unwrap();
        assert!(out.stdout == big, "{io}: 2 MiB file over TLS differs ({} bytes)", out.stdout.len());
        let (both, err) = curl(&["-v", &https("/sub/"), &https("/sub/")]);
        assert_eq!(both, "sub index\nsub index\n");
        assert!(err.contains("Re-using existing connection") || err.contains("Reusing existing"), "{err}");

        // PHP sees HTTPS, and reads a request body sent over TLS.
        if php_available() {
            std::fs::write(
                srv.dir.path().join("root/vars.php"),
                "<?php echo $_SERVER['HTTPS'] ?? '-', ' ', $_SERVER['REQUEST_SCHEME'], ' ', \
                 strlen(file_get_contents('php://input'));",
            )
            .unwrap();
            let body = srv.dir.path().join("body.bin");
            std::fs::write(&body, "x".repeat(300_000)).unwrap();
            let data = format!("@{}", body.display());
            let (out, _) =
                curl(&["-H", "Content-Type: application/octet-stream", "--data-binary", &data, &https("/vars.php")]);
            assert_eq!(out, "on https 300000", "{io}");
            let plain = srv.get("/vars.php", "");
            assert_eq!(plain.status, 308, "{io}");
        }

        // The plain listener redirects, keeping path and query, but not
        // ACME's challenges.
        let r = srv.get("/a/b?c=1", "");
        assert_eq!(r.status, 308, "{io}");
        assert_eq!(r.header("location"), Some(format!("https://t:{}/a/b?c=1", tls.port()).as_str()));
        let r = srv.get("/.well-known/acme-challenge/token", "");
        assert!(
            r.status != 308 && r.header("location").is_none(),
            "{io}: the challenge path is served over plain HTTP"
        );

        // Plain HTTP on the TLS port gets a clear 400; garbage is closed.
        let mut s = TcpStream::connect(tls).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 400") && out.contains("HTTPS"), "{io}: {out}");
        let mut s = TcpStream::connect(tls).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(out.len() < 64, "{io}: garbage gets at most an alert, got {} bytes", out.len());

        let m = metrics(&srv);
        assert!(handshakes(&m, "tls13") >= 5, "{io}: {m}");
        assert_eq!(handshakes(&m, "plain_http"), 1, "{io}");
        assert_eq!(handshakes(&m, "failed"), 1, "{io}");
    }
}

#[test]
fn sni_versions_suites_alpn_and_resumption_on_any_core() {
    if !have("openssl") || !have("python3") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path(), "default", false, "default.test", "DNS:default.test,IP:127.0.0.1");
    let (cert2, key2) = make_cert(certs.path(), "other", true, "other.test", "DNS:other.test,DNS:*.wild.test");
    let more = format!("[[server.tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n", cert2.display(), key2.display());
    let srv = Server::start("auto", &tls_section(&cert, &key, &more));
    let tls = srv.tls_addr();

    // SNI picks the certificate; an unknown name or none gets the first.
    assert!(served_cn(&s_client(tls, &["-servername", "other.test"])).contains("other.test"));
    assert!(served_cn(&s_client(tls, &["-servername", "a.wild.test"])).contains("other.test"));
    assert!(served_cn(&s_client(tls, &["-servername", "unknown.test"])).contains("default.test"));
    assert!(served_cn(&s_client(tls, &["-noservername"])).contains("default.test"));

    // TLS 1.2 with ECDHE works; a suite without ECDHE does not.
    let out = s_client(tls, &["-tls1_2"]);
    assert!(out.contains("Protocol  : TLSv1.2") || out.contains("TLSv1.2, Cipher"), "{out}");
    assert!(out.contains("ECDHE"), "{out}");
    let out = s_client(tls, &["-tls1_2", "-cipher", "AES256-GCM-SHA384", "-servername", "other.test"]);
    assert!(out.contains("alert") || out.contains("handshake failure"), "RSA key exchange accepted:\n{out}");

    // ALPN: h2 is preferred, HTTP/1.1 chosen when offered alone; a protocol
    // the server does not speak gets the no_application_protocol alert.
    let py = format!(
        r#"
import socket, ssl
def hello(protos):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(protos)
    with socket.create_connection(("{ip}", {port})) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.selected_alpn_protocol()
print("chosen", hello(["h2", "http/1.1"]))
print("chosen", hello(["http/1.1"]))
try:
    hello(["spdy/1"])
    print("unknown accepted")
except ssl.SSLError as e:
    print("unknown refused", e)
"#,
        ip = tls.ip(),
        port = tls.port()
    );
    let out = Command::new("python3").args(["-c", &py]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("chosen h2\n"), "h2 is preferred: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("chosen http/1.1\n"), "{text}");
    let refused = text.to_ascii_lowercase().replace('_', " ");
    assert!(text.contains("unknown refused") && refused.contains("no application protocol"), "{text}");

    // A ticket from one connection resumes on the others, whichever core
    // takes them (the ticket keys are shared).
    for version in ["-tls1_3", "-tls1_2"] {
        let sess = certs.path().join(format!("session{version}"));
        let sess = sess.to_str().unwrap();
        let first = s_client(tls, &[version, "-sess_out", sess]);
        assert!(first.contains("New,"), "{first}");
        for _ in 0..6 {
            let again = s_client(tls, &[version, "-sess_in", sess]);
            assert!(again.contains("Reused,"), "{version} not resumed:\n{again}");
        }
    }

    // With min_version 1.3, TLS 1.2 is refused.
    let srv13 = Server::start("auto", &tls_section(&cert, &key, "min_version = \"1.3\""));
    let out = s_client(srv13.tls_addr(), &["-tls1_2"]);
    assert!(
        out.contains("alert protocol version") || out.contains("no protocols available") || out.contains("alert"),
        "{out}"
    );
    assert!(s_client(srv13.tls_addr(), &["-tls1_3"]).contains("TLSv1.3"));
}

/// Replaces a file as renewal tools do: write aside, then rename.
fn replace_file(from: &Path, to: &Path) {
    let aside = to.with_extension("new");
    std::fs::copy(from, &aside).unwrap();
    std::fs::rename(&aside, to).unwrap();
}

fn wait_for_cn(tls: SocketAddr, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cn = served_cn(&s_client(tls, &[]));
        if cn.contains(want) || Instant::now() > deadline {
            return cn;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn certificates_reload_on_change_and_sighup_and_a_broken_file_keeps_the_old_one() {
    if !have("openssl") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let live = certs.path().join("live");
    std::fs::create_dir(&live).unwrap();
    let (c1, k1) = make_cert(certs.path(), "first", false, "first.test", "DNS:first.test");
    let (c2, k2) = make_cert(certs.path(), "second", false, "second.test", "DNS:second.test");
    let (cert, key) = (live.join("cert.pem"), live.join("key.pem"));
    std::fs::copy(&c1, &cert).unwrap();
    std::fs::copy(&k1, &key).unwrap();
    let srv = Server::start("auto", &tls_section(&cert, &key, ""));
    let tls = srv.tls_addr();
    assert!(served_cn(&s_client(tls, &[])).contains("first.test"));

    // New files are picked up by every core without a restart.
    replace_file(&k2, &key);
    replace_file(&c2, &cert);
    assert!(wait_for_cn(tls, "second.test").contains("second.test"), "{}", srv.log());
    for _ in 0..4 {
        assert!(served_cn(&s_client(tls, &[])).contains("second.test"), "a core kept the old certificate");
    }

    // A broken file is logged with its path; the old certificate stays.
    let refused = "not a valid PEM certificate file";
    std::fs::write(&cert, b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n").unwrap();
    assert!(srv.wait_log(refused), "{}", srv.log());
    let line = srv.log().lines().find(|l| l.contains(refused)).unwrap().to_string();
    assert!(line.contains(&cert.display().to_string()) && line.contains("the old one stays in service"), "{line}");
    assert!(served_cn(&s_client(tls, &[])).contains("second.test"));

    // SIGHUP reloads too.
    std::fs::copy(&c2, &cert).unwrap();
    assert!(srv.wait_log("a certificate file changed; 1 certificate(s) reloaded"));
    Command::new("kill").args(["-HUP", &srv.pid().to_string()]).status().unwrap();
    assert!(srv.wait_log("SIGHUP; 1 certificate(s) reloaded"), "{}", srv.log());
    assert!(served_cn(&s_client(tls, &[])).contains("second.test"));
}

#[test]
fn a_silent_client_is_closed_after_the_header_timeout() {
    if !have("openssl") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path(), "site", false, "localhost", "DNS:localhost");
    for io in backends() {
        let extra = format!("[server.timeouts]\nheader = \"1s\"\n{}", tls_section(&cert, &key, ""));
        let srv = Server::start(io, &extra);
        let mut s = TcpStream::connect(srv.tls_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "{io}");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{io}: closed after {took:?}");
    }
}

#[test]
fn bad_certificates_and_a_taken_port_stop_start_up_naming_the_key_and_file() {
    if !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path(), "a", false, "a.test", "DNS:a.test");
    let (_, other_key) = make_cert(dir.path(), "b", false, "b.test", "DNS:b.test");
    let broken = dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n").unwrap();
    let missing = dir.path().join("missing.pem");

    let out = refuses(dir.path(), &tls_section(&broken, &key, ""));
    assert!(out.contains("server.tls.cert") && out.contains(&broken.display().to_string()), "{out}");
    let out = refuses(dir.path(), &tls_section(&cert, &other_key, ""));
    assert!(out.contains("server.tls.key") && out.contains("does not belong"), "{out}");
    let out = refuses(dir.path(), &tls_section(&cert, &missing, ""));
    assert!(out.contains("server.tls.key") && out.contains("cannot read"), "{out}");
    assert!(out.contains("bad.toml"), "the error names the configuration file: {out}");
    let out = refuses(dir.path(), &tls_section(&cert, &cert, ""));
    assert!(out.contains("server.tls.key") && out.contains("no private key"), "{out}");
    let out = refuses(dir.path(), "[server.tls]\nlisten = \"127.0.0.1:0\"\n");
    assert!(out.contains("server.tls.cert"), "{out}");
    let out = refuses(dir.path(), "[server.tls]\nlisten = \"127.0.0.1:0\"\nmin_version = \"1.1\"\n");
    assert!(out.contains("server.tls.min_version"), "{out}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let section = tls_section(&cert, &key, "").replace("127.0.0.1:0", &taken.local_addr().unwrap().to_string());
    let out = refuses(dir.path(), &section);
    assert!(out.contains("server.tls.listen"), "{out}");
}

#[test]
fn wrk_over_https_has_no_errors() {
    if !have("wrk") || !have("openssl") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path(), "site", false, "localhost", "DNS:localhost");
    for io in backends() {
        let srv = Server::start(io, &format!("hello_route = \"/hello\"\n{}", tls_section(&cert, &key, "")));
        let url = format!("https://{}/hello", srv.tls_addr());
        let out = Command::new("wrk").args(["-t2", "-c16", "-d2s", "--timeout", "5s", &url]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Requests/sec"), "{text}");
        assert!(!text.contains("Socket errors") && !text.contains("Non-2xx"), "{io}: {text}");
    }
}

/// `kv.redis.tls` and `node_api.tls`: the RESP listener and the node API
/// speak TLS with `[server.tls]`'s certificate (redis-cli --tls, curl),
/// and refuse clients that do not.
#[test]
fn resp_and_node_api_speak_tls_with_the_same_certificate() {
    if !have("curl") || !have("openssl") || !have("redis-cli") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path(), "site", false, "localhost", "DNS:localhost,IP:127.0.0.1");
    for io in backends() {
        let extra = format!(
            "{}[kv.redis]\nlisten = \"127.0.0.1:0\"\ntls = true\npassword = \"pw\"\n\
             [node_api]\nlisten = \"127.0.0.1:0\"\ntls = true\ntoken = \"tok\"\n",
            tls_section(&cert, &key, "")
        );
        let srv = Server::start(io, &extra);
        let resp = srv.resp_addr();
        let redis = |tls: bool, args: &[&str]| {
            let mut cmd = Command::new("redis-cli");
            cmd.args(["-h", "127.0.0.1", "-p", &resp.port().to_string(), "-a", "pw", "--no-auth-warning"]);
            if tls {
                cmd.arg("--tls").arg("--cacert").arg(&cert);
            }
            let out = cmd.args(args).stdin(Stdio::null()).output().unwrap();
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        };
        assert_eq!(redis(true, &["PING"]).trim(), "PONG", "{io}");
        assert_eq!(redis(true, &["SET", "k", "over tls"]).trim(), "OK", "{io}");
        assert_eq!(redis(true, &["GET", "k"]).trim(), "over tls", "{io}");
        // A large value crosses several TLS records both ways.
        let big = "v".repeat(100_000);
        assert_eq!(redis(true, &["SET", "big", &big]).trim(), "OK", "{io}");
        assert_eq!(redis(true, &["STRLEN", "big"]).trim(), "100000", "{io}");
        // Plain RESP to the TLS port gets nothing back.
        let plain = redis(false, &["PING"]);
        assert!(!plain.contains("PONG"), "{io}: plain RESP answered: {plain}");

        // The node API over HTTPS, verified against the certificate.
        assert!(srv.wait_log("node API on https://"), "{io}: {}", srv.log());
        let log = srv.log();
        let api = log.split("node API on https://").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&cert)
            .args(["-H", "Authorization: Bearer tok", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("https://{api}/health"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{io}: {}", String::from_utf8_lossy(&out.stderr));
        let plain = Command::new("curl")
            .args(["-s", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("http://{api}/health"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&plain.stdout), "400", "{io}: plain HTTP to the HTTPS node API");
    }

    // Without [server.tls] there is no certificate to use.
    let dir = tempfile::tempdir().unwrap();
    let text = refuses(dir.path(), "[kv.redis]\nlisten = \"127.0.0.1:0\"\ntls = true\n");
    assert!(text.contains("kv.redis.tls") && text.contains("[server.tls]"), "{text}");
}

/// `db.sqlite.tls`: the MySQL front offers the SSL capability; the mariadb
/// client and PHP's mysqlnd (PDO with MYSQL_ATTR_SSL_CA) switch to TLS,
/// and caching_sha2_password's full authentication then takes the
/// password over TLS instead of RSA. Clients that do not ask stay plain.
#[test]
fn mysql_front_switches_to_tls_on_ssl_request() {
    if !have("openssl") || !have("mariadb") {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(certs.path(), "site", false, "localhost", "DNS:localhost,IP:127.0.0.1");
    for io in backends() {
        let extra = format!(
            "{}[db]\nusers = [{{ name = \"sha\", password = \"pw-sha\", plugin = \"caching_sha2_password\" }}, \
             {{ name = \"nat\", password = \"pw\" }}]\n[db.sqlite]\nlisten = \"127.0.0.1:0\"\ntls = true\n\
             [log]\nrequests = false\nlevel = \"debug\"\n",
            tls_section(&cert, &key, "redirect = false")
        );
        let srv = Server::start(io, &extra);
        let db = srv.mysql_addr();
        let port = db.port().to_string();
        let mariadb = |user: &str, pw: &str, ssl: &[&str], sql: &str| {
            let out = Command::new("mariadb")
                .args(["-h", "127.0.0.1", "-P", &port, "-u", user, &format!("-p{pw}"), "--connect-timeout=5", "-N"])
                .args(ssl)
                .args(["-e", sql])
                .output()
                .unwrap();
            (
                out.status.success(),
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
            )
        };
        let ca = format!("--ssl-ca={}", cert.display());
        let (ok, out) = mariadb("nat", "pw", &["--ssl", &ca], "SELECT 'over tls'");
        assert!(ok && out.trim() == "over tls", "{io}: {out}");
        let (ok, out) = mariadb("nat", "pw", &["--skip-ssl"], "SELECT 'plain'");
        assert!(ok && out.trim() == "plain", "{io}: plain clients still work: {out}");
        let (ok, out) = mariadb("nat", "wrong", &["--ssl", &ca], "SELECT 1");
        assert!(!ok && out.contains("1045"), "{io}: {out}");
        // caching_sha2_password's full authentication over TLS.
        let (ok, out) = mariadb("sha", "pw-sha", &["--ssl", &ca], "SELECT 'sha2'");
        assert!(ok && out.trim() == "sha2", "{io}: {out}");
        assert!(srv.wait_log("full authentication over TLS"), "{io}: {}", srv.log());

        // The certificate it serves is the HTTPS one (openssl's STARTTLS
        // for MySQL sends the SSLRequest itself).
        let cert_path = cert.display().to_string();
        let text = s_client(db, &["-starttls", "mysql", "-CAfile", &cert_path]);
        assert!(text.contains("CN = localhost") && text.contains("Verify return code: 0"), "{io}: {text}");

        // PDO with MYSQL_ATTR_SSL_CA: mysqlnd asks for TLS.
        if php_available() {
            std::fs::write(
                srv.dir.path().join("root/pdo_tls.php"),
                format!(
                    "<?php $dsn = 'mysql:host=127.0.0.1;port={port}';\n\
                     $o = [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::MYSQL_ATTR_SSL_CA => '{}',\n\
                           PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT => true];\n\
                     $pdo = new PDO($dsn, 'sha', 'pw-sha', $o);\n\
                     echo $pdo->query(\"SELECT 'pdo over tls'\")->fetchColumn(), \"\\n\";\n\
                     try {{ new PDO($dsn, 'sha', 'bad', $o); echo \"accepted\\n\"; }}\n\
                     catch (PDOException $e) {{ echo $e->errorInfo[1] ?? $e->getCode(), \"\\n\"; }}\n",
                    cert.display()
                ),
            )
            .unwrap();
            let text = srv.get("/pdo_tls.php", "").text();
            assert_eq!(text, "pdo over tls\n1045\n", "{io}: {}", srv.log());
        }
    }
}
