//! The database engine: one SQLite file in WAL mode; one writer thread
//! ([`super::writer`]) for every write and for every statement of a
//! transaction; per-core read connections that run plain reads inline on
//! the core, since WAL lets them read while the writer writes.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params_from_iter, Connection, OpenFlags};

use super::error::DbError;
use super::functions::{self, Cells};
use super::queue::{self, Registry, SendError, Sender};
use super::result::{Column, Outcome, Rows, Value};
use super::rowid;
use super::session::Session;
use super::stats::SharedStats;
use super::translate::{self, ddl, show, Plan};
use super::writer::{self, Job, Work, WriterStats};

/// The database's settings.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// The SQLite file.
    pub path: PathBuf,
    /// The database name clients see by default.
    pub name: String,
    /// How long a session waits for another session's transaction.
    pub lock_wait_timeout: Duration,
    /// Statements slower than this go to the slow-query log.
    pub slow_query_threshold: Duration,
}

/// The database, shared by the cores: opens their read connections and
/// hands them the writer's queue.
#[derive(Clone)]
pub struct Database {
    config: Arc<DbConfig>,
    writer: Arc<Registry<Job>>,
    /// Every core's statistics, by core index.
    stats: Arc<Mutex<Vec<(usize, SharedStats)>>>,
    writer_stats: Arc<WriterStats>,
}

/// What running one statement produced.
pub struct Ran {
    /// The outcome.
    pub outcome: Outcome,
    /// FOUND_ROWS() for SQL_CALC_FOUND_ROWS.
    pub found: Option<u64>,
}

impl Ran {
    /// A statement with nothing to report.
    pub fn done() -> Ran {
        Ran { outcome: Outcome::ok(), found: None }
    }
}

fn open(path: &std::path::Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(256);
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(conn)
}

