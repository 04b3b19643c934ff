//! A core's KV node: its shard, and the request/answer traffic with the
//! other cores' nodes over the mesh. A command for a key this core owns
//! runs in place; one for another core's key is sent there and its answer
//! comes back the same way.
//!
//! A command that must be atomic across cores (MULTI/EXEC, RENAME, LMOVE,
//! a snapshot) holds every shard it touches first ([`KvNode::hold`], in
//! core order, so two transactions never wait on each other in a cycle).
//! A held shard runs only its holder's steps; every other request, local
//! or remote, waits in order until the holder releases it. No core ever
//! locks another core's keys.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use ephpm_rt::mesh::{Inbox, Outbox, SendError};
use hashbrown::HashMap;

use super::figures::ShardFigures;
use super::glob::glob_match;
use super::keyspace::Value;
use super::pubsub::PubSub;
use super::reply::Reply;
use super::shard::{lock, SharedKeyspace};
use super::snapshot::Record;
use super::{command, now_ms};

/// A transaction's id, unique across cores (the core in the top bits).
pub type TxId = u64;

/// What a node asks another node to do.
pub enum Op {
    /// A client command (name first, upper-cased) on this core's keys.
    Command(Vec<Bytes>),
    /// Reserve the shard for a transaction: answered ([`Answer::Held`])
    /// once the shard is held for it.
    Hold(TxId),
    /// A step of the transaction holding the shard.
    Step(TxId, Step),
    /// PUBLISH's delivery to this core's subscribers.
    Publish {
        /// The channel.
        channel: Bytes,
        /// The payload.
        message: Bytes,
    },
    /// A key's version, for WATCH.
    Version(Bytes),
    /// One SCAN step over this core's key table.
    Scan {
        /// Where to start in the table.
        index: usize,
        /// How many slots to look at.
        count: usize,
        /// MATCH pattern.
        pattern: Bytes,
        /// TYPE filter (empty: any).
        kind: Bytes,
    },
    /// MEMORY USAGE of a key.
    MemoryUsage(Bytes),
    /// The shard's figures (INFO, the node API).
    Figures,
    /// Replaces a key with a set of members (SINTERSTORE and friends).
    StoreSet {
        /// The destination key.
        key: Bytes,
        /// Its members, gathered from every core.
        members: Vec<Bytes>,
    },
    /// This shard's snapshot begun at the point ([`Step::BeginSnapshot`]),
    /// copied to its end while the core keeps serving: answered with
    /// [`Answer::Records`].
    CollectSnapshot,
    /// Deletes every key with a prefix (a PHP object cache's flush).
    DelPrefix(Bytes),
    /// Runs a function on the owning core, for the core's other
    /// services (the page cache's purge). It touches no key, so it runs
    /// at once even while a transaction holds the shard.
    Run(Box<dyn FnOnce() -> Reply + Send>),
    /// Deletes a key only if it holds a value (a PHP session lock's
    /// release).
    DelIfEq {
        /// The key.
        key: Bytes,
        /// The value it must hold.
        value: Bytes,
    },
}

/// What a transaction does on a shard it holds.
pub enum Step {
    /// Runs a command.
    Command(Vec<Bytes>),
    /// The key's version (EXEC's check of WATCHed keys).
    Version(Bytes),
    /// Removes the key and hands over its value and expiry.
    Take(Bytes),
    /// Sets the key to a value and expiry taken elsewhere.
    Put(Bytes, Value, Option<u64>),
    /// Marks the snapshot's point (every shard is held at once), from
    /// which [`Op::CollectSnapshot`] copies the keys.
    BeginSnapshot,
    /// Whether a write could go in now, evicting if the memory limit asks
    /// (LMOVE before it pops).
    Room,
}

/// A node's answer to an [`Op`].
pub enum Answer {
    /// A command's reply.
    Reply(Reply),
    /// The shard is held for the asking transaction.
    Held,
    /// A key's version (`None`: no such key).
    Version(Option<u64>),
    /// A taken key's value and expiry.
    Entry(Option<(Value, Option<u64>)>),
    /// The shard's figures.
    Figures(ShardFigures),
    /// The shard's live keys at a snapshot's point.
    Records(Vec<Record>),
}

