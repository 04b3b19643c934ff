//! The lexical layer under statement classification, as MySQL and MariaDB
//! read SQL: words, quoted runs and comments (`#`, `-- `, `/* */`; the
//! contents of `/*! */` and `/*M! */` are code), and the marks a
//! statement carries outside them (variables, several statements).

/// What a statement holds outside strings, quoted names and comments.
#[derive(Default)]
pub struct Marks {
    /// A user variable (`@x`).
    pub user_var: bool,
    /// More than one statement (a `;` followed by more).
    pub multi: bool,
}

/// One pass over `sql` for its [`Marks`].
pub fn marks(sql: &str) -> Marks {
    let b = sql.as_bytes();
    let mut m = Marks::default();
    let mut i = 0;
    while i < b.len() {
        if let Some(end) = skip_comment(b, i) {
            i = end;
            continue;
        }
        match b[i] {
            b'\'' | b'"' | b'`' => i = skip_quoted(b, i),
            b'@' if b.get(i + 1) == Some(&b'@') => i += 2,
            b'@' => {
                m.user_var = true;
                i += 1;
            }
            b';' => {
                m.multi |= !rest_is_empty(&sql[i + 1..]);
                i += 1;
            }
            _ => i += 1,
        }
    }
    m
}

/// Whether `rest` holds only spaces, semicolons and comments.
fn rest_is_empty(rest: &str) -> bool {
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if let Some(end) = skip_comment(b, i) {
            // An executable comment is code.
            if b[i] == b'/' && matches!(b.get(i + 2), Some(b'!' | b'M')) {
                return false;
            }
            i = end;
        } else if b[i] == b';' || b[i].is_ascii_whitespace() {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Where the comment starting at `i` ends, if one starts there. For an
/// executable comment (`/*!40101 ...`, `/*M! ...`) that is just past its
/// opener: its contents are read as code.
pub fn skip_comment(b: &[u8], i: usize) -> Option<usize> {
    let line_end = || b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n);
    match b[i] {
        b'#' => Some(line_end()),
        // `--` starts a comment only before a space or control character.
        b'-' if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_none_or(|c| *c <= b' ') => Some(line_end()),
        b'/' if b.get(i + 1) == Some(&b'*') => {
            let executable = match b.get(i + 2) {
                Some(b'!') => Some(i + 3),
                Some(b'M') if b.get(i + 3) == Some(&b'!') => Some(i + 4),
                _ => None,
            };
            Some(match executable {
                Some(mut j) => {
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    j
                }
                None => find(b, i + 2, b"*/").map_or(b.len(), |n| n + 2),
            })
        }
        _ => None,
    }
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|n| from + n)
}

/// The index just past the quoted run starting at `i` (doubled quotes and
/// backslash escapes stay inside).
pub fn skip_quoted(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' && q != b'`' {
            j += 2;
        } else if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// The words of a statement (identifiers, keywords, `backquoted` names),
/// skipping string literals, comments and punctuation.
#[derive(Clone)]
pub struct Words<'a> {
    sql: &'a str,
    at: usize,
}

impl<'a> Words<'a> {
    /// The words of `sql` from its start.
    pub fn new(sql: &'a str) -> Words<'a> {
        Words { sql, at: 0 }
    }

    /// Where the scan stands (the byte after the last word returned).
    pub fn position(&self) -> usize {
        self.at
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.sql.as_bytes();
        let mut i = self.at;
        while i < b.len() {
            if let Some(end) = skip_comment(b, i) {
                i = end;
                continue;
            }
            match b[i] {
                b'\'' | b'"' => i = skip_quoted(b, i),
                b'`' => {
                    let end = skip_quoted(b, i);
                    self.at = end;
                    return Some(&self.sql[i..end]);
                }
                c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
                    {
                        i += 1;
                    }
                    self.at = i;
                    return Some(&self.sql[start..i]);
                }
                _ => i += 1,
            }
        }
        self.at = b.len();
        None
    }
}

/// Splits `s` at top-level `sep` (outside quotes, comments and brackets).
pub fn split_top(s: &str, sep: u8) -> Vec<&str> {
    let b = s.as_bytes();
    let (mut out, mut start, mut depth, mut i) = (Vec::new(), 0, 0usize, 0);
    while i < b.len() {
        if let Some(end) = skip_comment(b, i) {
            i = end.max(i + 1);
            continue;
        }
        match b[i] {
            b'\'' | b'"' | b'`' => i = skip_quoted(b, i),
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            c if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_strings_and_marks() {
        let words: Vec<&str> = Words::new("SELECT /* a 'b */ `x y`, 'it''s' -- c\n FROM t # d").collect();
        assert_eq!(words, ["SELECT", "`x y`", "FROM", "t"]);
        assert_eq!(Words::new("/*!40101 SET x */").collect::<Vec<_>>(), ["SET", "x"]);
        assert_eq!(Words::new("SELECT 1--1, f()").collect::<Vec<_>>(), ["SELECT", "1", "1", "f"]);
        // An apostrophe in a comment opens no string.
        assert!(marks("/* don't */ SELECT @r := 1").user_var);
        assert!(marks("-- it's\nSELECT 1; DELETE FROM t").multi);
        assert!(!marks("SELECT 1; -- done").multi && !marks("SELECT ';', '@x'").user_var);
        assert!(!marks("SELECT @@version").user_var);
        assert_eq!(split_top("a = 1, b = f(1, 2), c = 'x,y'", b','), ["a = 1", " b = f(1, 2)", " c = 'x,y'"]);
    }
}
