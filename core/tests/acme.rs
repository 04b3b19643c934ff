//! ACME against Debian's pebble on loopback: certificates ordered by
//! TLS-ALPN-01 and by HTTP-01, verified by curl against pebble's root; a
//! restart reuses the cache without ordering; a certificate past two
//! thirds of its life is renewed at start-up; a failed order is logged
//! with the CA's problem document while a self-signed stand-in and the
//! redirect keep serving.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// pebble with its DNS (pebble-challtestsrv answering 127.0.0.1 for every
/// name), validating HTTP-01 on `http_port` and TLS-ALPN-01 on `tls_port`.
struct Pebble {
    _dns: Proc,
    _ca: Proc,
    dir: tempfile::TempDir,
    acme_port: u16,
    mgmt_port: u16,
}

impl Pebble {
    fn start(http_port: u16, tls_port: u16) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        let (dns_port, dns_mgmt) = (free_port(), free_port());
        let dns = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns_port}"), "-management", &format!("127.0.0.1:{dns_mgmt}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv6", "", "-defaultIPv4", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv");
        let dns = Proc(dns);
        wait_port(dns_mgmt, "pebble-challtestsrv");
        // pebble's own HTTPS certificate, signed by a CA of the test's (a
        // self-signed CA certificate cannot serve as a leaf), whose root
        // ephpm trusts through ca_roots.
        let (cert, key) = (dir.path().join("pebble.crt"), dir.path().join("pebble.key"));
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir.path()).output().unwrap();
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &["req", "-x509", "-days", "2"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test CA"],
            ]
            .concat(),
        );
        openssl(&[&["req"][..], &ec, &["-keyout", "pebble.key", "-out", "pebble.csr", "-subj", "/CN=pebble"]].concat());
        std::fs::write(
            dir.path().join("leaf.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "pebble.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "pebble.crt",
        ]);
        let (acme_port, mgmt_port) = (free_port(), free_port());
        let config = format!(
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{acme_port}", "managementListenAddress": "127.0.0.1:{mgmt_port}",
              "certificate": "{}", "privateKey": "{}", "httpPort": {http_port}, "tlsPort": {tls_port},
              "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
            cert.display(),
            key.display()
        );
        let cfg = dir.path().join("pebble.json");
        std::fs::write(&cfg, config).unwrap();
        let log = std::fs::File::create(dir.path().join("pebble.log")).unwrap();
        let ca = Command::new("pebble")
            .arg("-config")
            .arg(&cfg)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble");
        let ca = Proc(ca);
        wait_port(acme_port, "pebble");
        Pebble { _dns: dns, _ca: ca, dir, acme_port, mgmt_port }
    }

    /// The root pebble's HTTPS certificate chains to.
    fn cert(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// The root that signs what pebble issues, from its management API.
    fn issuing_root(&self) -> PathBuf {
        let path = self.dir.path().join("root.pem");
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(self.cert())
            .arg(format!("https://127.0.0.1:{}/roots/0", self.mgmt_port))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(&path, &out.stdout).unwrap();
        path
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }
}

/// ephpm on `http_port` and `tls_port` with `[server.tls.acme]` lines,
/// serving a root with one `index.html`.
fn ephpm(io: &str, http_port: u16, tls_port: u16, acme: &str) -> Server {
    let root = tempfile::tempdir().unwrap().keep();
    std::fs::write(root.join("index.html"), "hello over acme\n").unwrap();
    let extra = format!(
        "cores = 2\n[server.tls]\nlisten = \"127.0.0.1:{tls_port}\"\n[server.tls.acme]\n{acme}\n[log]\nrequests = false\n"
    );
    Server::start_root_at(io, &format!("127.0.0.1:{http_port}"), &root, &extra)
}

