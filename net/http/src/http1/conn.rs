//! The per-connection loop: read, parse, call the service, write, repeat.
//!
//! A connection lives on one core for its whole life. Pipelined requests are
//! answered in order; responses to a pipelined batch are gathered in one
//! buffer and written together when the input runs dry.

use std::io;
use std::os::unix::fs::FileExt;
use std::pin::pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ephpm_rt::LocalSignal;
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncWriteRentExt, Canceller};

use super::body::ChunkedDecoder;
use super::parser::{Framing, Method, RequestHead};
use super::request_body::{BodyFailure, BodyReader, BodyState};
use super::response::{self, BodyFraming, Response, ResponseBody};
use super::service::{ConnContext, Request, Service, Transport};
use crate::access_log::AccessEntry;

/// Responses gathered from a pipelined batch are written once they reach
/// this size, or when the input runs dry.
const OUT_FLUSH: usize = 64 * 1024;
/// In-memory bodies up to this size are copied next to their head, so a
/// small response costs one write.
const INLINE_BODY: usize = 32 * 1024;
/// Read size for file bodies.
const FILE_CHUNK: usize = 256 * 1024;
/// Minimum free space offered to each socket read.
const READ_SPACE: usize = 4 * 1024;
/// An idle keep-alive connection keeps its buffers this long; after that
/// it frees them and waits for readability alone, so ten thousand idle
/// clients cost little memory while busy ones pay nothing extra.
const IDLE_HOLD: Duration = Duration::from_millis(250);
/// A connection closed while its client may still be sending (an unread
/// body, an error answered mid-request) keeps reading and dropping input
/// this long at most before it closes; closing with unread input would
/// send a reset that can destroy the response still on its way to the
/// client (nginx's lingering close).
const LINGER_TIME: Duration = Duration::from_secs(10);
/// The longest wait for the next bytes while lingering.
const LINGER_READ: Duration = Duration::from_secs(2);
/// Read size while lingering.
const LINGER_SPACE: usize = 64 * 1024;

enum ReadOutcome {
    Data,
    Eof,
    Timeout,
    Stopped,
    Failed,
}

struct Conn<S> {
    stream: S,
    rbuf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    head: RequestHead,
    file_buf: Vec<u8>,
    /// Reused across idle waits; replaced after it has cancelled a read.
    canceller: Option<Canceller>,
    /// Bytes read and written since last counted in the core's stats.
    bytes_in: u64,
    bytes_out: u64,
    /// Whether the client may still be sending when the connection closes.
    linger: bool,
    /// The client opened with the HTTP/2 preface (h2c, prior knowledge).
    http2: bool,
}

/// How a connection ended on HTTP/1.1's side.
pub enum Handoff<S> {
    /// Closed (or left to close).
    Done,
    /// The client spoke HTTP/2 with prior knowledge: the stream and what
    /// was read from it, preface included, for the HTTP/2 side.
    Http2(S, Vec<u8>),
}

