//! What a SET statement changes, assignment by assignment: session
//! variables the proxy can replay on another connection, global ones it
//! need not track, autocommit (followed through the server's status
//! flags), or state it cannot replay.

use super::lexer::{split_top, Words};

/// What one SET statement does to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    /// Session variables or the character set: replayable.
    Session,
    /// Global or persisted variables, a password, one statement's
    /// variables: nothing stays with the session.
    Global,
    /// Autocommit alone.
    Autocommit,
    /// User variables, roles, the next transaction's characteristics, or
    /// a mixture of the kinds above: the session must keep its connection.
    Pin,
}

/// Reads the SET statement `sql` (one statement, starting with SET).
pub fn set_kind(sql: &str, user_var: bool) -> SetKind {
    if user_var {
        // `SET @x = 1`, or a value read from one: replaying it elsewhere
        // would give another value.
        return SetKind::Pin;
    }
    let mut words = Words::new(sql);
    words.next(); // SET
    let body = &sql[words.position()..];
    let Some(second) = words.next() else { return SetKind::Pin };
    let is = |k: &str| second.eq_ignore_ascii_case(k);
    if is("NAMES") || is("CHARACTER") || is("CHARSET") {
        return SetKind::Session;
    }
    if is("STATEMENT") || is("PASSWORD") {
        return SetKind::Global;
    }
    if is("ROLE") || is("DEFAULT") || is("TRANSACTION") {
        return SetKind::Pin;
    }
    let mut kinds = split_top(body, b',').into_iter().map(assignment);
    let first = kinds.next().unwrap_or(SetKind::Pin);
    if kinds.all(|k| k == first) {
        first
    } else {
        SetKind::Pin
    }
}

/// The kind of one assignment (`[GLOBAL|SESSION|...] name = value`).
fn assignment(a: &str) -> SetKind {
    let target = a.split(['=', ':']).next().unwrap_or_default().trim().to_ascii_lowercase().replace('`', "");
    let scoped = |prefixes: &[&str]| prefixes.iter().find_map(|p| target.strip_prefix(p)).map(str::trim_start);
    if scoped(&["global ", "persist ", "persist_only ", "@@global.", "@@persist.", "@@persist_only."]).is_some() {
        return SetKind::Global;
    }
    let name = scoped(&["session ", "local ", "@@session.", "@@local.", "@@"]).unwrap_or(&target);
    if name == "autocommit" {
        SetKind::Autocommit
    } else {
        SetKind::Session
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(sql: &str) -> SetKind {
        set_kind(sql, super::super::lexer::marks(sql).user_var)
    }

    #[test]
    fn each_assignment_counts() {
        assert_eq!(kind("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci"), SetKind::Session);
        assert_eq!(kind("SET SESSION sql_mode = 'ANSI', time_zone = '+00:00'"), SetKind::Session);
        assert_eq!(kind("SET @@session.sql_mode = @@GLOBAL.sql_mode"), SetKind::Session);
        assert_eq!(kind("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"), SetKind::Session);
        assert_eq!(kind("SET GLOBAL max_connections = 10"), SetKind::Global);
        assert_eq!(kind("SET @@global.a = 1, PERSIST b = 2"), SetKind::Global);
        assert_eq!(kind("SET autocommit = 0"), SetKind::Autocommit);
        assert_eq!(kind("SET @@autocommit := 1"), SetKind::Autocommit);
        assert_eq!(kind("SET autocommit = 0, sql_mode = 'ANSI'"), SetKind::Pin);
        assert_eq!(kind("SET GLOBAL a = 1, SESSION b = 2"), SetKind::Pin);
        assert_eq!(kind("SET sql_mode = @saved"), SetKind::Pin);
        assert_eq!(kind("SET TRANSACTION READ ONLY"), SetKind::Pin);
        assert_eq!(kind("SET ROLE admin"), SetKind::Pin);
        assert_eq!(kind("SET STATEMENT max_statement_time = 1 FOR DELETE FROM t"), SetKind::Global);
        assert_eq!(kind("SET PASSWORD = PASSWORD('x')"), SetKind::Global);
    }
}
