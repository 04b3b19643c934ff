//! MySQL errors: a code, a SQLSTATE and a message, as a client expects them.

use std::fmt;

/// An error the client receives as a MySQL error packet.
#[derive(Debug, Clone, PartialEq)]
pub struct DbError {
    /// The MySQL error number (1064, 1146, ...).
    pub code: u16,
    /// The five-character SQLSTATE.
    pub state: &'static str,
    /// The message.
    pub message: String,
}

impl DbError {
    /// An error with the given code, SQLSTATE and message.
    pub fn new(code: u16, state: &'static str, message: impl Into<String>) -> Self {
        DbError { code, state, message: message.into() }
    }

    /// ER_PARSE_ERROR (1064).
    pub fn syntax(detail: impl fmt::Display) -> Self {
        DbError::new(1064, "42000", format!("You have an error in your SQL syntax: {detail}"))
    }

    /// ER_NOT_SUPPORTED_YET (1235), naming the construct.
    pub fn unsupported(what: impl fmt::Display) -> Self {
        DbError::new(1235, "42000", format!("This version of ephpm doesn't yet support '{what}'"))
    }

    /// ER_LOCK_WAIT_TIMEOUT (1205).
    pub fn lock_wait() -> Self {
        DbError::new(1205, "HY000", "Lock wait timeout exceeded; try restarting transaction")
    }

    /// ER_UNKNOWN_ERROR (1105) for an internal failure.
    pub fn internal(detail: impl fmt::Display) -> Self {
        DbError::new(1105, "HY000", detail.to_string())
    }

    /// Maps an SQLite error to the MySQL error a client of MySQL would see.
    pub fn from_sqlite(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        let (code, msg) = match &e {
            rusqlite::Error::SqliteFailure(f, msg) => (Some(f.code), msg.clone().unwrap_or_else(|| f.to_string())),
            other => (None, other.to_string()),
        };
        match code {
            Some(ErrorCode::ConstraintViolation) => constraint(&msg),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbError::lock_wait(),
            Some(ErrorCode::ReadOnly) => DbError::new(1290, "HY000", msg),
            Some(ErrorCode::DiskFull) => {
                DbError::new(1021, "HY000", "Disk full; waiting for someone to free some space")
            }
            _ => from_message(&msg),
        }
    }
}

fn constraint(msg: &str) -> DbError {
    if let Some(cols) = msg.strip_prefix("UNIQUE constraint failed: ") {
        return DbError::new(1062, "23000", format!("Duplicate entry for key '{cols}'"));
    }
    if let Some(col) = msg.strip_prefix("NOT NULL constraint failed: ") {
        let col = col.rsplit('.').next().unwrap_or(col);
        return DbError::new(1048, "23000", format!("Column '{col}' cannot be null"));
    }
    if msg.starts_with("FOREIGN KEY") {
        return DbError::new(1452, "23000", format!("Cannot add or update a child row: {msg}"));
    }
    DbError::new(3819, "HY000", msg.to_string())
}

fn from_message(msg: &str) -> DbError {
    if let Some(t) = msg.strip_prefix("no such table: ") {
        return DbError::new(1146, "42S02", format!("Table '{t}' doesn't exist"));
    }
    if let Some(c) = msg.strip_prefix("no such column: ") {
        return DbError::new(1054, "42S22", format!("Unknown column '{c}' in 'field list'"));
    }
    if let Some(rest) = msg.strip_prefix("table ") {
        if let Some(t) = rest.strip_suffix(" already exists") {
            return DbError::new(1050, "42S01", format!("Table '{t}' already exists"));
        }
    }
    if let Some(rest) = msg.strip_prefix("index ") {
        if let Some(i) = rest.strip_suffix(" already exists") {
            return DbError::new(1061, "42000", format!("Duplicate key name '{}'", i.rsplit("__").next().unwrap_or(i)));
        }
    }
    if let Some(c) = msg.strip_prefix("duplicate column name: ") {
        return DbError::new(1060, "42S21", format!("Duplicate column name '{c}'"));
    }
    if let Some(f) = msg.strip_prefix("no such function: ") {
        return DbError::new(1305, "42000", format!("FUNCTION {f} does not exist"));
    }
    if msg.contains("syntax error") {
        return DbError::syntax(msg);
    }
    DbError::internal(msg)
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERROR {} ({}): {}", self.code, self.state, self.message)
    }
}

impl std::error::Error for DbError {}
