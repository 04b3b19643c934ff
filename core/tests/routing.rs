//! Routing and path safety.

mod common;

use common::*;

#[test]
fn traversal_is_refused() {
    for io in backends() {
        let srv = Server::start(io, "");
        for p in
            ["/../outside.txt", "/%2e%2e/outside.txt", "/sub/%2E%2E/%2E%2E/outside.txt", "/a%2f..%2f..%2foutside.txt"]
        {
            let r = srv.get(p, "");
            assert_eq!(r.status, 400, "{io}: {p}");
            assert!(!r.text().contains("outside"));
        }
    }
}

#[test]
fn dotfiles_denied_and_escaping_symlinks_are_404() {
    for io in backends() {
        let srv = Server::start(io, "");
        for p in ["/.env", "/%2eenv", "/vendor/secret.txt", "/escape.txt"] {
            assert_eq!(srv.get(p, "").status, 404, "{io}: {p}");
        }
    }
    let srv = Server::start("epoll", "[server.static]\nallow_symlinks_outside_root = true");
    assert_eq!(srv.get("/escape.txt", "").text(), "outside\n");
}

#[test]
fn directories_index_and_redirect() {
    for io in backends() {
        let srv = Server::start(io, "index = [\"index.html\"]");
        assert_eq!(srv.get("/", "").text(), "<h1>home</h1>\n", "{io}");
        assert_eq!(srv.get("/sub/", "").text(), "sub index\n");
        let r = srv.get("/sub?x=1", "");
        assert_eq!(r.status, 301);
        assert_eq!(r.header("location"), Some("/sub/?x=1"));
    }
}

#[test]
fn php_routes_reach_the_front_controller() {
    let php = common::php_available();
    for io in backends() {
        let srv = Server::start(io, "");
        for p in ["/", "/index.php", "/index.php/foo/bar", "/pretty/permalink/", "/blog/"] {
            let r = srv.get(p, "");
            if php {
                assert_eq!((r.status, r.text().as_str()), (200, "hi"), "{io}: {p}");
            } else {
                assert_eq!(r.status, 503, "{io}: {p}");
                assert!(r.text().contains("PHP is not available"));
            }
        }
    }
    // Without a fallback, a missing file is a plain 404.
    let srv = Server::start("epoll", "fallback = \"\"");
    assert_eq!(srv.get("/pretty/permalink/", "").status, 404);
}

#[test]
fn hello_route_is_built_in() {
    let srv = Server::start("epoll", "hello_route = \"/hello\"");
    let r = srv.get("/hello", "");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello from ephpm\n"));
}
