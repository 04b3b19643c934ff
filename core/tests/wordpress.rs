//! A real application: the files of Debian's `wordpress` package, served by
//! ephpm, show the WordPress installer (its database comes later).
//! `tools/fetch-wordpress.sh` provides the files; ci/test.sh passes their
//! directory in `EPHPM_WORDPRESS_DIR`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{backends, php_available, Server};

/// A writable copy of WordPress without Debian's wp-config.php (which
/// expects /etc/wordpress), so WordPress runs its own setup.
fn wordpress_copy(into: &std::path::Path) -> Option<PathBuf> {
    let Some(src) = std::env::var_os("EPHPM_WORDPRESS_DIR").map(PathBuf::from) else {
        assert!(
            std::env::var_os("EPHPM_REQUIRE_PHP").is_none(),
            "EPHPM_REQUIRE_PHP is set but EPHPM_WORDPRESS_DIR is not (run tools/fetch-wordpress.sh)"
        );
        eprintln!("SKIPPED: EPHPM_WORDPRESS_DIR is not set (tools/fetch-wordpress.sh prints it)");
        return None;
    };
    let dest = into.join("wordpress");
    let ok = Command::new("cp").arg("-a").arg(&src).arg(&dest).status().unwrap().success();
    assert!(ok, "cannot copy {}", src.display());
    std::fs::remove_file(dest.join("wp-config.php")).unwrap();
    Some(dest)
}

#[test]
fn wordpress_shows_its_installer() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(root) = wordpress_copy(dir.path()) else { return };
    for io in backends() {
        let srv = Server::start_root(io, &root, "cores = 2");
        // No wp-config.php: WordPress sends the visitor to its setup.
        let r = srv.get("/", "");
        assert_eq!(r.status, 302, "{io}: {}", r.text());
        let location = r.header("location").unwrap().to_string();
        assert!(location.ends_with("/wp-admin/setup-config.php"), "{io}: {location}");

        let r = srv.get("/wp-admin/setup-config.php", "");
        let page = r.text();
        assert_eq!(r.status, 200, "{io}: {page}");
        for needle in ["<!DOCTYPE html>", "WordPress", "Database name", "setup-config.php?step=1", "</html>"] {
            assert!(page.contains(needle), "{io}: the installer page lacks {needle:?}:\n{page}");
        }
        // The database form, and the installer's stylesheet as a static file.
        let r = srv.get("/wp-admin/setup-config.php?step=1", "");
        assert!(r.text().contains("name=\"dbname\""), "{io}: {}", r.text());
        let css = srv.get("/wp-admin/css/install.min.css", "");
        assert_eq!(css.status, 200, "{io}");
        assert!(css.header("content-type").unwrap().starts_with("text/css"), "{io}");
    }
}