/// The information_schema views each connection gets.
fn information_schema(conn: &Connection) -> rusqlite::Result<()> {
    let (hidden, m_hidden) = (show::hidden("name"), show::hidden("m.name"));
    conn.execute_batch(&format!(
        "CREATE TEMP VIEW IF NOT EXISTS ephpm_is_tables AS SELECT 'def' AS TABLE_CATALOG, ephpm_database() AS TABLE_SCHEMA, \
         name AS TABLE_NAME, CASE type WHEN 'view' THEN 'VIEW' ELSE 'BASE TABLE' END AS TABLE_TYPE, 'InnoDB' AS ENGINE, \
         10 AS VERSION, 'Dynamic' AS ROW_FORMAT, 0 AS TABLE_ROWS, 0 AS DATA_LENGTH, 0 AS INDEX_LENGTH, 0 AS DATA_FREE, \
         NULL AS AUTO_INCREMENT, NULL AS CREATE_TIME, 'utf8mb4_general_ci' AS TABLE_COLLATION, '' AS TABLE_COMMENT \
         FROM main.sqlite_master WHERE type IN ('table', 'view') AND {hidden};
         CREATE TEMP VIEW IF NOT EXISTS ephpm_is_columns AS SELECT 'def' AS TABLE_CATALOG, ephpm_database() AS TABLE_SCHEMA, \
         m.name AS TABLE_NAME, p.name AS COLUMN_NAME, p.cid + 1 AS ORDINAL_POSITION, p.dflt_value AS COLUMN_DEFAULT, \
         CASE WHEN p.\"notnull\" OR p.pk > 0 THEN 'NO' ELSE 'YES' END AS IS_NULLABLE, \
         lower(rtrim(substr(COALESCE(c.type, p.type), 1, instr(COALESCE(c.type, p.type) || '(', '(') - 1))) AS DATA_TYPE, \
         NULL AS CHARACTER_MAXIMUM_LENGTH, NULL AS NUMERIC_PRECISION, NULL AS CHARACTER_SET_NAME, NULL AS COLLATION_NAME, \
         COALESCE(c.type, lower(p.type)) AS COLUMN_TYPE, CASE WHEN p.pk > 0 THEN 'PRI' ELSE '' END AS COLUMN_KEY, \
         COALESCE(c.extra, '') AS EXTRA, '' AS COLUMN_COMMENT, '' AS GENERATION_EXPRESSION, 'select,insert,update,references' AS PRIVILEGES \
         FROM main.sqlite_master m JOIN pragma_table_info(m.name) p \
         LEFT JOIN main._ephpm_columns c ON c.tbl = m.name AND c.col = p.name WHERE m.type = 'table' AND {m_hidden};
         CREATE TEMP VIEW IF NOT EXISTS ephpm_is_statistics AS SELECT 'def' AS TABLE_CATALOG, ephpm_database() AS TABLE_SCHEMA, \
         m.name AS TABLE_NAME, 1 - il.\"unique\" AS NON_UNIQUE, ephpm_database() AS INDEX_SCHEMA, \
         CASE WHEN il.origin = 'pk' THEN 'PRIMARY' WHEN substr(il.name, 1, length(m.name) + 2) = m.name || '__' \
         THEN substr(il.name, length(m.name) + 3) ELSE il.name END AS INDEX_NAME, ii.seqno + 1 AS SEQ_IN_INDEX, ii.name AS COLUMN_NAME, 'BTREE' AS INDEX_TYPE \
         FROM main.sqlite_master m JOIN pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii \
         WHERE m.type = 'table' AND {m_hidden};
         CREATE TEMP VIEW IF NOT EXISTS ephpm_is_key_column_usage AS SELECT 'def' AS CONSTRAINT_CATALOG, \
         ephpm_database() AS CONSTRAINT_SCHEMA, m.name || '_' || f.\"from\" || '_foreign' AS CONSTRAINT_NAME, 'def' AS TABLE_CATALOG, \
         ephpm_database() AS TABLE_SCHEMA, m.name AS TABLE_NAME, f.\"from\" AS COLUMN_NAME, f.seq + 1 AS ORDINAL_POSITION, \
         ephpm_database() AS REFERENCED_TABLE_SCHEMA, f.\"table\" AS REFERENCED_TABLE_NAME, f.\"to\" AS REFERENCED_COLUMN_NAME \
         FROM main.sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND {m_hidden};
         CREATE TEMP VIEW IF NOT EXISTS ephpm_is_referential_constraints AS SELECT 'def' AS CONSTRAINT_CATALOG, \
         ephpm_database() AS CONSTRAINT_SCHEMA, m.name || '_' || f.\"from\" || '_foreign' AS CONSTRAINT_NAME, \
         ephpm_database() AS UNIQUE_CONSTRAINT_SCHEMA, upper(f.on_update) AS UPDATE_RULE, upper(f.on_delete) AS DELETE_RULE, \
         m.name AS TABLE_NAME, f.\"table\" AS REFERENCED_TABLE_NAME \
         FROM main.sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND {m_hidden};
         CREATE TEMP VIEW IF NOT EXISTS ephpm_is_views AS SELECT 'def' AS TABLE_CATALOG, ephpm_database() AS TABLE_SCHEMA, \
         name AS TABLE_NAME, sql AS VIEW_DEFINITION FROM main.sqlite_master WHERE type = 'view';
         CREATE TEMP VIEW IF NOT EXISTS ephpm_is_schemata AS SELECT 'def' AS CATALOG_NAME, ephpm_database() AS SCHEMA_NAME, \
         'utf8mb4' AS DEFAULT_CHARACTER_SET_NAME, 'utf8mb4_general_ci' AS DEFAULT_COLLATION_NAME;"
    ))
}

impl Database {
    /// Opens (or creates) the database and starts its writer thread.
    pub fn open(config: DbConfig) -> Result<Database, String> {
        let path = &config.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let fail = |e: rusqlite::Error| format!("cannot open the SQLite database {}: {e}", path.display());
        let conn = open(path, false).map_err(fail)?;
        conn.execute_batch(ddl::META_TABLES).map_err(fail)?;
        let cells = Arc::new(Cells::default());
        functions::register(&conn, &cells).map_err(fail)?;
        information_schema(&conn).map_err(fail)?;
        let (tx, rx) = queue::queue();
        let lock_wait = config.lock_wait_timeout;
        let writer_stats = Arc::new(WriterStats::default());
        writer_stats.alive.store(true, Ordering::Relaxed);
        let ws = Arc::clone(&writer_stats);
        std::thread::Builder::new()
            .name("ephpm-db-writer".into())
            .spawn(move || writer::run(conn, cells, rx, lock_wait, &ws))
            .map_err(|e| format!("cannot start the database writer: {e}"))?;
        Ok(Database { config: Arc::new(config), writer: Arc::new(tx), stats: Arc::default(), writer_stats })
    }

