//! One client connection's state: database, SET variables, transaction,
//! and the values LAST_INSERT_ID(), FOUND_ROWS() and ROW_COUNT() return.

use std::collections::HashMap;

use super::result::Value;
use super::vars::Variables;

/// A client session.
#[derive(Debug)]
pub struct Session {
    /// Unique across the server (the connection id).
    pub id: u64,
    /// The current database name (every name maps to the one SQLite file).
    pub database: String,
    /// Variables the session SET.
    pub vars: HashMap<String, Value>,
    /// `@@autocommit`.
    pub autocommit: bool,
    /// The session holds the writer: its transaction has written (or
    /// locked rows with FOR UPDATE).
    pub in_tx: bool,
    /// BEGIN was sent: the next write takes the writer. Reads before it
    /// run on the core's read connection, as MySQL's consistent
    /// non-locking reads do.
    pub tx_started: bool,
    /// LAST_INSERT_ID().
    pub last_insert_id: u64,
    /// FOUND_ROWS().
    pub found_rows: u64,
    /// ROW_COUNT().
    pub row_count: i64,
}

impl Session {
    /// A new session on `database`.
    pub fn new(id: u64, database: &str) -> Session {
        Session {
            id,
            database: database.to_string(),
            vars: HashMap::new(),
            autocommit: true,
            in_tx: false,
            tx_started: false,
            last_insert_id: 0,
            found_rows: 0,
            row_count: -1,
        }
    }

    /// Whether a transaction is open (the IN_TRANS status flag).
    pub fn in_transaction(&self) -> bool {
        self.in_tx || self.tx_started
    }

    /// The variables translation sees.
    pub fn variables(&self) -> Variables<'_> {
        Variables { database: &self.database, session: &self.vars, autocommit: self.autocommit }
    }

    /// The values LAST_INSERT_ID() and friends return for this session.
    pub fn cell_values(&self) -> super::functions::CellValues {
        super::functions::CellValues {
            last_insert_id: self.last_insert_id,
            found_rows: self.found_rows,
            row_count: self.row_count,
            database: self.database.clone(),
        }
    }

    /// COM_RESET_CONNECTION: back to a fresh session (the caller ends any
    /// open transaction first).
    pub fn reset(&mut self) {
        let id = self.id;
        let db = std::mem::take(&mut self.database);
        *self = Session::new(id, &db);
    }
}
