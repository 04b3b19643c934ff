//! Starting Debian's nginx with a config written by the harness: the same
//! worker count and keep-alive as ephpm, access log off, open_file_cache on
//! (ephpm caches file metadata for 1 s as well).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{wait_ready, Peer};

/// Starts nginx with `workers` worker processes serving `root`; with
/// `fastcgi`, `.php` requests go to php-fpm on that socket, the standard
/// setup. (Kept-alive FastCGI connections would be faster per request but
/// stall under load: an fpm child serves one connection at a time and
/// waits on it while nginx keeps it idle, so requests queued on other
/// connections time out.)
pub fn start(root: &Path, workers: usize, max_conns: usize, fastcgi: Option<&Path>) -> Result<Peer, String> {
    let php_location = match fastcgi {
        Some(sock) => format!("location ~ \\.php$ {{\n{}        }}", fastcgi_pass(sock)),
        None => String::new(),
    };
    launch(super::free_port()?, root, workers, max_conns, true, "", &php_location)
}

/// Starts nginx as [`start`] does, plus a TLS listener on `tls` with the
/// `cert` and `key` (PEM), `ssl` and `http2` on it, TLS 1.2 and 1.3 with
/// nginx's defaults otherwise (session tickets on).
pub fn start_tls(
    root: &Path,
    workers: usize,
    max_conns: usize,
    fastcgi: Option<&Path>,
    tls: SocketAddr,
    cert: &Path,
    key: &Path,
) -> Result<Peer, String> {
    let php_location = match fastcgi {
        Some(sock) => format!("location ~ \\.php$ {{\n{}        }}", fastcgi_pass(sock)),
        None => String::new(),
    };
    let server = format!(
        "listen {tls} ssl http2 reuseport backlog=4096;\n        ssl_certificate {};\n        \
         ssl_certificate_key {};\n        ssl_protocols TLSv1.2 TLSv1.3;\n        {php_location}",
        cert.display(),
        key.display()
    );
    let mut peer = launch(super::free_port()?, root, workers, max_conns, true, "", &server)?;
    peer.addr = tls;
    Ok(peer)
}

/// Starts nginx on `addr` in front of php-fpm on `socket` configured as
/// WordPress's own nginx guide has it: pretty permalinks through
/// `try_files`, and with `cache` its fastcgi_cache set-up (a 60-minute
/// cache on tmpfs keyed by scheme, method, host and URI; POSTs, query
/// strings, wp-admin, wp-*.php, feeds, sitemaps and requests with
/// WordPress's login, comment-author or post-password cookies skip it).
///
/// `tcp_nopush` is Debian's default (on, with sendfile). With it, a cached
/// response of about 60 KB or more waits 40 ms on loopback (the corked
/// tail meets the client's delayed ACK), so the harness measures both.
pub fn start_wordpress(
    addr: SocketAddr,
    root: &Path,
    workers: usize,
    max_conns: usize,
    socket: &Path,
    cache: bool,
    tcp_nopush: bool,
) -> Result<Peer, String> {
    let (http, skip, use_cache) = if cache {
        (
            // CACHE_DIR: see `launch`.
            "fastcgi_cache_path CACHE_DIR levels=1:2 keys_zone=WORDPRESS:100m inactive=60m;\n    \
             fastcgi_cache_key \"$scheme$request_method$host$request_uri\";\n    \
             fastcgi_cache_use_stale error timeout invalid_header http_500;\n    \
             fastcgi_ignore_headers Cache-Control Expires Set-Cookie;",
            r#"set $skip_cache 0;
        if ($request_method = POST) { set $skip_cache 1; }
        if ($query_string != "") { set $skip_cache 1; }
        if ($request_uri ~* "/wp-admin/|/xmlrpc.php|wp-.*.php|/feed/|index.php|sitemap(_index)?.xml") { set $skip_cache 1; }
        if ($http_cookie ~* "comment_author|wordpress_[a-f0-9]+|wp-postpass|wordpress_no_cache|wordpress_logged_in") { set $skip_cache 1; }"#,
            "            fastcgi_cache_bypass $skip_cache;\n            fastcgi_no_cache $skip_cache;\n            \
             fastcgi_cache WORDPRESS;\n            fastcgi_cache_valid 60m;\n",
        )
    } else {
        ("", "", "")
    };
    let server = format!(
        "{skip}\n        location / {{ try_files $uri $uri/ /index.php?$args; }}\n        \
         location ~ \\.php$ {{\n            try_files $uri =404;\n{}{use_cache}        }}",
        fastcgi_pass(socket)
    );
    launch(addr, root, workers, max_conns, tcp_nopush, http, &server)
}

/// The directives that hand a `.php` request to php-fpm on `sock`.
fn fastcgi_pass(sock: &Path) -> String {
    let params = [
        ("SCRIPT_FILENAME", "$document_root$fastcgi_script_name"),
        ("SCRIPT_NAME", "$fastcgi_script_name"),
        ("REQUEST_METHOD", "$request_method"),
        ("QUERY_STRING", "$query_string"),
        ("REQUEST_URI", "$request_uri"),
        ("DOCUMENT_ROOT", "$document_root"),
        ("SERVER_PROTOCOL", "$server_protocol"),
        ("CONTENT_TYPE", "$content_type"),
        ("CONTENT_LENGTH", "$content_length"),
        ("REMOTE_ADDR", "$remote_addr"),
        ("SERVER_NAME", "$server_name"),
        ("SERVER_PORT", "$server_port"),
    ];
    let mut out = format!("            fastcgi_pass unix:{};\n", sock.display());
    for (name, value) in params {
        out += &format!("            fastcgi_param {name} {value};\n");
    }
    out
}

/// Writes the config (`http` directives and the `server` block's own) and
/// starts nginx on `addr`. `CACHE_DIR` in `http` becomes a directory in
/// nginx's temp dir, which is on tmpfs where there is one (WordPress's
/// guide keeps its cache under /var/run).
fn launch(
    addr: SocketAddr,
    root: &Path,
    workers: usize,
    max_conns: usize,
    tcp_nopush: bool,
    http: &str,
    server: &str,
) -> Result<Peer, String> {
    let nopush = if tcp_nopush { "on" } else { "off" };
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("nginx not found: install it with `apt-get install nginx-light` (ci/setup.sh does)")?;
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
    let dir = dir.map_err(|e| e.to_string())?;
    let http = http.replace("CACHE_DIR", &dir.path().join("cache").display().to_string());
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let user = if euid == 0 { "user root;" } else { "" };
    let d = dir.path().display();
    let conf = format!(
        r#"{user}
worker_processes {workers};
worker_cpu_affinity auto;
worker_rlimit_nofile {nofile};
daemon off;
pid {d}/nginx.pid;
error_log stderr error;
events {{ worker_connections {conns}; multi_accept on; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush {nopush};
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    open_file_cache max=1000 inactive=20s;
    open_file_cache_valid 1s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    types {{ text/plain txt; text/html html; application/octet-stream bin; }}
    {http}
    server {{
        listen {addr} reuseport backlog=4096;
        root {root};
        index index.php index.html;
        etag on;
        location = /hello {{ default_type text/plain; return 200 "Hello from ephpm\n"; }}
        {server}
    }}
}}
"#,
        nofile = max_conns * 2 + 1024,
        conns = max_conns + 1024,
        root = root.display(),
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg("stderr")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    wait_ready(addr, &mut child, "nginx")?;
    Ok(Peer { name: "nginx".into(), addr, child, _dir: dir })
}
