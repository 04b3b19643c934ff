//! The per-core RESP accept loop (one SO_REUSEPORT socket per core, like
//! HTTP), with a per-core client limit.

use std::net::TcpListener as StdListener;
use std::rc::Rc;

use futures_util::future::{select, Either};
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpListener;

use super::conn::{self, RespContext};

/// Accepts RESP clients until the core shuts down.
pub async fn accept_loop(listener: StdListener, ctx: Rc<RespContext>, max_clients: usize) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    loop {
        let accepted = {
            let accept = std::pin::pin!(listener.accept());
            let stop = std::pin::pin!(ctx.stop.wait());
            match select(accept, stop).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return Ok(()),
            }
        };
        let Ok((mut stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        if ctx.clients.get() >= max_clients {
            monoio::spawn(async move {
                let _ = stream.write_all(b"-ERR max number of clients reached\r\n".to_vec()).await;
            });
            continue;
        }
        ctx.clients.set(ctx.clients.get() + 1);
        let ctx = Rc::clone(&ctx);
        monoio::spawn(async move {
            conn::serve(stream, Rc::clone(&ctx)).await;
            ctx.clients.set(ctx.clients.get() - 1);
        });
    }
}
