//! The access log. Each core formats its request lines into its own buffer
//! and hands the buffer, when full or every [`FLUSH_EVERY`], to a writer
//! thread over a bounded channel. A core never waits for the writer: when
//! the channel is full the batch is dropped and counted.

use std::cell::{Cell, RefCell};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ephpm_rt::calendar::civil;

/// A core hands its buffer over at this size.
const FLUSH_AT: usize = 32 * 1024;
/// ... or this often.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Batches the writer may fall behind by before lines are dropped.
const QUEUE: usize = 1024;

/// How lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessFormat {
    /// Apache/nginx "combined".
    Combined,
    /// One JSON object per line.
    Json,
}

/// The writer thread's input, shared by every core.
#[derive(Clone)]
pub struct AccessSink {
    tx: SyncSender<Vec<u8>>,
    format: AccessFormat,
    dropped: Arc<AtomicU64>,
}

impl AccessSink {
    /// Opens `path` for appending (`None`: standard output) and starts the
    /// writer thread, which ends once every core's log is dropped.
    pub fn start(path: Option<&Path>, format: AccessFormat) -> io::Result<(AccessSink, JoinHandle<()>)> {
        let out: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(OpenOptions::new().create(true).append(true).open(p)?),
            None => Box::new(io::stdout()),
        };
        let (tx, rx) = sync_channel(QUEUE);
        let handle = std::thread::Builder::new().name("ephpm-access-log".into()).spawn(move || write_all(rx, out))?;
        Ok((AccessSink { tx, format, dropped: Arc::new(AtomicU64::new(0)) }, handle))
    }

    /// The count of lines dropped because the writer fell behind.
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.dropped)
    }
}

fn write_all(rx: Receiver<Vec<u8>>, mut out: Box<dyn Write + Send>) {
    let mut failed = false;
    for batch in rx {
        if let Err(e) = out.write_all(&batch).and_then(|_| out.flush()) {
            if !failed {
                tracing::error!("access log: cannot write: {e}");
                failed = true;
            }
        }
    }
}

/// One request, as the log records it.
pub struct AccessEntry<'a> {
    /// Client address.
    pub peer: IpAddr,
    /// Method as sent.
    pub method: &'a str,
    /// Request target as sent.
    pub target: &'a str,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: &'a str,
    /// Response status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The Referer header.
    pub referer: Option<&'a [u8]>,
    /// The User-Agent header.
    pub user_agent: Option<&'a [u8]>,
    /// From the request's first byte to the response written or queued.
    pub micros: u64,
}

/// One core's end of the access log.
pub struct AccessLog {
    sink: AccessSink,
    buf: RefCell<Vec<u8>>,
    lines: Cell<u64>,
    /// The timestamp text of the current second.
    stamp: RefCell<(u64, String)>,
}

impl AccessLog {
    /// This core's log; a task on the core's runtime hands the buffer over
    /// every [`FLUSH_EVERY`] while the log lives.
    pub fn new(sink: AccessSink) -> Rc<Self> {
        let log = Rc::new(AccessLog {
            sink,
            buf: RefCell::new(Vec::with_capacity(FLUSH_AT + 1024)),
            lines: Cell::new(0),
            stamp: RefCell::new((u64::MAX, String::new())),
        });
        monoio::spawn(flush_periodically(Rc::downgrade(&log)));
        log
    }

    /// Appends one line.
    pub fn log(&self, e: &AccessEntry<'_>) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut buf = self.buf.borrow_mut();
        {
            let mut stamp = self.stamp.borrow_mut();
            if stamp.0 != now {
                *stamp = (now, timestamp(now, self.sink.format));
            }
            match self.sink.format {
                AccessFormat::Combined => combined(&mut buf, e, &stamp.1),
                AccessFormat::Json => json(&mut buf, e, &stamp.1),
            }
        }
        self.lines.set(self.lines.get() + 1);
        let full = buf.len() >= FLUSH_AT;
        drop(buf);
        if full {
            self.flush();
        }
    }

