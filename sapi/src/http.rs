//! The PHP handler: turns an HTTP request into a job for one of the core's
//! PHP threads (the CGI variables php-fpm would get from nginx) and the
//! thread's events back into a response, streamed when the script flushes.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::os::unix::ffi::OsStrExt;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{stream, Stream};

use crate::{Event, Field, Job, Lease, PhpPool};
use ephpm_http::app::ScriptHandler;
use ephpm_http::http1::response::format_u64;
use ephpm_http::http1::{BodyRead, Framing, Method, Request, Response, ResponseBody};
use ephpm_http::router::PhpTarget;

/// SERVER_SOFTWARE.
const SERVER_SOFTWARE: &str = concat!("ephpm/", env!("CARGO_PKG_VERSION"));

/// Runs PHP scripts on one core's PHP threads.
pub struct PhpHandler {
    pool: Rc<PhpPool>,
    document_root: Vec<u8>,
    env: Rc<[(Vec<u8>, Vec<u8>)]>,
    /// Longest a script may take to start its response (zero: no limit).
    request_timeout: std::time::Duration,
}

impl ScriptHandler for PhpHandler {
    fn serve(&self, target: &PhpTarget, req: Request<'_>) -> impl std::future::Future<Output = Response> {
        PhpHandler::serve(self, target, req)
    }
}

impl PhpHandler {
    /// A handler over the core's pool, serving `document_root`.
    pub fn new(pool: Rc<PhpPool>, document_root: &std::path::Path) -> Self {
        PhpHandler {
            pool,
            document_root: document_root.as_os_str().as_bytes().to_vec(),
            env: Rc::new([]),
            request_timeout: std::time::Duration::ZERO,
        }
    }

    /// Answers 504 when a script has not started its response within
    /// `timeout` (`php.request_timeout`), even while PHP is blocked in I/O:
    /// the thread is given up (and a worker restarts) once it returns.
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Gives every script these variables too (`$_SERVER`, `getenv()`),
    /// under the request's own.
    pub fn with_env(mut self, env: Rc<[(Vec<u8>, Vec<u8>)]>) -> Self {
        self.env = env;
        self
    }

    /// Runs `target` for `req`. The body streams to the script as it
    /// arrives (PHP reads form bodies before the script starts, and
    /// `php://input` as the script asks) while the script's first events
    /// are collected, so neither side can wait on the other.
    pub async fn serve(&self, target: &PhpTarget, req: Request<'_>) -> Response {
        let Some(mut lease) = self.pool.acquire().await else {
            return Response::error(503, "every PHP thread on this core stayed busy for longer than php.max_wait")
                .header("Retry-After", Bytes::from_static(b"1"));
        };
        let job = lease.job();
        for (name, value) in self.env.iter() {
            job.var(name, value);
        }
        fill_job(job, target, &req, &self.document_root);
        // Most requests have no body: then nothing follows the job.
        let no_body = req.body.declared_len() == Some(0);
        job.body_follows = !no_body;
        let head_only = req.head.method() == Method::Head;
        lease.start().await;
        let early = if no_body { VecDeque::new() } else { feed_body(&mut lease, req.body).await };
        if req.body.failed() {
            // The connection answers the broken body itself; the script was
            // told its request was aborted and its thread is drained.
            return Response::error(400, "the request body broke off");
        }
        // The time limit starts once the body is in, as behind a proxy that
        // buffers uploads: a slow client is the connection's timeouts' job.
        if self.request_timeout.is_zero() {
            return respond(lease, early, head_only).await;
        }
        let thread = lease.thread();
        match monoio::time::timeout(self.request_timeout, respond(lease, early, head_only)).await {
            Ok(resp) => resp,
            Err(_) => {
                // The lease is gone with the future: the thread finishes
                // the script unobserved and returns to the pool; a worker
                // restarts then, its state being whatever the script left.
                thread.timed_out();
                self.pool.stats.request_timeouts.set(self.pool.stats.request_timeouts.get() + 1);
                Response::error(504, "the PHP script did not answer within php.request_timeout")
            }
        }
    }
}

/// Script output gathered while the body still streams in; beyond it the
/// rest of the body is not fed (the script sees an aborted request if it
/// reads on) and the response goes out.
const EARLY_OUTPUT_CAP: usize = 4 << 20;

/// What the feeding loop is about to send the thread.
enum Next {
    Piece(Bytes),
    End,
}

