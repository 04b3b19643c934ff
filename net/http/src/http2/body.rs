//! An HTTP/2 request body as the handlers read it: DATA frames as they
//! arrive, each acknowledged to the client's flow-control window once
//! taken, within `server.max_body_size` and `server.timeouts.request`.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::time::Instant;

use bytes::Bytes;
use h2::RecvStream;

use crate::http1::BodyRead;

/// Why a body ended early, and the answer the client gets.
pub type Failure = (u16, &'static str);

/// The body of one HTTP/2 request.
pub struct H2Body {
    recv: RecvStream,
    declared: Option<u64>,
    read: u64,
    max: u64,
    deadline: Instant,
    done: bool,
    /// Set when the body broke; the stream then answers this instead.
    pub failure: Option<Failure>,
}

impl H2Body {
    /// Reads `recv`; `declared` is its Content-Length, if any.
    pub fn new(recv: RecvStream, declared: Option<u64>, max: u64, deadline: Instant) -> Self {
        let done = recv.is_end_stream();
        let declared = if done { Some(0) } else { declared };
        H2Body { recv, declared, read: 0, max, deadline, done, failure: None }
    }

    async fn next(&mut self) -> Option<Bytes> {
        while !self.done && self.failure.is_none() {
            let left = self.deadline.saturating_duration_since(Instant::now());
            let data = monoio::time::timeout(left, poll_fn(|cx| self.recv.poll_data(cx))).await;
            match data {
                Ok(Some(Ok(piece))) => {
                    let _ = self.recv.flow_control().release_capacity(piece.len());
                    self.read += piece.len() as u64;
                    if self.read > self.max {
                        self.failure = Some((413, "request body larger than server.max_body_size"));
                    } else if !piece.is_empty() {
                        return Some(piece);
                    }
                }
                Ok(None) => self.done = true,
                // The client reset the stream: nobody is left to answer.
                Ok(Some(Err(_))) => self.failure = Some((400, "the client cancelled the request")),
                Err(_) => self.failure = Some((408, "timed out reading the request body")),
            }
        }
        None
    }
}

impl BodyRead for H2Body {
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
