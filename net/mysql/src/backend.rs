//! The client side of the MySQL protocol: a connection from ephpm to a
//! MySQL 8 or MariaDB server, the building block of the database proxy's
//! backend pools. It authenticates with mysql_native_password or
//! caching_sha2_password (fast path, and full authentication with the
//! server's RSA key when there is no TLS), answers an auth switch, and runs
//! text-protocol statements for health checks and routing probes.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use rsa::pkcs8::DecodePublicKey;

use super::auth::{native_token, sha2_token, CACHING_SHA2, NATIVE};
use super::command::caps;
use super::packet::{Cursor, Out, PacketReader, ReadError, MAX_PACKET, UTF8MB4_GENERAL_CI};
use super::resultset::status::MORE_RESULTS as STATUS_MORE_RESULTS;
pub use super::resultset::status::{AUTOCOMMIT as STATUS_AUTOCOMMIT, IN_TRANS as STATUS_IN_TRANS};

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// The server.
    pub addr: SocketAddr,
    /// User name.
    pub user: String,
    /// Password (`""` for none).
    pub password: String,
    /// Default database, if any.
    pub database: Option<String>,
    /// Connecting and authenticating must finish within this.
    pub connect_timeout: Duration,
}

/// Why a backend operation failed.
#[derive(Debug)]
pub enum BackendError {
    /// The connection broke or timed out.
    Io(io::Error),
    /// The server answered with an error packet.
    Server {
        /// MySQL error code.
        code: u16,
        /// SQLSTATE.
        state: String,
        /// The message.
        message: String,
    },
    /// The server sent something this client does not understand.
    Protocol(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Io(e) => write!(f, "backend connection: {e}"),
            BackendError::Server { code, state, message } => write!(f, "backend error {code} ({state}): {message}"),
            BackendError::Protocol(why) => write!(f, "backend protocol: {why}"),
        }
    }
}

impl From<io::Error> for BackendError {
    fn from(e: io::Error) -> Self {
        BackendError::Io(e)
    }
}

fn protocol(why: &str) -> BackendError {
    BackendError::Protocol(why.to_string())
}

/// A text-protocol result: column names and rows (`None` is SQL NULL).
#[derive(Debug, Default, PartialEq)]
pub struct TextResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
    /// Rows affected (for statements without a result set).
    pub affected: u64,
}

/// One authenticated connection to a backend server.
pub struct Backend {
    pub(super) stream: TcpStream,
    pub(super) reader: PacketReader,
    /// The server's version string.
    pub server_version: String,
    /// The server's id for this connection.
    pub connection_id: u32,
    /// Status flags of the last OK/EOF packet.
    pub status: u16,
    /// A command was sent and its response not read to the end (it failed
    /// mid-way or its future was dropped): the connection is out of step
    /// and must be closed, never reused.
    pub(super) broken: bool,
    /// The session state the proxy last applied to this connection.
    pub applied: AppliedState,
}

/// Session state a proxy applied to a backend connection (database, SET
/// statements), compared with a client's before the connection serves it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliedState {
    /// The current database, if the proxy chose one.
    pub database: Option<String>,
    /// SET statements run, in order.
    pub sets: Vec<String>,
    /// A statement may have left state not tracked here (several
    /// statements, CALL, unknown commands): reset before reuse.
    pub tainted: bool,
}