    /// What the node API reads: statistics without a hold on the writer.
    pub fn monitor(&self) -> DbMonitor {
        DbMonitor { stats: Arc::clone(&self.stats), writer: Some(Arc::clone(&self.writer_stats)) }
    }

    /// Core `index`'s handle: its own read connection.
    pub fn core(&self, index: usize) -> Result<CoreDb, String> {
        let path = &self.config.path;
        let fail = |e: rusqlite::Error| format!("cannot open the SQLite database {}: {e}", path.display());
        let reader = open(path, true).map_err(fail)?;
        let cells = Arc::new(Cells::default());
        functions::register(&reader, &cells).map_err(fail)?;
        information_schema(&reader).map_err(fail)?;
        // A read connection never writes: a statement routed here by
        // mistake fails instead of taking SQLite's write lock.
        reader.pragma_update(None, "query_only", "ON").map_err(fail)?;
        let stats = register(&self.stats, index);
        Ok(CoreDb { reader, cells, writer: self.writer.sender(), stats, config: Arc::clone(&self.config) })
    }
}

/// A new statistics table for core `index`, listed in `all`.
fn register(all: &Mutex<Vec<(usize, SharedStats)>>, index: usize) -> SharedStats {
    let stats: SharedStats = Arc::default();
    let mut all = all.lock().unwrap_or_else(|p| p.into_inner());
    all.push((index, Arc::clone(&stats)));
    all.sort_by_key(|(i, _)| *i);
    stats
}

/// Read-only access to the database's figures from another thread.
#[derive(Clone)]
pub struct DbMonitor {
    stats: Arc<Mutex<Vec<(usize, SharedStats)>>>,
    writer: Option<Arc<WriterStats>>,
}

impl DbMonitor {
    /// Figures of a database front without a writer thread (the proxy):
    /// each core registers its statistics table.
    pub fn without_writer() -> DbMonitor {
        DbMonitor { stats: Arc::default(), writer: None }
    }

    /// A statistics table for core `index`, read by this monitor.
    pub fn register(&self, index: usize) -> SharedStats {
        register(&self.stats, index)
    }

    /// Every core's statement statistics with its core index, in order.
    pub fn stats(&self) -> Vec<(usize, SharedStats)> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The writer thread's figures (the embedded database only).
    pub fn writer(&self) -> Option<&WriterStats> {
        self.writer.as_deref()
    }
}

/// A prepared statement (COM_STMT_PREPARE).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The statement as the client sent it (for the slow log).
    pub sql: String,
    /// Its digest, computed once.
    pub digest: String,
    /// What it runs.
    pub plan: Plan,
    /// Its `?` parameters.
    pub params: usize,
    /// Its result columns, as far as known before it runs.
    pub columns: Vec<Column>,
    /// Whether each execution translates it again (it reads session state
    /// at translation).
    pub retranslate: bool,
}

/// One core's view of the database: its read connection, the writer's
/// queue and its statistics.
pub struct CoreDb {
    reader: Connection,
    cells: Arc<Cells>,
    writer: Sender<Job>,
    stats: SharedStats,
    config: Arc<DbConfig>,
}

impl CoreDb {
    /// This core's statistics.
    pub fn stats(&self) -> &SharedStats {
        &self.stats
    }

    /// The default database name.
    pub fn default_database(&self) -> &str {
        &self.config.name
    }

    /// COM_QUERY: runs every statement of `sql`, stopping at the first error.
    pub async fn query(&self, s: &mut Session, sql: &str) -> Vec<Result<Outcome, DbError>> {
        let statements = translate::split(sql);
        if statements.is_empty() {
            return vec![Err(DbError::new(1065, "42000", "Query was empty"))];
        }
        let mut out = Vec::with_capacity(statements.len());
        for text in statements {
            let started = Instant::now();
            let r = match translate::translate(text, &s.variables()) {
                Ok(plan) => self.run(s, &plan, Vec::new()).await,
                Err(e) => Err(e),
            };
            self.record(text, started, rows_of(r.as_ref().ok()), r.is_ok());
            let failed = r.is_err();
            out.push(r);
            if failed {
                break;
            }
        }
        out
    }

