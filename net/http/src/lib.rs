//! ephpm's HTTP server.
//!
//! Layering, bottom up: [`http1`] turns a byte stream into requests and
//! responses (parser, body framing, the connection loop); [`http2`] does
//! the same for HTTP/2 streams, through the same service; [`router`]
//! decides what a request path means (a static file, a script, a
//! redirect); [`static_files`] serves files; [`app`] ties routing and the
//! handlers into the service each core runs; [`cache`] stores script
//! responses per core (the page cache); [`listener`] runs a core's
//! connections (over TCP or TLS); [`redirect`] sends plain HTTP to HTTPS;
//! [`acme_http01`] answers ACME's HTTP-01 challenges on the plain port;
//! [`access_log`] writes one line per request off the core.
//!
//! Knows nothing of PHP: scripts reach the PHP engine through the
//! [`app::ScriptHandler`] that the composition root plugs in.

#![warn(missing_docs)]

pub mod access_log;
pub mod acme_http01;
pub mod app;
pub mod cache;
pub mod http1;
pub mod http2;
pub mod listener;
pub mod redirect;
pub mod router;
pub mod static_files;
