//! Serving files: content types, validators (ETag, Last-Modified, 304),
//! byte ranges (206, 416) and compression (gzip, zstd, precompressed).

mod budget;
mod conditional;
mod encoding;
mod file_info;
mod range;

pub use budget::MemoryBudget;
pub use encoding::Encoding;
pub use file_info::FileInfo;

use bytes::Bytes;

use crate::http1::{Method, RequestHead, Response};
use range::RangeSpec;

/// Settings for static files (`server.static.*`).
#[derive(Clone, Debug, Default)]
pub struct StaticConfig {
    /// Cache-Control value sent with files, if any.
    pub cache_control: Option<Bytes>,
    /// Compress compressible types on the fly.
    pub compress: bool,
    /// Serve `file.gz` / `file.zst` siblings when present.
    pub precompressed: bool,
}

/// Files smaller than this are not worth compressing.
const MIN_COMPRESS: u64 = 256;

/// Answers a request for `file`.
pub fn serve(file: &FileInfo, head: &RequestHead, cfg: &StaticConfig) -> Response {
    if !matches!(head.method(), Method::Get | Method::Head) {
        return Response::error(405, "static files answer GET and HEAD only")
            .header("Allow", Bytes::from_static(b"GET, HEAD"));
    }
    let range_header = head.header("range");
    let encoding = if range_header.is_none() && file.compressible() && file.len() >= MIN_COMPRESS {
        let accepted = head.header("accept-encoding").map(encoding::negotiate).unwrap_or_default();
        file.pick_encoding(&accepted, cfg)
    } else {
        None
    };
    let etag = file.etag(encoding);
    let mut resp = Response::new(200);
    resp.headers.push(("Content-Type", file.content_type()));
    resp.headers.push(("ETag", etag.clone()));
    resp.headers.push(("Last-Modified", file.last_modified()));
    if let Some(cc) = &cfg.cache_control {
        resp.headers.push(("Cache-Control", cc.clone()));
    }
    if file.compressible() {
        resp.headers.push(("Vary", Bytes::from_static(b"Accept-Encoding")));
    }
    if conditional::not_modified(head, &etag, file.mtime()) {
        resp.status = 304;
        return resp;
    }
    if let Some(enc) = encoding {
        resp.headers.push(("Content-Encoding", Bytes::from_static(enc.token().as_bytes())));
        resp.body = file.encoded_body(enc, cfg);
        return resp;
    }
    resp.headers.push(("Accept-Ranges", Bytes::from_static(b"bytes")));
    let len = file.len();
    let range =
        range_header.filter(|_| conditional::if_range_allows(head, &etag, file.mtime())).map(|h| range::parse(h, len));
    let (offset, count) = match range {
        Some(RangeSpec::Satisfiable { start, end }) => {
            resp.status = 206;
            resp.headers.push(("Content-Range", Bytes::from(format!("bytes {start}-{end}/{len}"))));
            (start, end - start + 1)
        }
        Some(RangeSpec::Unsatisfiable) => {
            let mut r = Response::error(416, "range not satisfiable");
            r.headers.push(("Content-Range", Bytes::from(format!("bytes */{len}"))));
            return r;
        }
        Some(RangeSpec::Ignore) | None => (0, len),
    };
    resp.body = match file.body(offset, count) {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(path = %file.path().display(), error = %e, "cannot read file");
            return Response::error(500, "the file could not be read");
        }
    };
    resp
}