    /// COM_STMT_PREPARE.
    pub fn prepare(&self, s: &Session, sql: &str) -> Result<Prepared, DbError> {
        let plan = translate::translate(sql, &s.variables())?;
        let (params, columns) = match &plan {
            Plan::Sql { sql: text, .. } => {
                let stmt = self.reader.prepare_cached(text).map_err(DbError::from_sqlite)?;
                let cols = stmt.columns().iter().map(|c| Column::typed(c.name(), c.decl_type(), None)).collect();
                (stmt.parameter_count(), cols)
            }
            Plan::Rows(r) => (0, r.columns.clone()),
            _ => (0, Vec::new()),
        };
        // `@@var` and SHOW TABLES' column name are read at translation: such
        // statements are translated again at each execution.
        let head = sql.trim_start().get(..4).unwrap_or("");
        let retranslate = sql.contains("@@") || head.eq_ignore_ascii_case("show") || head.eq_ignore_ascii_case("desc");
        Ok(Prepared { sql: sql.to_string(), digest: super::stats::normalize(sql), plan, params, columns, retranslate })
    }

    /// COM_STMT_EXECUTE.
    pub async fn execute(&self, s: &mut Session, p: &Prepared, params: Vec<Value>) -> Result<Outcome, DbError> {
        let started = Instant::now();
        let r = if p.retranslate {
            match translate::translate(&p.sql, &s.variables()) {
                Ok(plan) => self.run(s, &plan, params).await,
                Err(e) => Err(e),
            }
        } else {
            self.run(s, &p.plan, params).await
        };
        let took = started.elapsed();
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.record_digest(
            &p.digest,
            &p.sql,
            took,
            rows_of(r.as_ref().ok()),
            r.is_ok(),
            self.config.slow_query_threshold,
        );
        r
    }

    /// The session is over: roll back what it left open.
    pub fn end(&self, s: &mut Session) {
        if s.in_tx {
            s.in_tx = false;
            let (reply, _) = writer::reply();
            let mut job =
                Job { session: s.id, cells: Default::default(), work: Work::End, reply, sent: Instant::now() };
            // Sync (a connection ending): with this core's ring full, wait
            // for the writer to take one; the rollback must not be lost,
            // or the session's transaction would hold the writer.
            while let Err(SendError::Full(j)) = self.writer.send(job) {
                job = j;
                std::thread::yield_now();
            }
        }
    }

    fn record(&self, sql: &str, started: Instant, rows: u64, ok: bool) {
        let took = started.elapsed();
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.record(sql, took, rows, ok, self.config.slow_query_threshold);
    }

    async fn to_writer(&self, s: &Session, work: Work) -> Result<Ran, DbError> {
        let (reply, answer) = writer::reply();
        let job = Job { session: s.id, cells: s.cell_values(), work, reply, sent: Instant::now() };
        let mut job = job;
        loop {
            match self.writer.send(job) {
                Ok(()) => break,
                Err(SendError::Full(j)) => {
                    // Backpressure: this core has a full ring queued.
                    job = j;
                    monoio::time::sleep(std::time::Duration::from_micros(50)).await;
                }
                Err(SendError::Closed(_)) => return Err(DbError::internal("the database writer stopped")),
            }
        }
        answer.await
    }

    fn read(&self, s: &Session, sql: &str, params: &[Value], count: Option<&str>) -> Result<Ran, DbError> {
        self.cells.set(s.last_insert_id, s.found_rows, s.row_count, &s.database);
        run_sql(&self.reader, sql, params, count)
    }

