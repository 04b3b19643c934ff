//! A core's PHP threads as its event loop sees them: idle threads, a FIFO
//! of requests waiting for one (bounded by `php.max_wait`), and a lease on
//! a thread for the length of one request.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;

use crate::bridge::{CoreEnd, Event, ToPhp};
use crate::job::Job;

/// Counters of one core's PHP threads (read by the node API later).
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Requests handed to a PHP thread.
    pub requests: Cell<u64>,
    /// Requests that waited longer than `php.max_wait` (answered 503).
    pub timeouts: Cell<u64>,
    /// Requests waiting for a thread now.
    pub waiting: Cell<usize>,
}

/// One core's PHP threads.
pub struct PhpPool {
    idle: RefCell<Vec<CoreEnd>>,
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
    max_wait: Duration,
    threads: usize,
    /// Counters.
    pub stats: PoolStats,
}

#[derive(Default)]
struct Waiter {
    slot: RefCell<Option<CoreEnd>>,
    waker: RefCell<Option<Waker>>,
    gone: Cell<bool>,
}

impl PhpPool {
    /// A pool over the core's ends of its PHP threads.
    pub fn new(ends: Vec<CoreEnd>, max_wait: Duration) -> Rc<Self> {
        let threads = ends.len();
        Rc::new(PhpPool {
            idle: RefCell::new(ends),
            waiters: RefCell::new(VecDeque::new()),
            max_wait,
            threads,
            stats: PoolStats::default(),
        })
    }

    /// How many PHP threads this core owns.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// PHP threads idle now.
    pub fn idle(&self) -> usize {
        self.idle.borrow().len()
    }

    /// A free PHP thread, waiting for one up to `php.max_wait`; `None`
    /// when none became free in time.
    pub async fn acquire(self: &Rc<Self>) -> Option<Lease> {
        let end = self.idle.borrow_mut().pop();
        let end = match end {
            Some(end) => end,
            None => self.wait_for_thread().await?,
        };
        self.stats.requests.set(self.stats.requests.get() + 1);
        Some(Lease { end: Some(end), pool: Rc::clone(self), idle: false, body_open: false })
    }

    async fn wait_for_thread(&self) -> Option<CoreEnd> {
        let waiter = Rc::new(Waiter::default());
        self.waiters.borrow_mut().push_back(Rc::clone(&waiter));
        self.stats.waiting.set(self.stats.waiting.get() + 1);
        let handed = poll_fn(|cx| match waiter.slot.borrow_mut().take() {
            Some(end) => Poll::Ready(end),
            None => {
                *waiter.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        let got = monoio::time::timeout(self.max_wait, handed).await.ok();
        self.stats.waiting.set(self.stats.waiting.get() - 1);
        waiter.gone.set(true);
        // A thread handed over just as the wait timed out is still used.
        let got = got.or_else(|| waiter.slot.borrow_mut().take());
        if got.is_none() {
            self.stats.timeouts.set(self.stats.timeouts.get() + 1);
        }
        got
    }

    /// Gives a free thread to the oldest waiter, or back to the idle list.
    fn release(&self, end: CoreEnd) {
        loop {
            let next = self.waiters.borrow_mut().pop_front();
            match next {
                Some(w) if w.gone.get() => continue,
                Some(w) => {
                    *w.slot.borrow_mut() = Some(end);
                    if let Some(waker) = w.waker.borrow_mut().take() {
                        waker.wake();
                    }
                    return;
                }
                None => {
                    self.idle.borrow_mut().push(end);
                    return;
                }
            }
        }
    }
}

/// One PHP thread, held for one request.
pub struct Lease {
    end: Option<CoreEnd>,
    pool: Rc<PhpPool>,
    /// The thread reported Idle: the request is over.
    idle: bool,
    body_open: bool,
}

impl Lease {
    fn end(&mut self) -> &mut CoreEnd {
        self.end.as_mut().expect("a lease holds its end until dropped")
    }

    /// The job to fill, emptied.
    pub fn job(&mut self) -> &mut Job {
        let job = self.end().job.get_or_insert_with(Box::default);
        job.clear();
        job
    }

    /// Hands the filled job to the thread. The body follows with
    /// [`Lease::send_body`] and [`Lease::end_body`].
    pub fn start(&mut self) {
        let end = self.end();
        end.shared.abandoned.store(false, Ordering::SeqCst);
        let job = end.job.take().unwrap_or_default();
        // The thread is idle, so its ring is empty.
        let _ = end.try_send(ToPhp::Job(job));
        self.body_open = true;
    }

    /// Sends a piece of the request body. Returns false when the script
    /// has started answering before reading it all: the caller stops
    /// sending and the script sees the body end here.
    pub async fn send_body(&mut self, chunk: Bytes) -> bool {
        let mut msg = Some(ToPhp::Body(chunk));
        poll_fn(|cx| {
            let end = self.end();
            loop {
                match end.try_send(msg.take().expect("sent once")) {
                    Ok(()) => return Poll::Ready(true),
                    Err(back) => msg = Some(back),
                }
                if end.has_event() {
                    return Poll::Ready(false);
                }
                if end.poll_space(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        })
        .await
    }

    /// Marks the end of the request body.
    pub async fn end_body(&mut self) {
        if !self.body_open {
            return;
        }
        self.body_open = false;
        let mut msg = Some(ToPhp::BodyEnd);
        poll_fn(|cx| {
            let end = self.end();
            loop {
                match end.try_send(msg.take().expect("sent once")) {
                    Ok(()) => return Poll::Ready(()),
                    Err(back) => msg = Some(back),
                }
                if end.poll_space(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        })
        .await
    }

    /// The next event of the request: Head, Chunk or End. After End it
    /// keeps returning End.
    pub async fn next(&mut self) -> Event {
        if self.idle {
            return Event::End;
        }
        let ev = poll_fn(|cx| self.end().poll_event(cx)).await;
        self.absorb(ev)
    }

    /// The next event if one is already waiting.
    pub fn next_ready(&mut self) -> Option<Event> {
        if self.idle {
            return Some(Event::End);
        }
        let ev = self.end().try_event()?;
        Some(self.absorb(ev))
    }

    /// Keeps the job buffer when the thread reports Idle.
    fn absorb(&mut self, ev: Event) -> Event {
        match ev {
            Event::Idle(job) => {
                self.end().job = Some(job);
                self.idle = true;
                Event::End
            }
            Event::End => {
                // The thread usually reports Idle right behind End.
                if let Some(Event::Idle(job)) = self.end().try_event() {
                    self.end().job = Some(job);
                    self.idle = true;
                }
                Event::End
            }
            other => other,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(end) = self.end.take() else { return };
        if self.idle {
            self.pool.release(end);
            return;
        }
        // The request is still running (client gone, or the script goes on
        // after ephpm_finish_request()): its output is discarded and the
        // thread returns to the pool when it reports Idle.
        end.shared.abandoned.store(true, Ordering::SeqCst);
        end.shared.wake_php();
        let pool = Rc::clone(&self.pool);
        monoio::spawn(drain(end, pool));
    }
}

async fn drain(mut end: CoreEnd, pool: Rc<PhpPool>) {
    loop {
        if let Event::Idle(job) = poll_fn(|cx| end.poll_event(cx)).await {
            end.job = Some(job);
            pool.release(end);
            return;
        }
    }
}
