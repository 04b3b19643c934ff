//! Listening sockets (one SO_REUSEPORT socket per core, so the kernel spreads
//! connections and a connection never changes core) and the accept loop.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::rc::Rc;

use ephpm_shard::LocalSignal;
use futures_util::future::{select, Either};
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpListener;

use crate::access_log::AccessLog;
use crate::http1::conn::{over_capacity_response, serve_connection};
use crate::http1::Limits;
use crate::http1::{ConnContext, HttpStats, Service};

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

/// What one core's accept loop needs.
pub struct AcceptContext {
    /// Limits and timeouts for each connection.
    pub limits: Rc<Limits>,
    /// Fired when the core begins a graceful shutdown.
    pub stop: LocalSignal,
    /// The core's counters.
    pub stats: Rc<HttpStats>,
    /// Most connections this core keeps open at once.
    pub max_connections: usize,
    /// The core's access log, when on.
    pub access: Option<Rc<AccessLog>>,
}

/// Accepts connections on `listener` until `ctx.stop` fires; each
/// connection runs as its own task on this core.
pub async fn accept_loop<Svc: Service + 'static>(
    listener: StdListener,
    svc: Rc<Svc>,
    ctx: AcceptContext,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let local = listener.local_addr()?;
    loop {
        let accepted = match select(std::pin::pin!(listener.accept()), std::pin::pin!(ctx.stop.wait())).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => return Ok(()),
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: log, back off briefly, keep serving.
                tracing::warn!(error = %e, "accept failed");
                monoio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let stats = Rc::clone(&ctx.stats);
        stats.accepted.set(stats.accepted.get() + 1);
        if stats.open.get() >= ctx.max_connections {
            monoio::spawn(async move {
                let mut stream = stream;
                let _ = stream.write_all(over_capacity_response()).await;
                stats.closed.set(stats.closed.get() + 1);
            });
            continue;
        }
        let _ = stream.set_nodelay(true);
        stats.open.set(stats.open.get() + 1);
        let svc = Rc::clone(&svc);
        let limits = Rc::clone(&ctx.limits);
        let stop = ctx.stop.clone();
        let access = ctx.access.clone();
        monoio::spawn(async move {
            let cctx =
                ConnContext { limits: &limits, stop: &stop, stats: &stats, access: access.as_deref(), peer, local };
            serve_connection(stream, &*svc, cctx).await;
            stats.open.set(stats.open.get() - 1);
            stats.closed.set(stats.closed.get() + 1);
        });
    }
}
