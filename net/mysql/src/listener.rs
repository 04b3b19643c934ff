//! The per-core MySQL accept loop (one SO_REUSEPORT socket per core), with
//! a per-core client limit.

use std::net::TcpListener as StdListener;
use std::rc::Rc;

use super::conn::{self, MysqlContext};
use ephpm_rt::accept;

/// Accepts MySQL clients until the core shuts down.
pub async fn accept_loop(listener: StdListener, ctx: Rc<MysqlContext>) -> std::io::Result<()> {
    let stop = ctx.stop.clone();
    let limit = Rc::clone(&ctx.clients);
    accept::accept_loop(listener, stop, limit, move |stream, _| conn::serve(stream, Rc::clone(&ctx))).await
}
