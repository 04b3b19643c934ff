//! A server-side TLS connection over a core's TCP stream, with monoio's
//! owned-buffer read and write traits, so the protocol loops written for
//! plain TCP run on it unchanged.
//!
//! Written here rather than taken from monoio-rustls: the connection
//! loops need reads that can be cancelled without losing ciphertext (an
//! idle keep-alive wait), a readiness wait that knows about plaintext
//! rustls already holds, and buffers an idle connection can give back.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::{HandshakeKind, ProtocolVersion, ServerConfig, ServerConnection};

use crate::buf;
use crate::stats::TlsStats;

/// Room offered to each ciphertext read: a full TLS record and then some.
const TLS_READ: usize = 18 * 1024;
/// Plaintext handed to rustls before its records are written out.
const OUT_BATCH: usize = 64 * 1024;

/// Why a handshake did not complete.
#[derive(Debug)]
pub enum Refused {
    /// The client spoke plain HTTP to the TLS port (answered 400).
    PlainHttp,
    /// The handshake did not finish in time.
    Timeout,
    /// The client left before finishing.
    Closed,
    /// The TLS exchange failed (the client got an alert).
    Failed(rustls::Error),
    /// The socket failed.
    Io(io::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::PlainHttp => f.write_str("plain HTTP on the TLS port"),
            Refused::Timeout => f.write_str("handshake timed out"),
            Refused::Closed => f.write_str("client closed during the handshake"),
            Refused::Failed(e) => write!(f, "handshake failed: {e}"),
            Refused::Io(e) => write!(f, "socket error during the handshake: {e}"),
        }
    }
}

/// A TLS connection after its handshake.
pub struct TlsStream {
    io: TcpStream,
    conn: ServerConnection,
    /// Ciphertext read from the socket; `tls_in[in_pos..]` is not yet
    /// given to rustls.
    tls_in: Vec<u8>,
    in_pos: usize,
    /// Ciphertext waiting for the socket.
    tls_out: Vec<u8>,
    /// The last read filled the caller's buffer: rustls may hold more.
    plain_pending: bool,
    /// The socket reached end of file.
    eof: bool,
}

/// What a listener other than HTTPS (RESP, the MySQL front) needs to run
/// its clients' handshakes on a core.
pub struct TlsAcceptor {
    /// The rustls settings (shared certificates and ticket keys).
    pub config: Arc<ServerConfig>,
    /// A handshake not finished within this is dropped.
    pub handshake_timeout: Duration,
    /// The core's handshake counters for this listener.
    pub stats: TlsStats,
}

impl TlsAcceptor {
    /// An acceptor for `config`, with fresh counters.
    pub fn new(config: Arc<ServerConfig>, handshake_timeout: Duration) -> TlsAcceptor {
        TlsAcceptor { config, handshake_timeout, stats: TlsStats::default() }
    }

    /// Runs the handshake of a client that opens with TLS.
    pub async fn accept(&self, io: TcpStream) -> Result<TlsStream, Refused> {
        self.accept_after(io, Vec::new()).await
    }

    /// Runs the handshake of a client that switched to TLS part-way, with
    /// the handshake bytes already read (see [`accept_after`]).
    pub async fn accept_after(&self, io: TcpStream, already: Vec<u8>) -> Result<TlsStream, Refused> {
        accept_after(io, already, Arc::clone(&self.config), self.handshake_timeout, &self.stats).await
    }
}

/// Runs the server side of a handshake on `io`, within `limit`. Counts
/// the outcome in `stats`.
pub async fn accept(
    io: TcpStream,
    config: Arc<ServerConfig>,
    limit: Duration,
    stats: &TlsStats,
) -> Result<TlsStream, Refused> {
    accept_after(io, Vec::new(), config, limit, stats).await
}

