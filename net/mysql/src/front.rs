//! The server side of one client connection, shared by the embedded
//! database and the proxy: the socket with its packet reader and reusable
//! output buffer, and the connection phase (greeting, handshake response,
//! mysql_native_password and caching_sha2_password checks against
//! `db.users`, auth switch, COM_CHANGE_USER's re-authentication).

use std::rc::Rc;
use std::sync::Mutex;

use ephpm_db::DbError;
use ephpm_tls::{MaybeTls, TlsAcceptor};
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;

use super::auth;
use super::command;
use super::handshake;
use super::packet::{Out, PacketReader, ReadError};
use super::resultset;
use super::server_key;

/// One entry of `db.users`.
#[derive(Debug, Clone)]
pub struct User {
    /// The name.
    pub name: String,
    /// The password.
    pub password: String,
    /// Authenticates with caching_sha2_password (else mysql_native_password).
    pub caching_sha2: bool,
}

/// ER_CON_COUNT_ERROR (1040) as the greeting a client beyond the limit gets.
pub const TOO_MANY: &[u8] = b"\x17\x00\x00\x00\xff\x10\x04Too many connections";

/// Connection ids handed out by one core: unique across cores (the core
/// in the low bits).
pub struct ConnectionIds(std::cell::Cell<u64>);

impl ConnectionIds {
    /// Ids of core `core`.
    pub fn new(core: usize) -> ConnectionIds {
        ConnectionIds(std::cell::Cell::new(core as u64 + 1))
    }

    /// The next id.
    pub fn next(&self) -> u64 {
        let id = self.0.get();
        self.0.set(id + 1024);
        id
    }
}

/// Users who passed caching_sha2_password's full authentication since the
/// server started: later logins take the fast path, as in MySQL.
static SHA2_CACHE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The connection is over (the client left, or was sent an error).
pub struct Closed;

/// What a client logged in with.
pub struct Login {
    /// Capabilities both sides have.
    pub caps: u32,
    /// The database asked for in the handshake.
    pub database: Option<String>,
    /// The client's character set (collation id).
    pub charset: u8,
    /// The sequence id of the packet that ends the login (OK).
    pub seq: u8,
}

/// Whether a client may send several statements in one COM_QUERY: asked
/// for with CLIENT_MULTI_STATEMENTS at login, changed by COM_SET_OPTION.
#[derive(Clone, Copy, Debug, Default)]
pub struct MultiStatements(bool);

impl MultiStatements {
    /// As the client's login capabilities ask.
    pub fn from_caps(caps: u32) -> Self {
        MultiStatements(caps & command::caps::MULTI_STATEMENTS != 0)
    }

    /// COM_SET_OPTION: 0 turns them on, 1 off.
    pub fn set_option(&mut self, option: u16) {
        self.0 = option == 0;
    }

    /// The error for `sql` when it holds several statements and they are off.
    pub fn refusal(self, sql: &str) -> Option<DbError> {
        let several = !self.0 && sql.contains(';') && ephpm_db::translate::split(sql).len() > 1;
        several.then(|| DbError::syntax("multiple statements need CLIENT_MULTI_STATEMENTS"))
    }
}

/// The payload length of an SSLRequest: capabilities, max packet size,
/// character set and 23 bytes of filler.
const SSL_REQUEST_LEN: usize = 32;

/// A client's socket and the connection-level I/O on it.
pub struct Front {
    stream: MaybeTls,
    /// TLS offered in the greeting (`db.sqlite.tls`, `db.mysql.tls`).
    tls: Option<Rc<TlsAcceptor>>,
    reader: PacketReader,
    scramble: [u8; 20],
    /// The client's address (for error messages).
    peer: String,
    loopback: bool,
    max_packet: usize,
    /// The output buffer, reused from reply to reply.
    spare: Vec<u8>,
}

