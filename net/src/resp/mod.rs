//! RESP: the Redis protocol in front of the KV store. [`parser`] reads
//! commands, [`writer`] writes replies (RESP2, or RESP3 after `HELLO 3`),
//! [`dispatch`] runs a command on the right core, [`transaction`] runs
//! MULTI/EXEC and other cross-key atomic commands, [`conn`] is the
//! per-connection loop and [`listener`] the per-core accept loop.

pub mod conn;
pub mod dispatch;
pub mod listener;
pub mod parser;
pub mod transaction;
pub mod writer;

pub use conn::RespContext;
