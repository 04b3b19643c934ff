//! The two SPSC rings between a core and one of its PHP threads, each with
//! the doorbell of the side that waits on it (`ephpm_rt::doorbell`): the
//! core's task sleeps on a waker, the PHP thread parks. A side is woken
//! only when it announced that it sleeps, so a busy pair exchanges
//! requests without system calls.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use ephpm_rt::doorbell::Doorbell;
use rtrb::{Consumer, Producer, RingBuffer};

use crate::job::Job;

/// Ring slots from the core to the PHP thread (a job, then body chunks).
const TO_PHP: usize = 16;
/// Ring slots from the PHP thread to the core (head, chunks, end, idle).
const FROM_PHP: usize = 64;

/// What the core sends a PHP thread.
pub(crate) enum ToPhp {
    /// Run this request.
    Job(Box<Job>),
    /// The next piece of the request body.
    Body(Bytes),
    /// The request body is complete.
    BodyEnd,
}

/// What a PHP thread reports about the request it runs.
#[derive(Debug)]
pub enum Event {
    /// Status and header block ("Name: value\r\n" lines); sent once.
    Head {
        /// The response status.
        status: u16,
        /// Serialized header lines.
        headers: Bytes,
        /// The script's Content-Length header (left out of `headers`).
        content_length: Option<u64>,
    },
    /// A piece of the response body.
    Chunk(Bytes),
    /// The response is complete (the script may still run after
    /// `ephpm_finish_request()`).
    End,
    /// The thread finished the request and is free; the job comes back
    /// for reuse.
    Idle(Box<Job>),
}

/// State both sides share.
#[derive(Default)]
pub(crate) struct Shared {
    /// Where the core's task sleeps (events, or room towards PHP).
    core_bell: Doorbell,
    /// Where the PHP thread parks (messages, or room towards the core).
    php_bell: Doorbell,
    /// The core no longer wants this request's output or body (client
    /// gone, or the request was given up).
    pub(crate) abandoned: AtomicBool,
    /// The core side is gone: the thread exits once idle.
    pub(crate) closed: AtomicBool,
    /// The request body broke (client gone, timeout, over the limit): the
    /// script must not take what it got for the whole body.
    pub(crate) body_aborted: AtomicBool,
    /// The PHP thread runs (cleared when it ends, even by a panic).
    pub(crate) alive: AtomicBool,
    /// Peak PHP memory of the thread's last request, in bytes.
    pub(crate) last_memory: AtomicU64,
    /// Worker mode's state and counters (unused in classic mode).
    pub(crate) worker: crate::worker::WorkerStats,
}

impl Shared {
    /// The core side is gone: the thread drops what it is sending and
    /// exits once idle.
    pub(crate) fn close(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        self.closed.store(true, Ordering::SeqCst);
        self.php_bell.wake_always();
    }

    /// Wakes the core's task if it sleeps on this pair.
    pub(crate) fn wake_core(&self) {
        self.core_bell.ring();
    }

    /// Unparks the PHP thread if it is parked.
    pub(crate) fn wake_php(&self) {
        self.php_bell.ring();
    }

    /// Unparks the PHP thread so that it looks at this state again.
    pub(crate) fn wake_php_always(&self) {
        self.php_bell.wake_always();
    }
}

/// After a pop, whether the producer may be parked waiting for room. A
/// producer parks only after seeing the ring full; the first pop after
/// that leaves `capacity - 1` items (more if it pushed again meanwhile,
/// then a later pop rings), so ringing from there on misses no parked
/// producer, and skipping the ring below it wakes nobody for nothing.
fn ring_was_full(left: usize, capacity: usize) -> bool {
    left + 1 >= capacity
}

/// Creates the pair: the core's end and the PHP thread's end.
pub(crate) fn pair() -> (CoreEnd, PhpEnd) {
    let (to_php_tx, to_php_rx) = RingBuffer::new(TO_PHP);
    let (from_php_tx, from_php_rx) = RingBuffer::new(FROM_PHP);
    let shared = Arc::new(Shared::default());
    let core = CoreEnd { tx: to_php_tx, rx: from_php_rx, shared: Arc::clone(&shared), job: Some(Box::default()) };
    let php = PhpEnd { rx: to_php_rx, tx: from_php_tx, shared };
    (core, php)
}

/// The core's end of a pair.
pub struct CoreEnd {
    tx: Producer<ToPhp>,
    rx: Consumer<Event>,
    pub(crate) shared: Arc<Shared>,
    /// The job buffer, here while the thread is idle.
    pub(crate) job: Option<Box<Job>>,
}

impl CoreEnd {
    /// Pushes without waiting; gives the message back when the ring is full.
    pub(crate) fn try_send(&mut self, msg: ToPhp) -> Result<(), ToPhp> {
        self.tx.push(msg).map_err(|rtrb::PushError::Full(m)| m)?;
        self.shared.wake_php();
        Ok(())
    }

    /// Whether the ring to PHP has room, registering to be woken if not.
    pub(crate) fn poll_space(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let tx = &self.tx;
        self.shared.core_bell.poll_until(cx, || tx.slots() > 0)
    }

    /// Ready when an event is waiting (without taking it), registering to
    /// be woken if there is none.
    pub(crate) fn poll_has_event(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let rx = &self.rx;
        self.shared.core_bell.poll_until(cx, || !rx.is_empty())
    }