impl Backend {
    /// Connects and authenticates within `cfg.connect_timeout`.
    pub async fn connect(cfg: &BackendConfig) -> Result<Backend, BackendError> {
        match monoio::time::timeout(cfg.connect_timeout, Self::open(cfg)).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {} took longer than {:?}", cfg.addr, cfg.connect_timeout),
            ))),
        }
    }

    async fn open(cfg: &BackendConfig) -> Result<Backend, BackendError> {
        let stream = TcpStream::connect(cfg.addr).await?;
        let _ = stream.set_nodelay(true);
        let mut b = Backend {
            stream,
            reader: PacketReader::default(),
            server_version: String::new(),
            connection_id: 0,
            status: 0,
            broken: false,
            applied: AppliedState { database: cfg.database.clone(), ..AppliedState::default() },
        };
        let (seq, greeting) = b.read_packet().await?;
        if greeting.first() == Some(&0xff) {
            return Err(server_error(&greeting));
        }
        let g = parse_greeting(&greeting)?;
        b.server_version = g.version;
        b.connection_id = g.connection_id;
        b.authenticate(cfg, seq.wrapping_add(1), g.scramble, g.plugin).await?;
        Ok(b)
    }

    async fn authenticate(
        &mut self,
        cfg: &BackendConfig,
        seq: u8,
        mut scramble: Vec<u8>,
        mut plugin: String,
    ) -> Result<(), BackendError> {
        if plugin != NATIVE && plugin != CACHING_SHA2 {
            plugin = NATIVE.to_string();
        }
        let mut out = Out::new(seq);
        handshake_response(&mut out, cfg, &plugin, &token(&plugin, &cfg.password, &scramble));
        self.write(out).await?;
        loop {
            let (seq, p) = self.read_packet().await?;
            match p.first() {
                Some(0x00) => {
                    self.status = ok_status(&p);
                    return Ok(());
                }
                Some(0xff) => return Err(server_error(&p)),
                // Auth switch: another plugin and a fresh scramble.
                Some(0xfe) => {
                    let mut c = Cursor::new(&p[1..]);
                    plugin = String::from_utf8_lossy(c.nul_str().map_err(|_| protocol("bad auth switch"))?).into();
                    scramble = c.nul_or_rest().to_vec();
                    if plugin != NATIVE && plugin != CACHING_SHA2 {
                        return Err(BackendError::Protocol(format!("unsupported auth plugin {plugin}")));
                    }
                    let mut out = Out::new(seq.wrapping_add(1));
                    out.begin();
                    out.bytes(&token(&plugin, &cfg.password, &scramble));
                    out.end();
                    self.write(out).await?;
                }
                // caching_sha2: 3 = fast path done (OK follows), 4 = the
                // full authentication wants the password.
                Some(0x01) if p.get(1) == Some(&0x03) => {}
                Some(0x01) if p.get(1) == Some(&0x04) => {
                    let mut out = Out::new(seq.wrapping_add(1));
                    out.begin();
                    out.u8(0x02); // request the server's public key
                    out.end();
                    self.write(out).await?;
                    let (seq, key) = self.read_packet().await?;
                    if key.first() != Some(&0x01) {
                        return Err(if key.first() == Some(&0xff) {
                            server_error(&key)
                        } else {
                            protocol("no public key")
                        });
                    }
                    let secret = encrypt_password(&key[1..], &cfg.password, &scramble)?;
                    let mut out = Out::new(seq.wrapping_add(1));
                    out.begin();
                    out.bytes(&secret);
                    out.end();
                    self.write(out).await?;
                }
                _ => return Err(protocol("unexpected packet during authentication")),
            }
        }
    }

    /// Runs `sql` with COM_QUERY and collects its result: the rows of the
    /// last result set, and the affected rows of the last OK. Callers bound
    /// it in time (a server may stall).
    pub async fn query(&mut self, sql: &str) -> Result<TextResult, BackendError> {
        self.broken = true;
        let r = self.run_query(sql).await;
        // An error the server answered leaves the connection in step.
        self.broken = matches!(r, Err(BackendError::Io(_) | BackendError::Protocol(_)));
        r
    }

    async fn run_query(&mut self, sql: &str) -> Result<TextResult, BackendError> {
        let mut out = Out::new(0);
        out.begin();
        out.u8(0x03);
        out.bytes(sql.as_bytes());
        out.end();
        self.write(out).await?;
        let mut result = TextResult::default();
        loop {
            let (_, p) = self.read_packet().await?;
            let more = match p.first() {
                Some(0x00) => {
                    let mut c = Cursor::new(&p[1..]);
                    result.affected = c.lenenc().unwrap_or(0);
                    self.status = ok_status(&p);
                    self.status & STATUS_MORE_RESULTS != 0
                }
                Some(0xff) => return Err(server_error(&p)),
                Some(0xfb) => return Err(protocol("LOCAL INFILE is not supported")),
                _ => {
                    result = self.read_result_set(&p).await?;
                    self.status & STATUS_MORE_RESULTS != 0
                }
            };
            if !more {
                return Ok(result);
            }
        }
    }

    /// A result set after its column-count packet `first`.
    async fn read_result_set(&mut self, first: &[u8]) -> Result<TextResult, BackendError> {
        let count = Cursor::new(first).lenenc().map_err(|_| protocol("bad column count"))? as usize;
        let mut result = TextResult::default();
        for _ in 0..count {
            let (_, def) = self.read_packet().await?;
            result.columns.push(column_name(&def)?);
        }
        // Without CLIENT_DEPRECATE_EOF an EOF packet ends the definitions.
        let (_, eof) = self.read_packet().await?;
        if !is_eof(&eof) {
            return Err(protocol("no EOF after the column definitions"));
        }
        loop {
            let (_, p) = self.read_packet().await?;
            if is_eof(&p) {
                self.status = eof_status(&p);
                return Ok(result);
            }
            if p.first() == Some(&0xff) {
                return Err(server_error(&p));
            }
            let mut c = Cursor::new(&p);
            let mut row = Vec::with_capacity(count);
            for _ in 0..count {
                if c.rest().first() == Some(&0xfb) {
                    c.u8().map_err(|_| protocol("bad row"))?;
                    row.push(None);
                } else {
                    row.push(Some(c.lenenc_str().map_err(|_| protocol("bad row"))?.to_vec()));
                }
            }
            result.rows.push(row);
        }
    }

    /// COM_PING: whether the server answers.
    pub async fn ping(&mut self) -> Result<(), BackendError> {
        self.simple(0x0e, b"").await
    }

    /// COM_RESET_CONNECTION: the session back to its state after login
    /// (variables, temporary tables, locks, prepared statements).
    pub async fn reset(&mut self) -> Result<(), BackendError> {
        self.simple(0x1f, b"").await?;
        // The SETs are gone; the current database stays.
        self.applied.sets.clear();
        self.applied.tainted = false;
        Ok(())
    }

    /// COM_INIT_DB: the default database.
    pub async fn init_db(&mut self, db: &str) -> Result<(), BackendError> {
        self.simple(0x02, db.as_bytes()).await
    }

    /// Sends a command that gets no reply (COM_STMT_CLOSE,
    /// COM_STMT_SEND_LONG_DATA).
    pub async fn send_only(&mut self, payload: &[u8]) -> Result<(), BackendError> {
        let mut out = Out::new(0);
        out.begin();
        out.bytes(payload);
        out.end();
        let r = self.write(out).await;
        self.broken |= r.is_err();
        r
    }

    /// A command answered by OK or ERR.
    async fn simple(&mut self, code: u8, arg: &[u8]) -> Result<(), BackendError> {
        self.broken = true;
        let r = self.run_simple(code, arg).await;
        self.broken = matches!(r, Err(BackendError::Io(_) | BackendError::Protocol(_)));
        r
    }

    async fn run_simple(&mut self, code: u8, arg: &[u8]) -> Result<(), BackendError> {
        let mut out = Out::new(0);
        out.begin();
        out.u8(code);
        out.bytes(arg);
        out.end();
        self.write(out).await?;
        let (_, p) = self.read_packet().await?;
        match p.first() {
            Some(0x00) => {
                self.status = ok_status(&p);
                Ok(())
            }
            Some(0xff) => Err(server_error(&p)),
            _ => Err(protocol("unexpected answer (not OK or ERR)")),
        }
    }

    /// Whether the server reports an open transaction on this connection.
    pub fn in_transaction(&self) -> bool {
        self.status & STATUS_IN_TRANS != 0
    }

    /// Whether a transaction is open or autocommit is off (the next
    /// statement would open one): the session's work is not committed.
    pub fn mid_transaction(&self) -> bool {
        mid_transaction(self.status)
    }

    /// Whether the connection is out of step (see the field) and must be
    /// closed.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    async fn write(&mut self, out: Out) -> Result<(), BackendError> {
        let (r, _) = self.stream.write_all(out.buf).await;
        r?;
        Ok(())
    }

    /// The next packet: (sequence id, payload).
    async fn read_packet(&mut self) -> Result<(u8, Vec<u8>), BackendError> {
        match self.reader.next(&mut self.stream, MAX_PACKET).await {
            Ok(p) => Ok(p),
            Err(ReadError::TooBig { .. }) => Err(protocol("a packet over the 64 MiB limit")),
            Err(ReadError::Closed(e)) => Err(BackendError::Io(e)),
        }
    }
}

