//! Writing replies in RESP2, or RESP3 once the client said `HELLO 3`.

use ephpm_kv::Reply;

/// Appends `reply` to `out`.
pub fn write(out: &mut Vec<u8>, reply: &Reply, resp3: bool) {
    match reply {
        Reply::Status(s) => line(out, b'+', s.as_bytes()),
        Reply::Error(e) => {
            // An error line cannot carry CR or LF.
            let clean: Vec<u8> = e.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect();
            line(out, b'-', &clean);
        }
        Reply::Int(n) => line(out, b':', n.to_string().as_bytes()),
        Reply::Bulk(b) => bulk(out, b),
        Reply::Nil | Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::Array(items) => {
            line(out, b'*', items.len().to_string().as_bytes());
            for item in items {
                write(out, item, resp3);
            }
        }
        Reply::Map(pairs) => {
            let n = if resp3 { pairs.len() } else { pairs.len() * 2 };
            line(out, if resp3 { b'%' } else { b'*' }, n.to_string().as_bytes());
            for (k, v) in pairs {
                write(out, k, resp3);
                write(out, v, resp3);
            }
        }
        Reply::Double(d) if resp3 => line(out, b',', format_double(*d).as_bytes()),
        Reply::Double(d) => bulk(out, format_double(*d).as_bytes()),
    }
}

/// Appends a push (RESP3 `>`; a plain array in RESP2): pub/sub messages
/// and subscription confirmations.
pub fn write_push(out: &mut Vec<u8>, items: &[Reply], resp3: bool) {
    line(out, if resp3 { b'>' } else { b'*' }, items.len().to_string().as_bytes());
    for item in items {
        write(out, item, resp3);
    }
}

/// Appends a RESP3 map (a RESP2 flat array) of `pairs`.
pub fn write_map(out: &mut Vec<u8>, pairs: &[(&str, Reply)], resp3: bool) {
    let head = if resp3 { b'%' } else { b'*' };
    let n = if resp3 { pairs.len() } else { pairs.len() * 2 };
    line(out, head, n.to_string().as_bytes());
    for (k, v) in pairs {
        bulk(out, k.as_bytes());
        write(out, v, resp3);
    }
}

fn line(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(kind);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    line(out, b'$', b.len().to_string().as_bytes());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format!("{d}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn resp2_and_resp3() {
        let r = Reply::Array(vec![Reply::OK, Reply::Int(-3), Reply::Bulk(Bytes::from("a")), Reply::Nil]);
        let mut out = Vec::new();
        write(&mut out, &r, false);
        assert_eq!(out, b"*4\r\n+OK\r\n:-3\r\n$1\r\na\r\n$-1\r\n");
        out.clear();
        write(&mut out, &r, true);
        assert_eq!(out, b"*4\r\n+OK\r\n:-3\r\n$1\r\na\r\n_\r\n");
        out.clear();
        write(&mut out, &Reply::Error("ERR a\r\nb".into()), false);
        assert_eq!(out, b"-ERR a  b\r\n");
        out.clear();
        write_map(&mut out, &[("proto", Reply::Int(3))], true);
        assert_eq!(out, b"%1\r\n$5\r\nproto\r\n:3\r\n");
    }
}