impl Front {
    /// Wraps an accepted client socket; `tls` is offered in the greeting.
    pub fn new(stream: TcpStream, max_packet: usize, tls: Option<Rc<TlsAcceptor>>) -> Front {
        let peer_ip = stream.peer_addr().map(|a| a.ip()).ok();
        Front {
            stream: MaybeTls::Plain(stream),
            tls,
            reader: PacketReader::default(),
            scramble: auth::scramble(),
            peer: peer_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "localhost".into()),
            loopback: peer_ip.is_some_and(|ip| ip.is_loopback()),
            max_packet,
            spare: Vec::with_capacity(4096),
        }
    }

    /// The client connection (for relaying a backend's reply straight to
    /// it).
    pub fn stream(&mut self) -> &mut MaybeTls {
        &mut self.stream
    }

    /// Whether the client switched to TLS.
    pub fn secure(&self) -> bool {
        self.stream.is_tls()
    }

    /// Greets the client offering `server_caps` and authenticates it
    /// against `users`. The caller sends the final OK at `Login::seq`.
    pub async fn login(&mut self, connection_id: u32, server_caps: u32, users: &[User]) -> Result<Login, Closed> {
        let server_caps = match self.tls {
            Some(_) => server_caps | command::caps::SSL,
            None => server_caps,
        };
        let mut out = self.out(0);
        handshake::greeting(&mut out, connection_id, &self.scramble, server_caps);
        self.send(out).await?;
        let (mut seq, mut payload) = self.read().await?;
        if payload.len() == SSL_REQUEST_LEN && client_caps(&payload) & command::caps::SSL != 0 {
            self.start_tls().await?;
            (seq, payload) = self.read().await?;
        }
        let Ok(resp) = command::handshake_response(&payload) else {
            let _ = self.fail(seq.wrapping_add(1), &DbError::new(1043, "08S01", "Bad handshake")).await;
            return Err(Closed);
        };
        let seq = self.authenticate(seq.wrapping_add(1), users, &resp.user, &resp.plugin, resp.auth).await?;
        Ok(Login { caps: resp.caps & server_caps, database: resp.database, charset: resp.charset, seq })
    }

    /// Switches to TLS after an SSLRequest; the handshake bytes the reader
    /// already took are handed to it.
    async fn start_tls(&mut self) -> Result<(), Closed> {
        let Some(tls) = self.tls.clone() else { return Err(Closed) };
        let Some(tcp) = self.stream.take_plain() else { return Err(Closed) };
        let already = self.reader.take_buffered();
        match tls.accept_after(tcp, already).await {
            Ok(s) => {
                self.stream = MaybeTls::Tls(Box::new(s));
                Ok(())
            }
            Err(why) => {
                tracing::debug!(peer = %self.peer, "db: tls: {why}");
                Err(Closed)
            }
        }
    }

    /// Checks a user's credentials under the user's plugin, switching the
    /// client to it when it answered with another. Returns the sequence id
    /// for the next packet; a refusal is sent here and closes.
    pub async fn authenticate(
        &mut self,
        mut seq: u8,
        users: &[User],
        user: &str,
        plugin: &str,
        mut response: Vec<u8>,
    ) -> Result<u8, Closed> {
        let account = users.iter().find(|u| u.name == user).cloned();
        let wanted = match &account {
            Some(u) if u.caching_sha2 => auth::CACHING_SHA2,
            _ => auth::NATIVE,
        };
        if plugin != wanted {
            let mut out = self.out(seq);
            handshake::auth_switch(&mut out, wanted, &self.scramble);
            self.send(out).await?;
            let (s, payload) = self.read().await?;
            seq = s.wrapping_add(1);
            response = payload;
        }
        let Some(account) = account else { return self.deny(seq, user, &response).await };
        if wanted == auth::NATIVE {
            if !auth::verify(auth::NATIVE, &account.password, &self.scramble, &response) {
                return self.deny(seq, user, &response).await;
            }
            return Ok(seq);
        }
        if account.password.is_empty() && response.is_empty() {
            return Ok(seq);
        }
        let cached = SHA2_CACHE.lock().unwrap_or_else(|p| p.into_inner()).contains(&account.name);
        if cached {
            if !auth::verify(auth::CACHING_SHA2, &account.password, &self.scramble, &response) {
                return self.deny(seq, user, &response).await;
            }
            seq = self.send_auth_more(seq, &[0x03]).await?; // fast authentication success
            return Ok(seq);
        }
        self.full_authentication(seq, &account).await
    }

    /// caching_sha2_password's full authentication: the client sends its
    /// password encrypted with the server's RSA key (asking for the key
    /// first if it has none).
    async fn full_authentication(&mut self, seq: u8, account: &User) -> Result<u8, Closed> {
        self.send_auth_more(seq, &[0x04]).await?; // perform full authentication
        let (s, mut payload) = self.read().await?;
        let mut seq = s.wrapping_add(1);
        let key = server_key::shared();
        if self.secure() && payload != [0x02] {
            // Over TLS the client sends its password as it is.
            tracing::debug!(user = %account.name, "db: caching_sha2_password full authentication over TLS");
            if !auth::verify_cleartext(&account.password, &payload) {
                return self.deny(seq, &account.name, &payload).await;
            }
            remember_sha2(&account.name);
            return Ok(seq);
        }
        let Some(key) = key else {
            return self
                .fail(seq, &DbError::new(1045, "28000", "the server has no RSA key for caching_sha2_password"))
                .await
                .map(|_| seq);
        };
        if payload == [0x02] {
            self.send_auth_more(seq, key.pem.as_bytes()).await?;
            let (s, p) = self.read().await?;
            seq = s.wrapping_add(1);
            payload = p;
        }
        // A cleartext password is taken only from this host (the Unix-socket
        // case of MySQL: it never crossed a network); others must encrypt.
        let cleartext = self.loopback && auth::verify_cleartext(&account.password, &payload);
        let rsa = !cleartext && key.password(&payload, &self.scramble).as_deref() == Some(account.password.as_bytes());
        tracing::debug!(user = %account.name, rsa, cleartext, "db: caching_sha2_password full authentication");
        if !cleartext && !rsa {
            return self.deny(seq, &account.name, &payload).await;
        }
        remember_sha2(&account.name);
        Ok(seq)
    }

    /// An AuthMoreData packet (0x01 + data); returns the next sequence id.
    async fn send_auth_more(&mut self, seq: u8, data: &[u8]) -> Result<u8, Closed> {
        let mut out = self.out(seq);
        out.begin();
        out.u8(0x01);
        out.bytes(data);
        out.end();
        let next = out.seq;
        self.send(out).await?;
        Ok(next)
    }

    /// Access denied (1045), then close.
    async fn deny(&mut self, seq: u8, user: &str, response: &[u8]) -> Result<u8, Closed> {
        let using = if response.is_empty() { "NO" } else { "YES" };
        let e = DbError::new(
            1045,
            "28000",
            format!("Access denied for user '{user}'@'{}' (using password: {using})", self.peer),
        );
        self.fail(seq, &e).await.map(|_| seq)
    }

    /// Sends an error and closes.
    pub async fn fail(&mut self, seq: u8, e: &DbError) -> Result<(), Closed> {
        let mut out = self.out(seq);
        resultset::err(&mut out, e);
        let _ = self.send(out).await;
        Err(Closed)
    }

    /// An output writer over the connection's reusable buffer.
    pub fn out(&mut self, seq: u8) -> Out {
        Out::with_buf(std::mem::take(&mut self.spare), seq)
    }

    /// Writes `out` to the client.
    pub async fn send(&mut self, out: Out) -> Result<(), Closed> {
        let (r, buf) = self.stream.write_all(out.buf).await;
        // Keep the capacity, unless one huge reply inflated it.
        if buf.capacity() <= 1 << 20 {
            self.spare = buf;
        }
        r.map(|_| ()).map_err(|_| Closed)
    }

    /// The next packet: `(sequence id, payload)`.
    pub async fn read(&mut self) -> Result<(u8, Vec<u8>), Closed> {
        // No watch on the shutdown signal here: PHP requests still
        // finishing in the grace period keep their database link; the
        // core's runtime ends these connections when it stops.
        match self.reader.next(&mut self.stream, self.max_packet).await {
            Ok(p) => Ok(p),
            Err(ReadError::TooBig { next_seq }) => {
                let e = DbError::new(1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes");
                self.fail(next_seq, &e).await.map(|_| (0, Vec::new()))
            }
            Err(ReadError::Closed(_)) => Err(Closed),
        }
    }
}

/// Lets `name` take caching_sha2_password's fast path from now on.
fn remember_sha2(name: &str) {
    let mut cache = SHA2_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if !cache.iter().any(|n| n == name) {
        cache.push(name.to_owned());
    }
}

/// The capability flags at the start of a handshake response.
fn client_caps(payload: &[u8]) -> u32 {
    payload.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_statements_need_the_flag() {
        let off = MultiStatements::from_caps(0);
        assert!(off.refusal("SELECT 1").is_none());
        assert!(off.refusal("SELECT 1;").is_none());
        assert!(off.refusal("SELECT ';'").is_none());
        assert_eq!(off.refusal("SELECT 1; SELECT 2").map(|e| (e.code, e.state)), Some((1064, "42000")));
        let mut on = MultiStatements::from_caps(command::caps::MULTI_STATEMENTS);
        assert!(on.refusal("SELECT 1; SELECT 2").is_none());
        on.set_option(1);
        assert!(on.refusal("SELECT 1; SELECT 2").is_some());
        on.set_option(0);
        assert!(on.refusal("SELECT 1; SELECT 2").is_none());
    }
}
