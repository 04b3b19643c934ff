//! Parsing a `Range: bytes=...` header against a known length.

/// What a Range header asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RangeSpec {
    /// One satisfiable range, inclusive bounds.
    Satisfiable { start: u64, end: u64 },
    /// Syntactically valid but outside the file (416).
    Unsatisfiable,
    /// Not a single byte range we serve: send the whole file (RFC 9110
    /// lets a server ignore Range; several ranges are answered this way).
    Ignore,
}

pub(super) fn parse(header: &[u8], len: u64) -> RangeSpec {
    let Ok(s) = std::str::from_utf8(header) else {
        return RangeSpec::Ignore;
    };
    let Some(spec) = s.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let num = |x: &str| crate::http1::parser::parse_decimal(x.trim().as_bytes());
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => RangeSpec::Ignore,
        (true, false) => match num(b) {
            // Suffix range: the last n bytes.
            Some(0) => RangeSpec::Unsatisfiable,
            Some(_) if len == 0 => RangeSpec::Unsatisfiable,
            Some(n) => RangeSpec::Satisfiable { start: len.saturating_sub(n), end: len - 1 },
            None => RangeSpec::Ignore,
        },
        (false, open) => {
            let Some(start) = num(a) else {
                return RangeSpec::Ignore;
            };
            let end = if open { Some(u64::MAX) } else { num(b) };
            match end {
                None => RangeSpec::Ignore,
                Some(end) if end < start => RangeSpec::Ignore,
                Some(_) if start >= len => RangeSpec::Unsatisfiable,
                Some(end) => RangeSpec::Satisfiable { start, end: end.min(len - 1) },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeSpec::*;

    #[test]
    fn ranges() {
        assert_eq!(parse(b"bytes=0-9", 100), Satisfiable { start: 0, end: 9 });
        assert_eq!(parse(b"bytes=90-", 100), Satisfiable { start: 90, end: 99 });
        assert_eq!(parse(b"bytes=-10", 100), Satisfiable { start: 90, end: 99 });
        assert_eq!(parse(b"bytes=-500", 100), Satisfiable { start: 0, end: 99 });
        assert_eq!(parse(b"bytes=50-500", 100), Satisfiable { start: 50, end: 99 });
        assert_eq!(parse(b"bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse(b"bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse(b"bytes=0-1,5-6", 100), Ignore);
        assert_eq!(parse(b"bytes=5-1", 100), Ignore);
        assert_eq!(parse(b"items=0-1", 100), Ignore);
        assert_eq!(parse(b"bytes=x-1", 100), Ignore);
    }
}
