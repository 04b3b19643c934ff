//! One proxy client: the login, then each command relayed on a backend
//! connection borrowed for it (or kept, while the session pins one).

use std::rc::Rc;
use std::time::Instant;

use ephpm_db::DbError;
use monoio::net::TcpStream;

use super::super::backend::{BackendError, STATUS_AUTOCOMMIT};
use super::super::backend_pool::Lease;
use super::super::command::{self, caps, Command};
use super::super::front::{Closed, Front, MultiStatements};
use super::super::packet::{Cursor, MAX_PACKET, UTF8MB4_GENERAL_CI};
use super::super::relay::{RelayError, Relayed, Reply};
use super::super::resultset;
use super::classify::{classify, plain_select, Class, Effect};
use super::session::{apply, PreparedStmt, Session};
use super::ProxyContext;
use ephpm_db::stats::normalize;

/// What the proxy offers clients: the embedded server's capabilities
/// except those that change the wire format, results or parsing on the
/// backend connections it relays from (they use none of them).
const CAPS: u32 =
    caps::SERVER & !(caps::DEPRECATE_EOF | caps::FOUND_ROWS | caps::IGNORE_SPACE | caps::INTERACTIVE | caps::ODBC);

/// How long an auto-EXPLAIN may take.
const EXPLAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A borrowed connection and whether it came from a replica.
struct Held {
    lease: Lease,
    replica: bool,
}

struct Client {
    front: Front,
    ctx: Rc<ProxyContext>,
    caps: u32,
    multi_statements: MultiStatements,
    session: Session,
    /// The connection the session keeps between statements.
    held: Option<Held>,
    /// Staging buffer for relayed replies.
    buf: Vec<u8>,
}