    async fn run(&self, s: &mut Session, plan: &Plan, params: Vec<Value>) -> Result<Outcome, DbError> {
        match plan {
            Plan::Sql { sql, write: false, found_rows } => {
                let ran = if s.in_tx {
                    self.to_writer(s, Work::Run { sql: sql.clone(), params, count: found_rows.clone() }).await?
                } else {
                    self.read(s, sql, &params, found_rows.as_deref())?
                };
                Ok(self.after(s, ran))
            }
            Plan::Sql { sql, write: true, .. } => {
                self.take_writer(s).await?;
                let ran = self.to_writer(s, Work::Run { sql: sql.clone(), params, count: None }).await?;
                Ok(self.after(s, ran))
            }
            Plan::Script(sqls) => {
                self.take_writer(s).await?;
                self.to_writer(s, Work::Batch(sqls.clone())).await.map(|r| r.outcome)
            }
            Plan::Batch(sqls) => {
                let sqls = sqls.iter().map(|q| (q.clone(), false)).collect();
                // DDL commits the open transaction, as in MySQL.
                self.commit_open(s).await?;
                self.to_writer(s, Work::Batch(sqls)).await.map(|r| r.outcome)
            }
            Plan::Describe { table, sql } => {
                let exists: bool = self
                    .reader
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?1 AND type IN ('table', 'view'))",
                    )
                    .and_then(|mut st| st.query_row([table], |r| r.get(0)))
                    .map_err(DbError::from_sqlite)?;
                if !exists {
                    return Err(DbError::new(1146, "42S02", format!("Table '{}.{table}' doesn't exist", s.database)));
                }
                Ok(self.read(s, sql, &[], None)?.outcome)
            }
            Plan::ShowCreate(table) => show_create(&self.reader, table, &s.database),
            Plan::Rows(rows) => Ok(Outcome::Rows(rows.clone())),
            Plan::Ok => Ok(Outcome::ok()),
            Plan::Begin => {
                // BEGIN inside a transaction commits it, as in MySQL.
                self.commit_open(s).await?;
                s.tx_started = true;
                Ok(Outcome::ok())
            }
            Plan::Commit | Plan::Rollback => {
                s.tx_started = false;
                if s.in_tx {
                    s.in_tx = false;
                    let work = if matches!(plan, Plan::Commit) { Work::Commit } else { Work::Rollback };
                    self.to_writer(s, work).await?;
                }
                Ok(Outcome::ok())
            }
            Plan::Set(vars) => {
                for (name, value) in vars {
                    let (name, value) = (name.clone(), value.clone());
                    if name == "autocommit" {
                        let on = !matches!(value, Value::Integer(0))
                            && !matches!(&value, Value::Text(t) if t.eq_ignore_ascii_case("off"));
                        if on {
                            self.commit_open(s).await?;
                        }
                        s.autocommit = on;
                    } else {
                        s.vars.insert(name, value);
                    }
                }
                Ok(Outcome::ok())
            }
            Plan::Use(db) => {
                s.database.clone_from(db);
                Ok(Outcome::ok())
            }
        }
    }

    /// Commits the session's open transaction, if any (the implicit
    /// commit of DDL, BEGIN and `SET autocommit = 1`).
    async fn commit_open(&self, s: &mut Session) -> Result<(), DbError> {
        s.tx_started = false;
        if s.in_tx {
            s.in_tx = false;
            self.to_writer(s, Work::Commit).await?;
        }
        Ok(())
    }

    /// Before a write: inside a transaction (BEGIN, or autocommit off) the
    /// session takes the writer and keeps it until COMMIT or ROLLBACK.
    async fn take_writer(&self, s: &mut Session) -> Result<(), DbError> {
        if !s.in_tx && (s.tx_started || !s.autocommit) {
            self.to_writer(s, Work::Begin).await?;
            s.in_tx = true;
        }
        Ok(())
    }

    /// Updates the session after a statement: LAST_INSERT_ID(),
    /// FOUND_ROWS(), ROW_COUNT().
    fn after(&self, s: &mut Session, ran: Ran) -> Outcome {
        match &ran.outcome {
            Outcome::Rows(r) => {
                s.found_rows = ran.found.unwrap_or(r.rows.len() as u64);
                s.row_count = -1;
            }
            Outcome::Done { affected, last_insert_id } => {
                if *last_insert_id != 0 {
                    s.last_insert_id = *last_insert_id;
                }
                s.row_count = *affected as i64;
            }
        }
        ran.outcome
    }
}

fn rows_of(o: Option<&Outcome>) -> u64 {
    match o {
        Some(Outcome::Rows(r)) => r.rows.len() as u64,
        Some(Outcome::Done { affected, .. }) => *affected,
        None => 0,
    }
}

