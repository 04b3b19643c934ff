//! `ephpm wp`: installs and removes the WordPress object-cache drop-in
//! and the page-cache purge plugin shipped with ephpm
//! (`sapi/php/wordpress/`).

use std::path::{Path, PathBuf};

use ephpm_sapi::{WORDPRESS_OBJECT_CACHE, WORDPRESS_PAGE_CACHE_PLUGIN};

/// What marks a drop-in as ephpm's own (any version of it).
const MARK: &str = "ephpm object cache";

/// The drop-in's path under `docroot`, once `docroot` looks like WordPress.
fn drop_in(docroot: &Path) -> Result<PathBuf, String> {
    let content = docroot.join("wp-content");
    if !content.is_dir() {
        return Err(format!("{} has no wp-content/ directory: is it a WordPress root?", docroot.display()));
    }
    Ok(content.join("object-cache.php"))
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
    let tmp = path.with_extension("php.ephpm-tmp");
    std::fs::write(&tmp, WORDPRESS_OBJECT_CACHE).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot move it to {}: {e}", path.display()))?;
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

/// The purge plugin's file name in wp-content/mu-plugins/.
const PLUGIN_FILE: &str = "ephpm-page-cache.php";

/// Writes the page-cache purge plugin into `docroot`/wp-content/mu-plugins/
/// (created if missing; must-use plugins load without activation).
pub fn enable_page_cache(docroot: &Path) -> Result<String, String> {
    let dir = drop_in(docroot)?.with_file_name("mu-plugins");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(PLUGIN_FILE);
    let tmp = path.with_extension("php.ephpm-tmp");
    std::fs::write(&tmp, WORDPRESS_PAGE_CACHE_PLUGIN).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot move it to {}: {e}", path.display()))?;
    Ok(format!(
        "installed the page-cache purge plugin as {}; turn the cache on with [server.cache] enabled = true",
        path.display()
    ))
}

/// Removes the page-cache purge plugin.
pub fn disable_page_cache(docroot: &Path) -> Result<String, String> {
    let path = drop_in(docroot)?.with_file_name("mu-plugins").join(PLUGIN_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(format!("removed {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(format!("{} does not exist: nothing to remove", path.display()))
        }
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}
