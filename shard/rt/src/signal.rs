//! A single-threaded broadcast: one core fires it, every task of that core
//! waiting on it wakes. Used to interrupt idle connections at shutdown.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Inner {
    fired: Cell<bool>,
    waiters: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

/// A core-local, fire-once broadcast signal. Cheap to clone.
#[derive(Clone, Default)]
pub struct LocalSignal(Rc<Inner>);

impl LocalSignal {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal and wakes every waiter.
    pub fn fire(&self) {
        self.0.fired.set(true);
        let waiters = std::mem::take(&mut *self.0.waiters.borrow_mut());
        self.0.free.borrow_mut().clear();
        for w in waiters.into_iter().flatten() {
            w.wake();
        }
    }

    /// Whether it has fired.
    pub fn is_fired(&self) -> bool {
        self.0.fired.get()
    }

    /// A future that resolves once the signal fires.
    pub fn wait(&self) -> Wait {
        Wait { signal: self.clone(), slot: None }
    }
}

/// Future returned by [`LocalSignal::wait`].
pub struct Wait {
    signal: LocalSignal,
    slot: Option<usize>,
}

impl Future for Wait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &self.signal.0;
        if inner.fired.get() {
            return Poll::Ready(());
        }
        let mut waiters = inner.waiters.borrow_mut();
        let slot = match self.slot {
            Some(s) => s,
            None => match inner.free.borrow_mut().pop() {
                Some(s) => s,
                None => {
                    waiters.push(None);
                    waiters.len() - 1
                }
            },
        };
        waiters[slot] = Some(cx.waker().clone());
        drop(waiters);
        self.slot = Some(slot);
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        let inner = &self.signal.0;
        if let (Some(slot), false) = (self.slot, inner.fired.get()) {
            if let Some(w) = inner.waiters.borrow_mut().get_mut(slot) {
                *w = None;
            }
            inner.free.borrow_mut().push(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_every_waiter_and_reuses_slots() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
        rt.block_on(async {
            let s = LocalSignal::new();
            // A dropped waiter frees its slot.
            {
                let w = s.wait();
                let mut w = Box::pin(w);
                let waker = Waker::noop();
                let mut cx = Context::from_waker(waker);
                assert!(w.as_mut().poll(&mut cx).is_pending());
            }
            assert_eq!(s.0.free.borrow().len(), 1);
            let a = monoio::spawn({
                let s = s.clone();
                async move {
                    s.wait().await;
                    1
                }
            });
            let b = monoio::spawn({
                let s = s.clone();
                async move {
                    s.wait().await;
                    2
                }
            });
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
            s.fire();
            assert_eq!(a.await + b.await, 3);
            assert!(s.is_fired());
            s.wait().await; // resolves at once after firing
        });
    }
}