/// What the greeting says.
struct Greeting {
    version: String,
    connection_id: u32,
    scramble: Vec<u8>,
    plugin: String,
}

fn parse_greeting(p: &[u8]) -> Result<Greeting, BackendError> {
    let bad = |_| protocol("malformed greeting");
    let mut c = Cursor::new(p);
    if c.u8().map_err(bad)? != 10 {
        return Err(protocol("not protocol version 10"));
    }
    let version = String::from_utf8_lossy(c.nul_str().map_err(bad)?).into_owned();
    let connection_id = c.u32().map_err(bad)?;
    let mut scramble = c.take(8).map_err(bad)?.to_vec();
    c.u8().map_err(bad)?;
    let caps_low = c.u16().map_err(bad)? as u32;
    let (_charset, _status) = (c.u8().map_err(bad)?, c.u16().map_err(bad)?);
    let caps_high = (c.u16().map_err(bad)? as u32) << 16;
    let server_caps = caps_low | caps_high;
    if server_caps & caps::PROTOCOL_41 == 0 {
        return Err(protocol("the server does not speak protocol 4.1"));
    }
    let data_len = c.u8().map_err(bad)? as usize;
    c.take(10).map_err(bad)?;
    if server_caps & caps::SECURE_CONNECTION != 0 {
        let n = data_len.saturating_sub(8).max(13);
        let part2 = c.take(n).map_err(bad)?;
        // The last byte of part 2 is a NUL terminator.
        scramble.extend_from_slice(part2.strip_suffix(&[0]).unwrap_or(part2));
    }
    let plugin = if server_caps & caps::PLUGIN_AUTH != 0 {
        String::from_utf8_lossy(c.nul_or_rest()).into_owned()
    } else {
        NATIVE.to_string()
    };
    Ok(Greeting { version, connection_id, scramble, plugin })
}

