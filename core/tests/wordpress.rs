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
    let src = common::required_dir("EPHPM_WORDPRESS_DIR", "tools/fetch-wordpress.sh")?;
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

/// Runs curl with `args` (a cookie jar in `jar`); returns (status, body).
fn curl(jar: &std::path::Path, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "60", "-c"])
        .arg(jar)
        .arg("-b")
        .arg(jar)
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The embedded database's settings for a WordPress test, with `extra`.
fn wordpress_config(extra: &str) -> String {
    format!(
        "cores = 2\n[db]\nusers = [{{ name = \"wp\", password = \"wp-pass\" }}]\n\
         [db.sqlite]\nlisten = \"127.0.0.1:0\"\npath = \"wordpress.sqlite\"\n{extra}"
    )
}

/// Runs WordPress's setup form and installer against `srv`'s embedded
/// database, then logs in as the admin (the session lands in `jar`).
fn install_and_log_in(srv: &Server, root: &std::path::Path, jar: &std::path::Path) {
    let db = srv.mysql_addr();
    let base = format!("http://{}", srv.addr);
    let (status, page) = curl(
        jar,
        &[
            "--data",
            &format!(
                "dbname=wordpress&uname=wp&pwd=wp-pass&dbhost=127.0.0.1:{}&prefix=wp_&language=&submit=Submit",
                db.port()
            ),
            &format!("{base}/wp-admin/setup-config.php?step=2"),
        ],
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("WordPress can now communicate with your database"), "{page}");
    assert!(root.join("wp-config.php").exists());

    let form = "weblog_title=Ephpm+Test&user_name=admin&admin_password=Secret-pass-123&admin_password2=Secret-pass-123\
                &pw_weak=1&admin_email=admin%40example.com&blog_public=0&Submit=Install+WordPress&language=";
    let (status, page) = curl(jar, &["--data", form, &format!("{base}/wp-admin/install.php?step=2")]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Success!</h1>"), "{page}");
    assert!(!page.contains("WordPress database error"), "the install ran a query the database refused:\n{page}");

    std::fs::write(jar, "").unwrap();
    let (status, _) = curl(
        jar,
        &[
            "-b",
            "wordpress_test_cookie=WP%20Cookie%20check",
            "--data",
            "log=admin&pwd=Secret-pass-123&wp-submit=Log+In&redirect_to=%2Fwp-admin%2F&testcookie=1",
            &format!("{base}/wp-login.php"),
        ],
    );
    assert_eq!(status, 302, "a successful login redirects to the admin");
    let (status, dashboard) = curl(jar, &[&format!("{base}/wp-admin/")]);
    assert_eq!(status, 200);
    assert!(dashboard.contains("Dashboard"), "{dashboard}");
}

/// Sends `json` to the REST `route` as the logged-in admin; (status, body).
fn rest(srv: &Server, jar: &std::path::Path, route: &str, json: &str) -> (u16, String) {
    let base = format!("http://{}", srv.addr);
    let (_, nonce) = curl(jar, &[&format!("{base}/wp-admin/admin-ajax.php?action=rest-nonce")]);
    let nonce = nonce.trim().to_string();
    assert!(!nonce.is_empty() && nonce != "0", "no REST nonce: {nonce}");
    curl(
        jar,
        &[
            "-H",
            &format!("X-WP-Nonce: {nonce}"),
            "-H",
            "Content-Type: application/json",
            "--data",
            json,
            &format!("{base}/?rest_route={route}"),
        ],
    )
}

/// The whole path a site owner takes, on the embedded database with
/// nothing else running: the setup form writes wp-config.php, the install
/// form creates the site, the admin logs in, publishes a post (through the
/// REST API the block editor uses) and finds it on the front page.
#[test]
fn wordpress_installs_and_publishes_on_the_embedded_database() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(root) = wordpress_copy(dir.path()) else { return };
    let srv = Server::start_root("auto", &root, &wordpress_config(""));
    let base = format!("http://{}", srv.addr);
    let jar = dir.path().join("cookies.txt");
    install_and_log_in(&srv, &root, &jar);

    let (status, created) = rest(
        &srv,
        &jar,
        "/wp/v2/posts",
        r#"{"title":"Served by ephpm and SQLite","content":"It works.","status":"publish"}"#,
    );
    assert_eq!(status, 201, "{created}");

    let (status, front) = curl(&jar, &[&format!("{base}/")]);
    assert_eq!(status, 200);
    assert!(front.contains("Served by ephpm and SQLite"), "the new post is not on the front page:\n{front}");
    assert!(front.contains("Hello world!"), "the sample post is on the front page too");

    // The installer linked its sample post to "Uncategorized" through the
    // insert ids the database reported (once 0, which lost the category).
    let (status, cat) = curl(&jar, &[&format!("{base}/?rest_route=/wp/v2/categories/1")]);
    assert_eq!(status, 200, "{cat}");
    assert!(cat.contains(r#""name":"Uncategorized""#), "{cat}");
    let (status, listed) = curl(&jar, &[&format!("{base}/?rest_route=/wp/v2/posts&categories=1")]);
    assert_eq!(status, 200, "{listed}");
    assert!(listed.contains("Hello world!"), "the sample post is not in Uncategorized:\n{listed}");
}

/// WordPress with ephpm's object cache (installed by `ephpm wp
/// enable-object-cache`) on two cores: options, posts and comments the
/// admin changes are seen at once by every request, on whichever core it
/// lands, and the cache really lives in the KV store.
#[test]
fn wordpress_changes_are_seen_at_once_with_the_object_cache() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(root) = wordpress_copy(dir.path()) else { return };
    let out = Command::new(common::BIN).args(["wp", "enable-object-cache"]).arg(&root).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let srv = Server::start_root("auto", &root, &wordpress_config("[kv.redis]\nlisten = \"127.0.0.1:0\"\n"));
    let resp = srv.resp_addr();
    let base = format!("http://{}", srv.addr);
    let jar = dir.path().join("cookies.txt");
    install_and_log_in(&srv, &root, &jar);
    // Anonymous visitors, each on a new connection (spread over the cores).
    let visit = |path: &str| {
        let anon = dir.path().join("anon.txt");
        std::fs::write(&anon, "").unwrap();
        (0..6).map(|_| curl(&anon, &["-L", &format!("{base}{path}")])).collect::<Vec<_>>()
    };
    for (status, page) in visit("/") {
        assert_eq!(status, 200);
        assert!(page.contains("Ephpm Test"), "{page}");
    }
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &resp.port().to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["EXISTS", "wp:options:alloptions"]), "1", "WordPress's options are not in the KV store");

    let (status, body) = rest(&srv, &jar, "/wp/v2/settings", r#"{"title":"Renamed Through The Admin"}"#);
    assert_eq!(status, 200, "{body}");
    for (_, page) in visit("/") {
        assert!(page.contains("Renamed Through The Admin"), "a stale title was served:\n{page}");
    }

    let (status, created) =
        rest(&srv, &jar, "/wp/v2/posts", r#"{"title":"Cached Post","content":"First.","status":"publish"}"#);
    assert_eq!(status, 201, "{created}");
    let id = created.split("\"id\":").nth(1).and_then(|s| s.split(',').next()).unwrap().to_string();
    for (_, page) in visit("/") {
        assert!(page.contains("Cached Post"), "the new post is missing from a front page:\n{page}");
    }
    let (status, body) = rest(&srv, &jar, &format!("/wp/v2/posts/{id}"), r#"{"title":"Cached Post, Edited"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        rest(&srv, &jar, "/wp/v2/comments", &format!(r#"{{"post":{id},"content":"A comment seen everywhere."}}"#));
    assert_eq!(status, 201, "{body}");
    for (status, page) in visit(&format!("/?p={id}")) {
        assert_eq!(status, 200);
        assert!(page.contains("Cached Post, Edited"), "a stale post title was served:\n{page}");
        assert!(page.contains("A comment seen everywhere."), "the comment is missing:\n{page}");
    }
}

/// Runs curl with `args` (cookies from `jar`, none saved); returns
/// (status, head, body).
fn curl_with_head(jar: &std::path::Path, args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl").args(["-s", "-i", "-m", "60", "-b"]).arg(jar).args(args).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The page cache under WordPress, with the purge plugin: anonymous
/// visitors get stored pages, the logged-in admin never does (nor is
/// anything the admin sees stored), and a post, an edit or a comment is
/// on every core's next page at once.
#[test]
fn wordpress_page_cache_serves_visitors_never_the_admin_and_purges_on_change() {
    if !php_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(root) = wordpress_copy(dir.path()) else { return };
    let out = Command::new(common::BIN).args(["wp", "enable-page-cache"]).arg(&root).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(root.join("wp-content/mu-plugins/ephpm-page-cache.php").exists());
    let srv = Server::start_root("auto", &root, &wordpress_config("[server.cache]\nenabled = true\n"));
    let base = format!("http://{}", srv.addr);
    let jar = dir.path().join("cookies.txt");
    install_and_log_in(&srv, &root, &jar);
    let anon = dir.path().join("anon.txt");
    std::fs::write(&anon, "").unwrap();
    // Anonymous visitors, each on a new connection (spread over the cores).
    // (-L: /?p=N answers with a 301 to the post's pretty permalink.)
    let visit =
        |path: &str| (0..6).map(|_| curl_with_head(&anon, &["-L", &format!("{base}{path}")])).collect::<Vec<_>>();

    let pages = visit("/");
    let hits = pages.iter().filter(|(_, head, _)| head.contains("cache-status: ephpm; hit")).count();
    assert!(hits >= 4, "at most one miss per core: {:?}", pages.iter().map(|p| &p.1).collect::<Vec<_>>());
    assert!(pages.iter().all(|(s, _, page)| *s == 200 && page.contains("Ephpm Test") && !page.contains("wpadminbar")));

    // The admin: never from the cache, never stored.
    for path in ["/", "/wp-admin/", "/wp-admin/edit.php"] {
        for _ in 0..3 {
            let (status, head, page) = curl_with_head(&jar, &[&format!("{base}{path}")]);
            assert_eq!(status, 200, "{path}: {head}");
            assert!(head.contains("cache-status: ephpm; fwd=bypass; detail=cookie"), "{path}: {head}");
            assert!(page.contains("wpadminbar"), "{path} as the admin shows the admin bar");
        }
    }
    for (_, head, page) in visit("/") {
        assert!(!page.contains("wpadminbar"), "a visitor got the admin's page: {head}");
    }

    // Changes through the admin reach every core's cache at once.
    let (status, created) =
        rest(&srv, &jar, "/wp/v2/posts", r#"{"title":"Fresh From The Editor","content":"New.","status":"publish"}"#);
    assert_eq!(status, 201, "{created}");
    let id = created.split("\"id\":").nth(1).and_then(|s| s.split(',').next()).unwrap().to_string();
    for (_, head, page) in visit("/") {
        assert!(page.contains("Fresh From The Editor"), "a stale front page was served: {head}");
    }
    let post = format!("/?p={id}");
    visit(&post);
    let (status, body) = rest(&srv, &jar, &format!("/wp/v2/posts/{id}"), r#"{"title":"Edited In Place"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        rest(&srv, &jar, "/wp/v2/comments", &format!(r#"{{"post":{id},"content":"A purged comment."}}"#));
    assert_eq!(status, 201, "{body}");
    for (_, head, page) in visit(&post) {
        assert!(page.contains("Edited In Place"), "a stale post was served: {head}");
        assert!(page.contains("A purged comment."), "the comment is missing: {head}");
    }
    for (_, head, page) in visit("/?feed=rss2") {
        assert!(page.contains("Edited In Place"), "a stale feed was served: {head}");
    }
    let out = Command::new(common::BIN).args(["wp", "disable-page-cache"]).arg(&root).output().unwrap();
    assert!(out.status.success() && !root.join("wp-content/mu-plugins/ephpm-page-cache.php").exists());
}
