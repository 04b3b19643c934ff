//! One core's pool of connections to one backend server (the proxy's
//! "back"). Connections are opened on demand up to `max`, kept warm down
//! to `min`, closed after `idle_timeout` idle or `max_lifetime` old, and
//! pinged every `health_check_interval`. After a failed connect the pool
//! fails fast for a back-off period (100 ms doubling to 5 s), so clients of
//! a dead backend get an error at once instead of a hang, and it recovers
//! by itself when the server returns.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::backend::{AppliedState, Backend, BackendConfig, BackendError};

/// How many of the most recently used idle connections are searched for
/// one already in the wanted session state.
const PREFER_SCAN: usize = 16;
/// The shortest and longest fail-fast period after a failed connect.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How a pool behaves.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// The server and credentials.
    pub backend: BackendConfig,
    /// Connections kept open even when idle.
    pub min: usize,
    /// Most connections open at once.
    pub max: usize,
    /// An idle connection beyond `min` is closed after this.
    pub idle_timeout: Duration,
    /// A connection is closed once this old (when next idle).
    pub max_lifetime: Duration,
    /// Idle connections are pinged this often; a failed ping closes them.
    pub health_check_interval: Duration,
    /// How long `acquire` waits for a connection when all `max` are busy.
    pub acquire_timeout: Duration,
}

/// A pool's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open.
    pub open: usize,
    /// Of which idle.
    pub idle: usize,
    /// Acquires waiting for a connection.
    pub waiting: usize,
    /// Connections opened since start.
    pub connects: u64,
    /// Connects that failed.
    pub connect_failures: u64,
    /// Acquires that gave up waiting.
    pub timeouts: u64,
    /// Whether the pool is failing fast after a failed connect.
    pub down: bool,
}

/// Undoes a connect's place in the `open` count if the connect is
/// abandoned (its future dropped).
struct Opening<'a>(&'a BackendPool);

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.0.closed();
    }
}

/// An acquire waiting for a released connection.
#[derive(Default)]
struct Waiter {
    woken: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

struct Idle {
    conn: Backend,
    created: Instant,
    /// Idle since (for `idle_timeout`).
    since: Instant,
    /// Last known alive (for health checks).
    checked: Instant,
}

/// One core's connections to one backend.
pub struct BackendPool {
    cfg: PoolConfig,
    idle: RefCell<Vec<Idle>>,
    /// Connections open or being opened.
    open: Cell<usize>,
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
    /// Fail fast until then, after a failed connect.
    down_until: Cell<Option<Instant>>,
    backoff: Cell<Duration>,
    last_error: RefCell<String>,
    stats: Cell<PoolStats>,
}

/// A connection held by one client; back to the pool when dropped (or
/// closed, when [`Lease::discard`] was called or it is past its lifetime).
pub struct Lease {
    conn: Option<Backend>,
    created: Instant,
    pool: Rc<BackendPool>,
    discard: bool,
}

impl Lease {
    /// The connection.
    pub fn conn(&mut self) -> &mut Backend {
        self.conn.as_mut().expect("a lease holds its connection until dropped")
    }

    /// Closes the connection instead of returning it (broken, or in a
    /// state another client must not inherit).
    pub fn discard(&mut self) {
        self.discard = true;
    }

    /// The pool it came from.
    pub fn pool(&self) -> &BackendPool {
        &self.pool
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let expired = self.created.elapsed() >= self.pool.cfg.max_lifetime;
        // Inside a transaction, or with autocommit off, the connection
        // would hand its session's uncommitted work to the next client.
        if self.discard || expired || conn.mid_transaction() || conn.is_broken() {
            self.pool.closed();
        } else {
            let now = Instant::now();
            self.pool.idle.borrow_mut().push(Idle { conn, created: self.created, since: now, checked: now });
            self.pool.wake_waiters();
        }
    }
}

impl BackendPool {
    /// A pool on the current core's runtime; its maintenance task (health
    /// checks, idle and lifetime limits, keeping `min` open) runs while
    /// the pool lives.
    pub fn new(cfg: PoolConfig) -> Rc<Self> {
        let pool = Rc::new(BackendPool {
            cfg,
            idle: RefCell::new(Vec::new()),
            open: Cell::new(0),
            waiters: RefCell::new(VecDeque::new()),
            down_until: Cell::new(None),
            backoff: Cell::new(BACKOFF_MIN),
            last_error: RefCell::new(String::new()),
            stats: Cell::new(PoolStats::default()),
        });
        monoio::spawn(maintain(Rc::downgrade(&pool)));
        pool
    }

