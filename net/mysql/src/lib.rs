//! MySQL: the server side of the MySQL client/server protocol in front of
//! the embedded database. [`packet`] frames packets, [`command`] decodes
//! what clients send, [`resultset`] encodes replies, [`auth`] and
//! [`handshake`] run the connection phase ([`server_key`] for
//! caching_sha2_password's RSA exchange), [`conn`] is the per-connection
//! loop and [`listener`] the per-core accept loop. [`backend`] is the
//! client side, which connects ephpm to a MySQL or MariaDB server, and
//! [`backend_pool`] a core's pool of such connections.

#![warn(missing_docs)]

pub mod auth;
pub mod backend;
pub mod backend_pool;
pub mod command;
pub mod conn;
pub mod front;
pub mod handshake;
pub mod listener;
pub mod packet;
pub mod proxy;
pub mod relay;
pub mod resultset;
pub mod server_key;

pub use conn::MysqlContext;
pub use front::User;
