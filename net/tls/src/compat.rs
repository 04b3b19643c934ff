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

/// A TLS connection after its handshake, with tokio's I/O traits.
pub struct TlsCompat {
    tcp: StreamWrapper<TcpStream>,
    conn: ServerConnection,
    /// Ciphertext read before the switch, not yet given to rustls.
    pending: Vec<u8>,
    pos: usize,
    eof: bool,
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
        }
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
        let this = self.get_mut();
        let mut pos = 0;
        while pos < buf.len() {
            pos += this.conn.writer().write(&buf[pos..])?;
            let mut blocked = false;
            while this.conn.wants_write() {
                match this.write_io(cx) {
                    Poll::Ready(Ok(0)) | Poll::Pending => {
                        blocked = true;
                        break;
                    }
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                }
            }
            if blocked {
                return if pos == 0 { Poll::Pending } else { Poll::Ready(Ok(pos)) };
            }
        }
        Poll::Ready(Ok(pos))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.conn.writer().flush()?;
        while this.conn.wants_write() {
            match this.write_io(cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
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