    /// The pool's figures now.
    pub fn stats(&self) -> PoolStats {
        let mut s = self.stats.get();
        s.open = self.open.get();
        s.idle = self.idle.borrow().len();
        s.waiting = self.waiters.borrow().len();
        s.down = self.is_down();
        s
    }

    /// A connection: an idle one, a new one while under `max`, or the next
    /// one released within `acquire_timeout`. Fails at once while the
    /// backend is down.
    pub async fn acquire(self: &Rc<Self>) -> Result<Lease, BackendError> {
        self.acquire_until(Instant::now() + self.cfg.acquire_timeout, None).await
    }

    /// A connection without waiting for a busy one to be released (error
    /// 1040 when all `max` are busy): for work that has somewhere else to
    /// go, like a replica read that can fall back to the primary.
    pub async fn acquire_now(self: &Rc<Self>) -> Result<Lease, BackendError> {
        self.acquire_until(Instant::now(), None).await
    }

    /// Like [`BackendPool::acquire`] (or [`BackendPool::acquire_now`] when
    /// not `wait`), preferring an idle connection already in session state
    /// `state`, which then needs no reset or replay.
    pub async fn acquire_in_state(self: &Rc<Self>, state: &AppliedState, wait: bool) -> Result<Lease, BackendError> {
        let deadline = if wait { Instant::now() + self.cfg.acquire_timeout } else { Instant::now() };
        self.acquire_until(deadline, Some(state)).await
    }

    async fn acquire_until(
        self: &Rc<Self>,
        deadline: Instant,
        prefer: Option<&AppliedState>,
    ) -> Result<Lease, BackendError> {
        loop {
            if let Some(idle) = self.take_idle(prefer) {
                return Ok(self.lease(idle.conn, idle.created));
            }
            if self.is_down() {
                return Err(self.down_error());
            }
            if self.open.get() < self.cfg.max {
                let conn = self.connect().await?;
                return Ok(self.lease(conn, Instant::now()));
            }
            if !self.wait_release(deadline).await {
                self.bump(|s| s.timeouts += 1);
                return Err(BackendError::Server {
                    code: 1040,
                    state: "08004".into(),
                    message: format!(
                        "all {} backend connections stayed busy for {:?}",
                        self.cfg.max, self.cfg.acquire_timeout
                    ),
                });
            }
        }
    }

    /// Closes every idle connection: one failed in a way (the server
    /// went away) that suggests the others are dead too.
    pub fn flush_idle(&self) {
        let n = self.idle.borrow_mut().drain(..).count();
        for _ in 0..n {
            self.closed();
        }
    }

    fn lease(self: &Rc<Self>, conn: Backend, created: Instant) -> Lease {
        Lease { conn: Some(conn), created, pool: Rc::clone(self), discard: false }
    }

    /// The most recently used idle connection that is not past its
    /// lifetime; among the most recent few, one in state `prefer` first.
    fn take_idle(&self, prefer: Option<&AppliedState>) -> Option<Idle> {
        if let Some(state) = prefer {
            let mut idle = self.idle.borrow_mut();
            let n = idle.len();
            let fresh = |i: &Idle| i.created.elapsed() < self.cfg.max_lifetime;
            let at =
                (n.saturating_sub(PREFER_SCAN)..n).rev().find(|&i| idle[i].conn.applied == *state && fresh(&idle[i]));
            if let Some(at) = at {
                return Some(idle.remove(at));
            }
        }
        loop {
            let idle = self.idle.borrow_mut().pop()?;
            if idle.created.elapsed() < self.cfg.max_lifetime {
                return Some(idle);
            }
            self.closed();
        }
    }

    /// Opens a connection, counting it against `max` while it opens (and
    /// not after, if the caller gives up mid-way).
    async fn connect(&self) -> Result<Backend, BackendError> {
        self.open.set(self.open.get() + 1);
        let opening = Opening(self);
        let r = Backend::connect(&self.cfg.backend).await;
        std::mem::forget(opening);
        match r {
            Ok(conn) => {
                self.bump(|s| s.connects += 1);
                self.down_until.set(None);
                self.backoff.set(BACKOFF_MIN);
                Ok(conn)
            }
            Err(e) => {
                self.bump(|s| s.connect_failures += 1);
                // Any failed connect (refused, timed out, too many
                // connections, bad credentials) makes the pool fail fast
                // for a while instead of hammering the server; the back-off
                // doubles once per outage, not once per failed attempt.
                if !self.is_down() {
                    let wait = self.backoff.get();
                    self.down_until.set(Some(Instant::now() + wait));
                    self.backoff.set((wait * 2).min(BACKOFF_MAX));
                }
                *self.last_error.borrow_mut() = e.to_string();
                self.closed();
                Err(e)
            }
        }
    }

