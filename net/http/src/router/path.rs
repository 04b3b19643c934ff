//! Decoding and normalizing request paths, once, before any file lookup.

use std::borrow::Cow;

/// Why a path was refused (answered with 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded path is not UTF-8.
    NotUtf8,
    /// A NUL byte or backslash, plain or encoded.
    ForbiddenByte,
    /// A `..` segment, plain or encoded.
    Traversal,
    /// Not starting with `/`.
    NotAbsolute,
}

impl PathError {
    /// A short explanation for the response body.
    pub fn reason(&self) -> &'static str {
        match self {
            PathError::BadEscape => "invalid percent-encoding in path",
            PathError::NotUtf8 => "path is not valid UTF-8",
            PathError::ForbiddenByte => "path contains a NUL byte or backslash",
            PathError::Traversal => "path contains a `..` segment",
            PathError::NotAbsolute => "path must start with `/`",
        }
    }
}

/// Percent-decodes `raw` exactly once and normalizes it: empty and `.`
/// segments are removed, `..` is refused. A trailing slash is kept. The
/// common already-normal path is returned without allocating.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let simple = !raw.contains('%') && !raw.contains('\\') && !raw.contains("//") && !raw.contains("/.");
    if simple {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = percent_decode(raw)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return Err(PathError::ForbiddenByte);
    }
    let mut out = String::with_capacity(decoded.len());
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(PathError::Traversal),
            s => {
                out.push('/');
                out.push_str(s);
            }
        }
    }
    if out.is_empty() || decoded.ends_with('/') || decoded.ends_with("/.") {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// `%XX` escapes decoded; the result must be UTF-8.
pub fn percent_decode(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            match (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b))) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(PathError::BadEscape),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PathError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_borrow() {
        assert!(matches!(normalize("/a/b.css"), Ok(Cow::Borrowed("/a/b.css"))));
        assert!(matches!(normalize("/"), Ok(Cow::Borrowed("/"))));
    }

    #[test]
    fn decodes_once_and_normalizes() {
        assert_eq!(normalize("/a%20b/./c//d/").unwrap(), "/a b/c/d/");
        assert_eq!(normalize("/%2541").unwrap(), "/%41");
        assert_eq!(normalize("/a/.").unwrap(), "/a/");
        assert_eq!(normalize("//").unwrap(), "/");
    }

    #[test]
    fn refuses_traversal_and_bad_bytes() {
        assert_eq!(normalize("/../etc/passwd"), Err(PathError::Traversal));
        assert_eq!(normalize("/a/%2e%2e/b"), Err(PathError::Traversal));
        assert_eq!(normalize("/a/%2E%2E%2Fb"), Err(PathError::Traversal));
        assert_eq!(normalize("/a%2f..%2fb"), Err(PathError::Traversal));
        assert_eq!(normalize("/a/..%5cb"), Err(PathError::ForbiddenByte));
        assert_eq!(normalize("/a%00.php"), Err(PathError::ForbiddenByte));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%"), Err(PathError::BadEscape));
        assert_eq!(normalize("/%ff"), Err(PathError::NotUtf8));
        assert_eq!(normalize("a"), Err(PathError::NotAbsolute));
    }
}
