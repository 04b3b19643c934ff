//! MySQL packet framing (3-byte length, 1-byte sequence id) and the
//! protocol's basic encodings: length-encoded integers and strings,
//! NUL-terminated strings. Decoding never trusts a length: every read is
//! bounds-checked and a short packet is a [`Malformed`] error.

/// Largest payload of one wire packet; longer payloads span several.
pub const MAX_CHUNK: usize = 0xff_ffff;

/// The largest packet ephpm accepts from a client or a backend (its
/// max_allowed_packet), 64 MiB.
pub const MAX_PACKET: usize = 64 << 20;

/// utf8mb4_general_ci: the character set ephpm's fronts speak and ask
/// backends for.
pub const UTF8MB4_GENERAL_CI: u8 = 45;

/// A packet that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Reads one packet from the front of `buf`: `(sequence id, payload,
/// bytes consumed)`, or `None` until it is complete. A payload split over
/// several wire packets is joined. `Err` when it would exceed `max`.
pub fn take(buf: &[u8], max: usize) -> Result<Option<(u8, Vec<u8>, usize)>, usize> {
    // Walk the headers first: nothing is copied until the whole packet is
    // here, so a large packet arriving in many reads costs one copy.
    let Some(at) = frame_len(buf, max)? else { return Ok(None) };
    let mut payload = Vec::with_capacity(at);
    let mut pos = 0;
    let mut seq = 0;
    while pos < at {
        let len = chunk_len(&buf[pos..]);
        seq = buf[pos + 3];
        payload.extend_from_slice(&buf[pos + 4..pos + 4 + len]);
        pos += 4 + len;
    }
    Ok(Some((seq, payload, at)))
}

/// Reads whole packets from a stream, keeping bytes that arrived beyond
/// the current packet for the next one. Both sides of the protocol use it.
#[derive(Default)]
pub struct PacketReader {
    buf: Vec<u8>,
    pos: usize,
}

/// Why no packet was read.
#[derive(Debug)]
pub enum ReadError {
    /// The next packet is longer than allowed; `next_seq` is the sequence
    /// id an answer to it would carry.
    TooBig {
        /// The packet's sequence id plus one.
        next_seq: u8,
    },
    /// The stream ended or failed.
    Closed(std::io::Error),
}

impl PacketReader {
    /// Bytes read past the last packet (a TLS ClientHello sent right after
    /// an SSLRequest), handed over and forgotten.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        rest
    }

    /// The next packet, `(sequence id, payload)`, no longer than `max`.
    pub async fn next<S: monoio::io::AsyncReadRent>(
        &mut self,
        stream: &mut S,
        max: usize,
    ) -> Result<(u8, Vec<u8>), ReadError> {
        loop {
            match take(&self.buf[self.pos..], max) {
                Ok(Some((seq, payload, used))) => {
                    self.pos += used;
                    return Ok((seq, payload));
                }
                Ok(None) => {}
                Err(_) => {
                    let next_seq = self.buf.get(self.pos + 3).copied().unwrap_or(0).wrapping_add(1);
                    return Err(ReadError::TooBig { next_seq });
                }
            }
            self.fill(stream).await?;
        }
    }

    /// Copies the next packet, as framed on the wire, to the end of `out`
    /// with its sequence ids renumbered from `*seq` (advanced past it): a
    /// proxy relays a reply without decoding it. Returns the range of its
    /// first chunk's payload in `out` (all of it below 16 MiB).
    pub async fn forward<S: monoio::io::AsyncReadRent>(
        &mut self,
        stream: &mut S,
        max: usize,
        out: &mut Vec<u8>,
        seq: &mut u8,
    ) -> Result<std::ops::Range<usize>, ReadError> {
        loop {
            match frame_len(&self.buf[self.pos..], max) {
                Ok(Some(len)) => {
                    let start = out.len();
                    out.extend_from_slice(&self.buf[self.pos..self.pos + len]);
                    self.pos += len;
                    let mut at = start;
                    while at < out.len() {
                        let chunk = chunk_len(&out[at..]);
                        out[at + 3] = *seq;
                        *seq = seq.wrapping_add(1);
                        at += 4 + chunk;
                    }
                    let first = chunk_len(&out[start..]);
                    return Ok(start + 4..start + 4 + first);
                }
                Ok(None) => self.fill(stream).await?,
                Err(_) => {
                    let next_seq = self.buf.get(self.pos + 3).copied().unwrap_or(0).wrapping_add(1);
                    return Err(ReadError::TooBig { next_seq });
                }
            }
        }
    }

    /// Reads more bytes from `stream` after those buffered.
    async fn fill<S: monoio::io::AsyncReadRent>(&mut self, stream: &mut S) -> Result<(), ReadError> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        let len = self.buf.len();
        let buf = monoio::buf::IoBufMut::slice_mut(std::mem::take(&mut self.buf), len..);
        let (r, buf) = stream.read(buf).await;
        self.buf = buf.into_inner();
        match r {
            Ok(0) => Err(ReadError::Closed(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => Ok(()),
            Err(e) => Err(ReadError::Closed(e)),
        }
    }
}

/// The payload length in the header at the front of `b` (4 bytes there).
fn chunk_len(b: &[u8]) -> usize {
    b[0] as usize | (b[1] as usize) << 8 | (b[2] as usize) << 16
}

/// The wire length (headers included) of the complete packet at the front
/// of `buf`, `None` until it is all there, `Err` beyond `max` payload.
fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, usize> {
    let mut at = 0;
    let mut total = 0;
    loop {
        let Some(head) = buf.get(at..at + 4) else { return Ok(None) };
        let len = chunk_len(head);
        total += len;
        if total > max {
            return Err(total);
        }
        if buf.len() < at + 4 + len {
            return Ok(None);
        }
        at += 4 + len;
        if len < MAX_CHUNK {
            return Ok(Some(at));
        }
    }
}

