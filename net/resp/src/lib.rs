//! RESP: the Redis protocol in front of the KV store. [`parser`] reads
//! commands, [`writer`] writes replies (RESP2, or RESP3 after `HELLO 3`),
//! [`dispatch`] runs a command on the right core (with
//! [`server`] commands, [`subscribe`] for pub/sub and [`cross_core`] for
//! commands that span cores), [`transaction`] runs
//! MULTI/EXEC and other cross-key atomic commands, [`conn`] is the
//! per-connection loop and [`listener`] the per-core accept loop.

pub mod conn;
mod cross_core;
pub mod dispatch;
pub mod listener;
pub mod parser;
mod server;
mod subscribe;
pub mod transaction;
pub mod writer;

pub use conn::RespContext;