/// Runs one SQLite statement on `conn`.
pub fn run_sql(conn: &Connection, sql: &str, params: &[Value], count: Option<&str>) -> Result<Ran, DbError> {
    let mut stmt = conn.prepare_cached(sql).map_err(DbError::from_sqlite)?;
    if stmt.column_count() == 0 {
        rowid::clear_last_insert_rowid(conn);
        let affected = stmt.execute(params_from_iter(params)).map_err(DbError::from_sqlite)? as u64;
        let last_insert_id = inserted_id(conn, affected);
        return Ok(Ran { outcome: Outcome::Done { affected, last_insert_id }, found: None });
    }
    let meta: Vec<(String, Option<String>)> =
        stmt.columns().iter().map(|c| (c.name().to_string(), c.decl_type().map(str::to_string))).collect();
    let n = meta.len();
    let mut rows = Vec::new();
    let mut q = stmt.query(params_from_iter(params)).map_err(DbError::from_sqlite)?;
    while let Some(row) = q.next().map_err(DbError::from_sqlite)? {
        let mut r = Vec::with_capacity(n);
        for i in 0..n {
            r.push(row.get::<_, Value>(i).map_err(DbError::from_sqlite)?);
        }
        rows.push(r);
    }
    drop(q);
    let columns = meta
        .iter()
        .enumerate()
        .map(|(i, (name, decl))| Column::typed(name, decl.as_deref(), sample(&rows, i)))
        .collect();
    let found = match count {
        Some(c) => Some(count_rows(conn, c, params)?),
        None => None,
    };
    Ok(Ran { outcome: Outcome::Rows(Rows { columns, rows }), found })
}

/// The id a statement's INSERT generated: the rowid it set on a
/// connection whose last rowid was cleared just before it (an upsert that
/// updated sets none), and for a multi-row INSERT the first row's, as
/// MySQL reports. Comparing with the rowid before the statement would miss
/// an id equal to the last one any other session generated.
fn inserted_id(conn: &Connection, affected: u64) -> u64 {
    let after = conn.last_insert_rowid();
    if after <= 0 || affected == 0 {
        return 0;
    }
    (after - (affected as i64 - 1)).max(1) as u64
}

/// The value that types an expression column: its first non-NULL value,
/// or none (a text column) when the rows disagree on the type.
fn sample(rows: &[Vec<Value>], i: usize) -> Option<&Value> {
    let mut values = rows.iter().map(|r| &r[i]).filter(|v| !matches!(v, Value::Null));
    let first = values.next()?;
    let kind = std::mem::discriminant(first);
    values.all(|v| std::mem::discriminant(v) == kind).then_some(first)
}

/// FOUND_ROWS() of SQL_CALC_FOUND_ROWS: the count query has the query's
/// parameters but those of its LIMIT, which come last.
fn count_rows(conn: &Connection, sql: &str, params: &[Value]) -> Result<u64, DbError> {
    let mut st = conn.prepare_cached(sql).map_err(DbError::from_sqlite)?;
    let n = st.parameter_count().min(params.len());
    st.query_row(params_from_iter(&params[..n]), |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(DbError::from_sqlite)
}

/// SHOW CREATE TABLE, from the catalog and the recorded MySQL types.
fn show_create(conn: &Connection, table: &str, db: &str) -> Result<Outcome, DbError> {
    let mut st = conn
        .prepare_cached(
            "SELECT p.name, COALESCE(m.type, lower(p.type)), p.\"notnull\", p.dflt_value, COALESCE(m.extra, ''), p.pk \
             FROM pragma_table_info(?1) p LEFT JOIN _ephpm_columns m ON m.tbl = ?1 AND m.col = p.name ORDER BY p.cid",
        )
        .map_err(DbError::from_sqlite)?;
    let mut cols = Vec::new();
    let mut pk: Vec<(i64, String)> = Vec::new();
    let mut q = st.query([table]).map_err(DbError::from_sqlite)?;
    while let Some(r) = q.next().map_err(DbError::from_sqlite)? {
        let name: String = r.get(0).map_err(DbError::from_sqlite)?;
        let key: i64 = r.get(5).map_err(DbError::from_sqlite)?;
        if key > 0 {
            pk.push((key, name.clone()));
        }
        cols.push((
            name,
            r.get::<_, String>(1).map_err(DbError::from_sqlite)?,
            r.get::<_, bool>(2).map_err(DbError::from_sqlite)?,
            r.get::<_, Option<String>>(3).map_err(DbError::from_sqlite)?,
            r.get::<_, String>(4).map_err(DbError::from_sqlite)?,
        ));
    }
    if cols.is_empty() {
        return Err(DbError::new(1146, "42S02", format!("Table '{db}.{table}' doesn't exist")));
    }
    pk.sort();
    let pk: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
    let text = show::create_table_text(table, &cols, &pk);
    Ok(Outcome::Rows(Rows {
        columns: vec![Column::text("Table"), Column::text("Create Table")],
        rows: vec![vec![Value::Text(table.to_string()), Value::Text(text)]],
    }))
}
