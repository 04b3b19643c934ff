//! What a statement means to the proxy: where it may run (a replica or
//! the primary) and what session state it touches. A word scan that skips
//! strings, quoted names and comments decides the session effects; a
//! SELECT that may go to a replica is confirmed with sqlparser (no locking
//! clause, no INTO). Anything not understood goes to the primary.

use sqlparser::ast::{SetExpr, Statement};

use super::lexer::{marks, Marks, Words};
use super::set_statement::{set_kind, SetKind};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// What the proxy does with a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond running it.
    None,
    /// `USE db`: the session's database.
    Use(String),
    /// A session variable or character set change that can be replayed on
    /// another backend connection (`SET NAMES`, `SET [SESSION] x = ...`).
    Set,
    /// State that cannot be replayed (user variables, temporary tables,
    /// GET_LOCK, SQL-level PREPARE, SET TRANSACTION, SET ROLE, global read
    /// locks): the session keeps its backend connection from now on.
    Pin,
    /// `LOCK TABLES`: the session keeps its connection until UNLOCK TABLES.
    Lock,
    /// `UNLOCK TABLES`.
    Unlock,
    /// The next statement must run on the same connection
    /// (SQL_CALC_FOUND_ROWS before FOUND_ROWS()).
    HoldNext,
    /// Refused by the proxy (KILL: the ids are the proxy's, not the
    /// server's).
    Refuse(&'static str),
}

/// A statement's class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// A plain read that a replica may answer.
    pub read: bool,
    /// Whether it changes data (or may): reads after it are sticky, and a
    /// failed attempt is never retried.
    pub write: bool,
    /// It may leave session state the proxy cannot see (several
    /// statements, CALL, unknown commands): the connection is reset before
    /// another client gets it.
    pub taint: bool,
    /// Its effect on the session.
    pub effect: Effect,
}

impl Class {
    /// A command that is no statement to classify (runs on the primary).
    pub fn other() -> Class {
        Class { read: false, write: false, taint: false, effect: Effect::None }
    }

    /// COM_STMT_EXECUTE of a statement prepared as `prepared`: counted as
    /// a write (never retried, reads after it sticky); any session effect
    /// (a prepared SET, USE, GET_LOCK, ...) pins the session, since the
    /// proxy does not know the bound values to replay it.
    pub fn execute(prepared: &Class) -> Class {
        let effect = match prepared.effect {
            Effect::None => Effect::None,
            _ => Effect::Pin,
        };
        Class { read: false, write: true, taint: prepared.taint, effect }
    }

    /// COM_INIT_DB.
    pub fn use_db(db: String) -> Class {
        Class { effect: Effect::Use(db), ..Class::other() }
    }
}

/// Words whose presence matters, one bit each.
mod word {
    pub const FOR: u32 = 1;
    pub const INTO: u32 = 1 << 1;
    pub const LOCK: u32 = 1 << 2;
    pub const TABLES: u32 = 1 << 3;
    pub const KILL: u32 = 1 << 4;
    pub const TEMPORARY: u32 = 1 << 6;
    pub const GET_LOCK: u32 = 1 << 7;
    pub const SQL_CALC_FOUND_ROWS: u32 = 1 << 8;
    /// Sequence functions that move the sequence: writes.
    pub const SEQUENCE_WRITE: u32 = 1 << 9;
    /// Functions whose answer depends on the connection or that change
    /// state: never on a replica.
    pub const SESSION_FUNCTION: u32 = 1 << 10;
}

/// Each listed word and its bit.
const WORDS: [(&str, u32); 16] = [
    ("FOR", word::FOR),
    ("INTO", word::INTO),
    ("LOCK", word::LOCK),
    ("TABLES", word::TABLES),
    ("TABLE", word::TABLES),
    ("KILL", word::KILL),
    ("TEMPORARY", word::TEMPORARY),
    ("GET_LOCK", word::GET_LOCK),
    ("SQL_CALC_FOUND_ROWS", word::SQL_CALC_FOUND_ROWS),
    ("NEXTVAL", word::SEQUENCE_WRITE),
    ("SETVAL", word::SEQUENCE_WRITE),
    ("LASTVAL", word::SESSION_FUNCTION),
    ("LAST_INSERT_ID", word::SESSION_FUNCTION),
    ("FOUND_ROWS", word::SESSION_FUNCTION),
    ("ROW_COUNT", word::SESSION_FUNCTION),
    ("RELEASE_LOCK", word::SESSION_FUNCTION),
];

/// First words of statements whose whole effect the proxy knows; any
/// other taints the connection.
const KNOWN: [&str; 35] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "REPLACE",
    "SHOW",
    "DESCRIBE",
    "DESC",
    "EXPLAIN",
    "HELP",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "SET",
    "USE",
    "CREATE",
    "ALTER",
    "DROP",
    "TRUNCATE",
    "RENAME",
    "ANALYZE",
    "OPTIMIZE",
    "CHECK",
    "CHECKSUM",
    "REPAIR",
    "DO",
    "WITH",
    "VALUES",
    "TABLE",
    "GRANT",
    "REVOKE",
    "LOCK",
];