impl Answer {
    /// The reply a client sees.
    pub(crate) fn into_reply(self) -> Reply {
        match self {
            Answer::Reply(r) => r,
            _ => Reply::err("unexpected internal answer"),
        }
    }
}

/// A message between KV nodes.
pub enum KvMsg {
    /// Do this on the receiving core.
    Request {
        /// Matches the answer to its caller.
        id: u64,
        /// What to do.
        op: Op,
    },
    /// The answer to a request.
    Answer {
        /// The request's id.
        id: u64,
        /// Its answer.
        answer: Answer,
    },
    /// The transaction no longer holds the receiving shard (no answer).
    Release(TxId),
}

#[derive(Default)]
struct Pending {
    waker: Option<Waker>,
    answer: Option<Answer>,
}

/// One core's KV node.
pub struct KvNode {
    /// This node, for the tasks it spawns.
    me: std::rc::Weak<KvNode>,
    core: usize,
    cores: usize,
    ks: SharedKeyspace,
    outbox: RefCell<Outbox<KvMsg>>,
    pending: RefCell<HashMap<u64, Pending>>,
    next_id: Cell<u64>,
    next_tx: Cell<u64>,
    /// The transaction holding this shard (mirrors the shard's `held`,
    /// read without the lock).
    holder: Cell<Option<TxId>>,
    /// Requests that came while the shard was held, in arrival order.
    deferred: RefCell<VecDeque<(usize, u64, Op)>>,
    /// This core's tasks waiting for the shard to be released.
    waiting: RefCell<Vec<Waker>>,
    /// Messages the ring to their core had no room for. Serving never
    /// waits for room: two cores each waiting to answer the other, with
    /// full rings both ways, would never drain their inboxes again.
    backlog: RefCell<VecDeque<(usize, KvMsg)>>,
    /// This core's pub/sub subscriptions.
    pub pubsub: PubSub,
    /// Batches taken from the mesh rings, and the messages in them.
    mesh_batches: Cell<u64>,
    mesh_messages: Cell<u64>,
}

/// Keys a snapshot copies between looks at the clock.
const SNAPSHOT_SLICE: usize = 64;
/// How long a snapshot copies before the core serves its I/O again.
const SNAPSHOT_BURST: Duration = Duration::from_micros(300);
/// How often the active expiry sweep runs.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// Keys with a TTL sampled per sweep round.
const SWEEP_SAMPLE: usize = 20;

