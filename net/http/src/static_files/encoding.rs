//! Content codings: negotiating Accept-Encoding and compressing bodies.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use bytes::Bytes;

use crate::http1::ResponseBody;

/// A content coding we produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// zstd (RFC 8878).
    Zstd,
    /// gzip.
    Gzip,
}

impl Encoding {
    /// The Content-Encoding token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }

    /// The suffix of a precompressed sibling file.
    pub fn file_suffix(self) -> &'static str {
        match self {
            Encoding::Zstd => "zst",
            Encoding::Gzip => "gz",
        }
    }
}

/// The codings a client accepts, best first; at most the two we produce,
/// so it lives on the stack (negotiation runs on most static requests).
#[derive(Clone, Copy, Debug)]
pub(super) struct Accepted {
    list: [Encoding; 2],
    len: usize,
}

impl Default for Accepted {
    fn default() -> Self {
        Accepted { list: [Encoding::Zstd, Encoding::Gzip], len: 0 }
    }
}

impl std::ops::Deref for Accepted {
    type Target = [Encoding];
    fn deref(&self) -> &[Encoding] {
        &self.list[..self.len]
    }
}

impl PartialEq<Vec<Encoding>> for Accepted {
    fn eq(&self, other: &Vec<Encoding>) -> bool {
        **self == other[..]
    }
}

/// Codings the client accepts, best first (zstd wins ties).
pub(super) fn negotiate(header: &[u8]) -> Accepted {
    let mut zstd = None;
    let mut gzip = None;
    let mut star = None;
    for item in header.split(|b| *b == b',') {
        let mut parts = item.split(|b| *b == b';');
        let token = trim(parts.next().unwrap_or(b""));
        let q = parts
            .filter_map(|p| {
                trim(p).strip_prefix(b"q=").and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<f32>().ok())
            })
            .next()
            .unwrap_or(1.0);
        if token.eq_ignore_ascii_case(b"zstd") {
            zstd = Some(q);
        } else if token.eq_ignore_ascii_case(b"gzip") || token.eq_ignore_ascii_case(b"x-gzip") {
            gzip = Some(q);
        } else if token == b"*" {
            star = Some(q);
        }
    }
    let z = zstd.or(star).filter(|q| *q > 0.0);
    let g = gzip.or(star).filter(|q| *q > 0.0);
    let (list, len) = match (z, g) {
        (Some(zq), Some(gq)) if gq > zq => ([Encoding::Gzip, Encoding::Zstd], 2),
        (Some(_), Some(_)) => ([Encoding::Zstd, Encoding::Gzip], 2),
        (Some(_), None) => ([Encoding::Zstd, Encoding::Gzip], 1),
        (None, Some(_)) => ([Encoding::Gzip, Encoding::Zstd], 1),
        (None, None) => return Accepted::default(),
    };
    Accepted { list, len }
}

fn trim(v: &[u8]) -> &[u8] {
    crate::http1::parser::trim(v)
}

/// Compresses a whole in-memory body.
pub(super) fn compress(data: &[u8], enc: Encoding) -> io::Result<Vec<u8>> {
    match enc {
        Encoding::Zstd => zstd::bulk::compress(data, 3),
        Encoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 3), flate2::Compression::new(6));
            e.write_all(data)?;
            e.finish()
        }
    }
}

/// A writer that compresses into a buffer we can take from between chunks.
enum Encoder {
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
}

impl Encoder {
    fn new(enc: Encoding) -> io::Result<Self> {
        Ok(match enc {
            Encoding::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), 1)?),
            Encoding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast())),
        })
    }

    fn write(&mut self, data: &[u8]) -> io::Result<Bytes> {
        let out = match self {
            Encoder::Zstd(e) => {
                e.write_all(data)?;
                e.get_mut()
            }
            Encoder::Gzip(e) => {
                e.write_all(data)?;
                e.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    fn finish(self) -> io::Result<Bytes> {
        Ok(Bytes::from(match self {
            Encoder::Zstd(e) => e.finish()?,
            Encoder::Gzip(e) => e.finish()?,
        }))
    }
}

/// Chunk read from disk per step of a compressed stream.
const STREAM_CHUNK: usize = 64 * 1024;

/// Compresses a file too large to keep in memory as it is sent (chunked).
pub(super) fn stream_compressed(path: PathBuf, enc: Encoding) -> ResponseBody {
    struct State {
        file: Option<File>,
        encoder: Option<Encoder>,
        buf: Vec<u8>,
    }
    let state = File::open(&path)
        .and_then(|f| Ok(State { file: Some(f), encoder: Some(Encoder::new(enc)?), buf: vec![0; STREAM_CHUNK] }));
    let state = match state {
        Ok(s) => s,
        Err(e) => return ResponseBody::Stream(Box::pin(futures_util::stream::once(async move { Err(e) }))),
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        let file = st.file.as_mut()?;
        let step = match file.read(&mut st.buf) {
            Ok(0) => {
                st.file = None;
                st.encoder.take().map(Encoder::finish)
            }
            Ok(n) => st.encoder.as_mut().map(|e| e.write(&st.buf[..n])),
            Err(e) => {
                st.file = None;
                Some(Err(e))
            }
        };
        step.map(|item| (item, st))
    });
    ResponseBody::Stream(Box::pin(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(b"gzip, deflate, br, zstd"), vec![Encoding::Zstd, Encoding::Gzip]);
        assert_eq!(negotiate(b"gzip"), vec![Encoding::Gzip]);
        assert_eq!(negotiate(b"zstd;q=0, gzip;q=0.5"), vec![Encoding::Gzip]);
        assert_eq!(negotiate(b"gzip;q=1, zstd;q=0.2"), vec![Encoding::Gzip, Encoding::Zstd]);
        assert_eq!(negotiate(b"*"), vec![Encoding::Zstd, Encoding::Gzip]);
        assert_eq!(negotiate(b"identity"), vec![]);
    }

    #[test]
    fn round_trips() {
        let data = "hello world ".repeat(100);
        let z = compress(data.as_bytes(), Encoding::Zstd).unwrap();
        assert_eq!(zstd::bulk::decompress(&z, 1 << 20).unwrap(), data.as_bytes());
        let g = compress(data.as_bytes(), Encoding::Gzip).unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&g[..]).read_to_string(&mut out).unwrap();
        assert_eq!(out, data);
    }
}
