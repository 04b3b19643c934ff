//! Short busy waits, for the two ends of a cross-thread call that is
//! usually answered within microseconds: waking a sleeping vCPU costs tens
//! of microseconds, a look at a ring tens of nanoseconds. A thread spins a
//! moment before it parks; a core's task stays awake a moment after work
//! by yielding to the core's other tasks (its I/O is still polled between
//! turns) instead of sleeping on its doorbell.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Spins until `ready()` or until `limit` has passed; returns whether it
/// became ready.
pub fn spin_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        // The clock is read only every few looks: it costs more than one.
        for _ in 0..16 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= until {
            return ready();
        }
    }
}

/// A task's way to stay awake without holding the core: each
/// [`Yielder::yield_now`] lets every task the core has queued (and its I/O
/// completions) run once, then resumes.
///
/// monoio puts a task that wakes itself back at the front of the queue,
/// so waking oneself yields to nobody. A yielder is woken instead by a
/// small task of its own, which the queue runs after everything queued
/// before it.
///
/// Keep a yield loop short in total, not only per turn: on io_uring with
/// deferred completions (see `runtime`) the core collects I/O completions
/// only when it runs out of ready tasks, so while a task keeps yielding the
/// core's connections wait.
pub struct Yielder {
    bouncer: Rc<Bouncer>,
}

/// What a yielder shares with its bouncer task.
#[derive(Default)]
struct Bouncer {
    waker: RefCell<Option<Waker>>,
    yielders: RefCell<Vec<Waker>>,
}

impl Yielder {
    /// A yielder on the current core (spawns its bouncer task there).
    pub fn new() -> Self {
        let bouncer = Rc::new(Bouncer::default());
        let weak = Rc::downgrade(&bouncer);
        monoio::spawn(std::future::poll_fn(move |cx| {
            let Some(b) = weak.upgrade() else {
                return Poll::Ready(());
            };
            *b.waker.borrow_mut() = Some(cx.waker().clone());
            // Taken out first: a task woken here may yield again at once.
            let yielders = std::mem::take(&mut *b.yielders.borrow_mut());
            for w in yielders {
                w.wake();
            }
            Poll::Pending
        }));
        Yielder { bouncer }
    }

    /// Resumes after the core's other queued tasks have run once.
    pub fn yield_now(&self) -> impl Future<Output = ()> + '_ {
        YieldNow { bouncer: &self.bouncer, yielded: false }
    }
}

impl Default for Yielder {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Yielder {
    fn drop(&mut self) {
        // The bouncer task sees its yielder gone and ends.
        if let Some(w) = self.bouncer.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

struct YieldNow<'a> {
    bouncer: &'a Bouncer,
    yielded: bool,
}

impl Future for YieldNow<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        self.bouncer.yielders.borrow_mut().push(cx.waker().clone());
        if let Some(w) = self.bouncer.waker.borrow().as_ref() {
            w.wake_by_ref();
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn spin_sees_a_value_set_by_another_thread_and_gives_up_in_time() {
        let flag = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&flag);
        let setter = std::thread::spawn(move || f.store(true, Ordering::SeqCst));
        setter.join().unwrap();
        assert!(spin_until(Duration::from_millis(100), || flag.load(Ordering::SeqCst)));
        let started = Instant::now();
        assert!(!spin_until(Duration::from_micros(200), || false));
        assert!(started.elapsed() >= Duration::from_micros(200));
    }

    #[test]
    fn yield_lets_another_task_run() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let ran_first = rt.block_on(async {
            monoio::spawn(async {
                let ran = std::rc::Rc::new(std::cell::Cell::new(false));
                let r = std::rc::Rc::clone(&ran);
                let yielder = Yielder::new();
                monoio::spawn(async move { r.set(true) });
                yielder.yield_now().await;
                ran.get()
            })
            .await
        });
        assert!(ran_first);
    }
}
