//! The one SQLite call rusqlite does not wrap: resetting a connection's
//! last insert rowid, so that a statement's generated id is read from the
//! statement itself and not compared with whatever an earlier statement of
//! another session left on the shared writer connection.

use rusqlite::Connection;

/// Sets `conn`'s `last_insert_rowid()` to 0 before a statement runs: a
/// non-zero value afterwards is the id that statement generated.
pub fn clear_last_insert_rowid(conn: &Connection) {
    // SAFETY: `handle()` is the live sqlite3 pointer owned by `conn`, which
    // outlives this call; the connection is used by this thread only (it is
    // not Sync), and sqlite3_set_last_insert_rowid only stores an integer.
    unsafe { rusqlite::ffi::sqlite3_set_last_insert_rowid(conn.handle(), 0) }
}
