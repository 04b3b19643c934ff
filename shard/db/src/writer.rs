//! The one writer: a thread that owns the SQLite connection every write
//! goes through. Jobs arrive from the cores over their rings
//! ([`super::queue`]); a session that
//! opened a transaction owns the writer until it commits or rolls back, and
//! other sessions' jobs wait (ER_LOCK_WAIT_TIMEOUT after the lock wait
//! timeout). SQLite's write lock is thus never contended, so no core ever
//! sleeps in a busy handler.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ephpm_rt::doorbell::Doorbell;
use rusqlite::Connection;

use super::engine::{run_sql, Ran};
use super::error::DbError;
use super::functions::{CellValues, Cells};
use super::queue::{Receiver, Wait};
use super::result::{Outcome, Value};
use ephpm_rt::liveness::AliveGuard;

/// What the writer is asked to do.
pub enum Work {
    /// Run one statement (in the session's transaction, if it has one).
    Run {
        /// SQLite text.
        sql: String,
        /// Bound parameters.
        params: Vec<Value>,
        /// SQL_CALC_FOUND_ROWS' count query.
        count: Option<String>,
    },
    /// Run statements atomically (DDL, multi-table DELETE); the rows
    /// changed by those marked `true` are the affected rows.
    Batch(Vec<(String, bool)>),
    /// BEGIN: the session takes the writer.
    Begin,
    /// COMMIT.
    Commit,
    /// ROLLBACK.
    Rollback,
    /// The session went away: roll back what it left open.
    End,
}

/// One request to the writer.
pub struct Job {
    /// The session it comes from.
    pub session: u64,
    /// The session's LAST_INSERT_ID() etc. for this statement.
    pub cells: CellValues,
    /// What to do.
    pub work: Work,
    /// Where the answer goes.
    pub reply: Replier,
    /// When it was sent (for the lock wait timeout).
    pub sent: Instant,
}

type Answer = Result<Ran, DbError>;

struct Slot {
    value: Mutex<Option<Answer>>,
    /// The waiting core task's doorbell.
    bell: Doorbell,
}

/// The writer's end of a reply: answers once; dropping it unanswered
/// answers with an error, so a core never waits forever.
pub struct Replier(Option<Arc<Slot>>);

/// The core's end: a future of the writer's answer.
pub struct Reply(Arc<Slot>);

/// A reply channel.
pub fn reply() -> (Replier, Reply) {
    let slot = Arc::new(Slot { value: Mutex::new(None), bell: Doorbell::default() });
    (Replier(Some(Arc::clone(&slot))), Reply(slot))
}

impl Replier {
    fn send(mut self, a: Answer) {
        if let Some(slot) = self.0.take() {
            *slot.value.lock().unwrap_or_else(|p| p.into_inner()) = Some(a);
            slot.bell.ring();
        }
    }
}

impl Drop for Replier {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            *slot.value.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Err(DbError::internal("the database writer stopped")));
            slot.bell.ring();
        }
    }
}

impl Future for Reply {
    type Output = Answer;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        let slot = &self.0;
        let mut answer = None;
        let ready = slot.bell.poll_until(cx, || {
            answer = slot.value.lock().unwrap_or_else(|p| p.into_inner()).take();
            answer.is_some()
        });
        match (ready, answer) {
            (Poll::Ready(()), Some(a)) => Poll::Ready(a),
            _ => Poll::Pending,
        }
    }
}

/// The writer's figures, updated by the writer thread.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// The writer thread runs.
    pub alive: AtomicBool,
    /// Jobs done.
    pub jobs: AtomicU64,
    /// Jobs waiting now (behind another session's transaction).
    pub waiting: AtomicU64,
    /// A session holds the writer for its transaction now.
    pub in_transaction: AtomicBool,
    /// Jobs that gave up waiting (error 1205).
    pub lock_timeouts: AtomicU64,
}

