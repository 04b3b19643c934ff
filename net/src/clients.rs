//! The accept loop shared by the per-core listeners of the KV (RESP) and
//! database (MySQL) protocols: accept until the core shuts down, refuse
//! beyond a per-core client limit with the protocol's own error, and serve
//! each client on its own task.

use std::cell::Cell;
use std::future::Future;
use std::net::TcpListener as StdListener;
use std::rc::Rc;

use ephpm_shard::LocalSignal;
use futures_util::future::{select, Either};
use monoio::io::AsyncWriteRentExt;
use monoio::net::{TcpListener, TcpStream};

/// A per-core client count and its limit.
pub struct ClientLimit {
    /// Clients connected on this core.
    pub count: Cell<usize>,
    /// Most clients per core.
    pub max: usize,
    /// What a client beyond the limit is sent before the close.
    pub refusal: &'static [u8],
}

/// Accepts clients on `listener` until `stop` fires; `serve` runs each.
pub async fn accept_loop<F, Fut>(
    listener: StdListener,
    stop: LocalSignal,
    limit: Rc<ClientLimit>,
    serve: F,
) -> std::io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    loop {
        let accepted = {
            let accept = std::pin::pin!(listener.accept());
            let stopped = std::pin::pin!(stop.wait());
            match select(accept, stopped).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return Ok(()),
            }
        };
        let Ok((mut stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        if limit.count.get() >= limit.max {
            let refusal = limit.refusal;
            monoio::spawn(async move {
                let _ = stream.write_all(refusal.to_vec()).await;
            });
            continue;
        }
        limit.count.set(limit.count.get() + 1);
        let served = serve(stream);
        let limit = Rc::clone(&limit);
        monoio::spawn(async move {
            served.await;
            limit.count.set(limit.count.get() - 1);
        });
    }
}
