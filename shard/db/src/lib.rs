//! The embedded database: MySQL statements translated to SQLite
//! ([`translate`]), run on a per-core read connection or the one writer
//! thread ([`engine`]), with per-statement digests ([`stats`]).

#![warn(missing_docs)]

pub mod engine;
pub mod error;
mod functions;
mod queue;
pub mod result;
mod rowid;
pub mod session;
pub mod stats;
pub mod translate;
pub mod vars;
mod writer;

pub use engine::{CoreDb, Database, DbConfig, DbMonitor, Prepared};
pub use error::DbError;
pub use result::{Column, ColumnType, Outcome, Rows, Value};
pub use session::Session;
pub use writer::WriterStats;
#[cfg(test)]
mod tests;
