//! TLS for protocols written against tokio's poll-style I/O traits (the
//! `h2` crate): rustls on top of monoio's compat wrapper of the socket.
//!
//! Unlike [`crate::TlsStream`], reads and writes here may be in progress at
//! the same time (HTTP/2 reads frames while it writes others); each poll
//! does its rustls work synchronously and leaves the socket's pending read
//! and write to the compat wrapper, which keeps one of each.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use monoio::net::TcpStream;
use monoio_compat::StreamWrapper;
use rustls::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stream::TlsStream;

/// Ciphertext the wrapper reads from the socket at a time.
const READ_BUFFER: usize = 32 * 1024;
/// Ciphertext the wrapper writes to the socket at a time.
const WRITE_BUFFER: usize = 64 * 1024;
/// A full TLS record's plaintext: buffered writes are sealed once this
/// much is waiting (or at a flush).
const RECORD: usize = 16 * 1024;
/// Most plaintext held before a write waits for the socket.
const PLAIN_LIMIT: usize = 4 * RECORD;

/// A TLS connection after its handshake, with tokio's I/O traits.
pub struct TlsCompat {
    tcp: StreamWrapper<TcpStream>,
    conn: ServerConnection,
    /// Ciphertext read before the switch, not yet given to rustls.
    pending: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Plaintext written but not yet sealed. h2 writes each frame (often a
    /// frame header and its payload separately) and then flushes; sealing
    /// at the flush puts a batch of frames in one record and one send
    /// instead of a record and a system call per write.
    plain: Vec<u8>,
}

impl TlsCompat {
    /// Continues `stream` (handshake done) with tokio's I/O traits.
    pub fn new(stream: TlsStream) -> TlsCompat {
        let (io, conn, pending) = stream.into_parts();
        TlsCompat {
            tcp: StreamWrapper::new_with_buffer_size(io, READ_BUFFER, WRITE_BUFFER),
            conn,
            pending,
            pos: 0,
            eof: false,
            plain: Vec::new(),
        }
    }

    /// Seals the buffered plaintext and writes every record to the socket;
    /// `Pending` while the socket is busy.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if !self.plain.is_empty() {
                // rustls takes less when its own buffer is full.
                let n = self.conn.writer().write(&self.plain)?;
                if n == self.plain.len() {
                    self.plain.clear();
                } else {
                    self.plain.drain(..n);
                }
            }
            if !self.conn.wants_write() {
                if self.plain.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            match self.write_io(cx) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Takes what fits of `bufs` into the plaintext buffer, making room
    /// first when it is full; seals a batch as soon as a record's worth
    /// waits (the socket is not waited for then).
    fn buffer(&mut self, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        if self.plain.len() >= PLAIN_LIMIT {
            match self.drain(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // Some room may have been made even so.
                Poll::Pending if self.plain.len() >= PLAIN_LIMIT => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        let mut taken = 0;
        for b in bufs {
            let room = PLAIN_LIMIT - self.plain.len();
            if room == 0 {
                break;
            }
            let n = b.len().min(room);
            self.plain.extend_from_slice(&b[..n]);
            taken += n;
        }
        if self.plain.len() >= RECORD {
            if let Poll::Ready(Err(e)) = self.drain(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(taken))
    }

    /// Writes queued records until rustls has none or the socket is busy.
    fn write_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut io = SyncIo { io: &mut self.tcp, cx };
        match self.conn.write_tls(&mut io) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            r => Poll::Ready(r),
        }
    }

    /// Gives rustls more ciphertext (first what was read before the
    /// switch) and processes it.
    fn read_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pos < self.pending.len() {
            let n = self.conn.read_tls(&mut &self.pending[self.pos..])?;
            self.pos += n;
            if self.pos == self.pending.len() {
                self.pending = Vec::new();
                self.pos = 0;
            }
        } else {
            let mut io = SyncIo { io: &mut self.tcp, cx };
            match self.conn.read_tls(&mut io) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        if let Err(e) = self.conn.process_new_packets() {
            // Send the alert rustls queued, if the socket takes it now.
            let _ = self.write_io(cx);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        Poll::Ready(Ok(()))
    }
}

/// The compat socket as blocking-style `Read`/`Write` for rustls, where
/// "not ready" is `WouldBlock` (the waker is registered by the poll).
struct SyncIo<'a, 'b> {
    io: &'a mut StreamWrapper<TcpStream>,
    cx: &'a mut Context<'b>,
}

impl Read for SyncIo<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(&mut *self.io).poll_read(self.cx, &mut rb) {
            Poll::Ready(Ok(())) => Ok(rb.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for SyncIo<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl AsyncRead for TlsCompat {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.conn.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e)),
            }
            if this.conn.wants_write() {
                // A key update's answer or an alert; a busy socket takes
                // it on the next write or flush.
                let _ = this.write_io(cx);
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match this.read_io(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
    }
}

impl AsyncWrite for TlsCompat {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().buffer(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().buffer(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.drain(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.send_close_notify();
        match self.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
