//! Decoding of what a client sends: the handshake response and every
//! command packet. Pure functions over a payload, so they can be fuzzed.

use super::packet::{Cursor, Malformed};

/// Client capability flags the server uses.
pub mod caps {
    /// CLIENT_LONG_PASSWORD.
    pub const LONG_PASSWORD: u32 = 1;
    /// CLIENT_FOUND_ROWS.
    pub const FOUND_ROWS: u32 = 2;
    /// CLIENT_LONG_FLAG.
    pub const LONG_FLAG: u32 = 4;
    /// CLIENT_CONNECT_WITH_DB.
    pub const CONNECT_WITH_DB: u32 = 8;
    /// CLIENT_NO_SCHEMA.
    pub const NO_SCHEMA: u32 = 16;
    /// CLIENT_ODBC.
    pub const ODBC: u32 = 64;
    /// CLIENT_IGNORE_SPACE.
    pub const IGNORE_SPACE: u32 = 256;
    /// CLIENT_PROTOCOL_41.
    pub const PROTOCOL_41: u32 = 512;
    /// CLIENT_INTERACTIVE.
    pub const INTERACTIVE: u32 = 1024;
    /// CLIENT_SSL.
    pub const SSL: u32 = 2048;
    /// CLIENT_IGNORE_SIGPIPE.
    pub const IGNORE_SIGPIPE: u32 = 4096;
    /// CLIENT_TRANSACTIONS.
    pub const TRANSACTIONS: u32 = 8192;
    /// CLIENT_SECURE_CONNECTION.
    pub const SECURE_CONNECTION: u32 = 32768;
    /// CLIENT_MULTI_STATEMENTS.
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    /// CLIENT_MULTI_RESULTS.
    pub const MULTI_RESULTS: u32 = 1 << 17;
    /// CLIENT_PS_MULTI_RESULTS.
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    /// CLIENT_PLUGIN_AUTH.
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    /// CLIENT_CONNECT_ATTRS.
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    /// CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.
    pub const PLUGIN_AUTH_LENENC: u32 = 1 << 21;
    /// CLIENT_DEPRECATE_EOF.
    pub const DEPRECATE_EOF: u32 = 1 << 24;

    /// What this server offers.
    pub const SERVER: u32 = LONG_PASSWORD
        | FOUND_ROWS
        | LONG_FLAG
        | CONNECT_WITH_DB
        | NO_SCHEMA
        | ODBC
        | IGNORE_SPACE
        | PROTOCOL_41
        | INTERACTIVE
        | IGNORE_SIGPIPE
        | TRANSACTIONS
        | SECURE_CONNECTION
        | MULTI_STATEMENTS
        | MULTI_RESULTS
        | PS_MULTI_RESULTS
        | PLUGIN_AUTH
        | CONNECT_ATTRS
        | PLUGIN_AUTH_LENENC
        | DEPRECATE_EOF;
}

/// HandshakeResponse41.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// Capabilities the client wants (intersected with the server's).
    pub caps: u32,
    /// The user name.
    pub user: String,
    /// The auth response.
    pub auth: Vec<u8>,
    /// The database to use, if given.
    pub database: Option<String>,
    /// The auth plugin the client used.
    pub plugin: String,
    /// The client's character set (collation id).
    pub charset: u8,
}

/// Decodes a HandshakeResponse41 (a pre-4.1 client is refused).
pub fn handshake_response(p: &[u8]) -> Result<HandshakeResponse, Malformed> {
    let mut c = Cursor::new(p);
    let caps = c.u32()?;
    if caps & caps::PROTOCOL_41 == 0 {
        return Err(Malformed);
    }
    let _max_packet = c.u32()?;
    let charset = c.u8()?;
    c.take(23)?;
    let user = String::from_utf8_lossy(c.nul_str()?).into_owned();
    let auth = if caps & caps::PLUGIN_AUTH_LENENC != 0 {
        c.lenenc_str()?.to_vec()
    } else if caps & caps::SECURE_CONNECTION != 0 {
        let n = c.u8()? as usize;
        c.take(n)?.to_vec()
    } else {
        c.nul_str()?.to_vec()
    };
    let database = if caps & caps::CONNECT_WITH_DB != 0 && !c.is_empty() {
        Some(String::from_utf8_lossy(c.nul_or_rest()).into_owned()).filter(|d| !d.is_empty())
    } else {
        None
    };
    let plugin = if caps & caps::PLUGIN_AUTH != 0 && !c.is_empty() {
        String::from_utf8_lossy(c.nul_or_rest()).into_owned()
    } else {
        super::auth::NATIVE.to_string()
    };
    Ok(HandshakeResponse { caps: caps & caps::SERVER, user, auth, database, plugin, charset })
}

/// A parameter value of COM_STMT_EXECUTE, still in wire form.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// NULL.
    Null,
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float or double.
    Float(f64),
    /// Bytes (strings, blobs, decimals, dates as text).
    Bytes(Vec<u8>),
}

