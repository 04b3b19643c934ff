//! The receiving half of a core's mesh rings.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use crate::doorbell::Doorbell;

/// Rings from every other core into one core.
pub struct Inbox<T> {
    rings: Vec<(usize, rtrb::Consumer<T>)>,
    wake: Arc<Doorbell>,
}

impl<T> Inbox<T> {
    pub(super) fn new(rings: Vec<(usize, rtrb::Consumer<T>)>, wake: Arc<Doorbell>) -> Self {
        Inbox { rings, wake }
    }

    /// Moves every queued message into `out` as `(from_core, msg)`, without
    /// waiting. Returns how many were taken.
    pub fn drain(&mut self, out: &mut Vec<(usize, T)>) -> usize {
        let before = out.len();
        for (from, ring) in &mut self.rings {
            while let Ok(m) = ring.pop() {
                out.push((*from, m));
            }
        }
        out.len() - before
    }

    /// Waits until at least one message is queued, then drains them all into
    /// `out`. The core sleeps (and asks to be woken) only when every ring is
    /// empty.
    pub async fn recv_batch(&mut self, out: &mut Vec<(usize, T)>) -> usize {
        poll_fn(|cx| {
            let n = self.drain(out);
            if n > 0 {
                return Poll::Ready(n);
            }
            self.wake.prepare_sleep(cx.waker());
            let n = self.drain(out);
            if n > 0 {
                self.wake.awake();
                Poll::Ready(n)
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
