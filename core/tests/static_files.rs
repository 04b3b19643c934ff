//! Static files: validators, ranges, compression, large files.

mod common;

use std::io::Read;

use common::*;

#[test]
fn etag_and_last_modified_give_304() {
    for io in backends() {
        let srv = Server::start(io, "[server.static]\ncache_control = \"public, max-age=60\"");
        let r = srv.get("/small.txt", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
        let etag = r.header("etag").unwrap().to_string();
        let lm = r.header("last-modified").unwrap().to_string();
        let r = srv.get("/small.txt", &format!("If-None-Match: {etag}\r\n"));
        assert_eq!(r.status, 304, "{io}");
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert!(r.body.is_empty());
        assert_eq!(srv.get("/small.txt", &format!("If-None-Match: \"other\", W/{etag}\r\n")).status, 304);
        assert_eq!(srv.get("/small.txt", "If-None-Match: \"other\"\r\n").status, 200);
        assert_eq!(srv.get("/small.txt", &format!("If-Modified-Since: {lm}\r\n")).status, 304);
        assert_eq!(srv.get("/small.txt", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n").status, 200);
    }
}

#[test]
fn ranges_give_206_and_416() {
    for io in backends() {
        let srv = Server::start(io, "");
        let r = srv.get("/big.bin", "Range: bytes=100-199\r\n");
        assert_eq!(r.status, 206, "{io}");
        assert_eq!(r.header("content-range"), Some("bytes 100-199/2097152"));
        let full = std::fs::read(srv.dir.path().join("root/big.bin")).unwrap();
        assert_eq!(r.body, &full[100..200]);
        let r = srv.get("/small.txt", "Range: bytes=-10\r\n");
        assert_eq!((r.status, r.body.len()), (206, 10));
        let r = srv.get("/small.txt", "Range: bytes=5000-\r\n");
        assert_eq!(r.status, 416);
        assert_eq!(r.header("content-range"), Some("bytes */1024"));
        // If-Range with a stale validator: the whole file.
        let r = srv.get("/small.txt", "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n");
        assert_eq!((r.status, r.body.len()), (200, 1024));
    }
}

#[test]
fn compression_on_the_fly_and_precompressed() {
    for io in backends() {
        let srv = Server::start(io, "");
        let plain = std::fs::read(srv.dir.path().join("root/style.css")).unwrap();
        let r = srv.get("/style.css", "Accept-Encoding: gzip\r\n");
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{io}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert!(r.body.len() < plain.len() / 4);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);
        let gz_etag = r.header("etag").unwrap().to_string();
        assert!(gz_etag.ends_with("-gz\""));
        assert_eq!(
            srv.get("/style.css", &format!("Accept-Encoding: gzip\r\nIf-None-Match: {gz_etag}\r\n")).status,
            304
        );

        let r = srv.get("/style.css", "Accept-Encoding: gzip, zstd\r\n");
        assert_eq!(r.header("content-encoding"), Some("zstd"));
        assert_eq!(zstd::decode_all(&r.body[..]).unwrap(), plain);

        let r = srv.get("/style.css", "Accept-Encoding: br\r\n");
        assert_eq!((r.header("content-encoding"), r.body.len()), (None, plain.len()));

        // A precompressed sibling wins over compressing on the fly.
        let r = srv.get("/pre.js", "Accept-Encoding: gzip\r\n");
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.body, b"PRECOMPRESSED-GZ");
        // Binary types are never compressed.
        let r = srv.get("/big.bin", "Accept-Encoding: gzip\r\n");
        assert_eq!(r.header("content-encoding"), None);
    }
}

#[test]
fn large_files_stream_intact_and_large_text_compresses_chunked() {
    for io in backends() {
        let srv = Server::start(io, "");
        let r = srv.get("/big.bin", "");
        let full = std::fs::read(srv.dir.path().join("root/big.bin")).unwrap();
        assert_eq!(r.body.len(), full.len(), "{io}");
        assert!(r.body == full);
        let text = std::fs::read(srv.dir.path().join("root/big.txt")).unwrap();
        let r = srv.get("/big.txt", "Accept-Encoding: gzip\r\n");
        assert!(r.chunked, "{io}: a file above the cache limit is compressed as a chunked stream");
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut out).unwrap();
        assert!(out == text);
        let r = srv.get("/big.txt", "Accept-Encoding: zstd\r\n");
        assert!(zstd::decode_all(&r.body[..]).unwrap() == text);
    }
}

#[test]
fn file_changes_are_seen_after_the_cache_ttl() {
    for io in backends() {
        let srv = Server::start(io, "[server.static]\nfile_cache_ttl = \"0s\"");
        assert_eq!(srv.get("/small.txt", "").body.len(), 1024);
        std::fs::write(srv.dir.path().join("root/small.txt"), b"changed").unwrap();
        assert_eq!(srv.get("/small.txt", "").text(), "changed", "{io}");
    }
}

#[test]
fn a_full_file_cache_serves_from_disk() {
    for io in backends() {
        let srv = Server::start(io, "[server.static]\nfile_cache_size = \"2KiB\"");
        let css = std::fs::read(srv.dir.path().join("root/style.css")).unwrap();
        for _ in 0..2 {
            assert_eq!(srv.get("/small.txt", "").body.len(), 1024, "{io}");
            let r = srv.get("/style.css", "");
            assert!(r.body == css, "{io}: uncached file intact");
            let r = srv.get("/style.css", "Accept-Encoding: gzip\r\n");
            assert_eq!(r.header("content-encoding"), Some("gzip"));
            assert!(r.chunked, "{io}: over budget, compression streams");
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut out).unwrap();
            assert!(out == css);
        }
    }
}