/// Builds outgoing packets into one buffer, numbering them.
pub struct Out {
    /// The bytes to send.
    pub buf: Vec<u8>,
    /// The next sequence id.
    pub seq: u8,
    start: usize,
}

impl Out {
    /// A writer whose first packet has sequence id `seq`.
    pub fn new(seq: u8) -> Out {
        Out::with_buf(Vec::with_capacity(256), seq)
    }

    /// A writer appending to `buf` (emptied first), to reuse its capacity.
    pub fn with_buf(mut buf: Vec<u8>, seq: u8) -> Out {
        buf.clear();
        Out { buf, seq, start: 0 }
    }

    /// Starts a packet (its header is filled in by [`Out::end`]).
    pub fn begin(&mut self) {
        self.start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
    }

    /// Ends the packet begun last, splitting it if it is too long.
    pub fn end(&mut self) {
        let len = self.buf.len() - self.start - 4;
        if len < MAX_CHUNK {
            // The common case: fill in the reserved header.
            self.buf[self.start..self.start + 4].copy_from_slice(&[
                len as u8,
                (len >> 8) as u8,
                (len >> 16) as u8,
                self.seq,
            ]);
            self.seq = self.seq.wrapping_add(1);
            return;
        }
        let payload = self.buf.split_off(self.start + 4);
        self.buf.truncate(self.start);
        let mut chunks = payload.chunks(MAX_CHUNK).peekable();
        while let Some(chunk) = chunks.next() {
            self.header(chunk.len());
            self.buf.extend_from_slice(chunk);
            if chunks.peek().is_none() && chunk.len() == MAX_CHUNK {
                self.header(0);
            }
        }
    }

    fn header(&mut self, len: usize) {
        self.buf.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, self.seq]);
        self.seq = self.seq.wrapping_add(1);
    }

    /// Appends a length-encoded integer.
    pub fn lenenc(&mut self, n: u64) {
        put_lenenc(&mut self.buf, n);
    }

    /// Appends a length-encoded string.
    pub fn lenenc_str(&mut self, s: &[u8]) {
        put_lenenc(&mut self.buf, s.len() as u64);
        self.buf.extend_from_slice(s);
    }

    /// Appends bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Appends a little-endian u16.
    pub fn u16(&mut self, n: u16) {
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    /// Appends a little-endian u32.
    pub fn u32(&mut self, n: u32) {
        self.buf.extend_from_slice(&n.to_le_bytes());
    }

    /// Appends one byte.
    pub fn u8(&mut self, n: u8) {
        self.buf.push(n);
    }
}

/// Appends a length-encoded integer to `buf`.
pub fn put_lenenc(buf: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => buf.push(n as u8),
        251..=0xffff => {
            buf.push(0xfc);
            buf.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            buf.push(0xfd);
            buf.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            buf.push(0xfe);
            buf.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// A bounds-checked reader over a payload.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Reads `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).ok_or(Malformed)?;
        let s = self.buf.get(self.pos..end).ok_or(Malformed)?;
        self.pos = end;
        Ok(s)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().map_err(|_| Malformed)?))
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| Malformed)?))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| Malformed)?))
    }

    /// A length-encoded integer.
    pub fn lenenc(&mut self) -> Result<u64, Malformed> {
        Ok(match self.u8()? {
            n @ 0..=250 => n as u64,
            0xfc => self.u16()? as u64,
            0xfd => {
                let b = self.take(3)?;
                b[0] as u64 | (b[1] as u64) << 8 | (b[2] as u64) << 16
            }
            0xfe => self.u64()?,
            _ => return Err(Malformed),
        })
    }

    /// A length-encoded string.
    pub fn lenenc_str(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.lenenc()?;
        self.take(usize::try_from(n).map_err(|_| Malformed)?)
    }

    /// A NUL-terminated string (the NUL consumed, not returned).
    pub fn nul_str(&mut self) -> Result<&'a [u8], Malformed> {
        let rest = self.rest();
        let n = rest.iter().position(|b| *b == 0).ok_or(Malformed)?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }

    /// A NUL-terminated string, or the rest when there is no NUL.
    pub fn nul_or_rest(&mut self) -> &'a [u8] {
        let rest = self.rest();
        match rest.iter().position(|b| *b == 0) {
            Some(n) => {
                self.pos += n + 1;
                &rest[..n]
            }
            None => {
                self.pos = self.buf.len();
                rest
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_round_trips() {
        for n in [0u64, 250, 251, 65535, 65536, 0xff_ffff, 0x100_0000, u64::MAX] {
            let mut b = Vec::new();
            put_lenenc(&mut b, n);
            assert_eq!(Cursor::new(&b).lenenc(), Ok(n));
        }
        assert_eq!(Cursor::new(&[0xff]).lenenc(), Err(Malformed));
        assert_eq!(Cursor::new(&[0xfd, 1]).lenenc(), Err(Malformed));
    }

    #[test]
    fn framing_joins_and_splits() {
        let mut out = Out::new(3);
        out.begin();
        out.bytes(&vec![7u8; MAX_CHUNK + 10]);
        out.end();
        assert_eq!(out.seq, 5);
        let (seq, payload, used) = take(&out.buf, 1 << 30).unwrap().unwrap();
        assert_eq!((seq, payload.len(), used), (4, MAX_CHUNK + 10, out.buf.len()));
        assert_eq!(take(&out.buf[..100], 1 << 30), Ok(None));
        assert_eq!(take(&out.buf, 1000), Err(MAX_CHUNK));
    }
}
