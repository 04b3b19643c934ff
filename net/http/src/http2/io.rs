//! What sits under the HTTP/2 codec: bytes already read before the switch
//! (h2c with prior knowledge), and a watch on the frames a client sends
//! that cuts off floods the codec would otherwise answer one by one.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The connection preface every HTTP/2 client sends first (RFC 9113,
/// section 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A stream that first yields bytes already read from it.
pub struct Prefixed<T> {
    prefix: Vec<u8>,
    pos: usize,
    inner: T,
}

impl<T> Prefixed<T> {
    /// `inner`, preceded by `prefix`.
    pub fn new(prefix: Vec<u8>, inner: T) -> Self {
        Prefixed { prefix, pos: 0, inner }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.pos);
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Frame types the watch counts.
const DATA: u8 = 0x0;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;

/// How many of each kind of frame a client may send per second before
/// it is cut off. Each limit is far above what browsers and HTTP/2
/// libraries send, and far below what the published floods need.
const LIMITS: [(&str, u32); 6] = [
    // CVE-2023-44487 (rapid reset): streams opened and cancelled at once.
    ("RST_STREAM flood (rapid reset)", 200),
    // CVE-2019-9515.
    ("SETTINGS flood", 100),
    // CVE-2019-9512.
    ("PING flood", 100),
    // CVE-2024-27316 and its family: endless header blocks.
    ("CONTINUATION flood", 500),
    // CVE-2019-9513.
    ("PRIORITY flood", 1000),
    // CVE-2019-9518: frames with no payload.
    ("empty frame flood", 1000),
];
const WINDOW: Duration = Duration::from_secs(1);

/// Where the watch is in the client's byte stream.
enum Scan {
    /// Inside the preface: this many bytes still to skip.
    Preface(usize),
    /// Reading a frame header: the bytes seen so far.
    Header([u8; 9], usize),
    /// Skipping a frame's payload: this many bytes left.
    Payload(usize),
}

/// Counts the frames a client sends, by kind, and fails the read (so the
/// codec drops the connection) once a kind goes over its limit.
pub struct FrameWatch<T> {
    inner: T,
    scan: Scan,
    window_start: Instant,
    counts: [u32; LIMITS.len()],
    /// Why the connection was cut off, for the caller's log and counters.
    verdict: Rc<Cell<Option<&'static str>>>,
}

impl<T> FrameWatch<T> {
    /// Watches `inner`, whose first bytes are the client preface;
    /// `verdict` receives the reason when the client is cut off.
    pub fn new(inner: T, verdict: Rc<Cell<Option<&'static str>>>) -> Self {
        FrameWatch {
            inner,
            scan: Scan::Preface(PREFACE.len()),
            window_start: Instant::now(),
            counts: [0; LIMITS.len()],
            verdict,
        }
    }

    /// Scans newly read bytes; the name of the flood when over a limit.
    fn scan(&mut self, mut bytes: &[u8]) -> Option<&'static str> {
        while !bytes.is_empty() {
            match &mut self.scan {
                Scan::Preface(left) | Scan::Payload(left) => {
                    let n = (*left).min(bytes.len());
                    *left -= n;
                    bytes = &bytes[n..];
                    if *left == 0 {
                        self.scan = Scan::Header([0; 9], 0);
                    }
                }
                Scan::Header(h, have) => {
                    let n = (9 - *have).min(bytes.len());
                    h[*have..*have + n].copy_from_slice(&bytes[..n]);
                    *have += n;
                    bytes = &bytes[n..];
                    if *have == 9 {
                        let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                        let (kind, flags) = (h[3], h[4]);
                        self.scan = if len == 0 { Scan::Header([0; 9], 0) } else { Scan::Payload(len) };
                        if let Some(flood) = self.count(kind, flags, len) {
                            return Some(flood);
                        }
                    }
                }
            }
        }
        None
    }

    fn count(&mut self, kind: u8, flags: u8, len: usize) -> Option<&'static str> {
        let slot = match kind {
            RST_STREAM => 0,
            SETTINGS => 1,
            PING => 2,
            CONTINUATION => 3,
            PRIORITY => 4,
            DATA if len == 0 && flags & END_STREAM == 0 => 5,
            _ => return None,
        };
        let now = Instant::now();
        if now.duration_since(self.window_start) >= WINDOW {
            self.window_start = now;
            self.counts = [0; LIMITS.len()];
        }
        self.counts[slot] += 1;
        (self.counts[slot] > LIMITS[slot].1).then_some(LIMITS[slot].0)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FrameWatch<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match this.scan(&buf.filled()[before..]) {
            None => Poll::Ready(Ok(())),
            Some(flood) => {
                this.verdict.set(Some(flood));
                Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionAborted, flood)))
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FrameWatch<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags, 0, 0, 0, 1];
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn counts_frames_split_anywhere_and_stops_a_ping_flood() {
        let mut w = FrameWatch::new((), Rc::new(Cell::new(None)));
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(SETTINGS, 0, &[0; 6]));
        bytes.extend(frame(0x1, 0x4, &[1, 2, 3]));
        for _ in 0..100 {
            bytes.extend(frame(PING, 0, &[0; 8]));
        }
        // Fed one byte at a time: headers and payloads split across reads.
        for b in &bytes {
            assert_eq!(w.scan(std::slice::from_ref(b)), None);
        }
        assert_eq!(w.scan(&frame(PING, 0, &[0; 8])), Some("PING flood"));
    }

    #[test]
    fn empty_data_frames_count_but_an_empty_end_of_stream_does_not() {
        let mut w = FrameWatch::new((), Rc::new(Cell::new(None)));
        assert_eq!(w.scan(PREFACE), None);
        for _ in 0..2000 {
            assert_eq!(w.scan(&frame(DATA, END_STREAM, &[])), None);
        }
        for _ in 0..1000 {
            assert_eq!(w.scan(&frame(DATA, 0, &[])), None);
        }
        assert_eq!(w.scan(&frame(DATA, 0, &[])), Some("empty frame flood"));
    }
}
