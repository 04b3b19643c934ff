//! Encoding of what the server sends: OK, ERR and EOF packets, column
//! definitions, text rows and binary rows.

use ephpm_db::{Column, ColumnType, DbError, Rows, Value};

use super::command::caps;
use super::packet::Out;

/// Server status flags.
pub mod status {
    /// In a transaction.
    pub const IN_TRANS: u16 = 1;
    /// Autocommit is on.
    pub const AUTOCOMMIT: u16 = 2;
    /// More result sets follow.
    pub const MORE_RESULTS: u16 = 8;
}

/// An OK packet.
pub fn ok(out: &mut Out, affected: u64, last_insert_id: u64, status: u16) {
    out.begin();
    out.u8(0);
    out.lenenc(affected);
    out.lenenc(last_insert_id);
    out.u16(status);
    out.u16(0);
    out.end();
}

/// An ERR packet.
pub fn err(out: &mut Out, e: &DbError) {
    out.begin();
    out.u8(0xff);
    out.u16(e.code);
    out.u8(b'#');
    let state = e.state.as_bytes();
    out.bytes(&state[..state.len().min(5)]);
    out.bytes(e.message.as_bytes());
    out.end();
}

/// The end of a column list or of rows: an EOF packet, or with
/// CLIENT_DEPRECATE_EOF an OK packet with the 0xFE header.
pub fn eof(out: &mut Out, caps_: u32, status: u16) {
    out.begin();
    out.u8(0xfe);
    if caps_ & caps::DEPRECATE_EOF != 0 {
        out.lenenc(0);
        out.lenenc(0);
        out.u16(status);
        out.u16(0);
    } else {
        out.u16(0);
        out.u16(status);
    }
    out.end();
}

/// A column definition packet.
pub fn column(out: &mut Out, c: &Column, schema: &str) {
    out.begin();
    out.lenenc_str(b"def");
    out.lenenc_str(schema.as_bytes());
    out.lenenc_str(c.table.as_bytes());
    out.lenenc_str(c.table.as_bytes());
    out.lenenc_str(c.name.as_bytes());
    out.lenenc_str(c.name.as_bytes());
    out.u8(0x0c);
    out.u16(c.charset);
    out.u32(c.length);
    out.u8(c.kind as u8);
    out.u16(c.flags);
    out.u8(c.decimals);
    out.u16(0);
    out.end();
}

/// Column count, definitions and (without DEPRECATE_EOF) their EOF.
pub fn columns(out: &mut Out, cols: &[Column], schema: &str, caps_: u32, status: u16) {
    out.begin();
    out.lenenc(cols.len() as u64);
    out.end();
    for c in cols {
        column(out, c, schema);
    }
    if caps_ & caps::DEPRECATE_EOF == 0 {
        eof(out, caps_, status);
    }
}

/// A whole text-protocol result set.
pub fn text_rows(out: &mut Out, rows: &Rows, schema: &str, caps_: u32, status: u16) {
    columns(out, &rows.columns, schema, caps_, status);
    let mut num = itoa::Buffer::new();
    for row in &rows.rows {
        out.begin();
        for v in row {
            match v {
                Value::Null => out.u8(0xfb),
                Value::Integer(n) => out.lenenc_str(num.format(*n).as_bytes()),
                Value::Real(r) => out.lenenc_str(format_real(*r).as_bytes()),
                Value::Text(t) => out.lenenc_str(t.as_bytes()),
                Value::Blob(b) => out.lenenc_str(b),
            }
        }
        out.end();
    }
    eof(out, caps_, status);
}

/// A double as MySQL prints one (no exponent for ordinary magnitudes, no
/// trailing `.0`).
pub fn format_real(r: f64) -> String {
    if r.is_finite() && r == r.trunc() && r.abs() < 1e15 {
        return format!("{}", r as i64);
    }
    format!("{r}")
}

/// A whole binary-protocol result set (COM_STMT_EXECUTE).
pub fn binary_rows(out: &mut Out, rows: &Rows, schema: &str, caps_: u32, status: u16) {
    columns(out, &rows.columns, schema, caps_, status);
    let n = rows.columns.len();
    let bitmap = (n + 7 + 2) / 8;
    for row in &rows.rows {
        out.begin();
        out.u8(0);
        let at = out.buf.len();
        out.buf.resize(at + bitmap, 0);
        for (i, (v, c)) in row.iter().zip(&rows.columns).enumerate() {
            if matches!(v, Value::Null) {
                out.buf[at + (i + 2) / 8] |= 1 << ((i + 2) % 8);
                continue;
            }
            binary_value(out, v, c.kind);
        }
        out.end();
    }
    eof(out, caps_, status);
}

