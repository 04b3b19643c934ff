//! One proxy client: the login, then each command relayed on a backend
//! connection borrowed for it (or kept, while the session pins one).

use std::rc::Rc;
use std::time::Instant;

use ephpm_shard::db::DbError;
use monoio::net::TcpStream;

use super::super::backend::{BackendError, STATUS_AUTOCOMMIT};
use super::super::backend_pool::{BackendPool, Lease};
use super::super::command::caps;
use super::super::front::{Closed, Front};
use super::super::relay::{RelayError, Relayed, Reply};
use super::super::resultset;
use super::classify::{classify, Class, Effect};
use super::session::{apply, Session};
use super::ProxyContext;

/// Largest packet a client may send.
const MAX_PACKET: usize = 64 << 20;

/// What the proxy offers clients: the embedded server's capabilities
/// except those that change the wire format or results of the backend
/// connections it relays from (they use none of them).
const CAPS: u32 = caps::SERVER & !caps::DEPRECATE_EOF & !caps::FOUND_ROWS;

/// A borrowed connection and whether it came from a replica.
struct Held {
    lease: Lease,
    replica: bool,
}

struct Client<'a> {
    front: Front,
    ctx: &'a ProxyContext,
    caps: u32,
    multi_statements: bool,
    session: Session,
    /// The connection the session keeps between statements.
    held: Option<Held>,
    /// Staging buffer for relayed replies.
    buf: Vec<u8>,
}

/// Serves one client.
pub async fn serve(stream: TcpStream, ctx: Rc<ProxyContext>) {
    let mut c = Client {
        front: Front::new(stream, MAX_PACKET),
        ctx: &ctx,
        caps: 0,
        multi_statements: false,
        session: Session::new(None, 45),
        held: None,
        buf: Vec::with_capacity(16 * 1024),
    };
    let _ = c.run().await;
    if let Some(mut held) = c.held.take() {
        // Locks, temporary tables, user variables, prepared statements:
        // no other client may inherit them.
        if c.session.pins.dirty() {
            held.lease.discard();
        }
    }
}

/// The error a client gets for a backend failure.
fn client_error(e: &BackendError) -> DbError {
    match e {
        BackendError::Server { code, state, message } => DbError::new(*code, sqlstate(state), message.clone()),
        BackendError::Io(e) => DbError::new(2013, "HY000", format!("Lost connection to the backend server: {e}")),
        BackendError::Protocol(why) => DbError::new(2027, "HY000", format!("Malformed packet from the backend: {why}")),
    }
}

/// A backend's SQLSTATE as one of the common ones (the error type keeps
/// static states); others read HY000, the general error.
fn sqlstate(state: &str) -> &'static str {
    const KNOWN: [&str; 20] = [
        "23000", "42000", "42S01", "42S02", "42S22", "28000", "08004", "08S01", "40001", "3D000", "22001", "22003",
        "22007", "22012", "21S01", "25000", "HY000", "01000", "0A000", "XA102",
    ];
    KNOWN.iter().find(|k| **k == state).copied().unwrap_or("HY000")
}