/// What one pass over a statement found.
struct Scan<'a> {
    sql: &'a str,
    first: &'a str,
    second: &'a str,
    words: u32,
    marks: Marks,
}

impl Scan<'_> {
    fn has(&self, w: u32) -> bool {
        self.words & w != 0
    }

    fn first_is(&self, kw: &str) -> bool {
        self.first.eq_ignore_ascii_case(kw)
    }
}

fn scan(sql: &str) -> Scan<'_> {
    let mut words = Words::new(sql);
    let first = words.next().unwrap_or_default();
    let second = words.next().unwrap_or_default();
    let mut found = 0u32;
    for w in [first, second].into_iter().chain(words) {
        if let Some((_, bit)) = WORDS.iter().find(|(x, _)| x.eq_ignore_ascii_case(w)) {
            found |= bit;
        }
    }
    Scan { sql, first, second, words: found, marks: marks(sql) }
}

/// Classifies `sql`; `split` asks whether a replica may run it (the
/// sqlparser check runs only then).
pub fn classify(sql: &str, split: bool) -> Class {
    let s = scan(sql);
    let effect = session_effect(&s);
    // EXPLAIN ANALYZE runs the statement.
    let explain_analyze = s.first_is("EXPLAIN") && s.second.eq_ignore_ascii_case("ANALYZE");
    let read_only = ["SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "HELP", "USE"].iter().any(|k| s.first_is(k))
        && !explain_analyze
        || (s.first_is("SET") && effect == Effect::Set);
    let write = s.marks.multi || !read_only || s.has(word::FOR | word::INTO | word::LOCK | word::SEQUENCE_WRITE);
    let taint = s.marks.multi || s.first_is("CALL") || !KNOWN.iter().any(|k| s.first_is(k));
    let read = split
        && !write
        && s.first_is("SELECT")
        && effect == Effect::None
        && !s.has(word::SESSION_FUNCTION)
        && plain_select(sql);
    Class { read, write, taint, effect }
}

fn session_effect(s: &Scan<'_>) -> Effect {
    let second_is = |k: &str| s.second.eq_ignore_ascii_case(k);
    if s.first_is("KILL") || (s.marks.multi && s.has(word::KILL)) {
        return Effect::Refuse("KILL through the proxy (its connection ids are not the server's)");
    }
    if s.marks.multi {
        // State changed inside several statements is not tracked: the
        // connection is tainted instead (see `Class::taint`).
        return if s.marks.user_var || s.has(word::TEMPORARY | word::GET_LOCK | word::LOCK) {
            Effect::Pin
        } else {
            Effect::None
        };
    }
    if s.first_is("USE") {
        return if s.second.is_empty() { Effect::None } else { Effect::Use(s.second.trim_matches('`').to_string()) };
    }
    if s.first_is("LOCK") && s.has(word::TABLES) {
        return Effect::Lock;
    }
    if s.first_is("UNLOCK") && s.has(word::TABLES) {
        return Effect::Unlock;
    }
    if s.first_is("SET") {
        return match set_kind(s.sql, s.marks.user_var) {
            SetKind::Session => Effect::Set,
            // Autocommit is followed through the server's status flags.
            SetKind::Global | SetKind::Autocommit => Effect::None,
            SetKind::Pin => Effect::Pin,
        };
    }
    let global_lock = (s.first_is("FLUSH") && s.has(word::LOCK))
        || (s.first_is("LOCK") && second_is("INSTANCE"))
        || s.first_is("BACKUP")
        || s.first_is("XA");
    if global_lock
        || ["PREPARE", "EXECUTE", "DEALLOCATE", "HANDLER"].iter().any(|k| s.first_is(k))
        || s.marks.user_var
        || s.has(word::TEMPORARY | word::GET_LOCK)
    {
        return Effect::Pin;
    }
    if s.has(word::SQL_CALC_FOUND_ROWS) {
        return Effect::HoldNext;
    }
    Effect::None
}

/// One SELECT without a locking clause or INTO, as sqlparser reads it.
pub fn plain_select(sql: &str) -> bool {
    let Ok(mut stmts) = Parser::parse_sql(&MySqlDialect {}, sql) else { return false };
    if stmts.len() != 1 {
        return false;
    }
    let Some(Statement::Query(q)) = stmts.pop() else { return false };
    if !q.locks.is_empty() {
        return false;
    }
    match *q.body {
        SetExpr::Select(s) => s.into.is_none(),
        SetExpr::SetOperation { .. } | SetExpr::Values(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str) -> bool {
        classify(sql, true).read
    }

    #[test]
    fn plain_selects_may_go_to_a_replica() {
        assert!(read("SELECT * FROM t WHERE id = 1"));
        assert!(read("  /* c */ select a from t union select b from u"));
        assert!(read("SELECT 'FOR UPDATE', `into` FROM t"));
        assert!(read("SELECT @@server_id"));
        assert!(!read("SELECT * FROM t FOR UPDATE"));
        assert!(!read("SELECT * FROM t LOCK IN SHARE MODE"));
        assert!(!read("SELECT * FROM t FOR SHARE"));
        assert!(!read("SELECT a INTO @x FROM t"));
        assert!(!read("SELECT LAST_INSERT_ID()"));
        assert!(!read("SELECT FOUND_ROWS()"));
        assert!(!read("SELECT GET_LOCK('a', 1)"));
        assert!(!read("INSERT INTO t VALUES (1)"));
        assert!(!read("CALL p()"));
        assert!(!read("SELEC broken"));
        assert!(!read("SELECT 1; DELETE FROM t"));
        assert!(!classify("SELECT 1", false).read);
    }

    #[test]
    fn session_effects() {
        let e = |sql: &str| classify(sql, false).effect;
        assert_eq!(e("SET NAMES utf8mb4"), Effect::Set);
        assert_eq!(e("SET SESSION sql_mode = 'ANSI'"), Effect::Set);
        assert_eq!(e("set @@session.time_zone = '+00:00'"), Effect::Set);
        assert_eq!(e("SET @x = 1"), Effect::Pin);
        assert_eq!(e("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"), Effect::Pin);
        assert_eq!(e("SET GLOBAL max_connections = 10"), Effect::None);
        assert_eq!(e("USE `shop`"), Effect::Use("shop".into()));
        assert_eq!(e("CREATE TEMPORARY TABLE t (a INT)"), Effect::Pin);
        assert_eq!(e("SELECT GET_LOCK('x', 0)"), Effect::Pin);
        assert_eq!(e("SELECT @a := 1"), Effect::Pin);
        assert_eq!(e("SELECT '@a', 1"), Effect::None);
        assert_eq!(e("LOCK TABLES t WRITE"), Effect::Lock);
        assert_eq!(e("UNLOCK TABLES"), Effect::Unlock);
        assert_eq!(e("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1"), Effect::HoldNext);
        assert_eq!(e("-- c\nSELECT 1"), Effect::None);
        // Several statements: nothing replayed, the connection tainted.
        let multi = classify("SET SESSION sql_mode = 'ANSI'; DELETE FROM t", true);
        assert_eq!((multi.effect, multi.write, multi.taint, multi.read), (Effect::None, true, true, false));
        assert!(!classify("SELECT 1;", false).taint);
        assert_eq!(e("SELECT 1; SET @x = 1"), Effect::Pin);
        assert_eq!(e("SET STATEMENT max_statement_time = 1 FOR DELETE FROM t"), Effect::None);
        assert_eq!(e("SET PASSWORD = PASSWORD('x')"), Effect::None);
        assert_eq!(e("SET autocommit = 0"), Effect::None);
        assert!(classify("SET autocommit = 0", false).write);
        assert_eq!(e("SET ROLE admin"), Effect::Pin);
        assert_eq!(e("FLUSH TABLES WITH READ LOCK"), Effect::Pin);
        assert_eq!(e("LOCK INSTANCE FOR BACKUP"), Effect::Pin);
        assert_eq!(e("BACKUP STAGE START"), Effect::Pin);
        assert!(matches!(e("KILL 12"), Effect::Refuse(_)));
        assert!(matches!(e("SELECT 1; KILL 12"), Effect::Refuse(_)));
        assert!(classify("SELECT SETVAL(s, 5)", true).write && classify("SELECT NEXTVAL(s)", true).write);
        assert!(!classify("SELECT LASTVAL(s)", true).read);
        assert!(classify("EXPLAIN ANALYZE UPDATE t SET a = 1", false).write);
        assert!(!classify("EXPLAIN SELECT 1", false).write);
        assert_eq!(e("SET SESSION sql_mode = @@GLOBAL.sql_mode"), Effect::Set);
        assert_eq!(e("SET autocommit = 0, sql_mode = 'ANSI'"), Effect::Pin);
        assert_eq!(e("/* don't */ SELECT @r := 1"), Effect::Pin);
        assert_eq!(e("SELECT 1--1, GET_LOCK('x', 9)"), Effect::Pin);
        let prepared = classify("SET NAMES ?", false);
        assert_eq!(Class::execute(&prepared).effect, Effect::Pin);
        assert_eq!(Class::execute(&classify("SELECT ?", false)).effect, Effect::None);
        assert!(classify("CALL p()", false).taint && classify("FLUSH PRIVILEGES", false).taint);
        assert!(!classify("SELECT 1", false).taint && !classify("SET NAMES utf8mb4", false).taint);
        // Executable comments are code.
        assert_eq!(e("/*!40101 SET @saved = @@character_set_client */"), Effect::Pin);
        assert_eq!(e("SELECT /*+ hint */ 1"), Effect::None);
        assert!(classify("UPDATE t SET a = 1", false).write);
        assert!(!classify("SELECT 1", false).write);
        assert!(classify("SELECT * FROM t FOR UPDATE", false).write);
    }
}