/// Serves HTTP/1.1 on `stream` until the client leaves, a limit or timeout
/// closes it, or the core shuts down. Never panics on client input. With
/// `ctx.h2c`, a connection that opens with the HTTP/2 preface is handed
/// back for HTTP/2.
pub async fn serve_connection<S, Svc>(stream: S, svc: &Svc, ctx: ConnContext<'_>) -> Handoff<S>
where
    S: Transport,
    Svc: Service,
{
    let mut conn = Conn {
        stream,
        rbuf: Vec::with_capacity(READ_SPACE),
        pos: 0,
        out: Vec::with_capacity(2048),
        head: RequestHead::default(),
        file_buf: Vec::new(),
        canceller: None,
        bytes_in: 0,
        bytes_out: 0,
        linger: false,
        http2: false,
    };
    conn.run(svc, &ctx).await;
    ctx.stats.add_bytes(std::mem::take(&mut conn.bytes_in), std::mem::take(&mut conn.bytes_out));
    if conn.http2 {
        let rest = conn.rbuf.split_off(conn.pos);
        return Handoff::Http2(conn.stream, rest);
    }
    let _ = conn.stream.shutdown().await;
    if conn.linger || conn.pos < conn.rbuf.len() {
        conn.drain_input(ctx.stop).await;
    }
    ctx.stats.add_bytes(conn.bytes_in, conn.bytes_out);
    Handoff::Done
}

impl<S: Transport> Conn<S> {
    async fn run<Svc: Service>(&mut self, svc: &Svc, ctx: &ConnContext<'_>) {
        let limits = ctx.limits;
        // When the first byte of the current request arrived.
        let mut started: Option<Instant> = None;
        // A new connection that sends nothing gets the header timeout, not
        // the (longer) keep-alive timeout.
        let mut idle_limit = limits.header_timeout;
        let mut served = 0u64;
        loop {
            let parsed = self.head.parse(&self.rbuf[self.pos..], limits);
            match parsed {
                Ok(Some(n)) => {
                    self.pos += n;
                    let start = started.take().unwrap_or_else(Instant::now);
                    let deadline = start + limits.request_timeout;
                    if !self.handle(svc, ctx, start, deadline).await {
                        return;
                    }
                    served += 1;
                    idle_limit = limits.keep_alive_timeout;
                    if self.pos < self.rbuf.len() {
                        started = Some(Instant::now());
                    }
                }
                Ok(None) => {
                    let idle = self.pos == self.rbuf.len();
                    if idle && ctx.stop.is_fired() {
                        let _ = self.flush(limits.request_timeout).await;
                        return;
                    }
                    if !self.out.is_empty() && self.flush(limits.request_timeout).await.is_err() {
                        return;
                    }
                    let outcome = if idle {
                        self.idle_wait(idle_limit, ctx.stop).await
                    } else {
                        let first = *started.get_or_insert_with(Instant::now);
                        let deadline = first + limits.header_timeout.min(limits.request_timeout);
                        self.fill(deadline.saturating_duration_since(Instant::now()), None).await
                    };
                    match outcome {
                        ReadOutcome::Data => {
                            if idle {
                                started = Some(Instant::now());
                            }
                        }
                        ReadOutcome::Timeout if !idle => {
                            self.fail(ctx, 408, "timed out reading the request head", started).await;
                            return;
                        }
                        ReadOutcome::Timeout | ReadOutcome::Eof | ReadOutcome::Stopped | ReadOutcome::Failed => {
                            return;
                        }
                    }
                }
                Err(_) if ctx.h2c && served == 0 && self.rbuf[self.pos..].starts_with(b"PRI * HTTP/2.0\r\n") => {
                    self.http2 = true;
                    return;
                }
                Err(e) => {
                    self.fail(ctx, e.status(), e.reason(), started).await;
                    return;
                }
            }
        }
    }

    /// Calls the service (which reads the body as it arrives), settles the
    /// rest of the body, and queues the response. Returns whether the
    /// connection stays open.
    async fn handle<Svc: Service>(
        &mut self,
        svc: &Svc,
        ctx: &ConnContext<'_>,
        start: Instant,
        deadline: Instant,
    ) -> bool {
        let limits = ctx.limits;
        let state = match self.head.framing {
            Framing::None => BodyState::Done,
            Framing::Length(0) => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::Chunked(ChunkedDecoder::new(limits.max_body_size)),
        };
        let (resp, body_ok) = {
            let mut body = BodyReader::new(
                &mut self.stream,
                &mut self.rbuf,
                &mut self.pos,
                &mut self.out,
                state,
                self.head.expect_continue,
                deadline,
                limits.request_timeout,
            );
            let resp = svc
                .call(Request {
                    head: &self.head,
                    body: &mut body,
                    peer: ctx.peer,
                    local: ctx.local,
                    secure: ctx.secure,
                })
                .await;
            // What the service left unread is discarded, so the next
            // request starts at the right byte.
            let body_ok = body.is_done() || body.discard().await;
            self.bytes_in += body.bytes_read;
            match body.failure {
                Some(BodyFailure::Answer(status, why)) => {
                    self.fail(ctx, status, why, Some(start)).await;
                    return false;
                }
                Some(BodyFailure::Close) => return false,
                None => {}
            }
            // Unread body bytes may still be on their way.
            self.linger |= !body_ok;
            (resp, body_ok)
        };
        let status = resp.status;
        let keep_alive = body_ok && self.head.keep_alive && !resp.close && !ctx.stop.is_fired();
        let head_only = self.head.method() == Method::Head;
        // Writing is bounded per write, not by the request deadline: a large
        // download to a slow but live client must not be cut off.
        let sent = self.send(resp, head_only, keep_alive, limits.request_timeout, ctx.extra_head).await;
        // The clock is read only when something records the duration.
        let took = if ctx.stats.detailed() || ctx.access.is_some() { start.elapsed() } else { Duration::ZERO };
        ctx.stats.record(self.head.method(), status, took);
        ctx.stats.add_bytes(std::mem::take(&mut self.bytes_in), std::mem::take(&mut self.bytes_out));
        if let Some(log) = ctx.access {
            log.log(&AccessEntry {
                peer: ctx.peer.ip(),
                method: self.head.method_str(),
                target: self.head.target(),
                version: self.head.protocol(),
                status,
                bytes: sent.as_ref().map_or(0, |(b, _)| *b),
                referer: self.head.header("referer"),
                user_agent: self.head.header("user-agent"),
                micros: took.as_micros() as u64,
            });
        }
        matches!(sent, Ok((_, true)))
    }

    /// Writes `resp`. Returns the body bytes sent and whether the connection
    /// may stay open.
    async fn send(
        &mut self,
        resp: Response,
        head_only: bool,
        keep_alive: bool,
        write_timeout: Duration,
        extra_head: &[u8],
    ) -> io::Result<(u64, bool)> {
        let http11 = self.head.is_http11();
        let framing = response::write_head_with(&mut self.out, &resp, http11, keep_alive, extra_head);
        let keep_alive = keep_alive && framing != BodyFraming::Close;
        let sent = match resp.body {
            _ if head_only || framing == BodyFraming::None => 0,
            ResponseBody::Empty | ResponseBody::HeadOnly(_) => 0,
            ResponseBody::Bytes(b) if b.len() <= INLINE_BODY => {
                self.out.extend_from_slice(&b);
                b.len() as u64
            }
            ResponseBody::Bytes(b) => {
                self.flush(write_timeout).await?;
                let n = b.len() as u64;
                self.write_owned(b, write_timeout).await?;
                n
            }
            ResponseBody::File { file, offset, len } => self.send_file(&file, offset, len, write_timeout).await?,
            ResponseBody::Stream(mut s) => {
                let mut n = 0u64;
                while let Some(chunk) = s.next().await {
                    let chunk = chunk?;
                    n += chunk.len() as u64;
                    if framing == BodyFraming::Chunked {
                        response::write_chunk(&mut self.out, &chunk);
                    } else {
                        self.out.extend_from_slice(&chunk);
                    }
                    // A streamed piece is sent at once: the producer (a PHP
                    // flush(), say) wants it on the wire before the next.
                    self.flush(write_timeout).await?;
                }
                if framing == BodyFraming::Chunked {
                    self.out.extend_from_slice(response::LAST_CHUNK);
                }
                n
            }
        };
        if self.out.len() >= OUT_FLUSH || !keep_alive {
            self.flush(write_timeout).await?;
        }
        Ok((sent, keep_alive))
    }

    async fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        write_timeout: Duration,
    ) -> io::Result<u64> {
        self.flush(write_timeout).await?;
        let mut buf = std::mem::take(&mut self.file_buf);
        let mut done = 0u64;
        while done < len {
            let want = ((len - done) as usize).min(FILE_CHUNK);
            buf.clear();
            buf.resize(want, 0);
            // Page-cache reads are short; a cold read blocks this core
            // briefly, which io_uring file reads can remove later.
            let n = file.read_at(&mut buf, offset + done)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent"));
            }
            buf.truncate(n);
            buf = self.write_owned(buf, write_timeout).await?;
            done += n as u64;
        }
        self.file_buf = buf;
        Ok(done)
    }

    /// Answers an error and closes the connection. The request counts in
    /// the core's figures (as method `other`: its head may not have been
    /// read), but is not access-logged, for the same reason.
    async fn fail(&mut self, ctx: &ConnContext<'_>, status: u16, why: &str, started: Option<Instant>) {
        response::write_error(&mut self.out, status, why);
        let _ = self.flush(ctx.limits.request_timeout).await;
        // The client may be sending the rest of a request we refused.
        self.linger = true;
        ctx.stats.record(Method::Other, status, started.map_or(Duration::ZERO, |s| s.elapsed()));
    }

    async fn flush(&mut self, limit: Duration) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let mut out = self.write_owned(out, limit).await?;
        out.clear();
        self.out = out;
        Ok(())
    }

    async fn write_owned<B: IoBuf>(&mut self, buf: B, limit: Duration) -> io::Result<B> {
        match monoio::time::timeout(limit, self.stream.write_all(buf)).await {
            Ok((Ok(n), buf)) => {
                self.bytes_out += n as u64;
                Ok(buf)
            }
            Ok((Err(e), _)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Waits up to `limit` for the next request on an idle connection:
    /// first reading with buffers in place, then (after [`IDLE_HOLD`]) with
    /// buffers freed, waiting for readability only.
    async fn idle_wait(&mut self, limit: Duration, stop: &LocalSignal) -> ReadOutcome {
        let hold = limit.min(IDLE_HOLD);
        let started = Instant::now();
        match self.fill_cancelable(hold, stop).await {
            ReadOutcome::Timeout if hold < limit => {}
            other => return other,
        }
        self.release_buffers();
        let rest = limit.saturating_sub(started.elapsed());
        let waited = {
            let ready = pin!(monoio::time::timeout(rest, self.stream.readable()));
            match select(ready, pin!(stop.wait())).await {
                Either::Left((Ok(Ok(())), _)) => None,
                Either::Left((Ok(Err(_)), _)) => Some(ReadOutcome::Failed),
                Either::Left((Err(_), _)) => Some(ReadOutcome::Timeout),
                Either::Right(_) => Some(ReadOutcome::Stopped),
            }
        };
        match waited {
            None => self.fill(rest, None).await,
            Some(outcome) => outcome,
        }
    }

    /// Like [`Self::fill`] for an idle connection, but on timeout or stop the
    /// read is cancelled and its buffer (and any bytes that raced in) kept.
    async fn fill_cancelable(&mut self, limit: Duration, stop: &LocalSignal) -> ReadOutcome {
        self.prepare_read();
        let (len, cap) = (self.rbuf.len(), self.rbuf.capacity());
        let buf = std::mem::take(&mut self.rbuf).slice_mut(len..cap);
        let canceller = self.canceller.take().unwrap_or_default();
        let mut read = pin!(self.stream.cancelable_read(buf, canceller.handle()));
        let sleep = pin!(monoio::time::sleep(limit));
        let stopped = pin!(stop.wait());
        let interrupted = pin!(select(sleep, stopped));
        let (result, why) = match select(read.as_mut(), interrupted).await {
            Either::Left((r, _)) => {
                self.canceller = Some(canceller);
                (r, None)
            }
            Either::Right((which, _)) => {
                let _ = canceller.cancel();
                let stopped = matches!(which, Either::Right(_));
                (read.await, Some(if stopped { ReadOutcome::Stopped } else { ReadOutcome::Timeout }))
            }
        };
        let (res, buf) = result;
        self.rbuf = buf.into_inner();
        match res {
            Ok(0) => ReadOutcome::Eof,
            Ok(n) => {
                self.bytes_in += n as u64;
                ReadOutcome::Data
            }
            Err(_) if why.is_some() => why.unwrap_or(ReadOutcome::Timeout),
            Err(_) => ReadOutcome::Failed,
        }
    }

    /// After the write side is shut, reads and drops what the client still
    /// sends until it closes too, [`LINGER_TIME`] passes or the core stops.
    async fn drain_input(&mut self, stop: &LocalSignal) {
        let until = Instant::now() + LINGER_TIME;
        self.rbuf.clear();
        self.pos = 0;
        self.rbuf.reserve(LINGER_SPACE);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            self.rbuf.clear();
            if !matches!(self.fill(left.min(LINGER_READ), Some(stop)).await, ReadOutcome::Data) {
                return;
            }
        }
    }

    /// Frees the connection's buffers while it idles.
    fn release_buffers(&mut self) {
        self.rbuf = Vec::new();
        self.pos = 0;
        self.out = Vec::new();
        self.file_buf = Vec::new();
        self.head.release();
        self.stream.release_buffers();
    }

    /// Compacts `rbuf` and makes room for a read.
    fn prepare_read(&mut self) {
        if self.pos > 0 {
            self.rbuf.drain(..self.pos);
            self.pos = 0;
        }
        if self.rbuf.capacity() - self.rbuf.len() < READ_SPACE {
            self.rbuf.reserve(READ_SPACE);
        }
    }

    /// Reads more bytes into `rbuf` within `limit`, optionally giving up
    /// when `stop` fires.
    async fn fill(&mut self, limit: Duration, stop: Option<&LocalSignal>) -> ReadOutcome {
        self.prepare_read();
        let len = self.rbuf.len();
        let cap = self.rbuf.capacity();
        let buf = std::mem::take(&mut self.rbuf).slice_mut(len..cap);
        let read = pin!(monoio::time::timeout(limit, self.stream.read(buf)));
        let result = match stop {
            Some(stop) => match select(read, pin!(stop.wait())).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return ReadOutcome::Stopped,
            },
            None => read.await,
        };
        match result {
            Ok((Ok(0), buf)) => {
                self.rbuf = buf.into_inner();
                ReadOutcome::Eof
            }
            Ok((Ok(n), buf)) => {
                self.rbuf = buf.into_inner();
                self.bytes_in += n as u64;
                ReadOutcome::Data
            }
            Ok((Err(_), _)) => ReadOutcome::Failed,
            Err(_) => ReadOutcome::Timeout,
        }
    }
}

/// A canned answer for connections over the per-core limit.
pub fn over_capacity_response() -> Bytes {
    let mut out = Vec::new();
    response::write_error(&mut out, 503, "too many open connections on this core");
    out.into()
}
