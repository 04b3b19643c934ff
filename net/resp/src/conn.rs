//! One RESP connection: read, parse every complete command, run each in
//! order, write the replies of a pipelined batch together.

use std::cell::Cell;
use std::rc::Rc;

use bytes::Bytes;
use ephpm_kv::node::Ticket;
use ephpm_kv::table::{flags, lookup};
use ephpm_kv::{shard_of, KvNode};
use ephpm_rt::LocalSignal;
use ephpm_tls::Transport;
use futures_util::future::{select, Either};
use monoio::buf::IoBufMut;
use monoio::io::AsyncWriteRentExt;

use super::dispatch::{self, After};
use super::parser::{self, ParseLimits};
use super::writer;

/// What every RESP connection of a core shares.
pub struct RespContext {
    /// The core's KV node.
    pub node: Rc<KvNode>,
    /// `kv.redis.password`, if set.
    pub password: Option<Rc<str>>,
    /// Argument limits.
    pub limits: ParseLimits,
    /// Most bytes a client may have buffered in one unparsed command.
    pub max_query: usize,
    /// Connected clients on this core and their limit.
    pub clients: Rc<ephpm_rt::accept::ClientLimit>,
    /// Fired at shutdown.
    pub stop: LocalSignal,
    next_id: Cell<u64>,
}

impl RespContext {
    /// The context of one core's RESP connections.
    pub fn new(
        node: Rc<KvNode>,
        password: Option<String>,
        max_query: usize,
        max_clients: usize,
        stop: LocalSignal,
    ) -> Self {
        let core = node.core() as u64;
        RespContext {
            node,
            password: password.filter(|p| !p.is_empty()).map(Rc::from),
            limits: ParseLimits::default(),
            max_query,
            clients: Rc::new(ephpm_rt::accept::ClientLimit {
                count: Cell::new(0),
                max: max_clients,
                refusal: b"-ERR max number of clients reached\r\n",
            }),
            stop,
            // Client ids are unique across cores: the core in the low bits.
            next_id: Cell::new(core + 1),
        }
    }

    fn client_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1024);
        id
    }
}

/// One connection's state.
pub struct Session {
    /// Replies in RESP3.
    pub resp3: bool,
    /// Authenticated (always, without a password).
    pub authed: bool,
    /// CLIENT SETNAME.
    pub name: Option<Bytes>,
    /// CLIENT ID.
    pub id: u64,
    /// Commands queued since MULTI.
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command queued since MULTI was refused: EXEC aborts.
    pub multi_failed: bool,
    /// WATCHed keys and their versions then.
    pub watched: Vec<ephpm_kv::transaction::Watched>,
    /// Where published messages for this connection arrive, once it
    /// subscribed.
    pub mailbox: Option<Rc<ephpm_kv::pubsub::Mailbox>>,
    /// Subscribed channels.
    pub channels: Vec<Bytes>,
    /// Subscribed patterns.
    pub patterns: Vec<Bytes>,
}