impl Client<'_> {
    async fn run(&mut self) -> Result<(), Closed> {
        let id = self.ctx.connection_id();
        let login = self.front.login(id, CAPS, &self.ctx.users).await?;
        self.caps = login.caps;
        self.multi_statements = login.caps & caps::MULTI_STATEMENTS != 0;
        self.session = Session::new(login.database, login.charset);
        // A database named at login must exist (error 1049), and an
        // unreachable primary is reported now rather than at the first query.
        if self.session.wanted.database.is_some() {
            if let Err(e) = self.borrow(false).await {
                return self.front.fail(login.seq, &client_error(&e)).await;
            }
            self.release(STATUS_AUTOCOMMIT);
        }
        let mut out = self.front.out(login.seq);
        resultset::ok(&mut out, 0, 0, STATUS_AUTOCOMMIT);
        self.front.send(out).await?;
        loop {
            let (seq, payload) = self.front.read().await?;
            let seq = seq.wrapping_add(1);
            match payload.first().copied() {
                Some(0x01) => return Ok(()),
                Some(0x03) => self.query(seq, &payload).await?,
                Some(0x0e) => self.ok(seq).await?,
                Some(0x02) => {
                    let db = String::from_utf8_lossy(&payload[1..]).into_owned();
                    self.statement(seq, &payload, Reply::Single, &db, Class::use_db(db.clone())).await?;
                }
                Some(0x04) => {
                    self.statement(seq, &payload, Reply::Columns, "", Class::other()).await?;
                }
                Some(0x09) => {
                    self.statement(seq, &payload, Reply::Single, "", Class::other()).await?;
                }
                Some(0x16) => self.prepare(seq, &payload).await?,
                Some(0x17) => self.on_statement(seq, &payload, Reply::Results).await?,
                Some(0x1c) => self.on_statement(seq, &payload, Reply::Rows).await?,
                Some(0x1a) => self.on_statement(seq, &payload, Reply::Single).await?,
                Some(0x18) | Some(0x19) => self.no_reply(&payload).await?,
                Some(0x1b) => {
                    self.multi_statements = payload.get(1..3) == Some(&[0, 0]);
                    let mut out = self.front.out(seq);
                    resultset::eof(&mut out, self.caps, self.status());
                    self.front.send(out).await?;
                }
                Some(0x1f) => {
                    self.reset().await;
                    self.ok(seq).await?;
                }
                Some(0x11) => self.change_user(seq, &payload).await?,
                Some(code) => {
                    let e = DbError::new(1047, "08S01", format!("Unknown command {code:#04x}"));
                    self.error(seq, &e).await?;
                }
                None => {
                    return self.front.fail(seq, &DbError::new(1835, "HY000", "Malformed communication packet")).await
                }
            }
        }
    }

    /// COM_QUERY.
    async fn query(&mut self, seq: u8, payload: &[u8]) -> Result<(), Closed> {
        let sql = String::from_utf8_lossy(&payload[1..]);
        if !self.multi_statements && sql.contains(';') && ephpm_shard::db::translate::split(&sql).len() > 1 {
            let e = DbError::new(1064, "42000", "multiple statements need CLIENT_MULTI_STATEMENTS");
            return self.error(seq, &e).await;
        }
        let split = self.ctx.split.enabled && self.held.is_none() && !self.ctx.replicas.is_empty();
        let class = classify(&sql, split);
        if class.effect == Effect::Set && self.held.is_none() {
            // Connections mostly carry the SETs every client of the
            // application runs in the same order: when the next one is
            // already there, nothing needs to be sent.
            let mut target = self.session.wanted.clone();
            target.sets.retain(|s| *s != sql);
            target.sets.push(sql.to_string());
            match self.ctx.primary.acquire().await {
                Ok(mut lease) => {
                    // Back to the pool either way, where `borrow` takes it
                    // again.
                    if lease.conn().applied == target {
                        drop(lease);
                        self.session.add_set(&sql);
                        return self.ok(seq).await;
                    }
                }
                Err(e) => return self.error(seq, &client_error(&e)).await,
            }
        }
        self.statement(seq, payload, Reply::Results, &sql, class).await.map(|_| ())
    }

    /// Runs one statement on a borrowed (or held) connection and relays
    /// its reply; `sql` is its text for the statistics. `None` when the
    /// client got an error without a backend's reply.
    async fn statement(
        &mut self,
        seq: u8,
        payload: &[u8],
        reply: Reply,
        sql: &str,
        class: Class,
    ) -> Result<Option<Relayed>, Closed> {
        let started = Instant::now();
        let held_before = self.held.is_some();
        let mut retried = false;
        let mut read = class.read && !self.session.sticky();
        let done = loop {
            if let Err(e) = self.borrow(read).await {
                return self.error(seq, &client_error(&e)).await.map(|_| None);
            }
            let held = self.held.as_mut().expect("borrowed");
            let r = held.lease.conn().relay(payload, reply, self.front.stream(), seq, &mut self.buf).await;
            match r {
                Ok(done) => break done,
                Err(RelayError::Client) => {
                    held.lease.discard();
                    return Err(Closed);
                }
                Err(RelayError::Backend { error, sent }) => {
                    held.lease.discard();
                    // Its idle siblings most likely died with it (the
                    // server restarted): new ones are opened instead.
                    held.lease.pool().flush_idle();
                    // A failed replica read is retried on the primary.
                    read &= !held.replica;
                    self.held = None;
                    tracing::debug!("db proxy: backend failed mid-statement: {error}");
                    // A connection that died while idle fails before the
                    // reply starts: the statement is retried once on
                    // another connection, unless the session had state on
                    // the lost one.
                    if sent || held_before {
                        let _ = self.front.fail(seq, &client_error(&error)).await;
                        return Err(Closed);
                    }
                    if retried {
                        return self.error(seq, &client_error(&error)).await.map(|_| None);
                    }
                    retried = true;
                }
            }
        };
        self.record(sql, started, &done);
        self.after(&class, sql, &done);
        Ok(Some(done))
    }

    /// Commands on a prepared statement: only on the connection that
    /// prepared it.
    async fn on_statement(&mut self, seq: u8, payload: &[u8], reply: Reply) -> Result<(), Closed> {
        if self.session.pins.statements == 0 || self.held.is_none() {
            let id = payload.get(1..5).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let e =
                DbError::new(1243, "HY000", format!("Unknown prepared statement handler ({id}) given to the proxy"));
            return self.error(seq, &e).await;
        }
        self.statement(seq, payload, reply, "", Class::other()).await.map(|_| ())
    }

    /// COM_STMT_PREPARE: the session keeps the connection while it has
    /// prepared statements.
    async fn prepare(&mut self, seq: u8, payload: &[u8]) -> Result<(), Closed> {
        let before = self.session.pins.statements;
        // Counted first, so the connection is not released in between.
        self.session.pins.statements += 1;
        let sql = String::from_utf8_lossy(&payload[1..]).into_owned();
        let done = self.statement(seq, payload, Reply::Prepare, &sql, Class::other()).await?;
        if done.is_none_or(|d| d.error.is_some()) {
            self.session.pins.statements = before;
            let status = self.status();
            self.release(status);
        }
        Ok(())
    }

    /// COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA: passed on, no reply.
    async fn no_reply(&mut self, payload: &[u8]) -> Result<(), Closed> {
        let Some(held) = self.held.as_mut() else { return Ok(()) };
        if held.lease.conn().send_only(payload).await.is_err() {
            held.lease.discard();
            return Err(Closed);
        }
        if payload[0] == 0x19 {
            self.session.pins.statements = self.session.pins.statements.saturating_sub(1);
            let status = self.status();
            self.release(status);
        }
        Ok(())
    }

    /// Borrows a connection in the session's state (from a replica if
    /// `read` and one is in rotation), unless one is held already.
    async fn borrow(&mut self, read: bool) -> Result<(), BackendError> {
        if self.held.is_some() {
            return Ok(());
        }
        if read {
            if let Some(r) = self.ctx.replicas.pick() {
                let pool = Rc::clone(&r.pool);
                if let Ok(held) = self.lease_from(&pool, true).await {
                    self.held = Some(held);
                    return Ok(());
                }
            }
        }
        let primary = Rc::clone(&self.ctx.primary);
        self.held = Some(self.lease_from(&primary, false).await?);
        Ok(())
    }

    async fn lease_from(&self, pool: &Rc<BackendPool>, replica: bool) -> Result<Held, BackendError> {
        let mut lease = pool.acquire().await?;
        if let Err(e) = apply(lease.conn(), &self.session.wanted).await {
            if matches!(e, BackendError::Io(_) | BackendError::Protocol(_)) {
                lease.discard();
            } else {
                // The server refused the state (a database dropped since):
                // the connection is fine but half-applied; start it over.
                lease.conn().applied.sets.clear();
                lease.conn().applied.database = Some(String::new());
            }
            return Err(e);
        }
        Ok(Held { lease, replica })
    }

    /// Updates the session from a statement's outcome and releases the
    /// connection unless the session must keep it.
    fn after(&mut self, class: &Class, sql: &str, done: &Relayed) {
        let Some(held) = self.held.as_mut() else { return };
        let status = held.lease.conn().status;
        self.session.pins.next = false;
        if done.error.is_none() {
            match &class.effect {
                Effect::Use(db) => {
                    self.session.wanted.database = Some(db.clone());
                    held.lease.conn().applied.database = Some(db.clone());
                }
                Effect::Set => {
                    if !self.session.add_set(sql) {
                        self.session.pins.session = true;
                    }
                    // The connection ran the earlier SETs and this one.
                    held.lease.conn().applied = self.session.wanted.clone();
                }
                Effect::Pin => self.session.pins.session = true,
                Effect::Lock => self.session.pins.locks = true,
                Effect::Unlock => self.session.pins.locks = false,
                Effect::HoldNext => self.session.pins.next = true,
                Effect::None => {}
            }
            if done.last_insert_id != 0 {
                self.session.pins.next = true;
            }
        }
        if class.write && !held.replica {
            self.session.sticky_until = Some(Instant::now() + self.ctx.split.sticky);
        }
        self.release(status);
    }

    /// Gives the held connection back unless the session must keep it.
    fn release(&mut self, status: u16) {
        if !self.session.pins.hold(status) {
            self.held = None;
        }
    }

    fn record(&self, sql: &str, started: Instant, done: &Relayed) {
        if sql.is_empty() {
            return;
        }
        let took = started.elapsed();
        let mut stats = self.ctx.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.record(sql, took, done.rows, done.error.is_none(), self.ctx.slow_threshold);
    }

    /// COM_RESET_CONNECTION's work: the session back to its login state; a
    /// held connection is reset too (or closed).
    async fn reset(&mut self) {
        if let Some(mut held) = self.held.take() {
            if held.lease.conn().reset().await.is_ok() {
                held.lease.conn().applied.sets.clear();
            } else {
                held.lease.discard();
            }
        }
        self.session.reset(None);
    }

    /// COM_CHANGE_USER: authenticates again, then resets the session.
    async fn change_user(&mut self, seq: u8, payload: &[u8]) -> Result<(), Closed> {
        let Ok(super::super::command::Command::ChangeUser { user, auth, database, plugin }) =
            super::super::command::command(payload, self.caps)
        else {
            return self.front.fail(seq, &DbError::new(1835, "HY000", "Malformed communication packet")).await;
        };
        let seq = self.front.authenticate(seq, &self.ctx.users, &user, &plugin, auth).await?;
        self.reset().await;
        self.session.reset(database);
        self.ok(seq).await
    }

    /// Status flags for replies the proxy makes itself.
    fn status(&mut self) -> u16 {
        match self.held.as_mut() {
            Some(h) => h.lease.conn().status,
            None => STATUS_AUTOCOMMIT,
        }
    }

    async fn ok(&mut self, seq: u8) -> Result<(), Closed> {
        let status = self.status();
        let mut out = self.front.out(seq);
        resultset::ok(&mut out, 0, 0, status);
        self.front.send(out).await
    }

    async fn error(&mut self, seq: u8, e: &DbError) -> Result<(), Closed> {
        let mut out = self.front.out(seq);
        resultset::err(&mut out, e);
        self.front.send(out).await
    }
}
