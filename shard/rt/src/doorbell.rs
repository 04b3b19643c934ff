//! The one cross-thread wake-up of the server: a doorbell beside an SPSC
//! ring. The side that waits for the ring (a core's task, or a PHP or
//! database thread) announces that it sleeps and looks at the ring once
//! more before sleeping; the side that fills the ring rings after pushing
//! and wakes the sleeper only if it announced itself. A busy pair thus
//! exchanges messages with no system call at all, and a message is never
//! missed between the last look and the sleep: the SeqCst fence on each
//! side pairs with the other's.
//!
//! Used by the cross-core mesh, the core/PHP-thread rings, the PHP
//! threads' KV client and the database writer's queue.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::Duration;

use atomic_waker::AtomicWaker;

/// Shared by one sleeper and everyone who rings for it.
#[derive(Default)]
pub struct Doorbell {
    sleeping: AtomicBool,
    /// The sleeping task, when the sleeper is a core's task.
    waker: AtomicWaker,
    /// The sleeping thread, when the sleeper is a thread.
    thread: OnceLock<Thread>,
}

impl Doorbell {
    /// Ringer: after pushing, wakes the sleeper if (and only if) it sleeps.
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.waker.wake();
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    /// Task sleeper: ready when `ready()` is; otherwise asks to be woken by
    /// the next ring. `ready` is checked again after the announcement, so
    /// a ring between the first check and the sleep is not lost.
    pub fn poll_until(&self, cx: &mut Context<'_>, mut ready: impl FnMut() -> bool) -> Poll<()> {
        if ready() {
            return Poll::Ready(());
        }
        self.prepare_sleep(cx.waker());
        if ready() {
            self.awake();
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Task sleeper: announces the sleep; the caller must look at its
    /// rings again afterwards, and call [`Doorbell::awake`] if it found
    /// work.
    pub fn prepare_sleep(&self, waker: &Waker) {
        self.waker.register(waker);
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Sleeper: it found work after announcing, and does not sleep.
    pub fn awake(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Thread sleeper: binds the calling thread (once), so rings unpark it.
    pub fn bind_thread(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// Thread sleeper (bound with [`Doorbell::bind_thread`]): parks until
    /// `ready()` is true, looking again after each announcement and after
    /// each wake-up (spurious ones included).
    pub fn wait_until(&self, ready: impl FnMut() -> bool) {
        self.wait_until_timeout(ready, None);
    }

    /// As [`Doorbell::wait_until`], parking at most `timeout` at a time:
    /// for a sleeper with a deadline, which `ready` checks.
    pub fn wait_until_timeout(&self, mut ready: impl FnMut() -> bool, timeout: Option<Duration>) {
        loop {
            if ready() {
                return;
            }
            self.sleeping.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if ready() {
                self.awake();
                return;
            }
            match timeout {
                Some(t) => std::thread::park_timeout(t),
                None => std::thread::park(),
            }
            self.awake();
        }
    }

    /// Wakes the sleeper whether or not it announced a sleep (a closing
    /// side telling the other to look at its state).
    pub fn wake_always(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
        self.waker.wake();
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    use super::*;

    /// A thread that sleeps on the doorbell sees every value a ringer
    /// publishes, without a lost wake-up, and wakes only when asked.
    #[test]
    fn thread_sleeper_misses_no_ring() {
        let bell = Arc::new(Doorbell::default());
        let value = Arc::new(AtomicU64::new(0));
        let (b, v) = (Arc::clone(&bell), Arc::clone(&value));
        let sleeper = std::thread::spawn(move || {
            b.bind_thread();
            for want in 1..=10_000u64 {
                b.wait_until(|| v.load(Ordering::SeqCst) >= want);
            }
        });
        for i in 1..=10_000u64 {
            value.store(i, Ordering::SeqCst);
            bell.ring();
            if i % 1000 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        sleeper.join().unwrap();
    }
}