fn as_int(v: &Value) -> i64 {
    match v {
        Value::Integer(n) => *n,
        Value::Real(r) => *r as i64,
        Value::Text(t) => t.trim().parse::<f64>().map(|f| f as i64).unwrap_or(0),
        Value::Blob(b) => {
            std::str::from_utf8(b).ok().and_then(|s| s.trim().parse::<f64>().ok()).map(|f| f as i64).unwrap_or(0)
        }
        Value::Null => 0,
    }
}

fn as_real(v: &Value) -> f64 {
    match v {
        Value::Integer(n) => *n as f64,
        Value::Real(r) => *r,
        Value::Text(t) => t.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// A value's text: borrowed for strings, formatted for numbers.
fn as_text(v: &Value) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    match v {
        Value::Integer(n) => Cow::Owned(n.to_string().into_bytes()),
        Value::Real(r) => Cow::Owned(format_real(*r).into_bytes()),
        Value::Text(t) => Cow::Borrowed(t.as_bytes()),
        Value::Blob(b) => Cow::Borrowed(b),
        Value::Null => Cow::Borrowed(&[]),
    }
}

/// One value in the binary encoding of the column's announced type.
fn binary_value(out: &mut Out, v: &Value, kind: ColumnType) {
    use ColumnType::*;
    match kind {
        Tiny => out.u8(as_int(v) as u8),
        Short | Year => out.u16(as_int(v) as u16),
        Long | Int24 => out.u32(as_int(v) as u32),
        LongLong => out.bytes(&as_int(v).to_le_bytes()),
        Float => out.bytes(&(as_real(v) as f32).to_le_bytes()),
        Double => out.bytes(&as_real(v).to_le_bytes()),
        Date | DateTime | Timestamp => datetime(out, &as_text(v)),
        Time => time(out, &as_text(v)),
        _ => {
            let t = as_text(v);
            out.lenenc_str(&t);
        }
    }
}

/// `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` in the binary DATETIME form.
fn datetime(out: &mut Out, text: &[u8]) {
    let s = std::str::from_utf8(text).unwrap_or("");
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok()).unwrap_or(0);
    let (y, mo, d) = (num(0..4), num(5..7), num(8..10));
    let (h, mi, sec) = if s.len() >= 19 { (num(11..13), num(14..16), num(17..19)) } else { (0, 0, 0) };
    let us = s.get(20..).and_then(|f| format!("{f:0<6}").get(..6).and_then(|x| x.parse::<u32>().ok())).unwrap_or(0);
    if us != 0 {
        out.u8(11);
    } else if h | mi | sec != 0 {
        out.u8(7);
    } else if y | mo | d != 0 {
        out.u8(4);
    } else {
        out.u8(0);
        return;
    }
    out.u16(y as u16);
    out.u8(mo as u8);
    out.u8(d as u8);
    if h | mi | sec | us != 0 {
        out.u8(h as u8);
        out.u8(mi as u8);
        out.u8(sec as u8);
    }
    if us != 0 {
        out.u32(us);
    }
}

/// `[-]HH:MM:SS` in the binary TIME form.
fn time(out: &mut Out, text: &[u8]) {
    let s = std::str::from_utf8(text).unwrap_or("");
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (1u8, rest),
        None => (0, s),
    };
    let mut parts = s.split(':').map(|p| p.parse::<u32>().unwrap_or(0));
    let (h, m, sec) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if h | m | sec == 0 {
        out.u8(0);
        return;
    }
    out.u8(8);
    out.u8(neg);
    out.u32(h / 24);
    out.u8((h % 24) as u8);
    out.u8(m as u8);
    out.u8(sec as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eof_and_ok_terminators() {
        let mut o = Out::new(1);
        eof(&mut o, 0, status::AUTOCOMMIT);
        assert_eq!(o.buf, [5, 0, 0, 1, 0xfe, 0, 0, 2, 0]);
        let mut o = Out::new(1);
        eof(&mut o, caps::DEPRECATE_EOF, status::AUTOCOMMIT);
        assert_eq!(o.buf, [7, 0, 0, 1, 0xfe, 0, 0, 2, 0, 0, 0]);
    }

    #[test]
    fn binary_datetime() {
        let mut o = Out::new(0);
        datetime(&mut o, b"2024-05-01 10:20:30");
        assert_eq!(o.buf, [7, 0xe8, 0x07, 5, 1, 10, 20, 30]);
        let mut o = Out::new(0);
        datetime(&mut o, b"0000-00-00 00:00:00");
        assert_eq!(o.buf, [0]);
    }
}
