//! A core's PHP threads as its event loop sees them: idle threads, a FIFO
//! of requests waiting for one (bounded by `php.max_wait`), a lease on a
//! thread for the length of one request, and a drainer task that takes
//! back threads whose request was given up while still running.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use ephpm_rt::latency::Latency;

use crate::bridge::{CoreEnd, Event, Shared, ToPhp};
use crate::job::Job;

/// Counters of one core's PHP threads.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// Requests handed to a PHP thread.
    pub requests: Cell<u64>,
    /// Requests that waited longer than `php.max_wait` (answered 503).
    pub timeouts: Cell<u64>,
    /// Requests waiting for a thread now.
    pub waiting: Cell<usize>,
    /// Requests answered 504 at `php.request_timeout`.
    pub request_timeouts: Cell<u64>,
    /// Time from asking for a thread to getting one (when detailed).
    wait: RefCell<Latency>,
    /// Time a thread ran each request (when detailed).
    run: RefCell<Latency>,
    detailed: bool,
}

/// A copy of one core's PHP figures, sendable to another thread.
#[derive(Clone, Debug, Default)]
pub struct PoolSnapshot {
    /// PHP threads on the core.
    pub threads: usize,
    /// Threads idle now.
    pub idle: usize,
    /// Threads still running (a thread that died is not).
    pub alive: usize,
    /// Requests waiting for a thread now.
    pub waiting: usize,
    /// Requests handed to a thread.
    pub requests: u64,
    /// Requests that gave up waiting (503).
    pub timeouts: u64,
    /// Requests answered 504 at `php.request_timeout`.
    pub request_timeouts: u64,
    /// Each thread's peak PHP memory in its last request, in bytes.
    pub memory: Vec<u64>,
    /// Queue wait.
    pub wait: Latency,
    /// Run time.
    pub run: Latency,
    /// Each thread's worker-mode figures (empty in classic mode).
    pub workers: Vec<crate::WorkerFigures>,
}

/// One core's PHP threads.
pub struct PhpPool {
    idle: RefCell<Vec<CoreEnd>>,
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
    /// Threads still running a request nobody waits for any more.
    draining: RefCell<Vec<CoreEnd>>,
    drainer: RefCell<Option<Waker>>,
    max_wait: Duration,
    /// Every thread's shared state, busy or idle (for snapshots).
    threads: Vec<Arc<Shared>>,
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
    /// A pool over the core's ends of its PHP threads; `detailed` records
    /// wait and run times. Must be called on the core's runtime: it starts
    /// the pool's drainer task there.
    pub fn new(ends: Vec<CoreEnd>, max_wait: Duration, detailed: bool) -> Rc<Self> {
        let threads = ends.iter().map(|e| Arc::clone(&e.shared)).collect();
        let pool = Rc::new(PhpPool {
            idle: RefCell::new(ends),
            waiters: RefCell::new(VecDeque::new()),
            draining: RefCell::new(Vec::new()),
            drainer: RefCell::new(None),
            max_wait,
            threads,
            stats: PoolStats { detailed, ..PoolStats::default() },
        });
        monoio::spawn(drain(Rc::downgrade(&pool)));
        pool
    }

    /// Tells every thread of the pool that its core is gone, so that each
    /// exits once idle. A core calls it as it ends: tasks still pending
    /// when a core's runtime ends are not dropped, so the ends they hold
    /// would never close on their own.
    pub fn close(&self) {
        for t in &self.threads {
            t.close();
        }
    }

    /// PHP threads idle now.
    pub fn idle(&self) -> usize {
        self.idle.borrow().len()
    }

