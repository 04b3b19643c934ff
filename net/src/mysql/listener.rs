//! The per-core MySQL accept loop (one SO_REUSEPORT socket per core).

use std::net::TcpListener as StdListener;
use std::rc::Rc;

use futures_util::future::{select, Either};
use monoio::net::TcpListener;

use super::conn::{self, MysqlContext};

/// Accepts MySQL clients until the core shuts down.
pub async fn accept_loop(listener: StdListener, ctx: Rc<MysqlContext>) -> std::io::Result<()> {
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
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        ctx.clients.set(ctx.clients.get() + 1);
        let ctx = Rc::clone(&ctx);
        monoio::spawn(async move {
            conn::serve(stream, Rc::clone(&ctx)).await;
            ctx.clients.set(ctx.clients.get() - 1);
        });
    }
}
