//! The PHP handler: turns an HTTP request into a job for one of the core's
//! PHP threads (the CGI variables php-fpm would get from nginx) and the
//! thread's events back into a response, streamed when the script flushes.

use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ephpm_sapi::{Event, Field, Job, Lease, PhpPool};
use futures_util::stream;

use crate::http1::{Framing, Request, Response, ResponseBody};
use crate::router::PhpTarget;

/// SERVER_SOFTWARE.
const SERVER_SOFTWARE: &str = concat!("ephpm/", env!("CARGO_PKG_VERSION"));

/// Runs PHP scripts on one core's PHP threads.
pub struct PhpHandler {
    pool: Rc<PhpPool>,
    document_root: Vec<u8>,
}

impl PhpHandler {
    /// A handler over the core's pool, serving `document_root`.
    pub fn new(pool: Rc<PhpPool>, document_root: &std::path::Path) -> Self {
        PhpHandler { pool, document_root: document_root.as_os_str().as_bytes().to_vec() }
    }

    /// The core's PHP threads.
    pub fn pool(&self) -> &Rc<PhpPool> {
        &self.pool
    }

    /// Runs `target` for `req`. The body streams to the script as it
    /// arrives (PHP reads form bodies before the script starts, and
    /// `php://input` as the script asks).
    pub async fn serve(&self, target: &PhpTarget, req: Request<'_>) -> Response {
        let Some(mut lease) = self.pool.acquire().await else {
            return Response::error(503, "every PHP thread on this core stayed busy for longer than php.max_wait")
                .header("Retry-After", Bytes::from_static(b"1"));
        };
        fill_job(lease.job(), target, &req, &self.document_root);
        lease.start();
        while let Some(piece) = req.body.next_piece().await {
            // False: the script answered without reading all of it.
            if !lease.send_body(piece).await {
                break;
            }
        }
        lease.end_body().await;
        respond(lease).await
    }
}

/// Reads the thread's events into a response: a whole body when the
/// script ends before flushing, else a stream.
async fn respond(mut lease: Lease) -> Response {
    let mut resp = loop {
        match lease.next().await {
            Event::Head { status, headers } => {
                let mut r = Response::new(status);
                r.raw_headers = headers;
                break r;
            }
            Event::End => return Response::error(502, "the PHP thread ended without a response"),
            Event::Chunk(_) | Event::Idle(_) => {}
        }
    };
    let first = match lease.next().await {
        Event::Chunk(c) => c,
        _ => return resp,
    };
    // The usual case: the script's whole output arrived with End behind it.
    let second = lease.next_ready();
    match second {
        Some(Event::End) => {
            resp.body = ResponseBody::Bytes(first);
            return resp;
        }
        Some(Event::Chunk(c)) => return stream_rest(resp, lease, vec![first, c]),
        _ => {}
    }
    stream_rest(resp, lease, vec![first])
}

/// A streamed (chunked) body: `ready` first, then chunks as they come.
fn stream_rest(mut resp: Response, lease: Lease, ready: Vec<Bytes>) -> Response {
    let body = stream::unfold((ready.into_iter(), Some(lease)), |(mut ready, mut lease)| async move {
        if let Some(c) = ready.next() {
            return Some((Ok(c), (ready, lease)));
        }
        let l = lease.as_mut()?;
        loop {
            match l.next().await {
                Event::Chunk(c) => return Some((Ok(c), (ready, lease))),
                Event::End => return None,
                Event::Head { .. } | Event::Idle(_) => {}
            }
        }
    });
    resp.body = ResponseBody::Stream(Box::pin(body));
    resp
}

