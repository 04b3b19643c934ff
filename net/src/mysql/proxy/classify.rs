//! What a statement means to the proxy: where it may run (a replica or
//! the primary) and what session state it touches. A word scan that skips
//! strings, quoted names and comments decides the session effects; a
//! SELECT that may go to a replica is confirmed with sqlparser (no locking
//! clause, no INTO). Anything not understood goes to the primary.

use sqlparser::ast::{SetExpr, Statement};
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
    /// GET_LOCK, SQL-level PREPARE, SET TRANSACTION): the session keeps its
    /// backend connection from now on.
    Pin,
    /// `LOCK TABLES`: the session keeps its connection until UNLOCK TABLES.
    Lock,
    /// `UNLOCK TABLES`.
    Unlock,
    /// The next statement must run on the same connection
    /// (SQL_CALC_FOUND_ROWS before FOUND_ROWS()).
    HoldNext,
}

/// A statement's class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// A plain read that a replica may answer.
    pub read: bool,
    /// Whether it changes data (or may): reads after it are sticky.
    pub write: bool,
    /// Its effect on the session.
    pub effect: Effect,
}

/// The words whose presence matters, one bit each.
const WORDS: [&str; 15] = [
    "FOR",
    "INTO",
    "LOCK",
    "TABLES",
    "TABLE",
    "TRANSACTION",
    "GLOBAL",
    "TEMPORARY",
    "GET_LOCK",
    "SQL_CALC_FOUND_ROWS",
    "LAST_INSERT_ID",
    "FOUND_ROWS",
    "ROW_COUNT",
    "RELEASE_LOCK",
    "NEXTVAL",
];

/// What one pass over a statement found.
struct Scan<'a> {
    first: &'a str,
    second: Option<&'a str>,
    words: u32,
    user_var: bool,
    global_var: bool,
}

impl Scan<'_> {
    fn has(&self, w: &str) -> bool {
        WORDS.iter().position(|x| *x == w).is_some_and(|i| self.words & (1 << i) != 0)
    }
}

fn scan(sql: &str) -> Scan<'_> {
    let mut words = Words::new(sql);
    let first = words.next().unwrap_or_default();
    let second = words.next();
    let mut found = 0u32;
    for w in std::iter::once(first).chain(second).chain(words) {
        if let Some(i) = WORDS.iter().position(|x| x.eq_ignore_ascii_case(w)) {
            found |= 1 << i;
        }
    }
    let (user_var, global_var) = variables(sql);
    Scan { first, second, words: found, user_var, global_var }
}

impl Class {
    /// A command that is no statement to classify (runs on the primary).
    pub fn other() -> Class {
        Class { read: false, write: false, effect: Effect::None }
    }

    /// COM_INIT_DB.
    pub fn use_db(db: String) -> Class {
        Class { read: false, write: false, effect: Effect::Use(db) }
    }
}

/// Classifies `sql`; `split` asks whether a replica may run it (the
/// sqlparser check runs only then).
pub fn classify(sql: &str, split: bool) -> Class {
    let s = scan(sql);
    let effect = session_effect(&s);
    let kw = |k: &str| s.first.eq_ignore_ascii_case(k);
    let read_only = ["SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "HELP", "USE"].iter().any(|k| kw(k))
        || (kw("SET") && effect == Effect::Set);
    let write = !read_only || s.has("FOR") || s.has("INTO") || s.has("LOCK");
    let read = split
        && kw("SELECT")
        && effect == Effect::None
        && !["LAST_INSERT_ID", "FOUND_ROWS", "ROW_COUNT", "RELEASE_LOCK", "NEXTVAL"].iter().any(|w| s.has(w))
        && plain_select(sql);
    Class { read, write, effect }
}

fn session_effect(s: &Scan<'_>) -> Effect {
    let kw = |k: &str| s.first.eq_ignore_ascii_case(k);
    if kw("USE") {
        return s.second.map_or(Effect::None, |db| Effect::Use(db.trim_matches('`').to_string()));
    }
    if kw("LOCK") && (s.has("TABLES") || s.has("TABLE")) {
        return Effect::Lock;
    }
    if kw("UNLOCK") {
        return Effect::Unlock;
    }
    if kw("SET") {
        return if s.user_var || s.has("TRANSACTION") {
            Effect::Pin
        } else if s.has("GLOBAL") || s.global_var {
            Effect::None
        } else {
            Effect::Set
        };
    }
    if ["PREPARE", "EXECUTE", "DEALLOCATE", "HANDLER"].iter().any(|k| kw(k))
        || s.user_var
        || s.has("TEMPORARY")
        || s.has("GET_LOCK")
    {
        return Effect::Pin;
    }
    if s.has("SQL_CALC_FOUND_ROWS") {
        return Effect::HoldNext;
    }
    Effect::None
}

/// One SELECT without a locking clause or INTO, as sqlparser reads it.
fn plain_select(sql: &str) -> bool {
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

/// Whether `sql` names a user variable (`@x`), and a global system
/// variable (`@@global.x`), outside strings and quoted names.
fn variables(sql: &str) -> (bool, bool) {
    let b = sql.as_bytes();
    let (mut user, mut global) = (false, false);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' | b'`' => i = skip_quoted(b, i),
            b'@' if b.get(i + 1) == Some(&b'@') => {
                global |= b.get(i + 2..i + 9).is_some_and(|w| w.eq_ignore_ascii_case(b"global."));
                i += 2;
            }
            b'@' => {
                user = true;
                i += 1;
            }
            _ => i += 1,
        }
    }
    (user, global)
}

/// The words of a statement (identifiers, keywords, `backquoted` names),
/// skipping string literals, comments and punctuation.
#[derive(Clone)]
struct Words<'a> {
    sql: &'a str,
    at: usize,
}

impl<'a> Words<'a> {
    fn new(sql: &'a str) -> Words<'a> {
        Words { sql, at: 0 }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.sql.as_bytes();
        let mut i = self.at;
        while i < b.len() {
            match b[i] {
                b'\'' | b'"' => i = skip_quoted(b, i),
                b'#' => i = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n),
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    i = b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n)
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    i = self.sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2)
                }
                b'`' => {
                    let end = skip_quoted(b, i);
                    self.at = end;
                    return Some(&self.sql[i..end]);
                }
                c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
                    {
                        i += 1;
                    }
                    self.at = i;
                    return Some(&self.sql[start..i]);
                }
                _ => i += 1,
            }
        }
        self.at = b.len();
        None
    }
}

/// The index just past the quoted run starting at `i` (doubled quotes and
/// backslash escapes stay inside).
fn skip_quoted(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' && q != b'`' {
            j += 2;
        } else if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    b.len()
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
        assert!(classify("UPDATE t SET a = 1", false).write);
        assert!(!classify("SELECT 1", false).write);
        assert!(classify("SELECT * FROM t FOR UPDATE", false).write);
    }
}
