//! The one accept loop of every per-core listener (HTTP, RESP, MySQL, the
//! node API): accept until the core shuts down, refuse beyond a per-core
//! limit with the protocol's own message, serve each connection on its own
//! task, and back off when the process runs out of file descriptors or
//! memory instead of spinning on the failing accept.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use monoio::io::AsyncWriteRentExt;
use monoio::net::{TcpListener, TcpStream};

use crate::LocalSignal;

/// Who may come in: a listener's per-core connection count and limit.
pub trait Gate {
    /// A connection was accepted: counts it and says whether it may be
    /// served (false: it is sent [`Gate::refusal`] and closed).
    fn enter(&self) -> bool;
    /// A served connection ended.
    fn leave(&self);
    /// What a connection beyond the limit is sent before the close.
    fn refusal(&self) -> Vec<u8>;
}

/// A per-core client count and its limit (RESP, MySQL).
pub struct ClientLimit {
    /// Clients connected on this core.
    pub count: Cell<usize>,
    /// Most clients per core.
    pub max: usize,
    /// What a client beyond the limit is sent before the close.
    pub refusal: &'static [u8],
}

impl Gate for ClientLimit {
    fn enter(&self) -> bool {
        if self.count.get() >= self.max {
            return false;
        }
        self.count.set(self.count.get() + 1);
        true
    }

    fn leave(&self) {
        self.count.set(self.count.get() - 1);
    }

    fn refusal(&self) -> Vec<u8> {
        self.refusal.to_vec()
    }
}

/// The first pause after accept failed for lack of a resource.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause: nginx waits 500 ms; a second keeps a starved
/// process quiet while still noticing soon when descriptors free up.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Consecutive failures of any other kind after which the loop backs off
/// as well, so an unforeseen persistent error cannot spin the core.
const FAILURES_BEFORE_BACKOFF: u32 = 64;

/// How the loop answers a failing accept: each failure that calls for it
/// doubles the pause; a success resets it.
#[derive(Default)]
struct Backoff {
    failures: u32,
    pause: Option<Duration>,
}

impl Backoff {
    /// The pause before the next accept after `e`, if any.
    fn after_error(&mut self, e: &io::Error) -> Option<Duration> {
        self.failures += 1;
        if !starved(e) && self.failures < FAILURES_BEFORE_BACKOFF {
            return None;
        }
        let next = self.pause.map_or(BACKOFF_MIN, |p| (p * 2).min(BACKOFF_MAX));
        self.pause = Some(next);
        Some(next)
    }

    fn after_success(&mut self) {
        self.failures = 0;
        self.pause = None;
    }
}

/// Whether accept failed for lack of descriptors or memory: retrying at
/// once would fail again.
fn starved(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// Accepts connections on `listener` until `stop` fires; `serve` runs each
/// admitted one (with its peer address) as its own task on this core.
pub async fn accept_loop<G, F, Fut>(listener: StdListener, stop: LocalSignal, gate: Rc<G>, serve: F) -> io::Result<()>
where
    G: Gate + 'static,
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let local = listener.local_addr()?;
    let mut backoff = Backoff::default();
    loop {
        let accepted = {
            let accept = std::pin::pin!(listener.accept());
            let stopped = std::pin::pin!(stop.wait());
            match select(accept, stopped).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return Ok(()),
            }
        };
        let (mut stream, peer) = match accepted {
            Ok(x) => {
                backoff.after_success();
                x
            }
            Err(e) => {
                if let Some(pause) = backoff.after_error(&e) {
                    // Logged once per doubling, not per failed accept.
                    tracing::warn!(listen = %local, error = %e, pause_ms = pause.as_millis() as u64, "accept failed; backing off");
                    let sleep = std::pin::pin!(monoio::time::sleep(pause));
                    let stopped = std::pin::pin!(stop.wait());
                    if let Either::Right(_) = select(sleep, stopped).await {
                        return Ok(());
                    }
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if !gate.enter() {
            let refusal = gate.refusal();
            monoio::spawn(async move {
                let _ = stream.write_all(refusal).await;
            });
            continue;
        }
        let served = serve(stream, peer);
        let gate = Rc::clone(&gate);
        monoio::spawn(async move {
            served.await;
            gate.leave();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starvation_backs_off_doubling_to_a_ceiling_and_success_resets() {
        let mut b = Backoff::default();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(b.after_error(&emfile), Some(BACKOFF_MIN));
        assert_eq!(b.after_error(&emfile), Some(BACKOFF_MIN * 2));
        for _ in 0..20 {
            b.after_error(&emfile);
        }
        assert_eq!(b.after_error(&emfile), Some(BACKOFF_MAX));
        b.after_success();
        assert_eq!(b.after_error(&emfile), Some(BACKOFF_MIN));
    }

    #[test]
    fn other_errors_retry_at_once_until_they_persist() {
        let mut b = Backoff::default();
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        for _ in 1..FAILURES_BEFORE_BACKOFF {
            assert_eq!(b.after_error(&aborted), None);
        }
        assert_eq!(b.after_error(&aborted), Some(BACKOFF_MIN));
    }
}
