//! A process-wide shutdown flag that wakes every core's runtime.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use atomic_waker::AtomicWaker;

/// Set once (by a signal handler thread); each core awaits it.
pub struct Shutdown {
    flag: AtomicBool,
    wakers: Vec<AtomicWaker>,
}

impl Shutdown {
    /// A flag for `cores` waiting cores.
    pub fn new(cores: usize) -> Arc<Self> {
        Arc::new(Shutdown { flag: AtomicBool::new(false), wakers: (0..cores).map(|_| AtomicWaker::new()).collect() })
    }

    /// Sets the flag and wakes every core; safe from any thread.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        for w in &self.wakers {
            w.wake();
        }
    }

    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once the flag is set. Only core `core` may await this.
    pub async fn wait(&self, core: usize) {
        poll_fn(|cx| {
            if self.is_triggered() {
                return Poll::Ready(());
            }
            self.wakers[core].register(cx.waker());
            if self.is_triggered() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
