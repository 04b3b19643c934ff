//! What a core knows about one file: validators, type, and (for files small
//! enough) its bytes and compressed variants, loaded once on first use.

use std::cell::OnceCell;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::encoding::{self, Encoding};
use super::StaticConfig;
use crate::http1::ResponseBody;

/// A file as the static handler serves it.
#[derive(Debug)]
pub struct FileInfo {
    path: PathBuf,
    len: u64,
    mtime: SystemTime,
    etag: Bytes,
    last_modified: Bytes,
    content_type: Bytes,
    compressible: bool,
    cache_max: u64,
    body: OnceCell<Option<Bytes>>,
    zstd: OnceCell<Option<Bytes>>,
    gzip: OnceCell<Option<Bytes>>,
    /// Whether a precompressed sibling exists (and is small enough to keep).
    pre_zstd: OnceCell<Option<Bytes>>,
    pre_gzip: OnceCell<Option<Bytes>>,
}

impl FileInfo {
    /// Describes the file at `path` with metadata `meta`. Files up to
    /// `cache_max` bytes are kept in memory once read.
    pub fn new(path: PathBuf, meta: &fs::Metadata, cache_max: u64) -> Self {
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let secs = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let len = meta.len();
        let mime = mime_guess::from_path(&path)
            .first_raw()
            .unwrap_or("application/octet-stream");
        let compressible = is_compressible(mime);
        let content_type = if mime.starts_with("text/") || mime == "application/javascript" {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_string()
        };
        FileInfo {
            etag: Bytes::from(format!("\"{secs:x}-{len:x}\"")),
            last_modified: Bytes::from(httpdate::fmt_http_date(mtime)),
            content_type: Bytes::from(content_type),
            path,
            len,
            mtime,
            compressible,
            cache_max,
            body: OnceCell::new(),
            zstd: OnceCell::new(),
            gzip: OnceCell::new(),
            pre_zstd: OnceCell::new(),
            pre_gzip: OnceCell::new(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its modification time.
    pub fn mtime(&self) -> SystemTime {
        self.mtime
    }

    /// The Content-Type value.
    pub fn content_type(&self) -> Bytes {
        self.content_type.clone()
    }

    /// The Last-Modified value.
    pub fn last_modified(&self) -> Bytes {
        self.last_modified.clone()
    }

    /// Whether its type is worth compressing.
    pub fn compressible(&self) -> bool {
        self.compressible
    }

    /// The ETag of the representation in `enc` (identity when `None`).
    pub fn etag(&self, enc: Option<Encoding>) -> Bytes {
        match enc {
            None => self.etag.clone(),
            Some(e) => {
                let base = &self.etag[..self.etag.len() - 1];
                Bytes::from([base, b"-", e.file_suffix().as_bytes(), b"\""].concat())
            }
        }
    }

    /// `count` bytes from `offset`, from memory when the file is cached.
    pub fn body(&self, offset: u64, count: u64) -> io::Result<ResponseBody> {
        if let Some(bytes) = self.cached_body() {
            let (o, c) = (offset as usize, count as usize);
            return Ok(ResponseBody::Bytes(bytes.slice(o..o + c)));
        }
        Ok(ResponseBody::File {
            file: File::open(&self.path)?,
            offset,
            len: count,
        })
    }

    fn cached_body(&self) -> Option<&Bytes> {
        self.body
            .get_or_init(|| {
                if self.len > self.cache_max {
                    return None;
                }
                let data = fs::read(&self.path).ok()?;
                // A file that changed size since stat is not cached: the
                // next revalidation will describe it afresh.
                (data.len() as u64 == self.len).then(|| Bytes::from(data))
            })
            .as_ref()
    }

    /// The first coding in `accepted` we can serve this file in.
    pub(super) fn pick_encoding(
        &self,
        accepted: &[Encoding],
        cfg: &StaticConfig,
    ) -> Option<Encoding> {
        accepted.iter().copied().find(|&e| {
            (cfg.precompressed && self.precompressed(e).is_some())
                || (cfg.compress && (self.len > self.cache_max || self.compressed(e).is_some()))
        })
    }

    /// The body in `enc` when it can be held in memory; `None` means stream.
    pub(super) fn encoded(&self, enc: Encoding) -> Option<Bytes> {
        self.precompressed(enc)
            .or_else(|| self.compressed(enc))
            .cloned()
    }

    fn precompressed(&self, enc: Encoding) -> Option<&Bytes> {
        let cell = match enc {
            Encoding::Zstd => &self.pre_zstd,
            Encoding::Gzip => &self.pre_gzip,
        };
        cell.get_or_init(|| {
            let mut p = self.path.clone().into_os_string();
            p.push(".");
            p.push(enc.file_suffix());
            let meta = fs::metadata(&p)
                .ok()
                .filter(|m| m.is_file() && m.len() <= self.cache_max)?;
            let data = fs::read(&p).ok()?;
            (data.len() as u64 == meta.len()).then(|| Bytes::from(data))
        })
        .as_ref()
    }

    fn compressed(&self, enc: Encoding) -> Option<&Bytes> {
        let cell = match enc {
            Encoding::Zstd => &self.zstd,
            Encoding::Gzip => &self.gzip,
        };
        cell.get_or_init(|| {
            let body = self.cached_body()?;
            let packed = encoding::compress(body, enc).ok()?;
            // Keep the variant only when it actually saves bytes.
            (packed.len() < body.len()).then(|| Bytes::from(packed))
        })
        .as_ref()
    }
}

fn is_compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/xhtml+xml"
                | "application/rss+xml"
                | "application/atom+xml"
                | "application/manifest+json"
                | "application/wasm"
                | "image/svg+xml"
                | "font/ttf"
                | "font/otf"
        )
}
