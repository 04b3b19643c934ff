//! RESP request parsing: arrays of bulk strings (what clients send) and
//! inline commands (what a person types into telnet). Incremental: a
//! partial command yields `None` and is parsed again when more arrives.

use bytes::Bytes;

/// Limits on what one command may hold.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// Most arguments in one command.
    pub max_args: usize,
    /// Largest single argument.
    pub max_bulk: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits { max_args: 1 << 20, max_bulk: 512 << 20 }
    }
}

/// Why a request could not be parsed; the connection answers the message
/// as an error and closes, as Redis does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(msg: &str) -> Self {
        ProtocolError(format!("ERR Protocol error: {msg}"))
    }
}

/// Parses one command from the start of `buf`: the arguments and how many
/// bytes it took, `Ok(None)` if `buf` holds only part of it.
pub fn parse(buf: &[u8], limits: &ParseLimits) -> Result<Option<(Vec<Bytes>, usize)>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_array(buf, limits),
        Some(_) => parse_inline(buf, limits),
    }
}

/// `*<n>\r\n` then n × `$<len>\r\n<bytes>\r\n`.
fn parse_array(buf: &[u8], limits: &ParseLimits) -> Result<Option<(Vec<Bytes>, usize)>, ProtocolError> {
    let Some((n, mut pos)) = number_line(buf, 1)? else { return Ok(None) };
    if n > limits.max_args as i64 {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    if n <= 0 {
        // `*0` and `*-1` are empty commands: skipped.
        return Ok(Some((Vec::new(), pos)));
    }
    // The count is the client's word: reserve modestly.
    let mut args = Vec::with_capacity((n as usize).min(64));
    for _ in 0..n {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&c) => return Err(ProtocolError::new(&format!("expected '$', got '{}'", c as char))),
        }
        let Some((len, start)) = number_line(buf, pos + 1)? else { return Ok(None) };
        if len < 0 || len as u64 > limits.max_bulk as u64 {
            return Err(ProtocolError::new("invalid bulk length"));
        }
        let end = start + len as usize;
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError::new("bulk string not terminated by CRLF"));
        }
        args.push(Bytes::copy_from_slice(&buf[start..end]));
        pos = end + 2;
    }
    Ok(Some((args, pos)))
}

/// Reads a decimal number ending in CRLF at `buf[at..]`; returns it and
/// the index after the CRLF.
fn number_line(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
    let rest = buf.get(at..).unwrap_or(&[]);
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        if rest.len() > 32 {
            return Err(ProtocolError::new("too big count"));
        }
        return Ok(None);
    };
    if rest.len() < cr + 2 {
        return Ok(None);
    }
    if rest[cr + 1] != b'\n' {
        return Err(ProtocolError::new("expected CRLF"));
    }
    let digits = std::str::from_utf8(&rest[..cr]).map_err(|_| ProtocolError::new("invalid number"))?;
    let n: i64 = digits.parse().map_err(|_| ProtocolError::new("invalid number"))?;
    Ok(Some((n, at + cr + 2)))
}

/// Longest inline command line (as Redis's PROTO_INLINE_MAX_SIZE).
const INLINE_MAX: usize = 64 * 1024;

/// A line of space-separated words, with "double" and 'single' quotes.
fn parse_inline(buf: &[u8], limits: &ParseLimits) -> Result<Option<(Vec<Bytes>, usize)>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let args = split_inline(line).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
    if args.len() > limits.max_args {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    Ok(Some((args, nl + 1)))
}

fn split_inline(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let mut word = Vec::new();
        match line[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                loop {
                    let c = *line.get(i)?;
                    i += 1;
                    if c == q {
                        break;
                    }
                    if c == b'\\' && q == b'"' {
                        let e = *line.get(i)?;
                        i += 1;
                        word.push(match e {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            other => other,
                        });
                    } else {
                        word.push(c);
                    }
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    word.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(Bytes::from(word));
    }
    Some(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(b: &[u8]) -> Result<Option<(Vec<Bytes>, usize)>, ProtocolError> {
        parse(b, &ParseLimits::default())
    }

    #[test]
    fn arrays_in_any_split() {
        let full = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nx!\r\n*1\r\n$4\r\nPING\r\n";
        let (args, n) = p(full).unwrap().unwrap();
        assert_eq!(args, vec![Bytes::from("SET"), Bytes::from("k"), Bytes::from("v\r\nx!")]);
        assert_eq!(&full[n..], b"*1\r\n$4\r\nPING\r\n");
        for cut in 0..n {
            assert_eq!(p(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn inline_commands() {
        let (args, n) = p(b"set k \"a b\\n\" 'c d'\r\nGET k\n").unwrap().unwrap();
        assert_eq!(args, vec![Bytes::from("set"), Bytes::from("k"), Bytes::from("a b\n"), Bytes::from("c d")]);
        assert_eq!(n, 21);
        assert!(p(b"set \"open\r\n").is_err());
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(p(b"*2\r\n:1\r\n").is_err());
        assert!(p(b"*1\r\n$-5\r\n").is_err());
        assert!(p(b"*x\r\n").is_err());
        assert!(p(b"*1\r\n$3\r\nabcd\r\n").is_err());
        assert!(p(&[b'*'; 100]).is_err());
        let limits = ParseLimits { max_args: 2, max_bulk: 4 };
        assert!(parse(b"*3\r\n", &limits).is_err());
        assert!(parse(b"*1\r\n$5\r\n", &limits).is_err());
    }
}
