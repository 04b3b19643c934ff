//! KV access for a core's PHP threads: a key this core owns is read and
//! written in place (under the core's keyspace lock, shared only with the
//! core's own threads) unless a transaction holds the shard; any other key
//! goes straight to the owning core over an SPSC ring of the thread's own
//! (one per thread and owning core), and the owner answers on the ring
//! beside it. Two threads meet per remote call, and a call that is
//! answered at once meets no sleeping thread at all: the caller spins a
//! moment before it parks, and the owner's inbox stays awake a moment
//! after each request.

use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ephpm_rt::doorbell::Doorbell;
use ephpm_rt::spin::{spin_until, Yielder};
use rtrb::{Consumer, Producer, RingBuffer};

use super::command::{del_if_eq, execute_as};
use super::keyspace::Keyspace;
use super::node::KvNode;
use super::node::Op;
use super::reply::Reply;
use super::shard::{lock, SharedKeyspace};
use super::table::{flags, lookup};
use super::{now_ms, shard_of};

/// How long a PHP thread spins for a remote answer before it parks: an
/// awake owner answers in a microsecond or two; a sleeping one needs about
/// one vCPU wake-up, which the spin covers so that the reply needs none.
const CALLER_SPIN: Duration = Duration::from_micros(60);
/// How long an owner's inbox stays awake after it is woken: a thread that
/// asked once tends to ask again within microseconds. The window is not
/// extended by the requests it serves: while the inbox yields, io_uring's
/// deferred completions wait (they are collected only when the core waits
/// for I/O), so the core's connections wait at most this long for it.
const INBOX_AWAKE: Duration = Duration::from_micros(50);

/// What one PHP thread shares with every core that answers it.
#[derive(Default)]
struct Link {
    /// Where the PHP thread waits for its reply.
    bell: Doorbell,
    /// An owning core is gone (the server is stopping).
    closed: AtomicBool,
}

/// One PHP thread's way to one other core's keys.
struct Route {
    requests: Producer<Op>,
    replies: Consumer<Reply>,
    /// The owning core's inbox.
    owner: Arc<Doorbell>,
}

/// A PHP thread's handle on the KV store.
pub struct KvClient {
    core: usize,
    cores: usize,
    local: SharedKeyspace,
    /// Indexed by owning core, this thread's own included.
    routes: Vec<Route>,
    link: Arc<Link>,
}

impl KvClient {
    /// Binds the client to the calling thread (owners unpark it).
    pub fn bind_thread(&self) {
        self.link.bell.bind_thread();
    }

    /// Runs one single-key command (name first, upper case). Blocks the
    /// calling PHP thread for a remote key until its core answers.
    pub fn call(&mut self, args: Vec<Bytes>) -> Reply {
        let Some(name) = args.first().and_then(|n| std::str::from_utf8(n).ok()) else {
            return Reply::err("empty command");
        };
        let spec = lookup(name.as_bytes());
        if !spec.is_some_and(|s| s.has(flags::KEYED)) || args.len() < 2 {
            return Reply::wrong_args(name);
        }
        let shard = shard_of(&args[1], self.cores);
        if shard == self.core {
            if let Some(r) = self.in_place(|ks| execute_as(ks, &args, now_ms(), spec)) {
                return r;
            }
        }
        self.remote(shard, Op::Command(args))
    }

    /// Deletes `key` only if it holds `value` (the session handler's
    /// release of its lock); 1 if deleted.
    pub fn del_if_eq(&mut self, key: Bytes, value: Bytes) -> Reply {
        let shard = shard_of(&key, self.cores);
        if shard == self.core {
            if let Some(r) = self.in_place(|ks| del_if_eq(ks, &key, &value, now_ms())) {
                return r;
            }
        }
        self.remote(shard, Op::DelIfEq { key, value })
    }

    /// Deletes every key starting with `prefix` on every core (an object
    /// cache's flush); the number deleted. Every core has answered when it
    /// returns.
    pub fn flush_prefix(&mut self, prefix: Bytes) -> Reply {
        let mut deleted = 0;
        for shard in 0..self.cores {
            let here = if shard == self.core {
                self.in_place(|ks| Reply::Int(ks.remove_prefix(&prefix, now_ms()) as i64))
            } else {
                None
            };
            match here.unwrap_or_else(|| self.remote(shard, Op::DelPrefix(prefix.clone()))) {
                Reply::Int(n) => deleted += n,
                other => return other,
            }
        }
        Reply::Int(deleted)
    }

    /// Runs `f` on every core, this thread's own through its inbox, and
    /// sums the integers they answer. Every core has run it when it returns.
    pub fn run_on_every_core(&mut self, f: impl Fn() -> Reply + Clone + Send + 'static) -> Reply {
        let mut sum = 0;
        for core in 0..self.cores {
            match self.remote(core, Op::Run(Box::new(f.clone()))) {
                Reply::Int(n) => sum += n,
                other => return other,
            }
        }
        Reply::Int(sum)
    }

    /// Runs `f` on this core's keys in place, unless a transaction holds
    /// them (then the caller queues behind it through the core).
    fn in_place(&self, f: impl FnOnce(&mut Keyspace) -> Reply) -> Option<Reply> {
        let mut local = lock(&self.local);
        (!local.held).then(|| f(&mut local))
    }

