//! HTTP/1.1 (RFC 9112): request parsing, body framing, responses and the
//! per-connection loop.

pub mod body;
pub mod conn;
pub mod date;
pub mod limits;
pub mod parser;
mod request_body;
pub mod response;
pub mod service;
pub mod stats;
pub mod status;

pub use conn::{serve_connection, Handoff};
pub use limits::Limits;
pub use parser::{Framing, Method, ParseError, RequestHead};
pub use response::{Response, ResponseBody};
pub use service::{BodyRead, ConnContext, Request, Service, Transport};
pub use stats::{HttpSnapshot, HttpStats};
