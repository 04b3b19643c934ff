//! Starting Debian's nginx with a config written by the harness: the same
//! worker count and keep-alive as ephpm, access log off, open_file_cache on
//! (ephpm caches file metadata for 1 s as well).

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
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("nginx not found: install it with `apt-get install nginx-light` (ci/setup.sh does)")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let addr = super::free_port()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let user = if euid == 0 { "user root;" } else { "" };
    let d = dir.path().display();
    let php_location = match fastcgi {
        Some(sock) => format!(
            "location ~ \\.php$ {{\n            fastcgi_pass unix:{};\n            \
             fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;\n            \
             fastcgi_param SCRIPT_NAME $fastcgi_script_name;\n            fastcgi_param REQUEST_METHOD $request_method;\n            \
             fastcgi_param QUERY_STRING $query_string;\n            fastcgi_param REQUEST_URI $request_uri;\n            \
             fastcgi_param DOCUMENT_ROOT $document_root;\n            fastcgi_param SERVER_PROTOCOL $server_protocol;\n            \
             fastcgi_param CONTENT_TYPE $content_type;\n            fastcgi_param CONTENT_LENGTH $content_length;\n            \
             fastcgi_param REMOTE_ADDR $remote_addr;\n            fastcgi_param SERVER_NAME $server_name;\n            \
             fastcgi_param SERVER_PORT $server_port;\n        }}",
            sock.display()
        ),
        None => String::new(),
    };
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
    tcp_nopush on;
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
    server {{
        listen {addr} reuseport backlog=4096;
        root {root};
        index index.php index.html;
        etag on;
        location = /hello {{ default_type text/plain; return 200 "Hello from ephpm\n"; }}
        {php_location}
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