/// The capabilities this client asks for.
fn client_caps(cfg: &BackendConfig) -> u32 {
    let mut c = caps::LONG_PASSWORD
        | caps::LONG_FLAG
        | caps::PROTOCOL_41
        | caps::TRANSACTIONS
        | caps::SECURE_CONNECTION
        | caps::MULTI_STATEMENTS
        | caps::MULTI_RESULTS
        | caps::PS_MULTI_RESULTS
        | caps::PLUGIN_AUTH
        | caps::PLUGIN_AUTH_LENENC;
    if cfg.database.is_some() {
        c |= caps::CONNECT_WITH_DB;
    }
    c
}

fn handshake_response(out: &mut Out, cfg: &BackendConfig, plugin: &str, auth: &[u8]) {
    out.begin();
    out.u32(client_caps(cfg));
    out.u32(MAX_PACKET as u32);
    out.u8(UTF8MB4_GENERAL_CI);
    out.bytes(&[0; 23]);
    out.bytes(cfg.user.as_bytes());
    out.u8(0);
    out.lenenc_str(auth);
    if let Some(db) = &cfg.database {
        out.bytes(db.as_bytes());
        out.u8(0);
    }
    out.bytes(plugin.as_bytes());
    out.u8(0);
    out.end();
}

fn token(plugin: &str, password: &str, scramble: &[u8]) -> Vec<u8> {
    if plugin == CACHING_SHA2 {
        sha2_token(password.as_bytes(), scramble)
    } else {
        native_token(password.as_bytes(), scramble)
    }
}

/// caching_sha2's full authentication without TLS: the password and a NUL,
/// XORed with the scramble, encrypted with the server's key (RSA-OAEP,
/// SHA-1).
fn encrypt_password(pem: &[u8], password: &str, scramble: &[u8]) -> Result<Vec<u8>, BackendError> {
    let pem = std::str::from_utf8(pem).map_err(|_| protocol("the server's public key is not PEM"))?;
    let key = rsa::PublicKey::from_public_key_pem(pem.trim_end_matches('\0'))
        .map_err(|e| BackendError::Protocol(format!("the server's public key: {e}")))?;
    let mut plain = password.as_bytes().to_vec();
    plain.push(0);
    if !scramble.is_empty() {
        for (i, b) in plain.iter_mut().enumerate() {
            *b ^= scramble[i % scramble.len()];
        }
    }
    key.oaep_encrypt::<sha1::Sha1>(&plain).map_err(|e| BackendError::Protocol(format!("RSA: {e}")))
}