    /// The next event, registering to be woken if there is none.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if let Some(ev) = self.try_event() {
            return Poll::Ready(ev);
        }
        self.shared.core_bell.prepare_sleep(cx.waker());
        match self.try_event() {
            Some(ev) => {
                self.shared.core_bell.awake();
                Poll::Ready(ev)
            }
            None => Poll::Pending,
        }
    }

    /// The next event if one is waiting.
    pub(crate) fn try_event(&mut self) -> Option<Event> {
        let ev = self.rx.pop().ok()?;
        // The thread may be parked on a full ring. Only then: a ring would
        // otherwise wake it from waiting for its next job for nothing (a
        // context switch each way when both sides share a CPU). See
        // `ring_was_full`.
        if ring_was_full(self.rx.slots(), FROM_PHP) {
            self.shared.wake_php();
        }
        Some(ev)
    }
}

impl Drop for CoreEnd {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The PHP thread's end of a pair.
pub(crate) struct PhpEnd {
    rx: Consumer<ToPhp>,
    tx: Producer<Event>,
    pub(crate) shared: Arc<Shared>,
}

impl PhpEnd {
    /// Binds this end to the calling thread (for unparking).
    pub(crate) fn bind_thread(&self) {
        self.shared.php_bell.bind_thread();
    }

    /// Takes a waiting message, waking the core only if it may wait for
    /// room (the ring was full): the core's task sleeps on the same bell
    /// for the request's events, and a needless wake costs it a turn.
    fn pop(&mut self) -> Option<ToPhp> {
        let m = self.rx.pop().ok()?;
        if ring_was_full(self.rx.slots(), TO_PHP) {
            self.shared.wake_core();
        }
        Some(m)
    }

    /// Waits for the next message; `None` when `give_up` says to stop
    /// waiting (checked on every wake-up).
    pub(crate) fn recv_until(&mut self, give_up: impl Fn(&Shared) -> bool) -> Option<ToPhp> {
        self.recv_before(None, give_up)
    }

    /// As [`PhpEnd::recv_until`], giving up at `deadline` too, if any.
    pub(crate) fn recv_before(
        &mut self,
        deadline: Option<Instant>,
        give_up: impl Fn(&Shared) -> bool,
    ) -> Option<ToPhp> {
        loop {
            if let Some(m) = self.pop() {
                return Some(m);
            }
            let now = Instant::now();
            let expired = deadline.is_some_and(|d| now >= d);
            if give_up(&self.shared) || expired {
                return None;
            }
            let (rx, shared) = (&self.rx, &*self.shared);
            let past = || deadline.is_some_and(|d| Instant::now() >= d);
            shared
                .php_bell
                .wait_until_timeout(|| !rx.is_empty() || give_up(shared) || past(), deadline.map(|d| d - now));
        }
    }

    /// Sends an event, parking while the ring is full. Once the core's end
    /// is gone the event is dropped: nobody would read it.
    pub(crate) fn send(&mut self, mut ev: Event) {
        loop {
            match self.tx.push(ev) {
                Ok(()) => return,
                Err(rtrb::PushError::Full(back)) => ev = back,
            }
            if self.shared.closed.load(Ordering::SeqCst) {
                return;
            }
            self.shared.wake_core();
            let (tx, shared) = (&self.tx, &*self.shared);
            shared.php_bell.wait_until(|| tx.slots() > 0 || shared.closed.load(Ordering::SeqCst));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both rings fill up again and again (a slow reader on each side);
    /// with rings only on a pop from a full ring, neither side is left
    /// parked: every message arrives, in order, in bounded time.
    #[test]
    fn full_rings_never_strand_a_parked_producer() {
        const N: u64 = 20_000;
        let (mut core, mut php) = pair();
        let started = std::time::Instant::now();
        let php_side = std::thread::spawn(move || {
            php.bind_thread();
            for i in 0..N {
                php.send(Event::Chunk(Bytes::from(i.to_le_bytes().to_vec())));
            }
            let mut got = 0u64;
            while got < N {
                match php.recv_until(|s| s.closed.load(Ordering::SeqCst)) {
                    Some(ToPhp::Body(b)) => {
                        assert_eq!(b.as_ref(), got.to_le_bytes());
                        got += 1;
                        if got.is_multiple_of(1000) {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                    }
                    other => panic!("unexpected {:?}", other.is_some()),
                }
            }
        });
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut next = 0u64;
        while next < N {
            match core.poll_event(&mut cx) {
                Poll::Ready(Event::Chunk(b)) => {
                    assert_eq!(b.as_ref(), next.to_le_bytes());
                    next += 1;
                    if next.is_multiple_of(1000) {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
                Poll::Ready(other) => panic!("unexpected {other:?}"),
                Poll::Pending => std::thread::yield_now(),
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "stuck at event {next}");
        }
        let mut sent = 0u64;
        while sent < N {
            match core.try_send(ToPhp::Body(Bytes::from(sent.to_le_bytes().to_vec()))) {
                Ok(()) => sent += 1,
                Err(_) => std::thread::yield_now(),
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "stuck at body {sent}");
        }
        php_side.join().unwrap();
    }
}
