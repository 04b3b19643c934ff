//! Wire protocols and listeners for ephpm.
//!
//! Layering, bottom up: [`listener`] makes the per-core SO_REUSEPORT sockets;
//! [`http1`] turns a byte stream into requests and responses (parser, body
//! framing, the connection loop); [`router`] decides what a request path
//! means (a static file, a PHP script, a redirect); [`static_files`] serves
//! files; [`php`] runs scripts on the core's PHP threads; [`app`] ties routing and handlers into the service each core runs.

pub mod access_log;
pub mod app;
pub mod clients;
pub mod http1;
pub mod listener;
pub mod mysql;
pub mod php;
pub mod resp;
pub mod router;
pub mod static_files;
