//! Relaying one command from a proxy client to a backend connection and
//! the backend's reply back, packet by packet as framed on the wire (only
//! the sequence ids are renumbered). The reply is parsed just enough to
//! find its end and its outcome: status flags, affected rows, errors.

use monoio::io::AsyncWriteRentExt;

use super::backend::{eof_status, is_eof, ok_status, Backend, BackendError};
use super::packet::{Cursor, Out, ReadError, MAX_PACKET};
use super::resultset::status::MORE_RESULTS as STATUS_MORE_RESULTS;

/// Relayed bytes are written to the client once this many are buffered.
const FLUSH_AT: usize = 64 * 1024;
/// Server status flag: COM_STMT_EXECUTE opened a cursor (rows come by
/// COM_STMT_FETCH).
const STATUS_CURSOR_EXISTS: u16 = 0x0040;

/// The shape of the reply a command gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Result sets or OKs (COM_QUERY, COM_STMT_EXECUTE), each possibly
    /// followed by more.
    Results,
    /// COM_STMT_PREPARE: OK with parameter and column definitions.
    Prepare,
    /// Column definitions up to EOF (COM_FIELD_LIST).
    Columns,
    /// Rows up to EOF (COM_STMT_FETCH).
    Rows,
    /// One packet (COM_INIT_DB, COM_STMT_RESET, COM_STATISTICS).
    Single,
}

/// How a relayed command ended.
#[derive(Clone, Debug, Default)]
pub struct Relayed {
    /// Status flags of the last OK/EOF.
    pub status: u16,
    /// The error code, when the reply ended in an ERR packet.
    pub error: Option<u16>,
    /// Rows returned plus rows affected.
    pub rows: u64,
    /// The last OK's insert id.
    pub last_insert_id: u64,
    /// The statement id a COM_STMT_PREPARE got.
    pub statement_id: Option<u32>,
}

/// Why a relay stopped short.
#[derive(Debug)]
pub enum RelayError {
    /// The backend failed. Without a reply packet the client can be told
    /// with an error packet (and a read retried elsewhere); after one, the
    /// client may hold part of the reply and must be disconnected.
    Backend {
        /// The failure.
        error: BackendError,
        /// Whether part of a reply had arrived.
        replied: bool,
    },
    /// The client went away.
    Client,
}

/// Where a reply is.
enum Phase {
    /// Waiting for the first packet of a result (or of the reply).
    First,
    /// `n` more packets to pass without looking (definitions).
    Skip(usize),
    /// Column definitions up to the EOF that ends them.
    Columns,
    /// Rows up to EOF.
    Rows,
}

impl Backend {
    /// Sends the command `payload` and relays the reply, shaped as
    /// `reply`, to `client` numbered from `seq`, using `buf` as the
    /// staging buffer.
    pub async fn relay(
        &mut self,
        payload: &[u8],
        reply: Reply,
        client: &mut ephpm_tls::MaybeTls,
        seq: u8,
        buf: &mut Vec<u8>,
    ) -> Result<Relayed, RelayError> {
        self.broken = true;
        let mut out = Out::with_buf(std::mem::take(buf), 0);
        out.begin();
        out.bytes(payload);
        out.end();
        let (r, b) = self.stream.write_all(out.buf).await;
        *buf = b;
        buf.clear();
        if let Err(e) = r {
            return Err(RelayError::Backend { error: e.into(), replied: false });
        }
        let r = self.relay_reply(reply, client, seq, buf).await;
        if let Ok(done) = &r {
            self.broken = false;
            self.status = done.status;
        }
        r
    }

    async fn relay_reply(
        &mut self,
        reply: Reply,
        client: &mut ephpm_tls::MaybeTls,
        mut seq: u8,
        buf: &mut Vec<u8>,
    ) -> Result<Relayed, RelayError> {
        // An ERR reply carries no status: the last one stands.
        let mut done = Relayed { status: self.status, ..Relayed::default() };
        let mut replied = false;
        let mut phase = match reply {
            Reply::Columns => Phase::Columns,
            Reply::Rows => Phase::Rows,
            _ => Phase::First,
        };
        loop {
            let range = match self.reader.forward(&mut self.stream, MAX_PACKET, buf, &mut seq).await {
                Ok(r) => r,
                Err(ReadError::TooBig { .. }) => {
                    let error = BackendError::Protocol("a reply packet over 64 MiB".into());
                    return Err(RelayError::Backend { error, replied });
                }
                Err(ReadError::Closed(e)) => return Err(RelayError::Backend { error: e.into(), replied }),
            };
            replied = true;
            let p = &buf[range];
            let end = match step(&mut phase, reply, p, &mut done) {
                Ok(end) => end,
                Err(error) => return Err(RelayError::Backend { error, replied }),
            };
            if end {
                flush(client, buf).await?;
                return Ok(done);
            }
            if buf.len() >= FLUSH_AT {
                flush(client, buf).await?;
            }
        }
    }
}