impl Session {
    /// Channels plus patterns: in RESP2, above 0 the connection only takes
    /// subscription commands.
    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// The command, name upper-cased, if it is a plain single-key command this
/// session may pipeline (authenticated, not in MULTI, not subscribed).
fn fast_keyed(session: &Session, mut args: Vec<Bytes>) -> Result<Vec<Bytes>, Vec<Bytes>> {
    if !session.authed || session.multi.is_some() || session.subscriptions() > 0 || args.len() < 2 {
        return Err(args);
    }
    let Some(spec) = lookup(&args[0]) else { return Err(args) };
    match spec.name {
        // DEL, UNLINK and EXISTS with several keys span cores.
        "DEL" | "UNLINK" | "EXISTS" if args.len() > 2 => Err(args),
        // A wrong arity gets its error on the slow path.
        _ if spec.has(flags::KEYED) && spec.arity_ok(args.len()) => {
            args[0] = Bytes::from_static(spec.name.as_bytes());
            Ok(args)
        }
        _ => Err(args),
    }
}

/// Sends the submitted commands on and writes their replies, in order.
async fn settle(ctx: &RespContext, tickets: &mut Vec<Ticket<'_>>, resp3: bool, out: &mut Vec<u8>) {
    if tickets.is_empty() {
        return;
    }
    ctx.node.flush();
    for t in tickets.drain(..) {
        writer::write(out, &t.reply().await, resp3);
    }
}

/// Serves RESP on `stream` until the client leaves, sends bad input, or
/// the core shuts down.
pub async fn serve<S: Transport>(mut stream: S, ctx: Rc<RespContext>) {
    let mut session = Session {
        resp3: false,
        authed: ctx.password.is_none(),
        name: None,
        id: ctx.client_id(),
        multi: None,
        multi_failed: false,
        watched: Vec::new(),
        mailbox: None,
        channels: Vec::new(),
        patterns: Vec::new(),
    };
    run(&mut stream, &ctx, &mut session).await;
    // Leave the core's subscription lists tidy.
    if let Some(mb) = &session.mailbox {
        for c in &session.channels {
            ctx.node.pubsub.unsubscribe(c, mb);
        }
        for p in &session.patterns {
            ctx.node.pubsub.punsubscribe(p, mb);
        }
    }
}

async fn run<S: Transport>(stream: &mut S, ctx: &Rc<RespContext>, session: &mut Session) {
    let mut rbuf: Vec<u8> = Vec::with_capacity(4096);
    let mut pos = 0;
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut tickets: Vec<Ticket<'_>> = Vec::new();
    loop {
        loop {
            match parser::parse(&rbuf[pos..], &ctx.limits) {
                Ok(Some((args, n))) => {
                    pos += n;
                    if args.is_empty() {
                        continue;
                    }
                    // Plain single-key commands of a pipeline go out to
                    // their cores together; the replies are collected in
                    // order once the batch is read (or before any other
                    // command), so N remote commands cost one round trip.
                    let args = match fast_keyed(session, args) {
                        Ok(keyed) => {
                            let shard = shard_of(&keyed[1], ctx.node.cores());
                            // Behind a command in flight to another core, a
                            // local one waits its turn.
                            let defer = tickets.iter().any(Ticket::is_remote);
                            tickets.push(ctx.node.submit(shard, keyed, defer).await);
                            continue;
                        }
                        Err(args) => args,
                    };
                    settle(ctx, &mut tickets, session.resp3, &mut out).await;
                    if dispatch::run(ctx, session, args, &mut out).await == After::Close {
                        let _ = stream.write_all(out).await;
                        return;
                    }
                    if let Some(mb) = session.mailbox.clone() {
                        super::subscribe::write_messages(&mb, session, &mut out);
                    }
                    if out.len() >= 64 * 1024 {
                        out = match stream.write_all(out).await {
                            (Ok(_), mut o) => {
                                o.clear();
                                o
                            }
                            (Err(_), _) => return,
                        };
                    }
                }
                Ok(None) => {
                    settle(ctx, &mut tickets, session.resp3, &mut out).await;
                    break;
                }
                Err(e) => {
                    settle(ctx, &mut tickets, session.resp3, &mut out).await;
                    writer::write(&mut out, &ephpm_kv::Reply::Error(e.0), session.resp3);
                    let _ = stream.write_all(out).await;
                    return;
                }
            }
        }
        if !out.is_empty() {
            out = match stream.write_all(out).await {
                (Ok(_), mut o) => {
                    o.clear();
                    o
                }
                (Err(_), _) => return,
            };
        }
        if pos > 0 {
            rbuf.drain(..pos);
            pos = 0;
        }
        if rbuf.len() > ctx.max_query {
            writer::write(
                &mut out,
                &ephpm_kv::Reply::err("query buffer limit reached (kv.redis.max_query_buffer)"),
                session.resp3,
            );
            let _ = stream.write_all(out).await;
            return;
        }
        if let Some(mb) = session.mailbox.clone().filter(|_| session.subscriptions() > 0) {
            // Subscribed: wait for input or messages without starting a
            // read that a message would cancel with bytes in it.
            let readable = std::pin::pin!(stream.readable());
            let mail = std::pin::pin!(mb.ready());
            let stopped = std::pin::pin!(ctx.stop.wait());
            match select(select(readable, mail), stopped).await {
                Either::Left((Either::Left((Ok(()), _)), _)) => {}
                Either::Left((Either::Right(((), _)), _)) => {
                    super::subscribe::write_messages(&mb, session, &mut out);
                    continue;
                }
                _ => return,
            }
        }
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(16 * 1024);
        }
        let (len, cap) = (rbuf.len(), rbuf.capacity());
        let read = stream.read(std::mem::take(&mut rbuf).slice_mut(len..cap));
        let read = std::pin::pin!(read);
        let stopped = std::pin::pin!(ctx.stop.wait());
        match select(read, stopped).await {
            Either::Left(((Ok(n), buf), _)) if n > 0 => rbuf = buf.into_inner(),
            _ => return,
        }
    }
}