    /// Copies the figures.
    pub fn snapshot(&self) -> PoolSnapshot {
        let s = &self.stats;
        PoolSnapshot {
            threads: self.threads.len(),
            idle: self.idle(),
            alive: self.threads.iter().filter(|t| t.alive.load(Ordering::Relaxed)).count(),
            waiting: s.waiting.get(),
            requests: s.requests.get(),
            timeouts: s.timeouts.get(),
            request_timeouts: s.request_timeouts.get(),
            memory: self.threads.iter().map(|t| t.last_memory.load(Ordering::Relaxed)).collect(),
            wait: s.wait.borrow().clone(),
            run: s.run.borrow().clone(),
            workers: self
                .threads
                .iter()
                .filter(|t| t.worker.enabled.load(Ordering::Relaxed))
                .map(|t| t.worker.figures())
                .collect(),
        }
    }

    /// A free PHP thread, waiting for one up to `php.max_wait`; `None`
    /// when none became free in time.
    pub async fn acquire(self: &Rc<Self>) -> Option<Lease> {
        let end = self.idle.borrow_mut().pop();
        let end = match end {
            Some(end) => {
                if self.stats.detailed {
                    self.stats.wait.borrow_mut().record(Duration::ZERO);
                }
                end
            }
            None => {
                // Waits that end in a timeout count too: they are the worst.
                let asked = Instant::now();
                let end = self.wait_for_thread().await;
                if self.stats.detailed {
                    self.stats.wait.borrow_mut().record(asked.elapsed());
                }
                end?
            }
        };
        self.stats.requests.set(self.stats.requests.get() + 1);
        Some(Lease { end: Some(end), pool: Rc::clone(self), idle: false, body_open: false })
    }