    /// Hands the buffered lines to the writer, or drops them if it is a
    /// whole queue behind.
    pub fn flush(&self) {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut *buf, Vec::with_capacity(FLUSH_AT + 1024));
        let lines = self.lines.replace(0);
        match self.sink.tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(mut batch)) => {
                self.sink.dropped.fetch_add(lines, Ordering::Relaxed);
                batch.clear();
                *buf = batch;
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        // The core's last lines, at shutdown; still never waiting.
        self.flush();
    }
}

async fn flush_periodically(log: Weak<AccessLog>) {
    loop {
        monoio::time::sleep(FLUSH_EVERY).await;
        match log.upgrade() {
            Some(log) => log.flush(),
            None => return,
        }
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `10/Oct/2000:13:55:36 +0000` (combined) or `2000-10-10T13:55:36Z` (json).
fn timestamp(secs: u64, format: AccessFormat) -> String {
    let (y, m, d, h, mi, s) = civil(secs as i64);
    match format {
        AccessFormat::Combined => {
            format!("{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000", MONTHS[(m - 1) as usize])
        }
        AccessFormat::Json => format!("{y}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
    }
}

/// `peer - - [time] "METHOD target VERSION" status bytes "referer" "agent"`
fn combined(out: &mut Vec<u8>, e: &AccessEntry<'_>, time: &str) {
    use std::io::Write as _;
    let _ = write!(out, "{} - - [{time}] \"", e.peer);
    quoted(out, e.method.as_bytes());
    out.push(b' ');
    quoted(out, e.target.as_bytes());
    out.push(b' ');
    out.extend_from_slice(e.version.as_bytes());
    let _ = write!(out, "\" {} {} \"", e.status, e.bytes);
    quoted(out, e.referer.unwrap_or(b"-"));
    out.extend_from_slice(b"\" \"");
    quoted(out, e.user_agent.unwrap_or(b"-"));
    out.extend_from_slice(b"\"\n");
}

/// Bytes inside a quoted combined-log field: `"`, `\` and anything not
/// printable ASCII as `\xHH`, as nginx writes them.
fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
}

fn json(out: &mut Vec<u8>, e: &AccessEntry<'_>, time: &str) {
    use std::io::Write as _;
    let _ = write!(out, "{{\"time\":\"{time}\",\"peer\":\"{}\",\"method\":", e.peer);
    json_str(out, e.method.as_bytes());
    out.extend_from_slice(b",\"target\":");
    json_str(out, e.target.as_bytes());
    let _ = write!(out, ",\"version\":\"{}\",\"status\":{},\"bytes\":{}", e.version, e.status, e.bytes);
    for (name, v) in [("referer", e.referer), ("user_agent", e.user_agent)] {
        if let Some(v) = v {
            let _ = write!(out, ",\"{name}\":");
            json_str(out, v);
        }
    }
    let _ = writeln!(out, ",\"micros\":{}}}", e.micros);
}

/// A JSON string; bytes that are not valid UTF-8 become U+FFFD.
fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    use std::io::Write as _;
    out.push(b'"');
    for c in String::from_utf8_lossy(s).chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(ua: &'a [u8]) -> AccessEntry<'a> {
        AccessEntry {
            peer: "127.0.0.1".parse().unwrap(),
            method: "GET",
            target: "/a?b=1",
            version: "HTTP/1.1",
            status: 200,
            bytes: 17,
            referer: None,
            user_agent: Some(ua),
            micros: 42,
        }
    }

    #[test]
    fn combined_line() {
        let mut out = Vec::new();
        combined(&mut out, &entry(b"curl/8 \"x\"\n"), &timestamp(971_186_136, AccessFormat::Combined));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /a?b=1 HTTP/1.1\" 200 17 \"-\" \"curl/8 \\x22x\\x22\\x0A\"\n"
        );
    }

    #[test]
    fn json_line() {
        let mut out = Vec::new();
        json(&mut out, &entry(b"a\"\\\x01\xff"), &timestamp(971_186_136, AccessFormat::Json));
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "{\"time\":\"2000-10-10T13:55:36Z\",\"peer\":\"127.0.0.1\",\"method\":\"GET\",\"target\":\"/a?b=1\",\
             \"version\":\"HTTP/1.1\",\"status\":200,\"bytes\":17,\"user_agent\":\"a\\\"\\\\\\u0001\u{fffd}\",\"micros\":42}\n"
        );
    }
}