/// Fills the job with what PHP needs: the SAPI fields and `$_SERVER`.
fn fill_job(job: &mut Job, target: &PhpTarget, req: &Request<'_>, document_root: &[u8]) {
    let head = req.head;
    let script = target.script_filename.as_os_str().as_bytes();
    job.set(Field::Method, head.method_str().as_bytes());
    job.set(Field::RequestUri, head.target().as_bytes());
    job.set(Field::QueryString, head.query().as_bytes());
    job.set(Field::ScriptFilename, script);
    let declared = req.body.declared_len();
    job.content_length = declared.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    job.proto_num = if head.is_http11() { 1001 } else { 1000 };
    job.request_time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let content_type = head.header("content-type").unwrap_or_default();
    if !content_type.is_empty() {
        job.set(Field::ContentType, content_type);
    }
    if let Some(auth) = head.header("authorization") {
        job.set(Field::Authorization, auth);
    }
    set_cookies(job, req);

    let mut port = itoa_buf();
    job.var(b"GATEWAY_INTERFACE", b"CGI/1.1");
    job.var(b"SERVER_SOFTWARE", SERVER_SOFTWARE.as_bytes());
    job.var(b"SERVER_PROTOCOL", if head.is_http11() { b"HTTP/1.1" } else { b"HTTP/1.0" });
    job.var(b"REQUEST_METHOD", head.method_str().as_bytes());
    job.var(b"REQUEST_URI", head.target().as_bytes());
    job.var(b"QUERY_STRING", head.query().as_bytes());
    job.var(b"DOCUMENT_ROOT", document_root);
    job.var(b"DOCUMENT_URI", target.script_name.as_bytes());
    job.var(b"SCRIPT_NAME", target.script_name.as_bytes());
    job.var(b"SCRIPT_FILENAME", script);
    job.var_parts(b"PHP_SELF", &[target.script_name.as_bytes(), target.path_info.as_bytes()]);
    if !target.path_info.is_empty() {
        job.var(b"PATH_INFO", target.path_info.as_bytes());
        job.var_parts(b"PATH_TRANSLATED", &[document_root, target.path_info.as_bytes()]);
    }
    job.var(b"CONTENT_TYPE", content_type);
    // Empty without a declared length, as nginx passes it (a chunked body
    // streams in, so its length is not known when the script starts).
    let length = declared.filter(|_| head.framing != Framing::None);
    job.var(b"CONTENT_LENGTH", length.map_or(&b""[..], |n| fmt_u64(&mut port, n)));
    job.var(b"REQUEST_SCHEME", b"http");
    job.var(b"REDIRECT_STATUS", b"200");
    let host = head.header("host").map(strip_port).filter(|h| !h.is_empty());
    let local_ip = req.local.ip().to_string();
    job.var(b"SERVER_NAME", host.unwrap_or(local_ip.as_bytes()));
    job.var(b"SERVER_ADDR", local_ip.as_bytes());
    job.var(b"SERVER_PORT", fmt_u64(&mut port, u64::from(req.local.port())));
    job.var(b"REMOTE_ADDR", req.peer.ip().to_string().as_bytes());
    job.var(b"REMOTE_PORT", fmt_u64(&mut port, u64::from(req.peer.port())));
    if let Some(auth) = head.header("authorization") {
        if auth.len() > 6 && auth[..6].eq_ignore_ascii_case(b"basic ") {
            job.var(b"AUTH_TYPE", b"Basic");
        } else if auth.len() > 7 && auth[..7].eq_ignore_ascii_case(b"digest ") {
            job.var(b"AUTH_TYPE", b"Digest");
        }
    }
    header_vars(job, req);
}

/// `HTTP_*` for every header; a repeated header's values are joined with
/// ", " ("; " for Cookie), as nginx passes them to php-fpm. Names with an
/// underscore are skipped, as nginx does by default, so that `X_Real_IP`
/// cannot pose as `X-Real-IP`; `Proxy` is skipped against httpoxy.
fn header_vars(job: &mut Job, req: &Request<'_>) {
    let headers: Vec<(&str, &[u8])> = req.head.headers().collect();
    for (i, (name, value)) in headers.iter().enumerate() {
        if name.contains('_') || name.eq_ignore_ascii_case("proxy") {
            continue;
        }
        if headers[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            continue;
        }
        let sep: &[u8] = if name.eq_ignore_ascii_case("cookie") { b"; " } else { b", " };
        let mut parts: Vec<&[u8]> = vec![value];
        for (n, v) in &headers[i + 1..] {
            if n.eq_ignore_ascii_case(name) {
                parts.push(sep);
                parts.push(v);
            }
        }
        job.header_var(name, &parts);
    }
}

/// Every Cookie header, joined with "; ".
fn set_cookies(job: &mut Job, req: &Request<'_>) {
    let mut parts: Vec<&[u8]> = Vec::new();
    for (name, value) in req.head.headers() {
        if name.eq_ignore_ascii_case("cookie") {
            if !parts.is_empty() {
                parts.push(b"; ");
            }
            parts.push(value);
        }
    }
    if !parts.is_empty() {
        let joined: Vec<u8> = parts.concat();
        job.set(Field::Cookies, &joined);
    }
}

/// The host part of a Host header (IPv6 literals keep their brackets).
fn strip_port(host: &[u8]) -> &[u8] {
    if host.starts_with(b"[") {
        return host.iter().position(|&b| b == b']').map_or(host, |i| &host[..=i]);
    }
    host.iter().position(|&b| b == b':').map_or(host, |i| &host[..i])
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

fn fmt_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fmt_u64, strip_port};

    #[test]
    fn host_without_port() {
        assert_eq!(strip_port(b"example.com:8080"), b"example.com");
        assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
        assert_eq!(strip_port(b"plain"), b"plain");
    }

    #[test]
    fn formats_numbers() {
        let mut b = [0; 20];
        assert_eq!(fmt_u64(&mut b, 0), b"0");
        assert_eq!(fmt_u64(&mut b, u64::MAX), b"18446744073709551615");
    }
}