/// Serves one client.
pub async fn serve(stream: TcpStream, ctx: Rc<ProxyContext>) {
    let mut c = Client {
        front: Front::new(stream, MAX_PACKET, ctx.tls.clone()),
        ctx,
        caps: 0,
        multi_statements: MultiStatements::default(),
        session: Session::new(None, UTF8MB4_GENERAL_CI),
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

impl Client {
    async fn run(&mut self) -> Result<(), Closed> {
        let id = self.ctx.ids.next() as u32;
        let login = self.front.login(id, CAPS, &self.ctx.users).await?;
        self.caps = login.caps;
        self.multi_statements = MultiStatements::from_caps(login.caps);
        // Without a database of its own a client gets the URL's: a pooled
        // connection's database cannot be unset.
        let database = login.database.or_else(|| self.ctx.default_database.clone());
        self.session = Session::new(database, login.charset);
        // A database named at login must exist (error 1049), and an
        // unreachable primary is reported now rather than at the first query.
        if let Err(e) = self.borrow(false).await {
            return self.front.fail(login.seq, &client_error(&e)).await;
        }
        let status = self.status();
        self.release(status);
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
                    self.statement(seq, &payload, Reply::Single, "", None, Class::use_db(db)).await?;
                }
                Some(0x04) => {
                    self.statement(seq, &payload, Reply::Columns, "", None, Class::other()).await?;
                }
                Some(0x09) => {
                    self.statement(seq, &payload, Reply::Single, "", None, Class::other()).await?;
                }
                Some(0x16) => self.prepare(seq, &payload).await?,
                Some(0x17) => self.on_statement(seq, &payload, Reply::Results).await?,
                Some(0x1c) => self.on_statement(seq, &payload, Reply::Rows).await?,
                Some(0x1a) => self.on_statement(seq, &payload, Reply::Single).await?,
                Some(0x18) | Some(0x19) => self.no_reply(&payload).await?,
                Some(0x1b) => {
                    let option = Cursor::new(payload.get(1..).unwrap_or_default()).u16().unwrap_or(1);
                    self.multi_statements.set_option(option);
                    let status = self.status();
                    let mut out = self.front.out(seq);
                    resultset::eof(&mut out, self.caps, status);
                    self.front.send(out).await?;
                }
                Some(0x1f) => {
                    self.reset(None).await;
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
        if let Some(e) = self.multi_statements.refusal(&sql) {
            return self.error(seq, &e).await;
        }
        let split =
            self.ctx.split.enabled && self.held.is_none() && !self.session.sticky() && !self.ctx.replicas.is_empty();
        let class = classify(&sql, split);
        if let Effect::Refuse(what) = class.effect {
            return self.error(seq, &DbError::unsupported(what)).await;
        }
        if class.effect == Effect::Set && self.held.is_none() && self.set_already_applied(&sql).await {
            self.session.add_set(&sql);
            return self.ok(seq).await;
        }
        self.statement(seq, payload, Reply::Results, &sql, None, class).await.map(|_| ())
    }

    /// Whether the connection the session would get next has already run
    /// `sql` right after the session's own SETs: connections mostly carry
    /// the SETs every client of an application runs in the same order, and
    /// then nothing needs to be sent.
    async fn set_already_applied(&self, sql: &str) -> bool {
        let wanted = &self.session.wanted;
        let n = wanted.sets.len();
        let lease = self.ctx.primary.acquire_now().await;
        // Back to the pool either way, where `borrow` takes it again.
        lease.is_ok_and(|mut lease| {
            let applied = &lease.conn().applied;
            !applied.tainted
                && applied.database == wanted.database
                && applied.sets.len() == n + 1
                && applied.sets[..n] == wanted.sets[..]
                && applied.sets[n] == sql
        })
    }

    /// Runs one statement on a borrowed (or held) connection and relays
    /// its reply; `sql` is its text for the statistics (`""`: none), with
    /// its digest when known (a prepared statement's). `None` when the
    /// client got an error without a backend's reply.
    #[allow(clippy::too_many_arguments)]
    async fn statement(
        &mut self,
        seq: u8,
        payload: &[u8],
        reply: Reply,
        sql: &str,
        digest: Option<&str>,
        class: Class,
    ) -> Result<Option<Relayed>, Closed> {
        let started = Instant::now();
        let held_before = self.held.is_some();
        let mut read = class.read;
        let mut retried = false;
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
                Err(RelayError::Backend { error, replied }) => {
                    held.lease.discard();
                    if matches!(error, BackendError::Io(_)) {
                        // Its idle siblings most likely died with it (the
                        // server restarted): new ones are opened instead.
                        held.lease.pool().flush_idle();
                    }
                    let replica = held.replica;
                    self.held = None;
                    tracing::debug!("db proxy: backend failed mid-statement: {error}");
                    // Part of a reply may be with the client, or its
                    // session's state is lost with the connection: close.
                    if replied || held_before {
                        return Err(Closed);
                    }
                    // A read that got no reply is retried once, on the
                    // primary if a replica failed; a write never is (the
                    // server may have run it).
                    if retried || class.write {
                        return self.error(seq, &client_error(&error)).await.map(|_| None);
                    }
                    read &= !replica;
                    retried = true;
                }
            }
        };
        let took = started.elapsed();
        if let Some(slow) = self.record(sql, digest, took, &done) {
            // Only a single plain SELECT: EXPLAIN of anything else may run
            // part of it (backend connections take several statements).
            let select = !class.write && !class.taint && class.effect == Effect::None && first_word_is(sql, "SELECT");
            if self.ctx.auto_explain && reply == Reply::Results && select && plain_select(sql) {
                self.explain(sql, slow);
            }
        }
        self.after(&class, sql, &done);
        Ok(Some(done))
    }

    /// Commands on a prepared statement: only on the connection that
    /// prepared it.
    async fn on_statement(&mut self, seq: u8, payload: &[u8], reply: Reply) -> Result<(), Closed> {
        let id = statement_id(payload);
        let Some(stmt) = self.session.pins.statements.get(&id).cloned().filter(|_| self.held.is_some()) else {
            let e =
                DbError::new(1243, "HY000", format!("Unknown prepared statement handler ({id}) given to the proxy"));
            return self.error(seq, &e).await;
        };
        let (sql, digest, class) = match payload[0] {
            0x17 => (stmt.sql.as_str(), Some(stmt.digest.as_str()), Class::execute(&stmt.class)),
            _ => ("", None, Class::other()),
        };
        self.statement(seq, payload, reply, sql, digest, class).await.map(|_| ())
    }

    /// COM_STMT_PREPARE: the session keeps the connection while it has
    /// prepared statements.
    async fn prepare(&mut self, seq: u8, payload: &[u8]) -> Result<(), Closed> {
        // Held through the reply, so the connection is not released before
        // the statement is known.
        self.session.pins.preparing = true;
        let r = self.statement(seq, payload, Reply::Prepare, "", None, Class::other()).await;
        self.session.pins.preparing = false;
        if let Some(id) = r?.and_then(|d| d.statement_id) {
            let sql = String::from_utf8_lossy(&payload[1..]).into_owned();
            let stmt = PreparedStmt { class: classify(&sql, false), digest: normalize(&sql), sql };
            self.session.pins.statements.insert(id, Rc::new(stmt));
        }
        let status = self.status();
        self.release(status);
        Ok(())
    }

    /// COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA: passed on, no reply.
    async fn no_reply(&mut self, payload: &[u8]) -> Result<(), Closed> {
        let id = statement_id(payload);
        if !self.session.pins.statements.contains_key(&id) {
            return Ok(()); // an unknown statement: nothing to do, as MySQL
        }
        let Some(held) = self.held.as_mut() else { return Ok(()) };
        if held.lease.conn().send_only(payload).await.is_err() {
            held.lease.discard();
            return Err(Closed);
        }
        if payload[0] == 0x19 {
            self.session.pins.statements.remove(&id);
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
                // A busy or failing replica is no reason to wait: the
                // primary answers instead.
                if let Ok(lease) = pool.acquire_in_state(&self.session.wanted, false).await {
                    if let Ok(held) = self.bring_into_state(lease, true).await {
                        self.held = Some(held);
                        return Ok(());
                    }
                }
            }
        }
        let lease = self.ctx.primary.acquire_in_state(&self.session.wanted, true).await?;
        self.held = Some(self.bring_into_state(lease, false).await?);
        Ok(())
    }

    /// Applies the session's state to a fresh lease; a connection that
    /// fails at it is closed (its state is unknown).
    async fn bring_into_state(&self, mut lease: Lease, replica: bool) -> Result<Held, BackendError> {
        if let Err(e) = apply(lease.conn(), &self.session.wanted).await {
            lease.discard();
            return Err(e);
        }
        Ok(Held { lease, replica })
    }

    /// Updates the session from a statement's outcome and releases the
    /// connection unless the session must keep it.
    fn after(&mut self, class: &Class, sql: &str, done: &Relayed) {
        let Some(held) = self.held.as_mut() else { return };
        let conn = held.lease.conn();
        let status = conn.status;
        conn.applied.tainted |= class.taint;
        let pins = &mut self.session.pins;
        pins.next = false;
        if done.error.is_none() {
            match &class.effect {
                Effect::Use(db) => {
                    self.session.wanted.database = Some(db.clone());
                    conn.applied.database = Some(db.clone());
                }
                Effect::Set => {
                    if !self.session.add_set(sql) {
                        self.session.pins.session = true;
                    }
                    // The connection ran the earlier SETs and this one.
                    conn.applied.sets.clone_from(&self.session.wanted.sets);
                }
                Effect::Pin => pins.session = true,
                Effect::Lock => pins.locks = true,
                Effect::Unlock => pins.locks = false,
                Effect::HoldNext => pins.next = true,
                Effect::None | Effect::Refuse(_) => {}
            }
            if done.last_insert_id != 0 {
                self.session.pins.next = true;
            }
        }
        if class.write && !held.replica {
            self.session.sticky_until = Some(Instant::now() + self.ctx.split.sticky);
        }
        // A replica's connection is never kept: the session's next
        // statement may write.
        if held.replica {
            self.held = None;
        } else {
            self.release(status);
        }
    }

    /// Gives the held connection back unless the session must keep it.
    fn release(&mut self, status: u16) {
        if !self.session.pins.hold(status) {
            self.held = None;
        }
    }

    /// Records a statement in the core's statistics; its slow-log id when
    /// it was slow.
    fn record(&self, sql: &str, digest: Option<&str>, took: std::time::Duration, done: &Relayed) -> Option<u64> {
        if sql.is_empty() {
            return None;
        }
        // Normalized before the lock is taken, and once per prepared
        // statement rather than per execution.
        let normalized;
        let digest = match digest {
            Some(d) => d,
            None => {
                normalized = normalize(sql);
                &normalized
            }
        };
        let mut stats = self.ctx.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.record_digest(digest, sql, took, done.rows, done.error.is_none(), self.ctx.slow_threshold)
    }

    /// Fetches the plan of slow SELECT `sql` (slow-log entry `id`) in the
    /// background, on a replica when one is in rotation; one at a time per
    /// core, so a burst of slow queries does not become a burst of EXPLAINs.
    fn explain(&self, sql: &str, id: u64) {
        if self.ctx.explaining.replace(true) {
            return;
        }
        let ctx = Rc::clone(&self.ctx);
        let state = self.session.wanted.clone();
        let sql = format!("EXPLAIN {sql}");
        monoio::spawn(async move {
            let pool = ctx.replicas.pick().map_or_else(|| Rc::clone(&ctx.primary), |r| Rc::clone(&r.pool));
            let plan = async {
                let mut lease = pool.acquire_now().await?;
                apply(lease.conn(), &state).await?;
                lease.conn().query(&sql).await
            };
            let text = match monoio::time::timeout(EXPLAIN_TIMEOUT, plan).await {
                Ok(Ok(r)) => r
                    .rows
                    .iter()
                    .map(|row| {
                        r.columns
                            .iter()
                            .zip(row)
                            .map(|(c, v)| {
                                format!("{c}={}", v.as_deref().map_or("NULL".into(), String::from_utf8_lossy))
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                Ok(Err(e)) => format!("EXPLAIN failed: {e}"),
                Err(_) => format!("EXPLAIN took longer than {EXPLAIN_TIMEOUT:?}"),
            };
            ctx.stats.lock().unwrap_or_else(|p| p.into_inner()).explain(id, text);
            ctx.explaining.set(false);
        });
    }

    /// COM_RESET_CONNECTION's work: the session back to its login state
    /// (in `database` if given); a held connection is reset too (or closed).
    async fn reset(&mut self, database: Option<String>) {
        if let Some(mut held) = self.held.take() {
            if held.lease.conn().reset().await.is_err() {
                held.lease.discard();
            }
        }
        self.session.reset(database);
    }

    /// COM_CHANGE_USER: authenticates again, then resets the session.
    async fn change_user(&mut self, seq: u8, payload: &[u8]) -> Result<(), Closed> {
        let Ok(Command::ChangeUser { user, auth, database, plugin }) = command::command(payload, self.caps) else {
            return self.front.fail(seq, &DbError::new(1835, "HY000", "Malformed communication packet")).await;
        };
        let seq = self.front.authenticate(seq, &self.ctx.users, &user, &plugin, auth).await?;
        self.reset(database).await;
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

/// The statement id of a COM_STMT_* packet.
fn statement_id(payload: &[u8]) -> u32 {
    Cursor::new(payload.get(1..).unwrap_or_default()).u32().unwrap_or(0)
}

/// Whether the first word of `sql` (after spaces) is `kw`.
fn first_word_is(sql: &str, kw: &str) -> bool {
    sql.trim_start().get(..kw.len()).is_some_and(|w| w.eq_ignore_ascii_case(kw))
}
