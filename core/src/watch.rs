//! `php.worker.watch`: restarts the PHP workers (one thread at a time, as
//! a rolling restart) when a file matching one of the globs changes, for
//! development. Polled twice a second: no inotify limits to raise, and it
//! works on every file system a project may live on.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};

/// How often the files are looked at.
const INTERVAL: Duration = Duration::from_millis(500);

/// The globs, made absolute against `base`, and the directories to walk.
#[derive(Debug)]
pub struct Watch {
    globs: GlobSet,
    roots: Vec<PathBuf>,
}

impl Watch {
    /// Compiles `patterns` (relative ones against `base`).
    pub fn new(patterns: &[String], base: &Path) -> Result<Watch, String> {
        let mut b = GlobSetBuilder::new();
        let mut roots: Vec<PathBuf> = Vec::new();
        for pat in patterns {
            let abs = if Path::new(pat).is_absolute() { PathBuf::from(pat) } else { base.join(pat) };
            let text = abs.to_str().ok_or_else(|| format!("php.worker.watch: `{pat}` is not UTF-8"))?;
            let glob = Glob::new(text).map_err(|e| format!("php.worker.watch: invalid pattern `{pat}`: {e}"))?;
            b.add(glob);
            let root = literal_prefix(&abs);
            if !roots.iter().any(|r| root.starts_with(r)) {
                roots.retain(|r| !r.starts_with(&root));
                roots.push(root);
            }
        }
        Ok(Watch { globs: b.build().map_err(|e| format!("php.worker.watch: {e}"))?, roots })
    }

    /// A fingerprint of every matching file's path, size, time and inode.
    pub fn fingerprint(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let mut h = DefaultHasher::new();
        for root in &self.roots {
            for entry in walkdir::WalkDir::new(root).sort_by_file_name().into_iter().flatten() {
                if entry.file_type().is_dir() || !self.globs.is_match(entry.path()) {
                    continue;
                }
                entry.path().hash(&mut h);
                if let Ok(m) = entry.metadata() {
                    (m.len(), m.mtime(), m.mtime_nsec(), m.ino()).hash(&mut h);
                }
            }
        }
        h.finish()
    }

    /// Starts the thread that restarts the workers on a change; it runs for
    /// the life of the process.
    pub fn spawn(self, workers: Arc<ephpm_sapi::WorkerControl>) -> Result<(), String> {
        std::thread::Builder::new()
            .name("ephpm-watch".into())
            .spawn(move || {
                let mut seen = self.fingerprint();
                let mut pending = false;
                loop {
                    std::thread::sleep(INTERVAL);
                    let now = self.fingerprint();
                    if now != seen {
                        seen = now;
                        pending = true;
                    }
                    // A change during a restart restarts again once it ends.
                    if pending && workers.restart(ephpm_sapi::Reason::Watch) {
                        tracing::info!("php.worker.watch: a watched file changed; restarting the PHP workers");
                        pending = false;
                    }
                }
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start the php.worker.watch thread: {e}"))
    }
}

/// The directory part of `pattern` before its first glob character.
fn literal_prefix(pattern: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in pattern.components() {
        if let Component::Normal(s) = c {
            if s.to_string_lossy().contains(['*', '?', '[', '{']) {
                break;
            }
        }
        out.push(c);
    }
    // A pattern naming one file watches its directory.
    if out == pattern {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_from_the_literal_part_and_sees_changes() {
        assert_eq!(literal_prefix(Path::new("/a/b/**/*.php")), PathBuf::from("/a/b"));
        assert_eq!(literal_prefix(Path::new("/a/{b,c}/x")), PathBuf::from("/a"));
        assert_eq!(literal_prefix(Path::new("/a/b/c.php")), PathBuf::from("/a/b"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        std::fs::write(dir.path().join("src/deep/a.php"), "1").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "1").unwrap();
        let w = Watch::new(&["src/**/*.php".into()], dir.path()).unwrap();
        assert_eq!(w.roots, vec![dir.path().join("src")]);
        let before = w.fingerprint();
        std::fs::write(dir.path().join("notes.txt"), "22").unwrap();
        assert_eq!(w.fingerprint(), before, "an unwatched file changed the fingerprint");
        std::fs::write(dir.path().join("src/deep/a.php"), "22").unwrap();
        let after = w.fingerprint();
        assert_ne!(after, before);
        std::fs::write(dir.path().join("src/deep/b.php"), "").unwrap();
        assert_ne!(w.fingerprint(), after, "a new file went unseen");
        assert!(Watch::new(&["src/[".into()], dir.path()).unwrap_err().contains("php.worker.watch"));
    }
}
