//! Listening sockets: one SO_REUSEPORT socket per core, so the kernel
//! spreads connections and a connection never changes core.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};

/// Binds `count` sockets to `addr` with SO_REUSEPORT. When `addr` has port
/// 0, the first socket picks the port and the others share it.
pub fn bind_reuseport(addr: SocketAddr, count: usize, backlog: i32) -> io::Result<Vec<StdListener>> {
    let mut out = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count {
        let l = bind(addr, true, backlog)?;
        addr = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

/// Binds one socket to `addr` without SO_REUSEPORT, so a second process
/// cannot share the port (the node API: a scrape must reach this server).
pub fn bind_exclusive(addr: SocketAddr, backlog: i32) -> io::Result<StdListener> {
    bind(addr, false, backlog)
}

fn bind(addr: SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<StdListener> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(reuse_port)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into()).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    s.listen(backlog)?;
    Ok(s.into())
}
