//! A core's KV node: its keyspace, and the request/reply traffic with the
//! other cores' nodes over the mesh. A command for a key this core owns
//! runs in place; one for another core's key is sent there and its reply
//! comes back the same way.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hashbrown::HashMap;

use super::glob::glob_match;
use super::keyspace::Keyspace;
use super::pubsub::PubSub;
use super::reply::Reply;
use super::{command, now_ms};
use ephpm_rt::mesh::{Inbox, Outbox, SendError};

/// A core's keyspace. The lock is shared only with that core's own PHP
/// threads (pinned to the same CPU), which read and write local keys in
/// place; other cores reach it only through its node, over the mesh.
pub type SharedKeyspace = Arc<Mutex<Keyspace>>;

/// Locks a keyspace. A panic while it was held cannot leave it half
/// changed in a way later commands mind, so a poisoned lock is used on.
pub fn lock(ks: &SharedKeyspace) -> MutexGuard<'_, Keyspace> {
    ks.lock().unwrap_or_else(|p| p.into_inner())
}

/// A message between KV nodes.
pub enum KvMsg {
    /// Run this command (name first, upper-cased) on the receiving core.
    Request {
        /// Matches the reply to its caller.
        id: u64,
        /// The command and its arguments.
        args: Vec<Bytes>,
    },
    /// The answer to a request.
    Reply {
        /// The request's id.
        id: u64,
        /// Its answer.
        reply: Reply,
    },
}

#[derive(Default)]
struct Pending {
    waker: Option<Waker>,
    reply: Option<Reply>,
}

/// One core's KV node.
pub struct KvNode {
    core: usize,
    cores: usize,
    ks: SharedKeyspace,
    outbox: RefCell<Outbox<KvMsg>>,
    pending: RefCell<HashMap<u64, Pending>>,
    next_id: Cell<u64>,
    /// This core's pub/sub subscriptions.
    pub pubsub: PubSub,
}

/// How often the active expiry sweep runs.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// Keys with a TTL sampled per sweep round.
const SWEEP_SAMPLE: usize = 20;

impl KvNode {
    /// The node of core `core` of `cores` over its keyspace `ks`, sending
    /// through `outbox`.
    pub fn new(core: usize, cores: usize, ks: SharedKeyspace, outbox: Outbox<KvMsg>) -> Rc<Self> {
        Rc::new(KvNode {
            core,
            cores,
            ks,
            outbox: RefCell::new(outbox),
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            pubsub: PubSub::default(),
        })
    }

    /// Number of cores (shards).
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// This node's core.
    pub fn core(&self) -> usize {
        self.core
    }

    /// Runs `args` on the core that owns shard `shard` and returns its
    /// reply.
    pub async fn call(&self, shard: usize, args: Vec<Bytes>) -> Reply {
        let ticket = self.submit(shard, args, false).await;
        self.flush();
        ticket.reply().await
    }