/// As [`accept`], on a connection that switches to TLS mid-stream (the
/// MySQL protocol's SSLRequest): `already` holds bytes of the handshake
/// the protocol's reader took off the socket before the switch.
pub async fn accept_after(
    io: TcpStream,
    already: Vec<u8>,
    config: Arc<ServerConfig>,
    limit: Duration,
    stats: &TlsStats,
) -> Result<TlsStream, Refused> {
    let conn = ServerConnection::new(config).map_err(Refused::Failed)?;
    let mut s =
        TlsStream { io, conn, tls_in: already, in_pos: 0, tls_out: Vec::new(), plain_pending: false, eof: false };
    let outcome = match monoio::time::timeout(limit, s.handshake()).await {
        Ok(r) => r,
        Err(_) => Err(Refused::Timeout),
    };
    match outcome {
        Ok(()) => {
            stats.completed(&s);
            Ok(s)
        }
        Err(e) => {
            stats.refused(&e);
            Err(e)
        }
    }
}

impl TlsStream {
    /// The negotiated ALPN protocol, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The server name the client asked for (SNI).
    pub fn server_name(&self) -> Option<&str> {
        self.conn.server_name()
    }

    /// The negotiated TLS version.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.conn.protocol_version()
    }

    /// Whether the handshake resumed an earlier session.
    pub fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Takes the connection apart for a protocol that drives TLS itself
    /// (HTTP/2 through [`crate::compat::TlsCompat`]): the socket, the rustls
    /// state and ciphertext already read but not yet given to rustls.
    pub fn into_parts(mut self) -> (TcpStream, ServerConnection, Vec<u8>) {
        let pending = self.tls_in.split_off(self.in_pos);
        (self.io, self.conn, pending)
    }

    /// Resolves when the stream has plaintext (or EOF) to read.
    pub async fn readable(&self) -> io::Result<()> {
        if self.plain_pending || self.in_pos < self.tls_in.len() || self.eof {
            return Ok(());
        }
        self.io.readable(false).await
    }

    /// Gives back the buffers of an idle connection (ciphertext not yet
    /// processed is kept).
    pub fn release_buffers(&mut self) {
        if self.in_pos == self.tls_in.len() {
            self.tls_in = Vec::new();
            self.in_pos = 0;
        }
        if self.tls_out.is_empty() {
            self.tls_out = Vec::new();
        }
    }

    async fn handshake(&mut self) -> Result<(), Refused> {
        let mut first = true;
        while self.conn.is_handshaking() {
            if self.conn.wants_write() {
                self.flush_tls().await.map_err(Refused::Io)?;
                continue;
            }
            if self.in_pos == self.tls_in.len() && !self.fill_tls(None).await.map_err(Refused::Io)? {
                return Err(Refused::Closed);
            }
            if std::mem::take(&mut first) && looks_like_http(&self.tls_in[self.in_pos..]) {
                let _ = self.io.write_all(PLAIN_HTTP_ANSWER).await;
                return Err(Refused::PlainHttp);
            }
            if let Err(e) = self.feed_once() {
                // rustls queued an alert for the client.
                let _ = self.flush_tls().await;
                return Err(match e.into_inner().and_then(|e| e.downcast::<rustls::Error>().ok()) {
                    Some(e) => Refused::Failed(*e),
                    None => Refused::Failed(rustls::Error::General("bad record".into())),
                });
            }
        }
        self.flush_tls().await.map_err(Refused::Io)
    }

    /// Reads ciphertext from the socket; `Ok(false)` at end of file.
    async fn fill_tls(&mut self, cancel: Option<CancelHandle>) -> io::Result<bool> {
        if self.in_pos == self.tls_in.len() {
            self.tls_in.clear();
            self.in_pos = 0;
        } else if self.in_pos > 0 {
            self.tls_in.drain(..self.in_pos);
            self.in_pos = 0;
        }
        if self.tls_in.capacity() - self.tls_in.len() < TLS_READ / 2 {
            self.tls_in.reserve(TLS_READ);
        }
        let (len, cap) = (self.tls_in.len(), self.tls_in.capacity());
        let space = std::mem::take(&mut self.tls_in).slice_mut(len..cap);
        let (res, space) = match cancel {
            Some(c) => self.io.cancelable_read(space, c).await,
            None => self.io.read(space).await,
        };
        self.tls_in = space.into_inner();
        match res? {
            0 => {
                self.eof = true;
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    /// Gives rustls one batch of the ciphertext read and processes it.
    fn feed_once(&mut self) -> io::Result<()> {
        let mut pending = &self.tls_in[self.in_pos..];
        let n = self.conn.read_tls(&mut pending)?;
        self.in_pos += n;
        self.conn.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(())
    }

    /// Writes every record rustls has queued.
    async fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.tls_out)?;
        }
        if self.tls_out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.tls_out);
        let (res, mut out) = self.io.write_all(out).await;
        out.clear();
        self.tls_out = out;
        res.map(|_| ())
    }

    /// Reads plaintext into `dst`; `Ok(0)` when the client closed.
    async fn read_plain(&mut self, dst: &mut [u8], cancel: Option<CancelHandle>) -> io::Result<usize> {
        if dst.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn.reader().read(dst) {
                Ok(n) => {
                    self.plain_pending = n == dst.len();
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The client closed without close_notify: to the protocol
                // above that is an ordinary end of stream.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.plain_pending = false;
            if self.conn.wants_write() {
                // A key update's answer, an alert, late session tickets.
                self.flush_tls().await?;
            }
            if self.in_pos == self.tls_in.len() {
                if self.eof {
                    return Ok(0);
                }
                if !self.fill_tls(cancel.clone()).await? {
                    // Tell rustls, so its reader reports the end.
                    let _ = self.conn.read_tls(&mut &[][..]);
                    continue;
                }
            }
            if let Err(e) = self.feed_once() {
                let _ = self.flush_tls().await;
                return Err(e);
            }
        }
    }

    /// Encrypts and sends all of `parts`.
    async fn write_plain(&mut self, parts: &[&[u8]]) -> io::Result<usize> {
        let mut total = 0;
        for part in parts {
            let mut off = 0;
            while off < part.len() {
                let n = self.conn.writer().write(&part[off..])?;
                off += n;
                if n == 0 || self.tls_out.len() >= OUT_BATCH {
                    self.flush_tls().await?;
                }
            }
            total += part.len();
        }
        self.flush_tls().await?;
        Ok(total)
    }
}