impl KvNode {
    /// The node of core `core` of `cores` over its shard `ks`, sending
    /// through `outbox`.
    pub fn new(core: usize, cores: usize, ks: SharedKeyspace, outbox: Outbox<KvMsg>) -> Rc<Self> {
        Rc::new_cyclic(|me| KvNode {
            me: me.clone(),
            core,
            cores,
            ks,
            outbox: RefCell::new(outbox),
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            next_tx: Cell::new(0),
            holder: Cell::new(None),
            deferred: RefCell::new(VecDeque::new()),
            waiting: RefCell::new(Vec::new()),
            backlog: RefCell::new(VecDeque::new()),
            pubsub: PubSub::default(),
            mesh_batches: Cell::new(0),
            mesh_messages: Cell::new(0),
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

    /// Asks shard `shard` for `op` outside any transaction (waiting, like
    /// a command, while a transaction holds it).
    pub async fn ask(&self, shard: usize, op: Op) -> Answer {
        if shard == self.core {
            self.unheld().await;
            if let Op::CollectSnapshot = op {
                return self.collect_snapshot().await;
            }
            return self.answer_local(op);
        }
        let ticket = self.send_request(shard, op).await;
        self.flush();
        ticket.answer().await
    }

    /// This shard's figures now: the keyspace's and the node's own.
    pub fn figures(&self) -> ShardFigures {
        let mut f = ShardFigures::of(&lock(&self.ks));
        f.mesh_batches = self.mesh_batches.get();
        f.mesh_messages = self.mesh_messages.get();
        f
    }

    /// Whether a transaction holds this core's shard (then requests wait
    /// in [`KvNode::ask`]).
    pub(crate) fn is_held(&self) -> bool {
        self.holder.get().is_some()
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
            if defer {
                return Ticket { node: self, state: TicketState::Deferred(args) };
            }
            self.unheld().await;
            return Ticket { node: self, state: TicketState::Ready(Some(self.run_command(&args))) };
        }
        self.send_request(shard, Op::Command(args)).await
    }

    /// Queues `op` for shard `shard` and returns the ticket of its answer.
    async fn send_request(&self, shard: usize, op: Op) -> Ticket<'_> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.pending.borrow_mut().insert(id, Pending::default());
        let ticket = Ticket { node: self, state: TicketState::Waiting(id) };
        self.send_unflushed(shard, KvMsg::Request { id, op }).await;
        ticket
    }

    /// Wakes the cores that were sent requests since the last flush.
    pub fn flush(&self) {
        self.outbox.borrow_mut().flush();
    }

    /// A new transaction id.
    pub fn new_tx(&self) -> TxId {
        let seq = self.next_tx.get();
        self.next_tx.set(seq + 1);
        ((self.core as u64) << 48) | (seq & ((1 << 48) - 1))
    }

    /// Holds shard `shard` for `tx`: resolves once no one else can touch
    /// its keys until [`KvNode::release`]. Callers hold shards in
    /// ascending order.
    pub async fn hold(&self, shard: usize, tx: TxId) {
        if shard == self.core {
            self.unheld().await;
            self.set_holder(Some(tx));
            return;
        }
        let ticket = self.send_request(shard, Op::Hold(tx)).await;
        self.flush();
        let _ = ticket.answer().await;
    }

    /// Runs a step of `tx` on shard `shard`, which `tx` holds.
    pub async fn step(&self, shard: usize, tx: TxId, step: Step) -> Answer {
        if shard == self.core {
            return self.run_step(tx, step);
        }
        let ticket = self.send_request(shard, Op::Step(tx, step)).await;
        self.flush();
        ticket.answer().await
    }

    /// Ends `tx`'s hold on shard `shard` (without waiting; call
    /// [`KvNode::flush`] after releasing a batch).
    pub fn release(&self, shard: usize, tx: TxId) {
        if shard == self.core {
            self.release_local(tx);
        } else {
            self.send_or_backlog(shard, KvMsg::Release(tx));
        }
    }

    /// Resolves once no transaction holds this core's shard.
    async fn unheld(&self) {
        poll_fn(|cx| {
            if self.holder.get().is_none() {
                Poll::Ready(())
            } else {
                self.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    fn set_holder(&self, tx: Option<TxId>) {
        self.holder.set(tx);
        lock(&self.ks).held = tx.is_some();
    }

    /// `tx` no longer holds this shard: the requests that waited run, in
    /// order, until one of them holds the shard again; local tasks wake.
    fn release_local(&self, tx: TxId) {
        if self.holder.get() != Some(tx) {
            // Released before its hold was granted (the holder gave up
            // while waiting): the queued hold must never be granted.
            self.deferred.borrow_mut().retain(|(_, _, op)| !matches!(op, Op::Hold(t) if *t == tx));
            return;
        }
        self.set_holder(None);
        for w in self.waiting.borrow_mut().drain(..) {
            w.wake();
        }
        while self.holder.get().is_none() {
            let Some((from, id, op)) = self.deferred.borrow_mut().pop_front() else { break };
            self.handle_request(from, id, op);
        }
        self.flush();
    }

    /// Serves one request from core `from`.
    fn handle_request(&self, from: usize, id: u64, op: Op) {
        let answer = match (self.holder.get(), op) {
            (_, Op::Run(f)) => Answer::Reply(f()),
            (Some(holder), Op::Step(tx, step)) if holder == tx => self.run_step(tx, step),
            (Some(_), op) => {
                self.deferred.borrow_mut().push_back((from, id, op));
                return;
            }
            (None, Op::Hold(tx)) => {
                self.set_holder(Some(tx));
                Answer::Held
            }
            (None, Op::CollectSnapshot) => {
                // Copied over many turns of the core; answered when done.
                let Some(me) = self.me.upgrade() else { return };
                monoio::spawn(async move {
                    let answer = me.collect_snapshot().await;
                    me.send_or_backlog(from, KvMsg::Answer { id, answer });
                    me.flush();
                });
                return;
            }
            (None, op) => self.answer_local(op),
        };
        self.send_or_backlog(from, KvMsg::Answer { id, answer });
    }

    /// Copies this shard's snapshot in progress to its end: slices of
    /// [`SNAPSHOT_SLICE`] keys for up to [`SNAPSHOT_BURST`], then a pause
    /// of one timer tick in which the core waits for I/O and serves it
    /// (on io_uring with deferred completions, only a core that waits
    /// collects them: a task that merely yielded would hold them back).
    async fn collect_snapshot(&self) -> Answer {
        loop {
            let burst = std::time::Instant::now();
            while burst.elapsed() < SNAPSHOT_BURST {
                let mut ks = lock(&self.ks);
                if let Some(records) = ks.copy_step(SNAPSHOT_SLICE) {
                    return Answer::Records(records);
                }
                if !ks.copying() {
                    // Another snapshot replaced this one: nothing to answer.
                    return Answer::Records(Vec::new());
                }
            }
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Runs a step of `tx`, which holds this shard.
    fn run_step(&self, tx: TxId, step: Step) -> Answer {
        if self.holder.get() != Some(tx) {
            return Answer::Reply(Reply::err("the transaction does not hold this shard"));
        }
        let now = now_ms();
        match step {
            Step::Command(args) => Answer::Reply(self.run_command(&args)),
            Step::Version(key) => Answer::Version(lock(&self.ks).version(&key, now)),
            Step::Take(key) => Answer::Entry(lock(&self.ks).take(&key, now)),
            Step::Put(key, value, expires) => {
                lock(&self.ks).set(key, value, expires);
                Answer::Reply(Reply::OK)
            }
            Step::BeginSnapshot => {
                lock(&self.ks).begin_snapshot(now);
                Answer::Reply(Reply::OK)
            }
            Step::Room => Answer::Reply(command::room(&mut lock(&self.ks))),
        }
    }

    /// Answers `op` on this core's shard (not held, or held by the caller).
    pub(crate) fn answer_local(&self, op: Op) -> Answer {
        let now = now_ms();
        match op {
            Op::Command(args) => Answer::Reply(self.run_command(&args)),
            Op::Publish { channel, message } => {
                Answer::Reply(Reply::Int(self.pubsub.deliver(&channel, &message) as i64))
            }
            Op::Version(key) => Answer::Version(lock(&self.ks).version(&key, now)),
            Op::MemoryUsage(key) => {
                Answer::Reply(lock(&self.ks).usage(&key, now).map_or(Reply::Nil, |n| Reply::Int(n as i64)))
            }
            Op::Figures => Answer::Figures(self.figures()),
            Op::Scan { index, count, pattern, kind } => {
                let ks = lock(&self.ks);
                let (next, keys) = ks.scan(index, count, now, |k, e| {
                    glob_match(&pattern, k)
                        && (kind.is_empty() || kind.eq_ignore_ascii_case(e.value.type_name().as_bytes()))
                });
                let mut out = vec![Reply::Int(next as i64)];
                out.extend(keys.into_iter().map(Reply::Bulk));
                Answer::Reply(Reply::Array(out))
            }
            Op::StoreSet { key, members } => Answer::Reply(command::store_set(&mut lock(&self.ks), key, members, now)),
            Op::DelIfEq { key, value } => Answer::Reply(command::del_if_eq(&mut lock(&self.ks), &key, &value, now)),
            Op::DelPrefix(prefix) => Answer::Reply(Reply::Int(lock(&self.ks).remove_prefix(&prefix, now) as i64)),
            Op::Run(f) => Answer::Reply(f()),
            Op::Hold(_) | Op::Step(..) | Op::CollectSnapshot => {
                Answer::Reply(Reply::err("internal: misrouted transaction message"))
            }
        }
    }

    /// Runs a command on this core's keys.
    pub fn run_command(&self, args: &[Bytes]) -> Reply {
        let now = now_ms();
        let name = args.first().map(|n| &n[..]).unwrap_or(b"");
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
            b"RANDOMKEY" => ks.keys(now).next().map_or(Reply::Nil, |k| Reply::Bulk(k.clone())),
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

    /// Queues a message without waiting: behind the backlog, or into it
    /// when the ring is full.
    fn send_or_backlog(&self, to: usize, msg: KvMsg) {
        let mut backlog = self.backlog.borrow_mut();
        if !backlog.is_empty() {
            backlog.push_back((to, msg));
            return;
        }
        if let Err(SendError::Full(m)) = self.outbox.borrow_mut().send(to, msg) {
            backlog.push_back((to, m));
        }
    }

    /// Sends what it can of the backlog, in order.
    fn retry_backlog(&self) {
        let mut backlog = self.backlog.borrow_mut();
        let mut outbox = self.outbox.borrow_mut();
        while let Some((to, msg)) = backlog.pop_front() {
            if let Err(SendError::Full(m)) = outbox.send(to, msg) {
                backlog.push_front((to, m));
                break;
            }
        }
        outbox.flush();
    }

    /// Serves the other cores: runs their requests here and completes this
    /// core's calls with their answers. Runs for the life of the core.
    pub async fn serve(self: Rc<Self>, mut inbox: Inbox<KvMsg>) {
        let mut batch = Vec::with_capacity(64);
        loop {
            if self.backlog.borrow().is_empty() {
                inbox.recv_batch(&mut batch).await;
            } else {
                self.retry_backlog();
                if inbox.drain(&mut batch) == 0 && !self.backlog.borrow().is_empty() {
                    monoio::time::sleep(Duration::from_micros(50)).await;
                }
            }
            if !batch.is_empty() {
                self.mesh_batches.set(self.mesh_batches.get() + 1);
                self.mesh_messages.set(self.mesh_messages.get() + batch.len() as u64);
            }
            for (from, msg) in batch.drain(..) {
                match msg {
                    KvMsg::Request { id, op } => self.handle_request(from, id, op),
                    KvMsg::Answer { id, answer } => {
                        if let Some(p) = self.pending.borrow_mut().get_mut(&id) {
                            p.answer = Some(answer);
                            if let Some(w) = p.waker.take() {
                                w.wake();
                            }
                        }
                    }
                    KvMsg::Release(tx) => self.release_local(tx),
                }
            }
            self.flush();
        }
    }

    /// Active expiry: a few times a second, samples keys with a TTL and
    /// removes the due ones, again at once while a quarter or more of a
    /// sample was due. A held shard is left alone: keys do not expire in
    /// the middle of a transaction.
    pub async fn sweep(self: Rc<Self>) {
        loop {
            monoio::time::sleep(SWEEP_EVERY).await;
            if self.holder.get().is_some() {
                continue;
            }
            let now = now_ms();
            for _ in 0..16 {
                if lock(&self.ks).sweep(SWEEP_SAMPLE, now) * 4 < SWEEP_SAMPLE {
                    break;
                }
            }
        }
    }
}

/// A submitted request's answer, ready or on its way.
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
        if self.is_remote() {
            return self.answer().await.into_reply();
        }
        match &mut self.state {
            TicketState::Ready(r) => r.take().unwrap_or(Reply::Nil),
            TicketState::Deferred(args) => {
                self.node.unheld().await;
                self.node.run_command(args)
            }
            TicketState::Waiting(_) => Reply::Nil,
        }
    }

    /// The answer of a request sent to another core.
    async fn answer(self) -> Answer {
        let TicketState::Waiting(id) = self.state else {
            return Answer::Reply(Reply::err("no request in flight"));
        };
        let node = self.node;
        poll_fn(|cx| {
            let mut pending = node.pending.borrow_mut();
            let Some(p) = pending.get_mut(&id) else { return Poll::Ready(Answer::Reply(Reply::err("request lost"))) };
            match p.answer.take() {
                Some(a) => Poll::Ready(a),
                None => {
                    p.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        // An answer nobody will read is dropped on arrival.
        if let TicketState::Waiting(id) = self.state {
            self.node.pending.borrow_mut().remove(&id);
        }
    }
}
