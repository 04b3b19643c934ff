//! `ephpm wp`: installs and removes the WordPress object-cache drop-in
//! and the page-cache purge plugin shipped with ephpm
//! (`sapi/php/wordpress/`).

use std::path::{Path, PathBuf};

use ephpm_sapi::{WORDPRESS_OBJECT_CACHE, WORDPRESS_PAGE_CACHE_PLUGIN};

/// What marks a drop-in as ephpm's own (any version of it).
const MARK: &str = "ephpm object cache";

/// `docroot`/wp-content, once `docroot` looks like WordPress.
fn wp_content(docroot: &Path) -> Result<PathBuf, String> {
    let content = docroot.join("wp-content");
    if !content.is_dir() {
        return Err(format!("{} has no wp-content/ directory: is it a WordPress root?", docroot.display()));
    }
    Ok(content)
}

/// The object-cache drop-in's path under `docroot`.
fn drop_in(docroot: &Path) -> Result<PathBuf, String> {
    Ok(wp_content(docroot)?.join("object-cache.php"))
}

/// Writes `text` to `path` through a temporary file, so WordPress never
/// loads half a file.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("php.ephpm-tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot move it to {}: {e}", path.display()))
}

/// Copies the drop-in into `docroot`/wp-content/ (atomically). Another
/// plugin's object-cache.php is replaced only with `force`.
pub fn enable_object_cache(docroot: &Path, force: bool) -> Result<String, String> {
    let path = drop_in(docroot)?;
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if existing == WORDPRESS_OBJECT_CACHE {
            return Ok(format!("{} is already ephpm's object cache", path.display()));
        }
        if !existing.contains(MARK) && !force {
            return Err(format!(
                "{} exists and is not ephpm's object cache (another plugin's drop-in?); pass --force to replace it",
                path.display()
            ));
        }
    }
    write_atomically(&path, WORDPRESS_OBJECT_CACHE)?;
    Ok(format!("installed ephpm's object cache as {}", path.display()))
}

/// Removes the drop-in if it is ephpm's.
pub fn disable_object_cache(docroot: &Path) -> Result<String, String> {
    let path = drop_in(docroot)?;
    match std::fs::read_to_string(&path) {
        Err(_) => Ok(format!("{} does not exist: nothing to remove", path.display())),
        Ok(existing) if !existing.contains(MARK) => {
            Err(format!("{} is not ephpm's object cache: left alone", path.display()))
        }
        Ok(_) => {
            std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            Ok(format!("removed {}", path.display()))
        }
    }
}

/// The purge plugin's path under `docroot` (must-use plugins load
/// without activation).
fn purge_plugin(docroot: &Path) -> Result<PathBuf, String> {
    Ok(wp_content(docroot)?.join("mu-plugins/ephpm-page-cache.php"))
}

/// Writes the page-cache purge plugin into `docroot`/wp-content/mu-plugins/
/// (created if missing).
pub fn enable_page_cache(docroot: &Path) -> Result<String, String> {
    let path = purge_plugin(docroot)?;
    let dir = path.parent().unwrap_or(docroot);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_atomically(&path, WORDPRESS_PAGE_CACHE_PLUGIN)?;
    Ok(format!(
        "installed the page-cache purge plugin as {}; turn the cache on with [server.cache] enabled = true",
        path.display()
    ))
}

/// Removes the page-cache purge plugin.
pub fn disable_page_cache(docroot: &Path) -> Result<String, String> {
    let path = purge_plugin(docroot)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(format!("removed {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(format!("{} does not exist: nothing to remove", path.display()))
        }
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}