    /// Sends `op` to the core owning shard `shard` and waits for its reply
    /// (this core's own shard, when a transaction holds it, goes through
    /// this core's inbox too, to queue behind the transaction).
    fn remote(&mut self, shard: usize, op: Op) -> Reply {
        let link = &*self.link;
        let Some(route) = self.routes.get_mut(shard) else {
            return Reply::err("no such KV shard");
        };
        if route.requests.push(op).is_err() {
            return Reply::err("KV request already in flight");
        }
        route.owner.ring();
        let replies = &route.replies;
        let ready = || !replies.is_empty() || link.closed.load(Ordering::Acquire);
        // Its own core shares this thread's CPU: spinning would only delay it.
        if shard == self.core || !spin_until(CALLER_SPIN, ready) {
            link.bell.wait_until(ready);
        }
        route.replies.pop().unwrap_or_else(|_| Reply::err("the KV store is shutting down"))
    }
}

/// The owner's end of one PHP thread's route.
struct InboxEnd {
    requests: Consumer<Op>,
    replies: Producer<Reply>,
    link: Arc<Link>,
}

impl InboxEnd {
    fn answer(&mut self, reply: Reply) {
        // One request in flight per thread: the reply ring has room.
        let _ = self.replies.push(reply);
        self.link.bell.ring();
    }
}

impl Drop for InboxEnd {
    fn drop(&mut self) {
        self.link.closed.store(true, Ordering::Release);
        self.link.bell.wake_always();
    }
}

/// A core's end of every PHP thread's route to it; run with [`serve`].
pub struct KvInbox {
    ends: Vec<InboxEnd>,
    bell: Arc<Doorbell>,
}

/// Makes the KV clients of `threads` PHP threads on each core (one core
/// per keyspace in `keyspaces`) and each core's inbox for their requests.
/// Each thread gets a route to every core, its own included (used while a
/// transaction holds its core's shard, and to run functions on its core).
pub fn links(keyspaces: &[SharedKeyspace], threads: usize) -> (Vec<Vec<KvClient>>, Vec<KvInbox>) {
    let cores = keyspaces.len();
    let bells: Vec<Arc<Doorbell>> = (0..cores).map(|_| Arc::new(Doorbell::default())).collect();
    let mut inboxes: Vec<KvInbox> =
        bells.iter().map(|bell| KvInbox { ends: Vec::new(), bell: Arc::clone(bell) }).collect();
    let mut clients = Vec::with_capacity(cores);
    for (core, local) in keyspaces.iter().enumerate() {
        let mut mine = Vec::with_capacity(threads);
        for _ in 0..threads {
            let link = Arc::new(Link::default());
            let mut routes = Vec::with_capacity(cores);
            for (owner, inbox) in inboxes.iter_mut().enumerate() {
                // One call in flight per thread: it waits for its answer.
                let (req_tx, req_rx) = RingBuffer::new(1);
                let (rep_tx, rep_rx) = RingBuffer::new(1);
                routes.push(Route { requests: req_tx, replies: rep_rx, owner: Arc::clone(&bells[owner]) });
                inbox.ends.push(InboxEnd { requests: req_rx, replies: rep_tx, link: Arc::clone(&link) });
            }
            mine.push(KvClient { core, cores, local: Arc::clone(local), routes, link });
        }
        clients.push(mine);
    }
    (clients, inboxes)
}

/// Serves the PHP threads' requests for this core's keys for the life of
/// the core: each runs at once unless a transaction holds the shard (then
/// on a task of its own that queues behind it), and its thread is
/// answered on its route. After each wake-up the inbox stays awake for
/// [`INBOX_AWAKE`], so a thread's next call finds it listening.
pub async fn serve(node: Rc<KvNode>, inbox: KvInbox) {
    let KvInbox { ends, bell } = inbox;
    let ends = Rc::new(std::cell::RefCell::new(ends));
    let mut taken = Vec::new();
    let yielder = Yielder::new();
    loop {
        poll_fn(|cx| bell.poll_until(cx, || take(&mut ends.borrow_mut(), &mut taken))).await;
        let woken = Instant::now();
        loop {
            for (i, op) in taken.drain(..) {
                if !node.is_held() || matches!(op, Op::Run(_)) {
                    ends.borrow_mut()[i].answer(node.answer_local(op).into_reply());
                    continue;
                }
                let (node, ends) = (Rc::clone(&node), Rc::clone(&ends));
                monoio::spawn(async move {
                    let reply = node.ask(node.core(), op).await.into_reply();
                    ends.borrow_mut()[i].answer(reply);
                });
            }
            if woken.elapsed() >= INBOX_AWAKE {
                break;
            }
            yielder.yield_now().await;
            take(&mut ends.borrow_mut(), &mut taken);
        }
    }
}

/// Moves every queued request into `taken`; whether there were any.
fn take(ends: &mut [InboxEnd], taken: &mut Vec<(usize, Op)>) -> bool {
    for (i, end) in ends.iter_mut().enumerate() {
        if let Ok(op) = end.requests.pop() {
            taken.push((i, op));
        }
    }
    !taken.is_empty()
}
