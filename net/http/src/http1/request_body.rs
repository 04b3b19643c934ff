//! The request body as a service reads it: pieces decoded from the
//! connection's read buffer as the client sends them, so a large upload
//! streams through instead of sitting whole in memory first.

use std::future::Future;
use std::pin::{pin, Pin};
use std::time::{Duration, Instant};

use bytes::Bytes;
use monoio::buf::IoBufMut;
use monoio::io::AsyncWriteRentExt;

use super::body::ChunkedDecoder;
use super::service::{BodyRead, Transport};

/// Read size while a body streams in.
const BODY_READ: usize = 64 * 1024;

/// Where the body stands.
pub(super) enum BodyState {
    /// This many bytes remain (Content-Length).
    Length(u64),
    /// Chunked transfer coding.
    Chunked(ChunkedDecoder),
    /// Read to the end (or given up).
    Done,
}

/// Why a body could not be read to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyFailure {
    /// Answer with this status and reason, then close.
    Answer(u16, &'static str),
    /// Close without answering (the client went away).
    Close,
}

/// The connection's body reader for one request; borrows what it needs
/// from the connection while the service runs.
pub(super) struct BodyReader<'c, S> {
    pub(super) stream: &'c mut S,
    pub(super) rbuf: &'c mut Vec<u8>,
    pub(super) pos: &'c mut usize,
    /// Responses not yet written (pipelining); `100 Continue` goes after.
    pub(super) out: &'c mut Vec<u8>,
    pub(super) state: BodyState,
    /// The client waits for `100 Continue` before sending the body.
    pub(super) continue_pending: bool,
    pub(super) deadline: Instant,
    pub(super) write_timeout: Duration,
    pub(super) declared: Option<u64>,
    pub(super) failure: Option<BodyFailure>,
    /// A socket read is in flight. If the reader is dropped then (its
    /// future cancelled), bytes may be lost: the connection must close.
    reading: bool,
    scratch: Vec<u8>,
    /// Bytes read from the socket (for the core's byte counters).
    pub(super) bytes_read: u64,
}

impl<'c, S: Transport> BodyReader<'c, S> {
    /// A reader over the connection's buffers.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        stream: &'c mut S,
        rbuf: &'c mut Vec<u8>,
        pos: &'c mut usize,
        out: &'c mut Vec<u8>,
        state: BodyState,
        continue_pending: bool,
        deadline: Instant,
        write_timeout: Duration,
    ) -> Self {
        let declared = match &state {
            BodyState::Length(n) => Some(*n),
            BodyState::Done => Some(0),
            BodyState::Chunked(_) => None,
        };
        BodyReader {
            stream,
            rbuf,
            pos,
            out,
            state,
            continue_pending,
            deadline,
            write_timeout,
            declared,
            failure: None,
            reading: false,
            scratch: Vec::new(),
            bytes_read: 0,
        }
    }

    /// Whether the whole body was read.
    pub(super) fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done) && self.failure.is_none() && !self.reading
    }

    /// The next piece, `None` at the end or on failure (see `failure`).
    pub(super) async fn next(&mut self) -> Option<Bytes> {
        loop {
            let want = match &mut self.state {
                BodyState::Done => return None,
                BodyState::Length(remaining) => {
                    let avail = &self.rbuf[*self.pos..];
                    if !avail.is_empty() {
                        let take = avail.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                        let piece = Bytes::copy_from_slice(&avail[..take]);
                        *self.pos += take;
                        *remaining -= take as u64;
                        if *remaining == 0 {
                            self.state = BodyState::Done;
                        }
                        return Some(piece);
                    }
                    usize::try_from(*remaining).unwrap_or(BODY_READ).min(BODY_READ)
                }
                BodyState::Chunked(decoder) => {
                    self.scratch.clear();
                    match decoder.decode(&self.rbuf[*self.pos..], &mut self.scratch) {
                        Ok(used) => *self.pos += used,
                        Err(e) => {
                            self.fail(BodyFailure::Answer(e.status(), e.reason()));
                            return None;
                        }
                    }
                    let done = decoder.is_done();
                    if done {
                        self.state = BodyState::Done;
                    }
                    if !self.scratch.is_empty() {
                        return Some(Bytes::copy_from_slice(&self.scratch));
                    }
                    if done {
                        return None;
                    }
                    BODY_READ
                }
            };
            // Marked for the whole read (and any 100 Continue write before
            // it), so a cancelled read is never mistaken for a clean stop.
            self.reading = true;
            let read = self.read_more(want).await;
            self.reading = false;
            if let Err(f) = read {
                self.fail(f);
                return None;
            }
        }
    }

    /// Reads and discards the rest of the body. Returns whether the
    /// connection can carry another request.
    pub(super) async fn discard(&mut self) -> bool {
        if self.reading {
            // A read was cancelled part-way: where the next request starts
            // is unknown.
            return false;
        }
        if self.continue_pending && !matches!(self.state, BodyState::Done) {
            // The client has not sent the body and may never: close.
            return false;
        }
        while self.next().await.is_some() {}
        self.is_done()
    }

    fn fail(&mut self, f: BodyFailure) {
        self.failure = Some(f);
        self.state = BodyState::Done;
    }

    /// Sends `100 Continue` if the client waits for it, then reads more.
    async fn read_more(&mut self, want: usize) -> Result<(), BodyFailure> {
        if self.continue_pending {
            self.continue_pending = false;
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            let out = std::mem::take(self.out);
            let write = monoio::time::timeout(self.write_timeout, self.stream.write_all(out)).await;
            match write {
                Ok((Ok(_), mut out)) => {
                    out.clear();
                    *self.out = out;
                }
                _ => return Err(BodyFailure::Close),
            }
        }
        if *self.pos > 0 {
            self.rbuf.drain(..*self.pos);
            *self.pos = 0;
        }
        self.rbuf.reserve(want);
        let (len, cap) = (self.rbuf.len(), self.rbuf.capacity());
        let buf = std::mem::take(self.rbuf).slice_mut(len..cap);
        let limit = self.deadline.saturating_duration_since(Instant::now());
        let read = pin!(monoio::time::timeout(limit, self.stream.read(buf)));
        match read.await {
            Ok((Ok(0), buf)) => {
                *self.rbuf = buf.into_inner();
                Err(BodyFailure::Close)
            }
            Ok((Ok(n), buf)) => {
                *self.rbuf = buf.into_inner();
                self.bytes_read += n as u64;
                Ok(())
            }
            Ok((Err(_), _)) => Err(BodyFailure::Close),
            Err(_) => Err(BodyFailure::Answer(408, "timed out reading the request body")),
        }
    }
}

impl<S: Transport> BodyRead for BodyReader<'_, S> {
    fn next_piece(&mut self) -> Pin<Box<dyn Future<Output = Option<Bytes>> + '_>> {
        Box::pin(self.next())
    }

    fn declared_len(&self) -> Option<u64> {
        self.declared
    }

    fn failed(&self) -> bool {
        self.failure.is_some()
    }
}