/// Whether status flags say a transaction is open or autocommit is off.
pub fn mid_transaction(status: u16) -> bool {
    status & STATUS_IN_TRANS != 0 || status & STATUS_AUTOCOMMIT == 0
}

/// Status flags of an OK packet.
pub(super) fn ok_status(p: &[u8]) -> u16 {
    let mut c = Cursor::new(p.get(1..).unwrap_or_default());
    let _ = (c.lenenc(), c.lenenc());
    c.u16().unwrap_or(0)
}

/// An EOF packet (0xFE, shorter than 9 bytes).
pub(super) fn is_eof(p: &[u8]) -> bool {
    p.first() == Some(&0xfe) && p.len() < 9
}

/// Status flags of an EOF packet.
pub(super) fn eof_status(p: &[u8]) -> u16 {
    p.get(3..5).map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

/// The column name of a column definition packet.
fn column_name(def: &[u8]) -> Result<String, BackendError> {
    let mut c = Cursor::new(def);
    for _ in 0..4 {
        c.lenenc_str().map_err(|_| protocol("bad column definition"))?;
    }
    Ok(String::from_utf8_lossy(c.lenenc_str().map_err(|_| protocol("bad column definition"))?).into_owned())
}

/// An ERR packet as an error.
pub(super) fn server_error(p: &[u8]) -> BackendError {
    let mut c = Cursor::new(p.get(1..).unwrap_or_default());
    let code = c.u16().unwrap_or(0);
    let rest = c.rest();
    let (state, message) = match rest.strip_prefix(b"#") {
        Some(r) if r.len() >= 5 => (String::from_utf8_lossy(&r[..5]).into_owned(), &r[5..]),
        _ => ("HY000".to_string(), rest),
    };
    BackendError::Server { code, state, message: String::from_utf8_lossy(message).into_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_with_both_scramble_parts() {
        let mut g = vec![10];
        g.extend_from_slice(b"8.0.36\0");
        g.extend_from_slice(&7u32.to_le_bytes());
        g.extend_from_slice(b"abcdefgh\0");
        let caps = caps::PROTOCOL_41 | caps::SECURE_CONNECTION | caps::PLUGIN_AUTH;
        g.extend_from_slice(&(caps as u16).to_le_bytes());
        g.push(45);
        g.extend_from_slice(&2u16.to_le_bytes());
        g.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        g.push(21);
        g.extend_from_slice(&[0; 10]);
        g.extend_from_slice(b"ijklmnopqrst\0");
        g.extend_from_slice(b"caching_sha2_password\0");
        let parsed = parse_greeting(&g).unwrap();
        assert_eq!((parsed.version.as_str(), parsed.connection_id), ("8.0.36", 7));
        assert_eq!(parsed.scramble, b"abcdefghijklmnopqrst");
        assert_eq!(parsed.plugin, CACHING_SHA2);
        assert!(parse_greeting(&g[..20]).is_err());
        assert!(parse_greeting(&[9]).is_err());
    }

    #[test]
    fn error_and_status_packets() {
        match server_error(b"\xff\x15\x04#28000Access denied") {
            BackendError::Server { code, state, message } => {
                assert_eq!((code, state.as_str(), message.as_str()), (1045, "28000", "Access denied"))
            }
            e => panic!("{e}"),
        }
        assert!(matches!(server_error(b"\xff"), BackendError::Server { code: 0, .. }));
        assert_eq!(ok_status(b"\x00\x01\x00\x03\x00\x00\x00"), 3);
        assert!(is_eof(b"\xfe\x00\x00\x01\x00") && !is_eof(b"\xfe\x00\x00\x00\x00\x00\x00\x00\x00\x00"));
        assert_eq!(eof_status(b"\xfe\x00\x00\x08\x00"), 8);
    }
}