    async fn wait_for_thread(&self) -> Option<CoreEnd> {
        let waiter = Rc::new(Waiter::default());
        self.waiters.borrow_mut().push_back(Rc::clone(&waiter));
        // Also when this future is dropped mid-wait: the waiter leaves the
        // queue's count, and a thread handed to it goes back to the pool.
        let guard = WaitGuard { pool: self, waiter: &waiter };
        self.stats.waiting.set(self.stats.waiting.get() + 1);
        let handed = poll_fn(|cx| match waiter.slot.borrow_mut().take() {
            Some(end) => Poll::Ready(end),
            None => {
                *waiter.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        let got = monoio::time::timeout(self.max_wait, handed).await.ok();
        // A thread handed over just as the wait timed out is still used.
        let got = got.or_else(|| waiter.slot.borrow_mut().take());
        drop(guard);
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

    /// Records a finished request's run time.
    fn finished(&self, job: &Job) {
        if self.stats.detailed {
            self.stats.run.borrow_mut().record(job.run_time);
        }
    }

    /// Hands a thread whose request is still running to the drainer.
    fn drain_later(&self, end: CoreEnd) {
        self.draining.borrow_mut().push(end);
        if let Some(w) = self.drainer.borrow_mut().take() {
            w.wake();
        }
    }
}

struct WaitGuard<'a> {
    pool: &'a PhpPool,
    waiter: &'a Rc<Waiter>,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.waiter.gone.set(true);
        self.pool.stats.waiting.set(self.pool.stats.waiting.get().saturating_sub(1));
        if let Some(end) = self.waiter.slot.borrow_mut().take() {
            self.pool.release(end);
        }
    }
}

/// The drainer: reads the events of given-up requests until their thread
/// reports Idle, then returns the thread to the pool. Ends with the pool.
async fn drain(pool: Weak<PhpPool>) {
    poll_fn(|cx| {
        let Some(pool) = pool.upgrade() else { return Poll::Ready(()) };
        *pool.drainer.borrow_mut() = Some(cx.waker().clone());
        let mut i = 0;
        loop {
            let freed = {
                let mut draining = pool.draining.borrow_mut();
                let Some(end) = draining.get_mut(i) else { break };
                let job = loop {
                    match end.poll_event(cx) {
                        Poll::Ready(Event::Idle(job)) => break Some(job),
                        Poll::Ready(_) => continue,
                        Poll::Pending => break None,
                    }
                };
                job.map(|job| {
                    pool.finished(&job);
                    let mut end = draining.swap_remove(i);
                    end.job = Some(job);
                    end
                })
            };
            match freed {
                Some(end) => pool.release(end),
                None => i += 1,
            }
        }
        Poll::Pending
    })
    .await
}

/// A PHP thread, named after its lease is gone.
pub struct ThreadHandle(Arc<Shared>);

impl ThreadHandle {
    /// Its request was given up at `php.request_timeout`: a worker
    /// restarts once the script returns (classic threads need nothing).
    pub fn timed_out(&self) {
        if self.0.worker.enabled.load(Ordering::Relaxed) {
            self.0.worker.ask_restart(crate::Reason::Timeout);
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

    /// A handle on the leased thread that outlives the lease.
    pub fn thread(&mut self) -> ThreadHandle {
        ThreadHandle(Arc::clone(&self.end().shared))
    }

    /// The job to fill, emptied.
    pub fn job(&mut self) -> &mut Job {
        let job = self.end().job.get_or_insert_with(Box::default);
        job.clear();
        job
    }

    /// Hands the filled job to the thread. Body pieces of an earlier
    /// request the thread has not read yet may still fill its ring: the
    /// thread discards them, and this waits for the room they leave.
    pub async fn start(&mut self) {
        let end = self.end();
        end.shared.abandoned.store(false, Ordering::SeqCst);
        end.shared.body_aborted.store(false, Ordering::SeqCst);
        let job = end.job.take().unwrap_or_default();
        let body_follows = job.body_follows;
        let mut msg = Some(ToPhp::Job(job));
        poll_fn(|cx| loop {
            let end = self.end();
            match end.try_send(msg.take().expect("sent once")) {
                Ok(()) => return Poll::Ready(()),
                Err(back) => msg = Some(back),
            }
            if end.poll_space(cx).is_pending() {
                return Poll::Pending;
            }
        })
        .await;
        self.body_open = body_follows;
    }

    /// Offers a body piece without waiting; gives it back when the ring
    /// is full.
    pub fn try_send_body(&mut self, piece: Bytes) -> Result<(), Bytes> {
        match self.end().try_send(ToPhp::Body(piece)) {
            Ok(()) => Ok(()),
            Err(ToPhp::Body(piece)) => Err(piece),
            Err(_) => unreachable!("try_send gives back what it was given"),
        }
    }

    /// Marks the end of a complete body without waiting; false when the
    /// ring is full (try again once there is room).
    pub fn try_end_body(&mut self) -> bool {
        if !self.body_open {
            return true;
        }
        if self.end().try_send(ToPhp::BodyEnd).is_err() {
            return false;
        }
        self.body_open = false;
        true
    }

    /// The body broke (or will not be fed further): the script's next read
    /// past what it has sees an aborted request, never a short body.
    pub fn abort_body(&mut self) {
        self.body_open = false;
        let end = self.end();
        end.shared.body_aborted.store(true, Ordering::SeqCst);
        end.shared.wake_php();
    }

    /// Ready when the ring to the thread has room.
    pub fn poll_space(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.end().poll_space(cx)
    }

    /// Ready when an event waits (see [`Lease::next_ready`]).
    pub fn poll_has_event(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.idle {
            return Poll::Ready(());
        }
        self.end().poll_has_event(cx)
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

    /// The thread is done: its job comes back, its run time is counted.
    fn took_back(&mut self, job: Box<Job>) {
        self.pool.finished(&job);
        self.end().job = Some(job);
        self.idle = true;
    }

    /// Keeps the job buffer when the thread reports Idle.
    fn absorb(&mut self, ev: Event) -> Event {
        match ev {
            Event::Idle(job) => {
                self.took_back(job);
                Event::End
            }
            Event::End => {
                // The thread usually reports Idle right behind End.
                if let Some(Event::Idle(job)) = self.end().try_event() {
                    self.took_back(job);
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
        self.pool.drain_later(end);
    }
}
