//! One client connection of the embedded database: the login (see
//! [`super::front`]), then commands until the client quits, sends a malformed packet, or the core
//! shuts down.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use ephpm_db::{CoreDb, DbError, Outcome, Prepared, Session, Value};
use ephpm_rt::LocalSignal;
use monoio::net::TcpStream;

use super::command::{self, caps, Command, Param};
use super::front::{Closed, ConnectionIds, Front, MultiStatements, User, TOO_MANY};
use super::packet::Out;
use super::resultset::{self, status};
use ephpm_rt::accept::ClientLimit;

/// What every MySQL connection of a core shares.
pub struct MysqlContext {
    /// The core's database handle.
    pub db: CoreDb,
    /// `db.users`.
    pub users: Vec<User>,
    /// Largest packet a client may send.
    pub max_packet: usize,
    /// Connected clients on this core and their limit.
    pub clients: Rc<ClientLimit>,
    /// Fired at shutdown.
    pub stop: LocalSignal,
    /// TLS offered to clients (`db.sqlite.tls`).
    pub tls: Option<Rc<ephpm_tls::TlsAcceptor>>,
    /// Statements run on this core (COM_STATISTICS' Questions).
    questions: Cell<u64>,
    started: std::time::Instant,
    ids: ConnectionIds,
}

impl MysqlContext {
    /// The context of one core's connections.
    pub fn new(db: CoreDb, users: Vec<User>, core: usize, max_clients: usize, stop: LocalSignal) -> MysqlContext {
        MysqlContext {
            db,
            users,
            max_packet: super::packet::MAX_PACKET,
            clients: Rc::new(ClientLimit { count: Cell::new(0), max: max_clients, refusal: TOO_MANY }),
            stop,
            tls: None,
            questions: Cell::new(0),
            started: std::time::Instant::now(),
            ids: ConnectionIds::new(core),
        }
    }
}

/// A prepared statement and what its executions carry over.
struct Stmt {
    prepared: Rc<Prepared>,
    types: Vec<(u8, bool)>,
    long: Vec<Option<Vec<u8>>>,
}

struct Conn<'a> {
    front: Front,
    ctx: &'a MysqlContext,
    caps: u32,
    session: Session,
    stmts: HashMap<u32, Stmt>,
    next_stmt: u32,
    multi_statements: MultiStatements,
}

/// Serves one client.
pub async fn serve(stream: TcpStream, ctx: Rc<MysqlContext>) {
    let id = ctx.ids.next();
    let mut conn = Conn {
        front: Front::new(stream, ctx.max_packet, ctx.tls.clone()),
        ctx: &ctx,
        caps: 0,
        session: Session::new(id, ctx.db.default_database()),
        stmts: HashMap::new(),
        next_stmt: 1,
        multi_statements: MultiStatements::default(),
    };
    let _ = conn.run().await;
    let mut session = conn.session;
    ctx.db.end(&mut session);
}

