//! Decoding request bodies in chunked transfer coding (RFC 9112 section 7.1).
//!
//! The decoder is incremental: it consumes whatever bytes have arrived and
//! remembers where it stopped, so a body can arrive in any split.

/// Why a chunked body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// 400: malformed chunk framing; the text says what.
    Malformed(&'static str),
    /// 413: the decoded body exceeds the limit.
    TooLarge,
}

impl BodyError {
    /// The status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::Malformed(_) => 400,
            BodyError::TooLarge => 413,
        }
    }

    /// A short explanation.
    pub fn reason(&self) -> &'static str {
        match self {
            BodyError::Malformed(why) => why,
            BodyError::TooLarge => "request body larger than server.max_body_size",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size,
    /// Skipping a chunk extension up to CR.
    Extension,
    /// Expecting LF after the size line's CR.
    SizeLf,
    /// Copying chunk data.
    Data,
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// Expecting LF that ends a trailer line.
    TrailerLf,
    /// Expecting LF that ends the message.
    EndLf,
    /// The body is complete.
    Done,
}

/// Longest chunk-size line (digits plus extensions) and trailer section we
/// accept; generous for real clients, small enough to stop abuse.
const MAX_LINE: usize = 4096;

/// An incremental chunked-body decoder.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    remaining: u64,
    digits: usize,
    line: usize,
    total: u64,
    max: u64,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies larger than `max` decoded bytes.
    pub fn new(max: u64) -> Self {
        ChunkedDecoder { state: State::Size, remaining: 0, digits: 0, line: 0, total: 0, max }
    }

    /// Whether the last chunk and trailers have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending payload bytes to `out`. Returns the
    /// number of input bytes consumed; stops at the end of the body.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, BodyError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = (self.remaining as usize).min(input.len() - i);
                out.extend_from_slice(&input[i..i + take]);
                i += take;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            self.step(b)?;
        }
        Ok(i)
    }

    fn step(&mut self, b: u8) -> Result<(), BodyError> {
        use BodyError::Malformed;
        self.state = match self.state {
            State::Size => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    self.digits += 1;
                    if self.digits > 15 {
                        return Err(Malformed("chunk size too long"));
                    }
                    let d = (b as char).to_digit(16).unwrap_or(0);
                    self.remaining = self.remaining * 16 + u64::from(d);
                    State::Size
                }
                b';' | b' ' | b'\t' if self.digits > 0 => State::Extension,
                b'\r' if self.digits > 0 => State::SizeLf,
                _ => return Err(Malformed("invalid chunk size")),
            },
            State::Extension => {
                self.line += 1;
                if self.line > MAX_LINE {
                    return Err(Malformed("chunk extension too long"));
                }
                match b {
                    b'\r' => State::SizeLf,
                    b'\n' | 0 => return Err(Malformed("invalid chunk extension")),
                    _ => State::Extension,
                }
            }
            State::SizeLf => {
                if b != b'\n' {
                    return Err(Malformed("chunk size line must end with CRLF"));
                }
                self.digits = 0;
                self.line = 0;
                if self.remaining == 0 {
                    State::TrailerStart
                } else {
                    self.total += self.remaining;
                    if self.total > self.max {
                        return Err(BodyError::TooLarge);
                    }
                    State::Data
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size,
            State::DataCr | State::DataLf => return Err(Malformed("chunk data must end with CRLF")),
            State::TrailerStart => match b {
                b'\r' => State::EndLf,
                b'\n' => return Err(Malformed("bare LF in trailer section")),
                _ => self.trailer_byte()?,
            },
            State::Trailer => match b {
                b'\r' => State::TrailerLf,
                b'\n' | 0 => return Err(Malformed("invalid trailer field")),
                _ => self.trailer_byte()?,
            },
            State::TrailerLf if b == b'\n' => State::TrailerStart,
            State::TrailerLf => return Err(Malformed("trailer line must end with CRLF")),
            State::EndLf if b == b'\n' => State::Done,
            State::EndLf => return Err(Malformed("chunked body must end with CRLF")),
            State::Data | State::Done => unreachable!("handled by decode"),
        };
        Ok(())
    }

    fn trailer_byte(&mut self) -> Result<State, BodyError> {
        self.line += 1;
        if self.line > MAX_LINE {
            return Err(BodyError::Malformed("trailer section too long"));
        }
        Ok(State::Trailer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], split: usize) -> Result<(Vec<u8>, usize), BodyError> {
        let mut d = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        let mut used = 0;
        for piece in input.chunks(split.max(1)) {
            let n = d.decode(piece, &mut out)?;
            used += n;
            if d.is_done() {
                return Ok((out, used));
            }
        }
        Err(BodyError::Malformed("incomplete"))
    }

    #[test]
    fn decodes_in_any_split() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for split in 1..body.len() {
            let (out, used) = decode_all(body, split).unwrap();
            assert_eq!(out, b"hello, world");
            assert_eq!(used, body.len() - 4, "split {split}");
        }
    }

    #[test]
    fn rejects_bad_framing() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"1234567890abcdef0\r\n",
            b"0\r\n\n",
            b"-1\r\n",
        ] {
            assert!(decode_all(bad, 64).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn enforces_limit() {
        let mut d = ChunkedDecoder::new(4);
        let mut out = Vec::new();
        assert_eq!(d.decode(b"5\r\nhello\r\n", &mut out), Err(BodyError::TooLarge));
    }
}
