//! What a command answers, independent of the wire (RESP2 or RESP3 is
//! chosen when it is written).

use bytes::Bytes;

/// A command's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`-style status.
    Status(&'static str),
    /// An error, worded as Redis words it (with its prefix, e.g. `ERR ...`).
    Error(String),
    /// An integer.
    Int(i64),
    /// A binary-safe string.
    Bulk(Bytes),
    /// The null reply (missing key).
    Nil,
    /// The null array (EXEC aborted by WATCH): `*-1` in RESP2.
    NilArray,
    /// An array of replies.
    Array(Vec<Reply>),
    /// A double (RESP3; a bulk string in RESP2).
    Double(f64),
    /// Field/value pairs (a RESP3 map; a flat array in RESP2).
    Map(Vec<(Reply, Reply)>),
}

impl Reply {
    /// `+OK`.
    pub const OK: Reply = Reply::Status("OK");

    /// An `ERR` error.
    pub fn err(msg: impl std::fmt::Display) -> Reply {
        Reply::Error(format!("ERR {msg}"))
    }

    /// The error for a wrong number of arguments to `cmd`.
    pub fn wrong_args(cmd: &str) -> Reply {
        Reply::Error(format!("ERR wrong number of arguments for '{}' command", cmd.to_ascii_lowercase()))
    }

    /// The error for an operation on a key holding another type.
    pub fn wrong_type() -> Reply {
        Reply::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into())
    }

    /// `syntax error`.
    pub fn syntax() -> Reply {
        Reply::Error("ERR syntax error".into())
    }

    /// A bulk reply from bytes.
    pub fn bulk(b: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b))
    }
}
