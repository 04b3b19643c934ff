//! What a core knows about one file: validators, type, and (for files small
//! enough) its bytes and compressed variants, loaded once on first use.

use std::cell::{Cell, OnceCell};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::budget::MemoryBudget;
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
    /// ETags of the zstd and gzip representations, made once.
    etag_zst: Bytes,
    etag_gz: Bytes,
    last_modified: Bytes,
    content_type: Bytes,
    compressible: bool,
    cache_max: u64,
    budget: Rc<MemoryBudget>,
    /// Bytes this file holds of the budget (returned on drop).
    held: Cell<u64>,
    body: OnceCell<Option<Bytes>>,
    zstd: OnceCell<Option<Bytes>>,
    gzip: OnceCell<Option<Bytes>>,
    /// Precompressed siblings, looked up on first use.
    pre_zstd: OnceCell<Option<Sibling>>,
    pre_gzip: OnceCell<Option<Sibling>>,
}

impl FileInfo {
    /// Describes the file at `path` with metadata `meta`. Files up to
    /// `cache_max` bytes are kept in memory once read, while `budget` lasts.
    pub fn new(path: PathBuf, meta: &fs::Metadata, cache_max: u64, budget: Rc<MemoryBudget>) -> Self {
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let secs = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let len = meta.len();
        let mime = mime_guess::from_path(&path).first_raw().unwrap_or("application/octet-stream");
        let compressible = is_compressible(mime);
        let content_type = if mime.starts_with("text/") || mime == "application/javascript" {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_string()
        };
        FileInfo {
            etag: Bytes::from(format!("\"{secs:x}-{len:x}\"")),
            etag_zst: Bytes::from(format!("\"{secs:x}-{len:x}-zst\"")),
            etag_gz: Bytes::from(format!("\"{secs:x}-{len:x}-gz\"")),
            last_modified: Bytes::from(httpdate::fmt_http_date(mtime)),
            content_type: Bytes::from(content_type),
            path,
            len,
            mtime,
            compressible,
            cache_max,
            budget,
            held: Cell::new(0),
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
            Some(Encoding::Zstd) => self.etag_zst.clone(),
            Some(Encoding::Gzip) => self.etag_gz.clone(),
        }
    }

    /// `count` bytes from `offset`, from memory when the file is cached.
    pub fn body(&self, offset: u64, count: u64) -> io::Result<ResponseBody> {
        if let Some(bytes) = self.cached_body() {
            let (o, c) = (offset as usize, count as usize);
            return Ok(ResponseBody::Bytes(bytes.slice(o..o + c)));
        }
        Ok(ResponseBody::File { file: File::open(&self.path)?, offset, len: count })
    }

    fn cached_body(&self) -> Option<&Bytes> {
        self.body
            .get_or_init(|| {
                // Reserve before reading, so a full budget costs no read.
                if self.len > self.cache_max || !self.take_budget(self.len) {
                    return None;
                }
                match fs::read(&self.path) {
                    // A file that changed size since stat is not cached: the
                    // next revalidation describes it afresh.
                    Ok(data) if data.len() as u64 == self.len => Some(Bytes::from(data)),
                    _ => {
                        self.give_budget(self.len);
                        None
                    }
                }
            })
            .as_ref()
    }

    fn give_budget(&self, n: u64) {
        self.budget.give(n);
        self.held.set(self.held.get() - n);
    }

    fn take_budget(&self, n: u64) -> bool {
        let ok = self.budget.try_take(n);
        if ok {
            self.held.set(self.held.get() + n);
        }
        ok
    }

    /// The first coding in `accepted` we can serve this file in.
    pub(super) fn pick_encoding(&self, accepted: &[Encoding], cfg: &StaticConfig) -> Option<Encoding> {
        accepted.iter().copied().find(|&e| {
            (cfg.precompressed && self.precompressed(e).is_some())
                || (cfg.compress && (self.cached_body().is_none() || self.compressed(e).is_some()))
        })
    }

    /// The body in coding `enc`: a precompressed sibling (from memory or
    /// disk), a cached compressed variant, or compression while sending.
    pub(super) fn encoded_body(&self, enc: Encoding, cfg: &StaticConfig) -> ResponseBody {
        if cfg.precompressed {
            match self.precompressed(enc) {
                Some(Sibling::Memory(b)) => return ResponseBody::Bytes(b.clone()),
                Some(Sibling::Disk(path, len)) => {
                    if let Ok(file) = File::open(path) {
                        return ResponseBody::File { file, offset: 0, len: *len };
                    }
                }
                None => {}
            }
        }
        match self.compressed(enc) {
            Some(b) => ResponseBody::Bytes(b.clone()),
            None => encoding::stream_compressed(self.path.clone(), enc),
        }
    }

    fn precompressed(&self, enc: Encoding) -> Option<&Sibling> {
        let cell = match enc {
            Encoding::Zstd => &self.pre_zstd,
            Encoding::Gzip => &self.pre_gzip,
        };
        cell.get_or_init(|| {
            let mut p = self.path.clone().into_os_string();
            p.push(".");
            p.push(enc.file_suffix());
            let path = PathBuf::from(p);
            let meta = fs::metadata(&path).ok().filter(|m| m.is_file())?;
            let len = meta.len();
            if len <= self.cache_max && self.take_budget(len) {
                match fs::read(&path) {
                    Ok(data) if data.len() as u64 == len => return Some(Sibling::Memory(Bytes::from(data))),
                    _ => self.give_budget(len),
                }
            }
            Some(Sibling::Disk(path, len))
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
            (packed.len() < body.len() && self.take_budget(packed.len() as u64)).then(|| Bytes::from(packed))
        })
        .as_ref()
    }
}

impl Drop for FileInfo {
    fn drop(&mut self) {
        self.budget.give(self.held.get());
    }
}

/// A precompressed sibling file (`x.css.gz`).
#[derive(Debug)]
enum Sibling {
    /// Small enough to keep in memory.
    Memory(Bytes),
    /// Sent from disk.
    Disk(PathBuf, u64),
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