/// A command from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// COM_QUIT.
    Quit,
    /// COM_INIT_DB.
    InitDb(String),
    /// COM_QUERY.
    Query(String),
    /// COM_FIELD_LIST.
    FieldList(String),
    /// COM_PING.
    Ping,
    /// COM_STATISTICS.
    Statistics,
    /// COM_CHANGE_USER.
    ChangeUser {
        /// New user.
        user: String,
        /// Auth response against the connection's scramble.
        auth: Vec<u8>,
        /// Database.
        database: Option<String>,
        /// Plugin used.
        plugin: String,
    },
    /// COM_STMT_PREPARE.
    Prepare(String),
    /// COM_STMT_EXECUTE, parameters decoded later (they need the statement).
    Execute {
        /// Statement id.
        id: u32,
        /// The packet after the id.
        rest: Vec<u8>,
    },
    /// COM_STMT_SEND_LONG_DATA.
    LongData {
        /// Statement id.
        id: u32,
        /// Parameter index.
        param: u16,
        /// A chunk of its value.
        data: Vec<u8>,
    },
    /// COM_STMT_CLOSE.
    Close(u32),
    /// COM_STMT_RESET.
    Reset(u32),
    /// COM_SET_OPTION (multi-statements on or off).
    SetOption(u16),
    /// COM_RESET_CONNECTION.
    ResetConnection,
    /// Anything else (answered with an error).
    Unknown(u8),
}

/// Decodes a command packet.
pub fn command(p: &[u8], caps: u32) -> Result<Command, Malformed> {
    let mut c = Cursor::new(p);
    let code = c.u8()?;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(match code {
        0x01 => Command::Quit,
        0x02 => Command::InitDb(text(c.rest())),
        0x03 => Command::Query(text(c.rest())),
        0x04 => Command::FieldList(text(c.nul_or_rest())),
        0x09 => Command::Statistics,
        0x0e => Command::Ping,
        0x11 => {
            let user = text(c.nul_str()?);
            let auth = if caps & caps::SECURE_CONNECTION != 0 {
                let n = c.u8()? as usize;
                c.take(n)?.to_vec()
            } else {
                c.nul_str()?.to_vec()
            };
            let database = Some(text(c.nul_or_rest())).filter(|d| !d.is_empty());
            let plugin = if c.rest().len() >= 2 {
                c.u16()?;
                text(c.nul_or_rest())
            } else {
                String::new()
            };
            let plugin = if plugin.is_empty() { super::auth::NATIVE.to_string() } else { plugin };
            Command::ChangeUser { user, auth, database, plugin }
        }
        0x16 => Command::Prepare(text(c.rest())),
        0x17 => Command::Execute { id: c.u32()?, rest: c.rest().to_vec() },
        0x18 => Command::LongData { id: c.u32()?, param: c.u16()?, data: c.rest().to_vec() },
        0x19 => Command::Close(c.u32()?),
        0x1a => Command::Reset(c.u32()?),
        0x1b => Command::SetOption(c.u16()?),
        0x1f => Command::ResetConnection,
        other => Command::Unknown(other),
    })
}

/// Field types of bound parameters.
mod types {
    pub const TINY: u8 = 0x01;
    pub const SHORT: u8 = 0x02;
    pub const LONG: u8 = 0x03;
    pub const FLOAT: u8 = 0x04;
    pub const DOUBLE: u8 = 0x05;
    pub const NULL: u8 = 0x06;
    pub const TIMESTAMP: u8 = 0x07;
    pub const LONGLONG: u8 = 0x08;
    pub const INT24: u8 = 0x09;
    pub const DATE: u8 = 0x0a;
    pub const TIME: u8 = 0x0b;
    pub const DATETIME: u8 = 0x0c;
    pub const YEAR: u8 = 0x0d;
}

/// Decodes COM_STMT_EXECUTE's parameters. `types` holds the types bound by
/// an earlier execution (updated when the client sends new ones); `long`
/// marks parameters sent with COM_STMT_SEND_LONG_DATA, which have no value
/// here.
pub fn execute_params(
    rest: &[u8],
    n: usize,
    types: &mut Vec<(u8, bool)>,
    long: &[bool],
) -> Result<Vec<Param>, Malformed> {
    let mut c = Cursor::new(rest);
    let _flags = c.u8()?;
    let _iterations = c.u32()?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let nulls = c.take(n.div_ceil(8))?;
    if c.u8()? == 1 {
        types.clear();
        for _ in 0..n {
            let t = c.u8()?;
            let flags = c.u8()?;
            types.push((t, flags & 0x80 != 0));
        }
    }
    if types.len() != n {
        return Err(Malformed);
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if nulls[i / 8] & (1 << (i % 8)) != 0 {
            out.push(Param::Null);
            continue;
        }
        if long.get(i).copied().unwrap_or(false) {
            out.push(Param::Bytes(Vec::new()));
            continue;
        }
        let (t, unsigned) = types[i];
        out.push(value(&mut c, t, unsigned)?);
    }
    Ok(out)
}

