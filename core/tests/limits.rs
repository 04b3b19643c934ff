//! Limits and timeouts, each answered as the RFC says.

mod common;

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn oversized_heads_get_431() {
    for io in backends() {
        let srv = Server::start(io, "max_headers = 10\nmax_header_size = \"2KiB\"");
        let long = format!("GET /small.txt HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(3000));
        assert!(String::from_utf8_lossy(&srv.raw(long.as_bytes())).starts_with("HTTP/1.1 431 "), "{io}");
        let mut many = String::from("GET /small.txt HTTP/1.1\r\nHost: t\r\n");
        for i in 0..20 {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert!(String::from_utf8_lossy(&srv.raw(many.as_bytes())).starts_with("HTTP/1.1 431 "), "{io}");
        assert_eq!(srv.get("/small.txt", "").status, 200);
    }
}

#[test]
fn oversized_bodies_get_413() {
    for io in backends() {
        let srv = Server::start(io, "max_body_size = \"1KiB\"");
        let out = srv.raw(b"POST /index.php HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n");
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 413 "), "{io}");
        let mut req = b"POST /index.php HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            req.extend_from_slice(b"200\r\n");
            req.extend_from_slice(&[b'x'; 512]);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        assert!(String::from_utf8_lossy(&srv.raw(&req)).starts_with("HTTP/1.1 413 "), "{io}");
        // An expect-continue request over the limit gets 413, not 100.
        let out = srv.raw(b"PUT /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 413 "), "{io}");
    }
}

/// A client that sends its whole (refused) body before it reads gets the
/// answer, not a reset: the server reads and drops the rest of the body
/// after answering (a lingering close) instead of closing on unread input.
#[test]
fn a_refused_body_sent_whole_still_gets_its_answer() {
    for io in backends() {
        let srv = Server::start(io, "max_body_size = \"1KiB\"");
        let body = vec![b'x'; 4 << 20];
        let mut s = srv.connect();
        let head = format!("POST /index.php HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).unwrap();
        // More than the socket buffers hold: without the lingering close the
        // server's reset fails this write or the read after it.
        s.write_all(&body).unwrap_or_else(|e| panic!("{io}: writing the body: {e}"));
        let out = read_until_quiet(&mut s, Duration::from_secs(2));
        assert!(
            String::from_utf8_lossy(&out).starts_with("HTTP/1.1 413 "),
            "{io}: {:?}",
            String::from_utf8_lossy(&out)
        );
    }
}

#[test]
fn slowloris_gets_408_and_is_closed() {
    for io in backends() {
        let srv = Server::start(io, "[server.timeouts]\nheader = \"1s\"");
        let mut s = srv.connect();
        let start = Instant::now();
        s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n").unwrap();
        // Trickle a header byte every 200 ms, never finishing the head.
        let mut out = Vec::new();
        for _ in 0..15 {
            std::thread::sleep(Duration::from_millis(200));
            if s.write_all(b"X").is_err() {
                break;
            }
        }
        let _ = std::io::Read::read_to_end(&mut s, &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 408 "), "{io}: {text}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn slow_body_gets_408() {
    for io in backends() {
        let srv = Server::start(io, "[server.timeouts]\nrequest = \"1s\"");
        let mut s = srv.connect();
        s.write_all(b"POST /index.php HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc").unwrap();
        let resp = read_response(&mut BufReader::new(s), false);
        assert_eq!(resp.status, 408, "{io}");
    }
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    for io in backends() {
        let srv = Server::start(io, "[server.timeouts]\nkeep_alive = \"1s\"");
        let mut s = srv.connect();
        s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        assert_eq!(read_response(&mut r, false).status, 200);
        let start = Instant::now();
        assert!(closed_by_server(&mut s), "{io}");
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(800) && waited < Duration::from_secs(4), "{io}: {waited:?}");
    }
}

#[test]
fn connections_over_the_per_core_limit_get_503() {
    for io in backends() {
        let srv = Server::start(io, "max_connections = 1\ncores = 1");
        let first = srv.connect();
        (&first).write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut BufReader::new(first.try_clone().unwrap()), false).status, 200);
        let out = srv.raw(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 503 "), "{io}");
        drop(first);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(srv.get("/small.txt", "").status, 200, "{io}: a slot frees when a connection closes");
    }
}

#[test]
fn a_connection_idle_past_the_buffer_hold_still_serves() {
    for io in backends() {
        let srv = Server::start(io, "");
        let s = srv.connect();
        let mut r = BufReader::new(s.try_clone().unwrap());
        for pause in [0u64, 400, 50, 600] {
            std::thread::sleep(Duration::from_millis(pause));
            (&s).write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut r, false).status, 200, "{io} after {pause} ms idle");
        }
    }
}

#[test]
fn a_silent_new_connection_gets_the_header_timeout() {
    for io in backends() {
        let srv = Server::start(io, "[server.timeouts]\nheader = \"1s\"\nkeep_alive = \"60s\"");
        let mut s = srv.connect();
        let start = Instant::now();
        assert!(closed_by_server(&mut s), "{io}");
        assert!(start.elapsed() < Duration::from_secs(4), "{io}: {:?}", start.elapsed());
    }
}

/// The server's CPU time so far (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    // utime and stime are fields 14 and 15; the slice starts at field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Out of file descriptors, the accept loop backs off instead of spinning
/// on EMFILE, says so in the log, and serves again once descriptors free.
#[test]
fn accept_backs_off_when_descriptors_run_out() {
    for io in backends() {
        let srv = Server::start(io, "cores = 1");
        let pid = srv.pid();
        assert_eq!(srv.get("/small.txt", "").status, 200, "{io}");
        let open = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let soft = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap()
            .split_whitespace()
            .nth(3)
            .unwrap()
            .to_string();
        let limit = |soft: String| {
            let ok = std::process::Command::new("prlimit")
                .args(["--pid", &pid.to_string(), &format!("--nofile={soft}:")])
                .status()
                .expect("prlimit (util-linux)")
                .success();
            assert!(ok, "prlimit failed");
        };
        limit((open + 2).to_string());
        // More clients than descriptors: the kernel completes their
        // handshakes, the server's accept fails with EMFILE.
        let clients: Vec<std::net::TcpStream> = (0..16).map(|_| srv.connect()).collect();
        assert!(srv.wait_log("accept failed; backing off"), "{io}: {}", srv.log());
        let before = cpu_ticks(pid);
        std::thread::sleep(Duration::from_secs(1));
        let used = cpu_ticks(pid) - before;
        // A core spinning on accept would burn about 100 ticks a second.
        assert!(used < 30, "{io}: {used} ticks of CPU in 1 s while out of descriptors");
        drop(clients);
        limit(soft.clone());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut s = srv.connect();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.write_all(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
            let mut out = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut out);
            if out.starts_with(b"HTTP/1.1 200 ") {
                break;
            }
            assert!(Instant::now() < deadline, "{io}: not serving again: {}", String::from_utf8_lossy(&out));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
