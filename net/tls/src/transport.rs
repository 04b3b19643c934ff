//! The byte stream a core's connection runs on, plain TCP or TLS, so that
//! each protocol's connection loop (HTTP/1.1, RESP) is written once for
//! both.

use std::future::Future;
use std::io;

use monoio::io::{AsyncReadRent, AsyncWriteRent, CancelableAsyncReadRent};

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