fn value(c: &mut Cursor<'_>, t: u8, unsigned: bool) -> Result<Param, Malformed> {
    use types::*;
    let int = |v: i64, u: u64| if unsigned { Param::UInt(u) } else { Param::Int(v) };
    Ok(match t {
        NULL => Param::Null,
        TINY => {
            let b = c.u8()?;
            int(b as i8 as i64, b as u64)
        }
        SHORT | YEAR => {
            let v = c.u16()?;
            int(v as i16 as i64, v as u64)
        }
        LONG | INT24 => {
            let v = c.u32()?;
            int(v as i32 as i64, v as u64)
        }
        LONGLONG => {
            let v = c.u64()?;
            int(v as i64, v)
        }
        FLOAT => Param::Float(f32::from_le_bytes(c.take(4)?.try_into().map_err(|_| Malformed)?) as f64),
        DOUBLE => Param::Float(f64::from_le_bytes(c.take(8)?.try_into().map_err(|_| Malformed)?)),
        DATE | DATETIME | TIMESTAMP => Param::Bytes(datetime_text(c)?.into_bytes()),
        TIME => Param::Bytes(time_text(c)?.into_bytes()),
        _ => Param::Bytes(c.lenenc_str()?.to_vec()),
    })
}

fn datetime_text(c: &mut Cursor<'_>) -> Result<String, Malformed> {
    let len = c.u8()?;
    let b = c.take(len as usize)?;
    let y = if len >= 4 { u16::from_le_bytes([b[0], b[1]]) } else { 0 };
    let (mo, d) = if len >= 4 { (b[2], b[3]) } else { (0, 0) };
    if len < 7 {
        return Ok(if len == 0 { "0000-00-00 00:00:00".into() } else { format!("{y:04}-{mo:02}-{d:02}") });
    }
    let (h, mi, s) = (b[4], b[5], b[6]);
    let mut out = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}");
    if len >= 11 {
        let us = u32::from_le_bytes([b[7], b[8], b[9], b[10]]);
        if us != 0 {
            out.push_str(&format!(".{us:06}"));
        }
    }
    Ok(out)
}

fn time_text(c: &mut Cursor<'_>) -> Result<String, Malformed> {
    let len = c.u8()?;
    let b = c.take(len as usize)?;
    if len < 8 {
        return Ok("00:00:00".into());
    }
    let neg = if b[0] == 1 { "-" } else { "" };
    let days = u32::from_le_bytes([b[1], b[2], b[3], b[4]]);
    let h = days.saturating_mul(24).saturating_add(b[5] as u32);
    Ok(format!("{neg}{h:02}:{:02}:{:02}", b[6], b[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_handshake_response() {
        let mut p = Vec::new();
        p.extend_from_slice(
            &(caps::PROTOCOL_41 | caps::SECURE_CONNECTION | caps::PLUGIN_AUTH | caps::CONNECT_WITH_DB).to_le_bytes(),
        );
        p.extend_from_slice(&[0, 0, 0, 1, 45]);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(b"root\0");
        p.push(3);
        p.extend_from_slice(b"abc");
        p.extend_from_slice(b"wp\0mysql_native_password\0");
        let r = handshake_response(&p).unwrap();
        assert_eq!((r.user.as_str(), r.auth.as_slice(), r.database.as_deref()), ("root", &b"abc"[..], Some("wp")));
        assert_eq!(r.plugin, "mysql_native_password");
        assert_eq!(handshake_response(&p[..40]), Err(Malformed));
    }

    #[test]
    fn decodes_execute_parameters() {
        let mut p = vec![0, 1, 0, 0, 0];
        p.push(0b10); // second parameter NULL
        p.push(1);
        p.extend_from_slice(&[0x08, 0, 0x06, 0, 0xfd, 0]);
        p.extend_from_slice(&42i64.to_le_bytes());
        p.extend_from_slice(&[2, b'h', b'i']);
        let mut types = Vec::new();
        let v = execute_params(&p, 3, &mut types, &[]).unwrap();
        assert_eq!(v, vec![Param::Int(42), Param::Null, Param::Bytes(b"hi".to_vec())]);
        // Types are remembered when not sent again.
        let mut q = vec![0, 1, 0, 0, 0, 0, 0];
        q.extend_from_slice(&7i64.to_le_bytes());
        q.extend_from_slice(&[1, b'x']);
        assert_eq!(execute_params(&q, 3, &mut types, &[]).unwrap()[0], Param::Int(7));
        assert!(execute_params(&[0, 1], 3, &mut types, &[]).is_err());
    }
}
