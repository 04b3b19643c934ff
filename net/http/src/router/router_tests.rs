use super::*;

fn setup() -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for d in ["sub", "blog", "vendor/x", ".git", ".well-known/acme-challenge", "noindex"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in [
        "index.php",
        "a.txt",
        "sub/index.html",
        "vendor/x/y.txt",
        ".env",
        ".git/config",
        ".well-known/acme-challenge/t",
    ] {
        fs::write(root.join(f), "x").unwrap();
    }
    fs::write(dir.path().join("secret.txt"), "s").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.txt")).unwrap();
    fs::create_dir(dir.path().join("outdir")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outdir"), root.join("linkdir")).unwrap();
    let cfg = RouterConfig {
        root: fs::canonicalize(&root).unwrap(),
        index: vec!["index.php".into(), "index.html".into()],
        fallback: Some("/index.php".into()),
        deny: vec!["/vendor/*".into()],
        allow_symlinks_outside_root: false,
        cache_ttl: Duration::from_secs(1),
        cache_max_file: 1 << 20,
        cache_size: 64 << 20,
    };
    let router = Router::new(cfg).unwrap();
    (dir, router)
}

fn php(route: Route) -> (String, String) {
    match route {
        Route::Php(t) => (t.script_name.clone(), t.path_info.clone()),
        _ => panic!("not a PHP route"),
    }
}

#[test]
fn static_index_and_redirect() {
    let (_d, r) = setup();
    assert!(matches!(r.route("/a.txt"), Route::File(_)));
    assert!(matches!(r.route("/sub/"), Route::File(f) if f.path().ends_with("sub/index.html")));
    assert!(matches!(r.route("/sub"), Route::Redirect(l) if l == "/sub/"));
    assert_eq!(php(r.route("/")), ("/index.php".into(), "".into()));
}

#[test]
fn php_path_info_and_fallback() {
    let (_d, r) = setup();
    assert_eq!(php(r.route("/index.php/foo/bar")), ("/index.php".into(), "/foo/bar".into()));
    assert_eq!(php(r.route("/pretty/permalink/")), ("/index.php".into(), "".into()));
    assert_eq!(php(r.route("/noindex/")), ("/index.php".into(), "".into()));
    assert!(matches!(r.route("/missing.php/x"), Route::NotFound | Route::Php(_)));
}

#[test]
fn hidden_denied_and_escaping_paths_are_not_found() {
    let (_d, mut r) = setup();
    r.cfg.fallback = None;
    for p in ["/.env", "/.git/config", "/.git/", "/vendor/x/y.txt", "/vendor/", "/link.txt", "/linkdir", "/missing"] {
        assert!(matches!(r.route(p), Route::NotFound), "{p}");
    }
    assert!(matches!(r.route("/.well-known/acme-challenge/t"), Route::File(_)));
    assert!(matches!(r.route("/%2e%2e/secret.txt"), Route::Bad(PathError::Traversal)));
}

#[test]
fn symlinks_outside_root_when_allowed() {
    let (_d, mut r) = setup();
    r.cfg.allow_symlinks_outside_root = true;
    assert!(matches!(r.route("/link.txt"), Route::File(_)));
}
