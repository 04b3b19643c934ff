//! Real curl and wrk against the server, on every backend.

mod common;

use std::process::Command;

use common::*;

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl").args(["-sS", "--max-time", "10"]).args(args).output().unwrap();
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn curl_fetches_compressed_ranged_and_head() {
    if !have("curl") {
        return;
    }
    for io in backends() {
        let srv = Server::start(io, "");
        let css = std::fs::read_to_string(srv.dir.path().join("root/style.css")).unwrap();
        let (body, _) = curl(&["--compressed", &srv.url("/style.css")]);
        assert_eq!(body, css, "{io}");
        let (head, _) = curl(&["-I", &srv.url("/small.txt")]);
        assert!(head.contains("content-length: 1024") || head.contains("Content-Length: 1024"), "{head}");
        let (part, _) = curl(&["-r", "0-9", &srv.url("/small.txt")]);
        assert_eq!(part, "aaaaaaaaaa");
        let (code, _) = curl(&["-o", "/dev/null", "-w", "%{http_code}", &srv.url("/.env")]);
        assert_eq!(code, "404");
        // Several URLs over one keep-alive connection.
        let (both, err) = curl(&["-v", &srv.url("/sub/"), &srv.url("/sub/")]);
        assert_eq!(both, "sub index\nsub index\n");
        assert!(err.contains("Re-using existing connection") || err.contains("Reusing existing"), "{err}");
    }
}

#[test]
fn wrk_load_has_no_errors() {
    if !have("wrk") {
        return;
    }
    for io in backends() {
        let srv = Server::start(io, "hello_route = \"/hello\"");
        for path in ["/small.txt", "/hello"] {
            let out =
                Command::new("wrk").args(["-t2", "-c32", "-d2s", "--timeout", "5s", &srv.url(path)]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}");
            assert!(!text.contains("Socket errors"), "{io} {path}: {text}");
            assert!(!text.contains("Non-2xx"), "{io} {path}: {text}");
            let rps: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix("Requests/sec:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0);
            assert!(rps > 100.0, "{io} {path}: {text}");
            eprintln!("wrk {io} {path}: {rps:.0} req/s (debug build, 2 s)");
        }
    }
}