/// Advances `phase` past packet `p`; `true` when the reply is complete.
fn step(phase: &mut Phase, reply: Reply, p: &[u8], done: &mut Relayed) -> Result<bool, BackendError> {
    // Only the code is kept: an ERR packet is relayed, not decoded.
    let err = |p: &[u8], done: &mut Relayed| {
        done.error = Some(Cursor::new(p.get(1..).unwrap_or_default()).u16().unwrap_or(0));
        true
    };
    match phase {
        Phase::First => match (reply, p.first()) {
            (_, Some(0xff)) => Ok(err(p, done)),
            (Reply::Single, _) => {
                if p.first() == Some(&0x00) {
                    done.status = ok_status(p);
                }
                Ok(true)
            }
            (Reply::Prepare, Some(0x00)) => {
                let mut c = Cursor::new(&p[1..]);
                let bad = |_| BackendError::Protocol("bad prepare reply".into());
                done.statement_id = Some(c.u32().map_err(bad)?);
                let columns = c.u16().map_err(bad)? as usize;
                let params = c.u16().map_err(bad)? as usize;
                let n = params + usize::from(params > 0) + columns + usize::from(columns > 0);
                *phase = Phase::Skip(n);
                Ok(n == 0)
            }
            (_, Some(0x00)) => {
                let mut c = Cursor::new(&p[1..]);
                done.rows += c.lenenc().unwrap_or(0);
                done.last_insert_id = c.lenenc().unwrap_or(0);
                done.status = c.u16().unwrap_or(0);
                Ok(done.status & STATUS_MORE_RESULTS == 0)
            }
            (_, Some(0xfb)) => Err(BackendError::Protocol("LOCAL INFILE is not supported".into())),
            _ => {
                Cursor::new(p).lenenc().map_err(|_| BackendError::Protocol("bad column count".into()))?;
                *phase = Phase::Columns;
                Ok(false)
            }
        },
        Phase::Skip(n) => {
            *n -= 1;
            Ok(*n == 0)
        }
        Phase::Columns if is_eof(p) => {
            done.status = eof_status(p);
            if reply == Reply::Columns || done.status & STATUS_CURSOR_EXISTS != 0 {
                return Ok(true);
            }
            *phase = Phase::Rows;
            Ok(false)
        }
        Phase::Columns if p.first() == Some(&0xff) => Ok(err(p, done)),
        Phase::Columns => Ok(false),
        Phase::Rows if is_eof(p) => {
            done.status = eof_status(p);
            *phase = Phase::First;
            Ok(reply == Reply::Rows || done.status & STATUS_MORE_RESULTS == 0)
        }
        Phase::Rows if p.first() == Some(&0xff) => Ok(err(p, done)),
        Phase::Rows => {
            done.rows += 1;
            Ok(false)
        }
    }
}

/// Writes the staged bytes to the client and empties the buffer.
async fn flush(client: &mut ephpm_tls::MaybeTls, buf: &mut Vec<u8>) -> Result<(), RelayError> {
    if buf.is_empty() {
        return Ok(());
    }
    let (r, b) = client.write_all(std::mem::take(buf)).await;
    // Keep the capacity, unless one huge reply inflated it.
    if b.capacity() <= 1 << 20 {
        *buf = b;
    }
    buf.clear();
    r.map(|_| ()).map_err(|_| RelayError::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(reply: Reply, packets: &[&[u8]]) -> (usize, Relayed) {
        let mut phase = if reply == Reply::Columns { Phase::Columns } else { Phase::First };
        let mut done = Relayed::default();
        for (i, p) in packets.iter().enumerate() {
            if step(&mut phase, reply, p, &mut done).unwrap() {
                return (i + 1, done);
            }
        }
        (usize::MAX, done)
    }

    #[test]
    fn finds_the_end_of_result_sets_and_oks() {
        let eof = b"\xfe\x00\x00\x02\x00";
        let eof_more = b"\xfe\x00\x00\x0a\x00";
        let (n, r) = run(Reply::Results, &[b"\x01", b"coldef", eof, b"\x011", b"\x012", eof]);
        assert_eq!((n, r.rows, r.status), (6, 2, 2));
        // Two result sets, then an OK (a CALL).
        let ok = b"\x00\x03\x07\x02\x00\x00\x00";
        let (n, r) = run(Reply::Results, &[b"\x01", b"c", eof, b"\x01x", eof_more, b"\x01", b"c", eof, eof_more, ok]);
        assert_eq!((n, r.rows, r.last_insert_id), (10, 4, 7));
        let (n, r) = run(Reply::Results, &[b"\xff\x7a\x04#42S02no such table"]);
        assert_eq!((n, r.error), (1, Some(1146)));
        // An error in the middle of the rows ends the reply.
        let (n, r) = run(Reply::Results, &[b"\x01", b"c", eof, b"\x01x", b"\xff\x28\x05#HY000timeout"]);
        assert_eq!((n, r.error), (5, Some(1320)));
    }

    #[test]
    fn finds_the_end_of_prepare_and_cursor_replies() {
        // 2 columns, 1 parameter: param def + EOF + 2 column defs + EOF.
        let prepare_ok = b"\x00\x01\x00\x00\x00\x02\x00\x01\x00\x00\x00\x00";
        let eof = b"\xfe\x00\x00\x02\x00";
        let (n, _) = run(Reply::Prepare, &[prepare_ok, b"p", eof, b"c1", b"c2", eof, b"extra"]);
        assert_eq!(n, 6);
        let none = b"\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
        assert_eq!(run(Reply::Prepare, &[none]).0, 1);
        let cursor_eof = b"\xfe\x00\x00\x42\x00";
        assert_eq!(run(Reply::Results, &[b"\x01", b"c", cursor_eof]).0, 3);
        assert_eq!(run(Reply::Columns, &[b"c1", b"c2", eof]).0, 3);
    }
}
