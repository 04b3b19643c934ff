//! The sleep/wake handshake between a receiving core and its senders.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::task::Waker;

use atomic_waker::AtomicWaker;

/// Shared by one receiving core and all cores that send to it.
#[derive(Default)]
pub(crate) struct WakeState {
    sleeping: AtomicBool,
    waker: AtomicWaker,
}

impl WakeState {
    /// Receiver: announce that it is about to sleep. The caller must check
    /// its rings again afterwards (the fence pairs with [`Self::notify`]).
    pub(crate) fn prepare_sleep(&self, waker: &Waker) {
        self.waker.register(waker);
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Receiver: it found work and is not sleeping after all.
    pub(crate) fn awake(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Sender: after pushing, wake the receiver if (and only if) it sleeps.
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }
}