    /// Whether the pool fails fast now, after a failed connect.
    pub fn is_down(&self) -> bool {
        self.down_until.get().is_some_and(|t| Instant::now() < t)
    }

    fn down_error(&self) -> BackendError {
        BackendError::Server {
            code: 2003,
            state: "HY000".into(),
            message: format!("the backend {} is unavailable: {}", self.cfg.backend.addr, self.last_error.borrow()),
        }
    }

    /// A connection went away: a waiter may open another (or learn that
    /// the backend is down).
    fn closed(&self) {
        self.open.set(self.open.get().saturating_sub(1));
        self.wake_waiters();
    }

    fn bump(&self, f: impl FnOnce(&mut PoolStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Wakes every waiter: each retries, and those that find nothing wait
    /// again. (Waking one could hand the wake to a waiter that has given up.)
    fn wake_waiters(&self) {
        let waiters: Vec<Rc<Waiter>> = self.waiters.borrow_mut().drain(..).collect();
        for w in waiters {
            w.woken.set(true);
            if let Some(waker) = w.waker.borrow_mut().take() {
                waker.wake();
            }
        }
    }

    /// Waits until a connection is released or `deadline`; false on timeout.
    async fn wait_release(&self, deadline: Instant) -> bool {
        let waiter = Rc::new(Waiter::default());
        self.waiters.borrow_mut().push_back(Rc::clone(&waiter));
        // Ready only when woken by a release: the task is also polled when
        // its timer fires.
        let released = poll_fn(|cx| {
            if waiter.woken.get() {
                return Poll::Ready(());
            }
            *waiter.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        });
        let left = deadline.saturating_duration_since(Instant::now());
        let woken = monoio::time::timeout(left, released).await.is_ok();
        if !woken {
            self.waiters.borrow_mut().retain(|w| !Rc::ptr_eq(w, &waiter));
        }
        woken
    }
}

/// The maintenance loop: every `health_check_interval` (or sooner for the
/// idle timeout), pings and prunes idle connections and opens up to `min`.
async fn maintain(pool: Weak<BackendPool>) {
    loop {
        let period = match pool.upgrade() {
            Some(p) => p.cfg.health_check_interval.min(p.cfg.idle_timeout).max(Duration::from_millis(50)),
            None => return,
        };
        monoio::time::sleep(period).await;
        let Some(p) = pool.upgrade() else { return };
        p.prune();
        p.check_idle().await;
        p.fill_to_min().await;
    }
}

impl BackendPool {
    /// Closes idle connections past the idle timeout (beyond `min`) or
    /// past their lifetime.
    fn prune(&self) {
        let mut idle = self.idle.borrow_mut();
        let before = idle.len();
        let mut keep = Vec::with_capacity(before);
        // Oldest-idle first, so the ones closed are those unused longest.
        idle.sort_by_key(|i| i.since);
        let open = self.open.get();
        let mut closing = 0;
        for i in idle.drain(..) {
            let idle_too_long = i.since.elapsed() >= self.cfg.idle_timeout && open - closing > self.cfg.min;
            if idle_too_long || i.created.elapsed() >= self.cfg.max_lifetime {
                closing += 1;
            } else {
                keep.push(i);
            }
        }
        *idle = keep;
        drop(idle);
        for _ in 0..closing {
            self.closed();
        }
    }

    /// Pings connections not checked for a health-check interval (each
    /// ping bounded by the connect timeout); drops the dead.
    async fn check_idle(&self) {
        let due: Vec<Idle> = {
            let mut idle = self.idle.borrow_mut();
            let (due, fresh): (Vec<Idle>, Vec<Idle>) =
                idle.drain(..).partition(|i| i.checked.elapsed() >= self.cfg.health_check_interval);
            *idle = fresh;
            due
        };
        for mut i in due {
            let limit = self.cfg.backend.connect_timeout;
            match monoio::time::timeout(limit, i.conn.ping()).await {
                Ok(Ok(())) => {
                    i.checked = Instant::now();
                    self.idle.borrow_mut().push(i);
                    self.wake_waiters();
                }
                _ => self.closed(),
            }
        }
    }

    /// Opens connections up to `min` (unless the backend is down).
    async fn fill_to_min(&self) {
        while self.open.get() < self.cfg.min && !self.is_down() {
            match self.connect().await {
                Ok(conn) => {
                    let now = Instant::now();
                    self.idle.borrow_mut().push(Idle { conn, created: now, since: now, checked: now });
                    self.wake_waiters();
                }
                Err(_) => return,
            }
        }
    }
}