/// Runs the writer until the database and every core's handle are gone.
pub fn run(conn: Connection, cells: Arc<Cells>, mut jobs: Receiver<Job>, lock_wait: Duration, stats: &WriterStats) {
    let _alive = AliveGuard::new(&stats.alive);
    jobs.bind_thread();
    let mut owner: Option<u64> = None;
    let mut waiting: VecDeque<Job> = VecDeque::new();
    loop {
        // Waiting jobs give up at their lock wait timeout.
        let deadline = waiting.front().map(|j| j.sent + lock_wait);
        if let Wait::Closed = jobs.wait(deadline) {
            if owner.is_some() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return;
        }
        jobs.drain(&mut waiting);
        while let Some(i) = waiting.iter().position(|j| owner.is_none() || owner == Some(j.session)) {
            let job = waiting.remove(i).expect("position is in range");
            let answer = process(&conn, &cells, &mut owner, job.session, &job.cells, job.work);
            if let Some(a) = answer {
                job.reply.send(a);
                stats.jobs.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Whatever still waits is behind another session's transaction.
        while waiting.front().is_some_and(|j| j.sent.elapsed() >= lock_wait) {
            if let Some(j) = waiting.pop_front() {
                if matches!(j.work, Work::End) {
                    continue;
                }
                j.reply.send(Err(DbError::lock_wait()));
                stats.lock_timeouts.fetch_add(1, Ordering::Relaxed);
            }
        }
        stats.waiting.store(waiting.len() as u64, Ordering::Relaxed);
        stats.in_transaction.store(owner.is_some(), Ordering::Relaxed);
    }
}

fn process(
    conn: &Connection,
    cells: &Cells,
    owner: &mut Option<u64>,
    session: u64,
    state: &CellValues,
    work: Work,
) -> Option<Answer> {
    let done = |r: rusqlite::Result<()>| r.map(|_| Ran::done()).map_err(DbError::from_sqlite);
    Some(match work {
        Work::Run { sql, params, count } => {
            cells.load(state);
            let r = run_sql(conn, &sql, &params, count.as_deref());
            // SQLite may roll a transaction back by itself (disk full, I/O
            // error): then nobody owns the writer any more.
            if *owner == Some(session) && conn.is_autocommit() {
                *owner = None;
            }
            r
        }
        Work::Batch(sqls) => {
            let in_tx = *owner == Some(session);
            let begin = if in_tx { "SAVEPOINT ephpm_batch" } else { "BEGIN IMMEDIATE" };
            if let Err(e) = conn.execute_batch(begin) {
                return Some(Err(DbError::from_sqlite(e)));
            }
            let mut affected = 0;
            let result = sqls.iter().try_for_each(|(s, counted)| {
                conn.execute_batch(s)?;
                if *counted {
                    affected += conn.changes();
                }
                Ok(())
            });
            let end = match (&result, in_tx) {
                (Ok(()), true) => "RELEASE ephpm_batch",
                (Ok(()), false) => "COMMIT",
                (Err(_), true) => "ROLLBACK TO ephpm_batch; RELEASE ephpm_batch",
                (Err(_), false) => "ROLLBACK",
            };
            let ended = conn.execute_batch(end);
            let outcome = Outcome::Done { affected, last_insert_id: 0 };
            result.and(ended).map(|_| Ran { outcome, found: None }).map_err(DbError::from_sqlite)
        }
        Work::Begin => {
            if *owner == Some(session) {
                // MySQL's BEGIN inside a transaction commits it first.
                if let Err(e) = conn.execute_batch("COMMIT") {
                    return Some(Err(DbError::from_sqlite(e)));
                }
            }
            let r = conn.execute_batch("BEGIN IMMEDIATE");
            if r.is_ok() {
                *owner = Some(session);
            }
            done(r)
        }
        Work::Commit | Work::Rollback | Work::End if *owner == Some(session) => {
            *owner = None;
            let is_commit = matches!(work, Work::Commit);
            let r = conn.execute_batch(if is_commit { "COMMIT" } else { "ROLLBACK" });
            if r.is_err() && is_commit {
                let _ = conn.execute_batch("ROLLBACK");
            }
            if matches!(work, Work::End) {
                return None;
            }
            done(r)
        }
        Work::End => return None,
        Work::Commit | Work::Rollback => Ok(Ran::done()),
    })
}