impl Conn<'_> {
    async fn run(&mut self) -> Result<(), Closed> {
        let login = self.front.login(self.session.id as u32, caps::SERVER, &self.ctx.users).await?;
        self.caps = login.caps;
        self.multi_statements = MultiStatements::from_caps(login.caps);
        if let Some(db) = login.database {
            self.session.database = db;
        }
        let mut out = self.out(login.seq);
        resultset::ok(&mut out, 0, 0, self.status());
        self.send(out).await?;
        loop {
            let (seq, payload) = self.read().await?;
            let cmd = match command::command(&payload, self.caps) {
                Ok(c) => c,
                Err(_) => return self.fail(seq.wrapping_add(1), &malformed()).await,
            };
            if matches!(cmd, Command::Quit) {
                return Ok(());
            }
            self.command(seq.wrapping_add(1), cmd).await?;
        }
    }

    fn status(&self) -> u16 {
        let mut s = 0;
        if self.session.autocommit {
            s |= status::AUTOCOMMIT;
        }
        if self.session.in_transaction() {
            s |= status::IN_TRANS;
        }
        s
    }

    async fn command(&mut self, seq: u8, cmd: Command) -> Result<(), Closed> {
        let mut out = self.out(seq);
        match cmd {
            Command::Query(sql) => {
                self.count_question();
                self.query(&mut out, &sql).await
            }
            Command::Ping => resultset::ok(&mut out, 0, 0, self.status()),
            Command::InitDb(db) => {
                self.session.database = db;
                resultset::ok(&mut out, 0, 0, self.status());
            }
            Command::Statistics => {
                let uptime = self.ctx.started.elapsed().as_secs();
                let q = self.ctx.questions.get();
                let text = format!(
                    "Uptime: {uptime}  Threads: {}  Questions: {q}  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: {:.3}",
                    self.ctx.clients.count.get(),
                    q as f64 / uptime.max(1) as f64
                );
                out.begin();
                out.bytes(text.as_bytes());
                out.end();
            }
            Command::FieldList(table) => self.field_list(&mut out, &table).await,
            Command::Prepare(sql) => self.prepare(&mut out, &sql),
            Command::Execute { id, rest } => {
                self.count_question();
                self.execute(&mut out, id, &rest).await?
            }
            Command::LongData { id, param, data } => {
                if let Some(st) = self.stmts.get_mut(&id) {
                    if let Some(slot) = st.long.get_mut(param as usize) {
                        slot.get_or_insert_with(Vec::new).extend_from_slice(&data);
                    }
                }
                return Ok(()); // no response
            }
            Command::Close(id) => {
                self.stmts.remove(&id);
                return Ok(()); // no response
            }
            Command::Reset(id) => match self.stmts.get_mut(&id) {
                Some(st) => {
                    st.long.iter_mut().for_each(|l| *l = None);
                    resultset::ok(&mut out, 0, 0, self.status());
                }
                None => resultset::err(&mut out, &unknown_stmt(id)),
            },
            Command::SetOption(opt) => {
                self.multi_statements.set_option(opt);
                resultset::eof(&mut out, self.caps, self.status());
            }
            Command::ResetConnection => {
                self.reset_session();
                resultset::ok(&mut out, 0, 0, self.status());
            }
            Command::ChangeUser { user, auth: response, database, plugin } => {
                self.reset_session();
                let seq = self.front.authenticate(seq, &self.ctx.users, &user, &plugin, response).await?;
                if let Some(db) = database {
                    self.session.database = db;
                }
                out = self.out(seq);
                resultset::ok(&mut out, 0, 0, self.status());
            }
            Command::Quit => return Err(Closed),
            Command::Unknown(code) => {
                resultset::err(&mut out, &DbError::new(1047, "08S01", format!("Unknown command {code:#04x}")))
            }
        }
        self.send(out).await
    }

    async fn query(&mut self, out: &mut Out, sql: &str) {
        if let Some(e) = self.multi_statements.refusal(sql) {
            resultset::err(out, &e);
            return;
        }
        let results = self.ctx.db.query(&mut self.session, sql).await;
        let n = results.len();
        for (i, r) in results.into_iter().enumerate() {
            let more = if i + 1 < n { status::MORE_RESULTS } else { 0 };
            let st = self.status() | more;
            match r {
                Ok(Outcome::Rows(rows)) => resultset::text_rows(out, &rows, &self.session.database, self.caps, st),
                Ok(Outcome::Done { affected, last_insert_id }) => resultset::ok(out, affected, last_insert_id, st),
                Err(e) => resultset::err(out, &e),
            }
        }
    }

    async fn field_list(&mut self, out: &mut Out, table: &str) {
        let sql = format!("SELECT * FROM `{}` LIMIT 0", table.replace('`', "``"));
        match self.ctx.db.query(&mut self.session, &sql).await.pop() {
            Some(Ok(Outcome::Rows(rows))) => {
                for c in &rows.columns {
                    resultset::column(out, c, &self.session.database);
                }
                resultset::eof(out, self.caps, self.status());
            }
            Some(Err(e)) => resultset::err(out, &e),
            _ => resultset::eof(out, self.caps, self.status()),
        }
    }

    fn prepare(&mut self, out: &mut Out, sql: &str) {
        let prepared = match self.ctx.db.prepare(&self.session, sql) {
            Ok(p) => p,
            Err(e) => return resultset::err(out, &e),
        };
        let id = self.next_stmt;
        self.next_stmt = self.next_stmt.wrapping_add(1).max(1);
        out.begin();
        out.u8(0);
        out.u32(id);
        out.u16(prepared.columns.len() as u16);
        out.u16(prepared.params as u16);
        out.u8(0);
        out.u16(0);
        out.end();
        let st = self.status();
        if prepared.params > 0 {
            let p = ephpm_db::Column::text("?");
            for _ in 0..prepared.params {
                resultset::column(out, &p, "");
            }
            if self.caps & caps::DEPRECATE_EOF == 0 {
                resultset::eof(out, self.caps, st);
            }
        }
        if !prepared.columns.is_empty() {
            for c in &prepared.columns {
                resultset::column(out, c, &self.session.database);
            }
            if self.caps & caps::DEPRECATE_EOF == 0 {
                resultset::eof(out, self.caps, st);
            }
        }
        let n = prepared.params;
        self.stmts.insert(id, Stmt { prepared: Rc::new(prepared), types: Vec::new(), long: vec![None; n] });
    }

    async fn execute(&mut self, out: &mut Out, id: u32, rest: &[u8]) -> Result<(), Closed> {
        let Some(st) = self.stmts.get_mut(&id) else {
            resultset::err(out, &unknown_stmt(id));
            return Ok(());
        };
        let long: Vec<bool> = st.long.iter().map(Option::is_some).collect();
        let params = match command::execute_params(rest, st.prepared.params, &mut st.types, &long) {
            Ok(p) => p,
            Err(_) => {
                resultset::err(out, &malformed());
                return Ok(());
            }
        };
        let values: Vec<Value> = params
            .into_iter()
            .zip(st.long.iter_mut())
            .map(|(p, l)| match l.take() {
                Some(bytes) => to_value(Param::Bytes(bytes)),
                None => to_value(p),
            })
            .collect();
        let prepared = Rc::clone(&st.prepared);
        let r = self.ctx.db.execute(&mut self.session, &prepared, values).await;
        let status = self.status();
        match r {
            Ok(Outcome::Rows(rows)) => resultset::binary_rows(out, &rows, &self.session.database, self.caps, status),
            Ok(Outcome::Done { affected, last_insert_id }) => resultset::ok(out, affected, last_insert_id, status),
            Err(e) => resultset::err(out, &e),
        }
        Ok(())
    }

    /// One more statement for COM_STATISTICS' Questions.
    fn count_question(&self) {
        self.ctx.questions.set(self.ctx.questions.get() + 1);
    }

    /// COM_RESET_CONNECTION and COM_CHANGE_USER: roll back, forget the
    /// session's state and its prepared statements.
    fn reset_session(&mut self) {
        self.ctx.db.end(&mut self.session);
        self.session.reset();
        self.stmts.clear();
    }

    fn out(&mut self, seq: u8) -> Out {
        self.front.out(seq)
    }

    async fn send(&mut self, out: Out) -> Result<(), Closed> {
        self.front.send(out).await
    }

    async fn read(&mut self) -> Result<(u8, Vec<u8>), Closed> {
        self.front.read().await
    }

    async fn fail(&mut self, seq: u8, e: &DbError) -> Result<(), Closed> {
        self.front.fail(seq, e).await
    }
}

fn malformed() -> DbError {
    DbError::new(1835, "HY000", "Malformed communication packet")
}

fn unknown_stmt(id: u32) -> DbError {
    DbError::new(1243, "HY000", format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_execute"))
}

fn to_value(p: Param) -> Value {
    match p {
        Param::Null => Value::Null,
        Param::Int(n) => Value::Integer(n),
        Param::UInt(n) => i64::try_from(n).map(Value::Integer).unwrap_or_else(|_| Value::Text(n.to_string())),
        Param::Float(f) => Value::Real(f),
        Param::Bytes(b) => String::from_utf8(b).map(Value::Text).unwrap_or_else(|e| Value::Blob(e.into_bytes())),
    }
}
