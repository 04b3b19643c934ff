//! The byte stream a core's connection runs on, plain TCP or TLS, so that
//! each protocol's connection loop (HTTP/1.1, RESP) is written once for
//! both; [`MaybeTls`] for a protocol that switches part-way (MySQL).

use std::future::Future;
use std::io;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, CancelableAsyncReadRent};
use monoio::net::TcpStream;
use monoio::BufResult;

use crate::TlsStream;

/// A byte stream a connection can run on: owned-buffer reads and writes,
/// cancellable reads, and a readiness wait that needs no buffer.
pub trait Transport: AsyncReadRent + AsyncWriteRent + CancelableAsyncReadRent {
    /// Resolves when the stream has bytes (or EOF) to read.
    fn readable(&self) -> impl Future<Output = io::Result<()>>;
    /// Gives back what buffers the stream itself holds while its
    /// connection idles.
    fn release_buffers(&mut self) {}
}

impl Transport for monoio::net::TcpStream {
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        monoio::net::TcpStream::readable(self, false)
    }
}

impl Transport for crate::TlsStream {
    fn readable(&self) -> impl Future<Output = io::Result<()>> {
        crate::TlsStream::readable(self)
    }

    fn release_buffers(&mut self) {
        crate::TlsStream::release_buffers(self)
    }
}

/// A connection that may switch to TLS part-way (MySQL's SSLRequest):
/// plain TCP until then, TLS after.
pub enum MaybeTls {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream>),
    /// In the middle of the switch (or after a failed one): every read
    /// and write fails.
    Gone,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was lost while switching to TLS")
}

impl MaybeTls {
    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }

    /// Takes the plain socket out for the switch, leaving `Gone`.
    pub fn take_plain(&mut self) -> Option<TcpStream> {
        match std::mem::replace(self, MaybeTls::Gone) {
            MaybeTls::Plain(s) => Some(s),
            other => {
                *self = other;
                None
            }
        }
    }
}

impl AsyncReadRent for MaybeTls {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            MaybeTls::Plain(s) => s.read(buf).await,
            MaybeTls::Tls(s) => s.read(buf).await,
            MaybeTls::Gone => (Err(gone()), buf),
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            MaybeTls::Plain(s) => s.readv(buf).await,
            MaybeTls::Tls(s) => s.readv(buf).await,
            MaybeTls::Gone => (Err(gone()), buf),
        }
    }
}

impl AsyncWriteRent for MaybeTls {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            MaybeTls::Plain(s) => s.write(buf).await,
            MaybeTls::Tls(s) => s.write(buf).await,
            MaybeTls::Gone => (Err(gone()), buf),
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            MaybeTls::Plain(s) => s.writev(buf).await,
            MaybeTls::Tls(s) => s.writev(buf).await,
            MaybeTls::Gone => (Err(gone()), buf),
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(s) => s.flush().await,
            MaybeTls::Tls(s) => s.flush().await,
            MaybeTls::Gone => Err(gone()),
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(s) => s.shutdown().await,
            MaybeTls::Tls(s) => s.shutdown().await,
            MaybeTls::Gone => Ok(()),
        }
    }
}
