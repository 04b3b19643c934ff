//! The per-core RESP accept loop (one SO_REUSEPORT socket per core, like
//! HTTP), with a per-core client limit.

use std::net::TcpListener as StdListener;
use std::rc::Rc;

use super::conn::{self, RespContext};
use crate::clients;

/// Accepts RESP clients until the core shuts down.
pub async fn accept_loop(listener: StdListener, ctx: Rc<RespContext>) -> std::io::Result<()> {
    let stop = ctx.stop.clone();
    let limit = Rc::clone(&ctx.clients);
    clients::accept_loop(listener, stop, limit, move |stream| conn::serve(stream, Rc::clone(&ctx))).await
}
