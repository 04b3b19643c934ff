//! A closed-loop HTTP/1.1 load generator: N keep-alive connections over
//! several threads, each thread its own monoio runtime; every connection
//! sends a request, reads the whole response, and sends the next.
//! Bounded in time and in request count; loopback targets only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Target (must be loopback).
    pub addr: SocketAddr,
    /// The raw request sent each time.
    pub request: Vec<u8>,
    /// Keep-alive connections in all.
    pub connections: usize,
    /// Threads sharing them.
    pub threads: usize,
    /// How long to run.
    pub duration: Duration,
    /// Upper bound on requests per connection (a safety stop).
    pub max_per_connection: u64,
    /// CPUs to pin the threads to, if any.
    pub cpus: Vec<usize>,
}

/// What came back.
pub struct LoadResult {
    /// Completed requests with a 2xx answer.
    pub ok: u64,
    /// Failed requests or connections.
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency in nanoseconds.
    pub hist: Histogram<u64>,
}

impl LoadResult {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs the load and merges every thread's figures.
pub fn run(spec: &LoadSpec) -> Result<LoadResult, String> {
    if !spec.addr.ip().is_loopback() {
        return Err(format!("refusing to load {}: the harness only targets loopback", spec.addr));
    }
    let spec = Arc::new(spec.clone());
    let start = Instant::now();
    let deadline = start + spec.duration;
    let threads = spec.threads.max(1);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let spec = Arc::clone(&spec);
            let conns = spec.connections / threads + usize::from(t < spec.connections % threads);
            std::thread::spawn(move || {
                if let Some(cpu) = spec.cpus.get(t % spec.cpus.len().max(1)) {
                    core_affinity::set_for_current(core_affinity::CoreId { id: *cpu });
                }
                ephpm_rt::runtime::run(ephpm_rt::IoMode::Auto, |_| {}, |_| thread_load(spec, conns, deadline))
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut total = LoadResult { ok: 0, errors: 0, elapsed: Duration::ZERO, hist: new_hist() };
    for h in handles {
        let (ok, errors, hist) = h.join().map_err(|_| "load thread panicked".to_string())??;
        total.ok += ok;
        total.errors += errors;
        total.hist.add(&hist).map_err(|e| e.to_string())?;
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("histogram bounds")
}

async fn thread_load(spec: Arc<LoadSpec>, conns: usize, deadline: Instant) -> (u64, u64, Histogram<u64>) {
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let spec = Arc::clone(&spec);
            monoio::spawn(async move { connection_load(&spec, deadline).await })
        })
        .collect();
    let mut hist = new_hist();
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        let (o, e, h) = t.await;
        ok += o;
        errors += e;
        let _ = hist.add(&h);
    }
    (ok, errors, hist)
}

async fn connection_load(spec: &LoadSpec, deadline: Instant) -> (u64, u64, Histogram<u64>) {
    let mut hist = new_hist();
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut stream = match TcpStream::connect(spec.addr).await {
        Ok(s) => s,
        Err(_) => return (0, 1, hist),
    };
    let _ = stream.set_nodelay(true);
    let mut req = spec.request.clone();
    let mut buf = Vec::with_capacity(64 * 1024);
    for _ in 0..spec.max_per_connection {
        if Instant::now() >= deadline {
            break;
        }
        let t0 = Instant::now();
        let (res, r) = stream.write_all(req).await;
        req = r;
        if res.is_err() {
            errors += 1;
            break;
        }
        match read_response(&mut stream, buf).await {
            Ok((status, b)) => {
                buf = b;
                if (200..300).contains(&status) {
                    ok += 1;
                    let _ = hist.record(t0.elapsed().as_nanos() as u64);
                } else {
                    errors += 1;
                }
            }
            Err(_) => {
                errors += 1;
                break;
            }
        }
    }
    (ok, errors, hist)
}

/// How a response's body is delimited.
enum BodyLen {
    Length(usize),
    Chunked,
}

/// Reads one response (Content-Length or chunked) and returns its status.
async fn read_response(stream: &mut TcpStream, mut buf: Vec<u8>) -> std::io::Result<(u16, Vec<u8>)> {
    buf.clear();
    let (status, head_len, body) = loop {
        let (res, b) = read_more(stream, buf).await;
        buf = b;
        res?;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                let header =
                    |name: &str| resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
                let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked")) {
                    BodyLen::Chunked
                } else {
                    let len = header("content-length")
                        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok())
                        .ok_or_else(|| std::io::Error::other("response without Content-Length or chunked"))?;
                    BodyLen::Length(len)
                };
                break (resp.code.unwrap_or(0), n, body);
            }
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
    };
    match body {
        BodyLen::Length(body_len) => {
            let mut have = buf.len() - head_len;
            while have < body_len {
                buf.clear();
                let (res, b) = read_more(stream, buf).await;
                buf = b;
                res?;
                have += buf.len();
            }
        }
        BodyLen::Chunked => {
            // Walk the chunks; keep unparsed bytes at the front of buf.
            buf.drain(..head_len);
            loop {
                match walk_chunks(&buf)? {
                    Some(()) => break,
                    None => {
                        let (res, b) = read_more(stream, buf).await;
                        buf = b;
                        res?;
                    }
                }
            }
        }
    }
    Ok((status, buf))
}

/// Whether `data` holds a complete chunked body (no trailers).
fn walk_chunks(data: &[u8]) -> std::io::Result<Option<()>> {
    let mut pos = 0;
    loop {
        let Some(eol) = data[pos..].windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
        let line = std::str::from_utf8(&data[pos..pos + eol]).map_err(std::io::Error::other)?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        let next = pos + eol + 2 + size + 2;
        if data.len() < next {
            return Ok(None);
        }
        if size == 0 {
            return Ok(Some(()));
        }
        pos = next;
    }
}

async fn read_more(stream: &mut TcpStream, mut buf: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
    use monoio::buf::IoBufMut;
    if buf.capacity() - buf.len() < 16 * 1024 {
        buf.reserve(64 * 1024);
    }
    let (len, cap) = (buf.len(), buf.capacity());
    let (res, slice) = stream.read(buf.slice_mut(len..cap)).await;
    let buf = slice.into_inner();
    match res {
        Ok(0) => (Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed")), buf),
        Ok(_) => (Ok(()), buf),
        Err(e) => (Err(e), buf),
    }
}
