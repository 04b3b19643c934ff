//! RESP: the Redis protocol in front of the KV store. [`parser`] reads
//! commands, [`writer`] writes replies (RESP2, or RESP3 after `HELLO 3`),
//! [`dispatch`] runs a command on the right core (with
//! [`server`] commands, [`subscribe`] for pub/sub and [`cross_core`] for
//! commands that span cores; atomic ones go to `ephpm_kv::transaction`),
//! [`conn`] is the per-connection loop and [`listener`] the per-core
//! accept loop.

#![warn(missing_docs)]

mod command_info;
pub mod conn;
mod cross_core;
pub mod dispatch;
pub mod listener;
pub mod parser;
mod server;
mod subscribe;
pub mod writer;

pub use conn::RespContext;