/// What a client speaking plain HTTP to the TLS port is told (as nginx
/// does), before the connection closes.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 50\r\n\
Connection: close\r\n\r\nThis port speaks HTTPS: the request was plain HTTP";

/// Whether the first bytes on a TLS port are a plain HTTP request line
/// rather than a TLS record (which starts with 0x16 for a handshake).
fn looks_like_http(first: &[u8]) -> bool {
    let word: Vec<u8> = first.iter().take(8).take_while(|b| b.is_ascii_uppercase()).copied().collect();
    !word.is_empty() && first.get(word.len()) == Some(&b' ')
}

impl AsyncReadRent for TlsStream {
    async fn read<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let res = self.read_plain(buf::writable(&mut buf), None).await;
        if let Ok(n) = res {
            buf::filled(&mut buf, n);
        }
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        let res = self.read_plain(buf::writable_first(&mut buf), None).await;
        if let Ok(n) = res {
            buf::filled_vec(&mut buf, n);
        }
        (res, buf)
    }
}

impl CancelableAsyncReadRent for TlsStream {
    async fn cancelable_read<T: IoBufMut>(&mut self, mut buf: T, c: CancelHandle) -> BufResult<usize, T> {
        let res = self.read_plain(buf::writable(&mut buf), Some(c)).await;
        if let Ok(n) = res {
            buf::filled(&mut buf, n);
        }
        (res, buf)
    }

    async fn cancelable_readv<T: IoVecBufMut>(&mut self, mut buf: T, c: CancelHandle) -> BufResult<usize, T> {
        let res = self.read_plain(buf::writable_first(&mut buf), Some(c)).await;
        if let Ok(n) = res {
            buf::filled_vec(&mut buf, n);
        }
        (res, buf)
    }
}

impl AsyncWriteRent for TlsStream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let res = self.write_plain(&[buf::readable(&buf)]).await;
        (res, buf)
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let res = self.write_plain(&buf::readable_parts(&buf)).await;
        (res, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flush_tls().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        let _ = self.flush_tls().await;
        self.io.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_told_apart_from_a_tls_record() {
        assert!(looks_like_http(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http(b"OPTIONS * HTTP/1.1"));
        assert!(!looks_like_http(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!looks_like_http(b"get / HTTP/1.1"));
        assert!(!looks_like_http(b"GETX"));
    }

    #[test]
    fn the_plain_http_answer_declares_its_body_length() {
        let text = std::str::from_utf8(PLAIN_HTTP_ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
    }
}
