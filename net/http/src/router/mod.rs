//! What a request path means: a static file, a PHP script (with PATH_INFO),
//! a redirect to the directory form, or nothing.
//!
//! Resolution touches the file system (stat, realpath), so results are
//! cached per core for `cache_ttl`, as nginx's open_file_cache does.

pub mod path;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};

pub use path::PathError;

use crate::static_files::{FileInfo, MemoryBudget};

/// Router settings (from `server.*`).
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// The document root, canonicalized.
    pub root: PathBuf,
    /// Index file names tried for a directory, in order.
    pub index: Vec<String>,
    /// Path (under the root) served when nothing else matched, if it exists.
    pub fallback: Option<String>,
    /// Glob patterns of paths never served (404).
    pub deny: Vec<String>,
    /// Serve files whose real path leaves the root through a symlink.
    pub allow_symlinks_outside_root: bool,
    /// How long a resolution is trusted before the file system is asked again.
    pub cache_ttl: Duration,
    /// Files up to this size are kept in memory once read.
    pub cache_max_file: u64,
    /// Bytes of file contents (and compressed variants) a core keeps.
    pub cache_size: u64,
}

/// A PHP script to run.
#[derive(Debug, PartialEq, Eq)]
pub struct PhpTarget {
    /// Absolute path of the script.
    pub script_filename: PathBuf,
    /// URL path of the script (SCRIPT_NAME).
    pub script_name: String,
    /// What follows the script in the URL (PATH_INFO), may be empty.
    pub path_info: String,
}

/// The outcome of routing a path.
#[derive(Clone)]
pub enum Route {
    /// A static file.
    File(Rc<FileInfo>),
    /// A PHP script.
    Php(Rc<PhpTarget>),
    /// A directory asked for without its trailing slash: redirect here.
    Redirect(String),
    /// Nothing to serve (also for denied paths and dotfiles).
    NotFound,
    /// The path itself is invalid (400).
    Bad(PathError),
}

/// Compiles `server.deny` glob patterns; the error names the bad pattern.
pub fn compile_deny(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for pat in patterns {
        b.add(Glob::new(pat).map_err(|e| format!("invalid deny pattern `{pat}`: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// Most paths a core remembers; the map is cleared when it fills.
const CACHE_ENTRIES: usize = 16 * 1024;

/// A per-core router.
pub struct Router {
    cfg: RouterConfig,
    deny: GlobSet,
    cache: RefCell<HashMap<String, (Route, Instant)>>,
    budget: Rc<MemoryBudget>,
}

impl Router {
    /// Builds a router; fails on an invalid deny pattern.
    pub fn new(cfg: RouterConfig) -> Result<Self, String> {
        let deny = compile_deny(&cfg.deny)?;
        let budget = Rc::new(MemoryBudget::new(cfg.cache_size));
        Ok(Router { cfg, deny, cache: RefCell::new(HashMap::new()), budget })
    }

    /// The settings.
    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }

    /// Routes a raw (still percent-encoded) path.
    pub fn route(&self, raw_path: &str) -> Route {
        let path = match path::normalize(raw_path) {
            Ok(p) => p,
            Err(e) => return Route::Bad(e),
        };
        let now = Instant::now();
        if let Some((route, at)) = self.cache.borrow().get(path.as_ref()) {
            if now.duration_since(*at) < self.cfg.cache_ttl {
                return route.clone();
            }
        }
        let route = self.resolve(&path);
        if matches!(route, Route::File(_) | Route::Php(_)) && !self.cfg.cache_ttl.is_zero() {
            let mut cache = self.cache.borrow_mut();
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(path.into_owned(), (route.clone(), now));
        }
        route
    }

    fn resolve(&self, path: &str) -> Route {
        if self.is_hidden(path) {
            return Route::NotFound;
        }
        if let Some(route) = self.php_with_path_info(path) {
            return route;
        }
        let fs_path = self.fs_path(path);
        match fs::metadata(&fs_path) {
            Ok(meta) if meta.is_file() => self.file_route(fs_path, path, &meta),
            Ok(meta) if meta.is_dir() => {
                if !self.cfg.allow_symlinks_outside_root && !self.inside_root(&fs_path) {
                    // Not even a redirect: that would reveal the directory.
                    return Route::NotFound;
                }
                if !path.ends_with('/') {
                    return Route::Redirect(format!("{path}/"));
                }
                for name in &self.cfg.index {
                    let candidate = fs_path.join(name);
                    if let Ok(meta) = fs::metadata(&candidate) {
                        if meta.is_file() {
                            return self.file_route(candidate, &format!("{path}{name}"), &meta);
                        }
                    }
                }
                self.fallback()
            }
            _ => self.fallback(),
        }
    }

    /// Dotfiles and denied patterns are invisible (`/.well-known/` is not a
    /// dotfile: ACME and other standards live there).
    fn is_hidden(&self, path: &str) -> bool {
        let dotted =
            path.split('/').enumerate().any(|(i, seg)| seg.starts_with('.') && !(i == 1 && seg == ".well-known"));
        dotted || self.deny.is_match(path)
    }

    /// `/index.php/foo/bar` runs index.php with PATH_INFO `/foo/bar`.
    fn php_with_path_info(&self, path: &str) -> Option<Route> {
        let mut end = 0;
        for seg in path[1..].split('/') {
            end += 1 + seg.len();
            if seg.ends_with(".php") && end < path.len() {
                let script_name = &path[..end];
                let fs_path = self.fs_path(script_name);
                let meta = fs::metadata(&fs_path).ok().filter(|m| m.is_file())?;
                if let Route::Php(t) = self.file_route(fs_path, script_name, &meta) {
                    let target = PhpTarget {
                        script_filename: t.script_filename.clone(),
                        script_name: t.script_name.clone(),
                        path_info: path[end..].to_string(),
                    };
                    return Some(Route::Php(Rc::new(target)));
                }
                return Some(Route::NotFound);
            }
        }
        None
    }

    fn fallback(&self) -> Route {
        let Some(fb) = &self.cfg.fallback else {
            return Route::NotFound;
        };
        let fs_path = self.fs_path(fb);
        match fs::metadata(&fs_path) {
            Ok(meta) if meta.is_file() => self.file_route(fs_path, fb, &meta),
            _ => Route::NotFound,
        }
    }

    fn file_route(&self, fs_path: PathBuf, url_path: &str, meta: &fs::Metadata) -> Route {
        if !self.cfg.allow_symlinks_outside_root && !self.inside_root(&fs_path) {
            return Route::NotFound;
        }
        if url_path.ends_with(".php") {
            return Route::Php(Rc::new(PhpTarget {
                script_filename: fs_path,
                script_name: url_path.to_string(),
                path_info: String::new(),
            }));
        }
        Route::File(Rc::new(FileInfo::new(fs_path, meta, self.cfg.cache_max_file, Rc::clone(&self.budget))))
    }

    fn inside_root(&self, p: &Path) -> bool {
        fs::canonicalize(p).is_ok_and(|real| real.starts_with(&self.cfg.root))
    }

    fn fs_path(&self, url_path: &str) -> PathBuf {
        self.cfg.root.join(url_path.trim_start_matches('/'))
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