/// Waits up to `secs` for `needle` in the server's log.
fn wait_log_long(s: &Server, needle: &str, secs: u64, pebble: &Pebble) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !s.log().contains(needle) {
        assert!(Instant::now() < deadline, "no `{needle}` in the log:\n{}\n--- pebble:\n{}", s.log(), pebble.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// curl over HTTPS to `domain` (resolved to 127.0.0.1) with `ca` trusted:
/// the body, or curl's error.
fn curl_verified(domain: &str, port: u16, ca: &Path) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{domain}:{port}:127.0.0.1")])
        .arg(format!("https://{domain}:{port}/index.html"))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The subject and issuer of the certificate served for `domain`.
fn served_cert(domain: &str, port: u16) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", domain])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().filter(|l| l.contains("s:") || l.contains("i:")).collect::<Vec<_>>().join("\n")
}

#[test]
fn certificates_are_ordered_cached_renewed_and_failures_keep_serving() {
    if !have("pebble") || !have("pebble-challtestsrv") || !have("curl") || !have("openssl") {
        return;
    }
    let (http_port, tls_port) = (free_port(), free_port());
    let pebble = Pebble::start(http_port, tls_port);
    let acme = |domain: &str, challenge: &str, cache: &Path| {
        format!(
            "domains = [\"{domain}\"]\nemail = \"ops@ephpm.test\"\ndirectory = \"{}\"\nca_roots = \"{}\"\ncache = \"{}\"\nchallenge = \"{challenge}\"\n",
            pebble.directory(),
            pebble.cert().display(),
            cache.display()
        )
    };
    let caches = tempfile::tempdir().unwrap();

    // TLS-ALPN-01: a self-signed stand-in first, then pebble's certificate.
    let cache_a = caches.path().join("a");
    let mut s = ephpm("uring", http_port, tls_port, &acme("a.ephpm.test", "tls-alpn-01", &cache_a));
    wait_log_long(&s, "new certificate for a.ephpm.test in service", 60, &pebble);
    assert!(s.log().contains("serving a self-signed one"), "{}", s.log());
    assert!(s.log().contains("answering tls-alpn-01 for a.ephpm.test"), "{}", s.log());
    let root = pebble.issuing_root();
    assert_eq!(curl_verified("a.ephpm.test", tls_port, &root).unwrap(), "hello over acme\n");
    // The plain listener still redirects, and the account and certificate
    // are cached, the key readable by the owner only.
    let r = s.get("/index.html", "");
    assert_eq!(r.status, 308, "{r:?}");
    let slug = format!("127.0.0.1_{}_dir", pebble.acme_port);
    for f in ["account.json", "cert.pem", "key.pem"] {
        let meta = std::fs::metadata(cache_a.join(&slug).join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o077, 0, "{f} is readable by others");
    }
    s.terminate();

    // A restart serves the cached certificate and orders nothing.
    let s = ephpm("epoll", http_port, tls_port, &acme("a.ephpm.test", "tls-alpn-01", &cache_a));
    assert!(s.wait_log("serving the cached certificate for a.ephpm.test"), "{}", s.log());
    assert_eq!(curl_verified("a.ephpm.test", tls_port, &root).unwrap(), "hello over acme\n");
    std::thread::sleep(Duration::from_secs(2));
    assert!(!s.log().contains("answering"), "ordered again:\n{}", s.log());
    drop(s);

    // HTTP-01, answered on the plain port (beside the redirect).
    let cache_b = caches.path().join("b");
    let s = ephpm("uring", http_port, tls_port, &acme("b.ephpm.test", "http-01", &cache_b));
    wait_log_long(&s, "new certificate for b.ephpm.test in service", 60, &pebble);
    assert!(s.log().contains("answering http-01 for b.ephpm.test"), "{}", s.log());
    assert_eq!(curl_verified("b.ephpm.test", tls_port, &pebble.issuing_root()).unwrap(), "hello over acme\n");
    // Tokens no longer in an order are not answered.
    let r = s.get("/.well-known/acme-challenge/nope", "");
    assert_eq!(r.status, 404, "{r:?}");
    drop(s);

    // A certificate two thirds through its life is renewed at start-up.
    let cache_c = caches.path().join("c");
    seed_old_certificate(&cache_c.join(&slug), "c.ephpm.test");
    let s = ephpm("uring", http_port, tls_port, &acme("c.ephpm.test", "tls-alpn-01", &cache_c));
    assert!(s.wait_log("serving the cached certificate for c.ephpm.test"), "{}", s.log());
    wait_log_long(&s, "new certificate for c.ephpm.test in service", 60, &pebble);
    assert!(curl_verified("c.ephpm.test", tls_port, &pebble.issuing_root()).is_ok());
    drop(s);

    // A failed order: pebble validates on ports where nothing answers. The
    // CA's problem document is logged, the stand-in is served and plain
    // HTTP still redirects.
    let (other_http, other_tls) = (free_port(), free_port());
    let cache_d = caches.path().join("d");
    let s = ephpm("uring", other_http, other_tls, &acme("d.ephpm.test", "tls-alpn-01", &cache_d));
    wait_log_long(&s, "ordering a certificate for d.ephpm.test", 90, &pebble);
    let log = s.log();
    assert!(log.contains("urn:ietf:params:acme:error:"), "no problem document in:\n{log}");
    assert!(log.contains("the self-signed one stays in service"), "{log}");
    let served = served_cert("d.ephpm.test", other_tls);
    assert!(served.contains("self-signed stand-in"), "{served}");
    assert_eq!(s.get("/index.html", "").status, 308);
}

/// A certificate for `domain` that is 80 of 90 days old (so due for
/// renewal), with its key, where the cache keeps them.
fn seed_old_certificate(dir: &Path, domain: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string()]).unwrap();
    let now = SystemTime::now();
    params.not_before = (now - Duration::from_secs(80 * 86_400)).into();
    params.not_after = (now + Duration::from_secs(10 * 86_400)).into();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

#[test]
fn acme_configuration_errors_name_the_key() {
    let cases: &[(&str, &str)] = &[
        ("[server.tls.acme]\ndomains = [\"*.example.com\"]\n", "server.tls.acme.domains"),
        ("[server.tls.acme]\ndomains = [\"10.0.0.1\"]\n", "server.tls.acme.domains"),
        ("[server.tls.acme]\ndomains = [\"example.com\"]\n", "server.tls.listen"),
        (
            "[server.tls]\nlisten = \"127.0.0.1:0\"\ncert = \"/x.crt\"\nkey = \"/x.key\"\n[server.tls.acme]\ndomains = [\"example.com\"]\n",
            "not both",
        ),
        (
            "[server.tls]\nlisten = \"127.0.0.1:0\"\n[server.tls.acme]\ndomains = [\"example.com\"]\ndirectory = \"http://ca.test/dir\"\n",
            "server.tls.acme.directory",
        ),
        (
            "[server.tls]\nlisten = \"127.0.0.1:0\"\n[server.tls.acme]\ndomains = [\"example.com\"]\nchallenge = \"dns-01\"\n",
            "server.tls.acme.challenge",
        ),
        (
            "[server.tls]\nlisten = \"127.0.0.1:0\"\n[server.tls.acme]\ndomains = [\"example.com\"]\nca_roots = \"/nonexistent/roots.pem\"\n",
            "server.tls.acme.ca_roots: /nonexistent/roots.pem",
        ),
    ];
    for (toml, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let text = refuses(dir.path(), toml);
        assert!(text.contains(want), "{toml}: want `{want}` in:\n{text}");
        let path = dir.path().join("bad.toml");
        assert!(text.contains(&path.display().to_string()), "{toml}: the file is not named:\n{text}");
    }
}
