//! The per-core RESP accept loop (one SO_REUSEPORT socket per core, like
//! HTTP), with a per-core client limit.

use std::net::TcpListener as StdListener;
use std::rc::Rc;

use super::conn::{self, RespContext};
use ephpm_rt::accept;

/// Accepts RESP clients until the core shuts down.
pub async fn accept_loop(listener: StdListener, ctx: Rc<RespContext>) -> std::io::Result<()> {
    let stop = ctx.stop.clone();
    let limit = Rc::clone(&ctx.clients);
    accept::accept_loop(listener, stop, limit, move |stream, _| conn::serve(stream, Rc::clone(&ctx))).await
}