/// Feeds the request body to the thread while collecting its events, until
/// the body is complete, the response is complete, or the body broke.
/// Returns the events that arrived meanwhile, in order.
async fn feed_body(lease: &mut Lease, body: &mut dyn BodyRead) -> VecDeque<Event> {
    // Pieces as a stream: a socket read in progress stays inside it across
    // wake-ups, never dropped half-way. Err: the body broke.
    let pieces = stream::unfold(Some(body), |body| async move {
        let body = body?;
        match body.next_piece().await {
            Some(piece) => Some((Ok(piece), Some(body))),
            None if body.failed() => Some((Err(()), None)),
            None => None,
        }
    });
    let mut pieces = pin!(pieces);
    let mut early = VecDeque::new();
    let mut early_bytes = 0;
    let mut next: Option<Next> = None;
    let mut body_read = false;
    loop {
        while let Some(ev) = lease.next_ready() {
            let end = matches!(ev, Event::End);
            if let Event::Chunk(c) = &ev {
                early_bytes += c.len();
            }
            early.push_back(ev);
            if end {
                // The script answered and may be done with the body.
                if next.is_some() || !body_read {
                    lease.abort_body();
                }
                return early;
            }
        }
        if early_bytes > EARLY_OUTPUT_CAP {
            lease.abort_body();
            return early;
        }
        match next.take() {
            Some(Next::Piece(p)) => {
                if let Err(p) = lease.try_send_body(p) {
                    next = Some(Next::Piece(p));
                }
            }
            Some(Next::End) => {
                if lease.try_end_body() {
                    return early;
                }
                next = Some(Next::End);
            }
            None => {}
        }
        let want_piece = next.is_none() && !body_read;
        let woke = poll_fn(|cx| {
            if want_piece {
                if let Poll::Ready(item) = pieces.as_mut().poll_next(cx) {
                    return Poll::Ready(Some(item));
                }
            }
            let space = next.is_some() && lease.poll_space(cx).is_ready();
            if space || lease.poll_has_event(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        match woke {
            Some(Some(Ok(piece))) => next = Some(Next::Piece(piece)),
            Some(None) => {
                body_read = true;
                next = Some(Next::End);
            }
            Some(Some(Err(()))) => {
                lease.abort_body();
                return early;
            }
            None => {}
        }
    }
}

/// Turns the thread's events into a response: a whole body when the
/// script ends before flushing, else a stream. A HEAD response states the
/// script's Content-Length, if it set one.
async fn respond(mut lease: Lease, mut early: VecDeque<Event>, head_only: bool) -> Response {
    let next = async |lease: &mut Lease, early: &mut VecDeque<Event>| match early.pop_front() {
        Some(ev) => ev,
        None => lease.next().await,
    };
    let (mut resp, declared) = loop {
        match next(&mut lease, &mut early).await {
            Event::Head { status, headers, content_length } => {
                let mut r = Response::new(status);
                r.raw_headers = headers;
                break (r, content_length);
            }
            Event::End => return Response::error(502, "the PHP thread ended without a response"),
            Event::Chunk(_) | Event::Idle(_) => {}
        }
    };
    if head_only {
        resp.body = ResponseBody::HeadOnly(declared);
        return resp;
    }
    let first = match next(&mut lease, &mut early).await {
        Event::Chunk(c) => c,
        _ => return resp,
    };
    // The usual case: the script's whole output arrived with End behind it.
    let second = match early.pop_front() {
        Some(ev) => Some(ev),
        None => lease.next_ready(),
    };
    let mut ready = vec![first];
    match second {
        Some(Event::End) => {
            resp.body = ResponseBody::Bytes(ready.pop().unwrap_or_default());
            return resp;
        }
        Some(Event::Chunk(c)) => ready.push(c),
        _ => {}
    }
    // Early events beyond these are chunks (End ended the feeding).
    ready.extend(early.into_iter().filter_map(|ev| match ev {
        Event::Chunk(c) => Some(c),
        _ => None,
    }));
    stream_rest(resp, lease, ready)
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
    job.proto_num = match (head.http2, head.is_http11()) {
        (true, _) => 2000,
        (false, true) => 1001,
        (false, false) => 1000,
    };
    job.request_time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let content_type = head.header("content-type").unwrap_or_default();
    if !content_type.is_empty() {
        job.set(Field::ContentType, content_type);
    }
    if let Some(auth) = head.header("authorization") {
        job.set(Field::Authorization, auth);
    }
    set_cookies(job, req);

    let mut port = [0u8; 20];
    let mut ip = [0u8; 48];
    job.var(b"GATEWAY_INTERFACE", b"CGI/1.1");
    job.var(b"SERVER_SOFTWARE", SERVER_SOFTWARE.as_bytes());
    job.var(b"SERVER_PROTOCOL", head.protocol().as_bytes());
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
    job.var(b"CONTENT_LENGTH", length.map_or(&b""[..], |n| format_u64(&mut port, n)));
    if req.secure {
        job.var(b"REQUEST_SCHEME", b"https");
        job.var(b"HTTPS", b"on");
    } else {
        job.var(b"REQUEST_SCHEME", b"http");
    }
    job.var(b"REDIRECT_STATUS", b"200");
    let host = head.header("host").map(strip_port).filter(|h| !h.is_empty());
    let local_ip = format_ip(&mut ip, req.local.ip());
    job.var(b"SERVER_NAME", host.unwrap_or(local_ip));
    job.var(b"SERVER_ADDR", local_ip);
    job.var(b"SERVER_PORT", format_u64(&mut port, u64::from(req.local.port())));
    job.var(b"REMOTE_ADDR", format_ip(&mut ip, req.peer.ip()));
    job.var(b"REMOTE_PORT", format_u64(&mut port, u64::from(req.peer.port())));
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
    let headers = || req.head.headers();
    for (i, (name, value)) in headers().enumerate() {
        if name.contains('_') || name.eq_ignore_ascii_case("proxy") {
            continue;
        }
        let same = |(n, _): &(&str, &[u8])| n.eq_ignore_ascii_case(name);
        if headers().take(i).any(|h| same(&h)) {
            continue;
        }
        // The usual single header needs no list of parts.
        if !headers().skip(i + 1).any(|h| same(&h)) {
            job.header_var(name, &[value]);
            continue;
        }
        let sep: &[u8] = if name.eq_ignore_ascii_case("cookie") { b"; " } else { b", " };
        let mut parts: Vec<&[u8]> = vec![value];
        for (_, v) in headers().skip(i + 1).filter(|h| same(h)) {
            parts.push(sep);
            parts.push(v);
        }
        job.header_var(name, &parts);
    }
}

/// Every Cookie header, joined with "; " (the usual single one as it is).
fn set_cookies(job: &mut Job, req: &Request<'_>) {
    let mut cookies = req.head.headers().filter(|(n, _)| n.eq_ignore_ascii_case("cookie")).map(|(_, v)| v);
    let Some(first) = cookies.next() else { return };
    match cookies.next() {
        None => job.set(Field::Cookies, first),
        Some(second) => {
            let mut joined = [first, b"; ", second].concat();
            for more in cookies {
                joined.extend_from_slice(b"; ");
                joined.extend_from_slice(more);
            }
            job.set(Field::Cookies, &joined);
        }
    }
}

/// The host part of a Host header (IPv6 literals keep their brackets).
fn strip_port(host: &[u8]) -> &[u8] {
    if host.starts_with(b"[") {
        return host.iter().position(|&b| b == b']').map_or(host, |i| &host[..=i]);
    }
    host.iter().position(|&b| b == b':').map_or(host, |i| &host[..i])
}

/// Writes an IP address into `buf` and returns its text, without
/// allocating.
fn format_ip(buf: &mut [u8; 48], ip: std::net::IpAddr) -> &[u8] {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // 48 bytes hold any IPv4 or IPv6 text form.
    let _ = write!(cursor, "{ip}");
    let n = cursor.position() as usize;
    &buf[..n]
}

#[cfg(test)]
mod tests {
    use super::{format_ip, strip_port};

    #[test]
    fn host_without_port() {
        assert_eq!(strip_port(b"example.com:8080"), b"example.com");
        assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
        assert_eq!(strip_port(b"plain"), b"plain");
    }

    #[test]
    fn formats_addresses() {
        let mut b = [0; 48];
        assert_eq!(format_ip(&mut b, "127.0.0.1".parse().unwrap()), b"127.0.0.1");
        let v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        assert_eq!(format_ip(&mut b, v6.parse().unwrap()), v6.as_bytes());
    }
}
