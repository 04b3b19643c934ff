//! KV access for a core's PHP threads: a key this core owns is read and
//! written in place (under the core's keyspace lock, shared only with the
//! core's own threads) unless a transaction holds the shard; any other key
//! goes to the core's proxy task over an SPSC ring, and from there over
//! the mesh to the owning core. The proxy serves its threads' requests
//! concurrently.

use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use ephpm_rt::doorbell::Doorbell;
use rtrb::{Consumer, Producer, RingBuffer};

use super::command::{del_if_eq, execute_as};
use super::keyspace::Keyspace;
use super::node::KvNode;
use super::node::{Answer, Op};
use super::reply::Reply;
use super::shard::{lock, SharedKeyspace};
use super::table::{flags, lookup};
use super::{now_ms, shard_of};

/// What one PHP thread and its core's proxy share.
#[derive(Default)]
struct Link {
    /// Where the PHP thread waits for its reply.
    bell: Doorbell,
    /// The proxy is gone (the core ended).
    closed: AtomicBool,
}

/// A PHP thread's handle on the KV store.
pub struct KvClient {
    core: usize,
    cores: usize,
    local: SharedKeyspace,
    requests: Producer<(usize, Op)>,
    replies: Consumer<Reply>,
    /// The proxy task's doorbell.
    proxy: Arc<Doorbell>,
    link: Arc<Link>,
}

impl KvClient {
    /// Binds the client to the calling thread (the proxy unparks it).
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

    /// Runs `f` on this core's keys in place, unless a transaction holds
    /// them (then the caller queues behind it through the core).
    fn in_place(&self, f: impl FnOnce(&mut Keyspace) -> Reply) -> Option<Reply> {
        let mut local = lock(&self.local);
        (!local.held).then(|| f(&mut local))
    }

    /// Sends `op` for shard `shard` through the core's proxy and waits.
    fn remote(&mut self, shard: usize, op: Op) -> Reply {
        if self.requests.push((shard, op)).is_err() {
            return Reply::err("KV request already in flight");
        }
        self.proxy.ring();
        let (replies, link) = (&self.replies, &*self.link);
        link.bell.wait_until(|| !replies.is_empty() || link.closed.load(Ordering::SeqCst));
        self.replies.pop().unwrap_or_else(|_| Reply::err("the KV store is shutting down"))
    }
}

/// The core's end of one PHP thread's link.
struct ProxyEnd {
    requests: Consumer<(usize, Op)>,
    replies: Producer<Reply>,
    link: Arc<Link>,
}

impl Drop for ProxyEnd {
    fn drop(&mut self) {
        self.link.closed.store(true, Ordering::SeqCst);
        self.link.bell.wake_always();
    }
}

/// The core's side of all its PHP threads' links; run with [`serve`].
pub struct KvProxy {
    ends: Vec<ProxyEnd>,
    bell: Arc<Doorbell>,
}

/// Makes `threads` clients for core `core` of `cores` over its keyspace
/// `local`, and the proxy that serves their remote keys.
pub fn links(core: usize, cores: usize, local: &SharedKeyspace, threads: usize) -> (Vec<KvClient>, KvProxy) {
    let bell = Arc::new(Doorbell::default());
    let mut clients = Vec::with_capacity(threads);
    let mut ends = Vec::with_capacity(threads);
    for _ in 0..threads {
        // One call in flight per thread: a PHP thread waits for its answer.
        let (req_tx, req_rx) = RingBuffer::new(1);
        let (rep_tx, rep_rx) = RingBuffer::new(1);
        let link = Arc::new(Link::default());
        clients.push(KvClient {
            core,
            cores,
            local: Arc::clone(local),
            requests: req_tx,
            replies: rep_rx,
            proxy: Arc::clone(&bell),
            link: Arc::clone(&link),
        });
        ends.push(ProxyEnd { requests: req_rx, replies: rep_tx, link });
    }
    (clients, KvProxy { ends, bell })
}

/// Serves the PHP threads' remote keys for the life of the core: each
/// request goes to the owning core through `node` on its own task (the
/// threads' requests are in flight together), the reply back to the
/// thread, which is unparked.
pub async fn serve(node: Rc<KvNode>, proxy: KvProxy) {
    let KvProxy { ends, bell } = proxy;
    let ends = Rc::new(std::cell::RefCell::new(ends));
    let mut taken = Vec::new();
    loop {
        poll_fn(|cx| {
            bell.poll_until(cx, || {
                for (i, end) in ends.borrow_mut().iter_mut().enumerate() {
                    if let Ok(request) = end.requests.pop() {
                        taken.push((i, request));
                    }
                }
                !taken.is_empty()
            })
        })
        .await;
        for (i, (shard, op)) in taken.drain(..) {
            let (node, ends) = (Rc::clone(&node), Rc::clone(&ends));
            monoio::spawn(async move {
                let reply = match node.ask(shard, op).await {
                    Answer::Reply(r) => r,
                    _ => Reply::err("unexpected internal answer"),
                };
                let mut ends = ends.borrow_mut();
                let end = &mut ends[i];
                let _ = end.replies.push(reply);
                end.link.bell.ring();
            });
        }
    }
}