    /// Starts `args` on shard `shard` without waiting for the reply: a
    /// local command runs now (or, with `defer`, when its reply is asked
    /// for), a remote one is queued on the mesh (sent at the next
    /// [`KvNode::flush`]). Replies of one shard come back in the order
    /// their commands were submitted, so a pipeline can submit all its
    /// commands and then collect the replies in order; deferring local
    /// commands behind remote ones keeps the whole pipeline in order.
    pub async fn submit(&self, shard: usize, args: Vec<Bytes>, defer: bool) -> Ticket<'_> {
        if shard == self.core {
            let state =
                if defer { TicketState::Deferred(args) } else { TicketState::Ready(Some(self.run_local(&args))) };
            return Ticket { node: self, state };
        }
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.pending.borrow_mut().insert(id, Pending::default());
        let ticket = Ticket { node: self, state: TicketState::Waiting(id) };
        self.send_unflushed(shard, KvMsg::Request { id, args }).await;
        ticket
    }

    /// Wakes the cores that were sent requests since the last flush.
    pub fn flush(&self) {
        self.outbox.borrow_mut().flush();
    }

    /// Runs a command on this core's keys.
    pub fn run_local(&self, args: &[Bytes]) -> Reply {
        let now = now_ms();
        let name = args.first().map(|n| &n[..]).unwrap_or(b"");
        if name == b"PUBLISHLOCAL" && args.len() == 3 {
            // Internal: PUBLISH's delivery on this core.
            return Reply::Int(self.pubsub.deliver(&args[1], &args[2]) as i64);
        }
        let mut ks = lock(&self.ks);
        match name {
            b"DBSIZE" => Reply::Int(ks.keys(now).count() as i64),
            b"FLUSHDB" | b"FLUSHALL" => {
                ks.clear();
                Reply::OK
            }
            b"KEYS" => {
                let pattern = args.get(1).map(|p| &p[..]).unwrap_or(b"*");
                Reply::Array(ks.keys(now).filter(|k| glob_match(pattern, k)).map(|k| Reply::Bulk(k.clone())).collect())
            }
            // Internal: MEMORY USAGE's answer on this core.
            b"MEMUSAGE" if args.len() == 2 => ks.usage(&args[1], now).map_or(Reply::Nil, |n| Reply::Int(n as i64)),
            // Internal: INFO's figures for this core.
            b"STATS" => Reply::Array(
                [
                    ks.len(),
                    ks.volatile(),
                    ks.memory(),
                    ks.evicted as usize,
                    ks.expired as usize,
                    ks.hits as usize,
                    ks.misses as usize,
                ]
                .into_iter()
                .map(|n| Reply::Int(n as i64))
                .collect(),
            ),
            b"RANDOMKEY" => ks.keys(now).next().map_or(Reply::Nil, |k| Reply::Bulk(k.clone())),
            // Internal: SCANSHARD index count pattern type (see resp dispatch).
            b"SCANSHARD" if args.len() == 5 => {
                let num = |b: &Bytes| std::str::from_utf8(b).ok().and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
                let (pattern, ty) = (&args[3], &args[4]);
                let (next, keys) = ks.scan(num(&args[1]), num(&args[2]), now, |k, e| {
                    glob_match(pattern, k) && (ty.is_empty() || ty.eq_ignore_ascii_case(e.value.type_name().as_bytes()))
                });
                let mut out = vec![Reply::Int(next as i64)];
                out.extend(keys.into_iter().map(Reply::Bulk));
                Reply::Array(out)
            }
            _ => command::execute(&mut ks, args, now),
        }
    }

    /// Queues a message, waiting (and flushing) while the ring to that
    /// core is full.
    async fn send_unflushed(&self, to: usize, mut msg: KvMsg) {
        loop {
            let sent = self.outbox.borrow_mut().send(to, msg);
            match sent {
                Ok(()) => break,
                Err(SendError::Full(m)) => {
                    msg = m;
                    self.outbox.borrow_mut().flush();
                    monoio::time::sleep(Duration::from_micros(50)).await;
                }
                Err(SendError::NoRoute(_)) => return,
            }
        }
    }

    /// Serves the other cores: runs their requests here and completes this
    /// core's calls with their replies. Runs for the life of the core.
    pub async fn serve(self: Rc<Self>, mut inbox: Inbox<KvMsg>) {
        let mut batch = Vec::with_capacity(64);
        // Replies the ring to their core had no room for. Serving never
        // waits for room: two cores each waiting to answer the other, with
        // full rings both ways, would never drain their inboxes again.
        let mut backlog: std::collections::VecDeque<(usize, KvMsg)> = std::collections::VecDeque::new();
        loop {
            if backlog.is_empty() {
                inbox.recv_batch(&mut batch).await;
            } else {
                self.retry(&mut backlog);
                if inbox.drain(&mut batch) == 0 && !backlog.is_empty() {
                    monoio::time::sleep(Duration::from_micros(50)).await;
                }
            }
            for (from, msg) in batch.drain(..) {
                match msg {
                    KvMsg::Request { id, args } => {
                        let reply = KvMsg::Reply { id, reply: self.run_local(&args) };
                        if backlog.is_empty() {
                            if let Err(SendError::Full(m)) = self.outbox.borrow_mut().send(from, reply) {
                                backlog.push_back((from, m));
                            }
                        } else {
                            backlog.push_back((from, reply));
                        }
                    }
                    KvMsg::Reply { id, reply } => {
                        if let Some(p) = self.pending.borrow_mut().get_mut(&id) {
                            p.reply = Some(reply);
                            if let Some(w) = p.waker.take() {
                                w.wake();
                            }
                        }
                    }
                }
            }
            self.flush();
        }
    }

    /// Sends what it can of `backlog`, in order.
    fn retry(&self, backlog: &mut std::collections::VecDeque<(usize, KvMsg)>) {
        let mut outbox = self.outbox.borrow_mut();
        while let Some((to, msg)) = backlog.pop_front() {
            if let Err(SendError::Full(m)) = outbox.send(to, msg) {
                backlog.push_front((to, m));
                break;
            }
        }
        outbox.flush();
    }

    /// Active expiry: a few times a second, samples keys with a TTL and
    /// removes the due ones, again at once while a quarter or more of a
    /// sample was due.
    pub async fn sweep(self: Rc<Self>) {
        loop {
            monoio::time::sleep(SWEEP_EVERY).await;
            let now = now_ms();
            for _ in 0..16 {
                if lock(&self.ks).sweep(SWEEP_SAMPLE, now) * 4 < SWEEP_SAMPLE {
                    break;
                }
            }
        }
    }
}

/// A submitted command's reply, ready or on its way.
pub struct Ticket<'a> {
    node: &'a KvNode,
    state: TicketState,
}

enum TicketState {
    Ready(Option<Reply>),
    Deferred(Vec<Bytes>),
    Waiting(u64),
}

impl Ticket<'_> {
    /// Whether the reply comes from another core.
    pub fn is_remote(&self) -> bool {
        matches!(self.state, TicketState::Waiting(_))
    }

    /// The reply (waiting for it when it comes from another core).
    pub async fn reply(mut self) -> Reply {
        match &mut self.state {
            TicketState::Ready(r) => r.take().unwrap_or(Reply::Nil),
            TicketState::Deferred(args) => self.node.run_local(args),
            TicketState::Waiting(id) => {
                let id = *id;
                let node = self.node;
                poll_fn(|cx| {
                    let mut pending = node.pending.borrow_mut();
                    let Some(p) = pending.get_mut(&id) else { return Poll::Ready(Reply::err("request lost")) };
                    match p.reply.take() {
                        Some(r) => Poll::Ready(r),
                        None => {
                            p.waker = Some(cx.waker().clone());
                            Poll::Pending
                        }
                    }
                })
                .await
            }
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        // A reply nobody will read is dropped on arrival.
        if let TicketState::Waiting(id) = self.state {
            self.node.pending.borrow_mut().remove(&id);
        }
    }
}
