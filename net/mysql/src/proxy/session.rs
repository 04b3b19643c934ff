//! A proxy client's session: the replayable state it wants every backend
//! connection it uses to have (database, SET statements, character set),
//! what makes it keep its connection between statements, and bringing a
//! borrowed connection into its state.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use super::super::backend::{mid_transaction, AppliedState, Backend, BackendError};
use super::super::packet::UTF8MB4_GENERAL_CI;
use super::classify::Class;

/// Most SET statements tracked per client; beyond, the session keeps its
/// connection instead of replaying them.
pub const MAX_SETS: usize = 64;

/// A statement prepared on the session's connection.
#[derive(Debug)]
pub struct PreparedStmt {
    /// Its text.
    pub sql: String,
    /// Its digest, for the statistics of each execution.
    pub digest: String,
    /// What it does.
    pub class: Class,
}

/// Why a session keeps its backend connection.
#[derive(Debug, Default)]
pub struct Pins {
    /// State that cannot be replayed (user variables, temporary tables,
    /// GET_LOCK, SET TRANSACTION, too many SETs).
    pub session: bool,
    /// LOCK TABLES is in force.
    pub locks: bool,
    /// Prepared statements open on the connection, by id.
    pub statements: HashMap<u32, Rc<PreparedStmt>>,
    /// The next statement must see this one's connection (FOUND_ROWS,
    /// LAST_INSERT_ID).
    pub next: bool,
    /// A COM_STMT_PREPARE is under way.
    pub preparing: bool,
}

impl Pins {
    /// Whether the connection must stay with the session, given its
    /// last status flags (a transaction, or autocommit off).
    pub fn hold(&self, status: u16) -> bool {
        self.session
            || self.locks
            || !self.statements.is_empty()
            || self.next
            || self.preparing
            || mid_transaction(status)
    }

    /// Whether the connection carries state no other client may inherit.
    pub fn dirty(&self) -> bool {
        self.session || self.locks || !self.statements.is_empty()
    }
}

/// A client's session.
pub struct Session {
    /// The state its connections must have.
    pub wanted: AppliedState,
    /// What keeps its connection.
    pub pins: Pins,
    /// Reads go to the primary until then (after a write).
    pub sticky_until: Option<Instant>,
    /// The state after login, restored by COM_RESET_CONNECTION.
    initial: AppliedState,
}

impl Session {
    /// A session starting in `database` with client character set `charset`.
    pub fn new(database: Option<String>, charset: u8) -> Session {
        let mut wanted = AppliedState { database, ..AppliedState::default() };
        if let Some(names) = set_names(charset) {
            wanted.sets.push(names);
        }
        Session { initial: wanted.clone(), wanted, pins: Pins::default(), sticky_until: None }
    }

    /// Back to the state after login (COM_RESET_CONNECTION), in
    /// `database` if given (COM_CHANGE_USER).
    pub fn reset(&mut self, database: Option<String>) {
        self.wanted = self.initial.clone();
        if database.is_some() {
            self.wanted.database = database;
        }
        self.pins = Pins::default();
        self.sticky_until = None;
    }

    /// Records a successful replayable SET: an identical earlier one moves
    /// to the end (so replaying gives the latest value). False when the
    /// list is full (the session must then keep its connection).
    pub fn add_set(&mut self, sql: &str) -> bool {
        self.wanted.sets.retain(|s| s != sql);
        self.wanted.sets.push(sql.to_string());
        self.wanted.sets.len() <= MAX_SETS
    }

    /// Whether reads must stay on the primary now.
    pub fn sticky(&self) -> bool {
        self.sticky_until.is_some_and(|t| Instant::now() < t)
    }
}

/// Brings `conn` into state `wanted`: nothing when it is there already,
/// the missing SETs when its SETs are a prefix of the wanted ones, else
/// COM_RESET_CONNECTION and everything. A failure leaves the connection
/// broken or in an unknown state: the caller discards it.
pub async fn apply(conn: &mut Backend, wanted: &AppliedState) -> Result<(), BackendError> {
    if conn.applied == *wanted {
        return Ok(());
    }
    // A tainted connection may have changed database unseen (the reset
    // keeps the current one): it is chosen again.
    let tainted = conn.applied.tainted;
    let prefix =
        !tainted && conn.applied.sets.len() <= wanted.sets.len() && wanted.sets.starts_with(&conn.applied.sets);
    let from = if prefix {
        conn.applied.sets.len()
    } else {
        conn.reset().await?;
        0
    };
    if tainted || conn.applied.database != wanted.database {
        if let Some(db) = &wanted.database {
            conn.init_db(db).await?;
        }
        conn.applied.database = wanted.database.clone();
    }
    for set in &wanted.sets[from..] {
        conn.query(set).await?;
        conn.applied.sets.push(set.clone());
    }
    Ok(())
}

/// `SET NAMES` for a client character set other than the backend
/// connections' utf8mb4_general_ci (45).
fn set_names(charset: u8) -> Option<String> {
    let names = match charset {
        UTF8MB4_GENERAL_CI | 0 => return None,
        8 => "latin1",
        33 => "utf8mb3",
        46 => "utf8mb4 COLLATE utf8mb4_bin",
        63 => "binary",
        224 => "utf8mb4 COLLATE utf8mb4_unicode_ci",
        // utf8mb4_0900_ai_ci (MySQL 8's default) and others: utf8mb4.
        _ => "utf8mb4",
    };
    Some(format!("SET NAMES {names}"))
}
