//! Shard threads: one per core, pinned, each running its own runtime.

use std::future::Future;
use std::io;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::runtime::{self, Backend, IoMode};

/// What a shard knows about itself.
#[derive(Clone, Copy, Debug)]
pub struct ShardContext {
    /// Index of this shard, `0..count`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
    /// The CPU this shard is pinned to, if pinning succeeded.
    pub cpu: Option<usize>,
    /// The I/O backend this shard runs.
    pub backend: Backend,
}

/// The CPU each of `count` shards is pinned to (`None` without pinning or
/// when the machine reports no CPUs); helper threads of a shard (its PHP
/// threads) are pinned to the same CPU.
pub fn planned_cpus(count: usize, pin: bool) -> Vec<Option<usize>> {
    let cpus = if pin { core_affinity::get_core_ids().unwrap_or_default() } else { Vec::new() };
    (0..count).map(|i| cpus.get(i % cpus.len().max(1)).map(|c| c.id)).collect()
}

/// A running set of shard threads.
pub struct ShardSet {
    handles: Vec<JoinHandle<()>>,
    backends: Vec<Backend>,
}

impl ShardSet {
    /// Starts one shard thread per payload. Each thread is pinned to a CPU
    /// (when `pin` is true and the CPU exists), builds a runtime of `mode`,
    /// and runs `body(ctx, payload)` to completion. Returns once every shard
    /// has its runtime up, or the first start-up error.
    pub fn start<P, F, Fut>(payloads: Vec<P>, mode: IoMode, pin: bool, body: F) -> io::Result<Self>
    where
        P: Send + 'static,
        F: Fn(ShardContext, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let count = payloads.len();
        let cpus = planned_cpus(count, pin);
        let body = Arc::new(body);
        let (ready_tx, ready_rx) = mpsc::channel::<(usize, io::Result<Backend>)>();
        let mut handles = Vec::with_capacity(count);
        for (index, payload) in payloads.into_iter().enumerate() {
            let cpu = cpus[index].map(|id| core_affinity::CoreId { id });
            let body = Arc::clone(&body);
            let ready = ready_tx.clone();
            let handle = std::thread::Builder::new().name(format!("ephpm-core-{index}")).spawn(move || {
                let pinned = cpu.filter(|c| core_affinity::set_for_current(*c)).map(|c| c.id);
                let started = ready.clone();
                let result = runtime::run(
                    mode,
                    move |backend| {
                        let _ = started.send((index, Ok(backend)));
                    },
                    move |backend| {
                        let ctx = ShardContext { index, count, cpu: pinned, backend };
                        body(ctx, payload)
                    },
                );
                if let Err(e) = result {
                    let _ = ready.send((index, Err(e)));
                }
            })?;
            handles.push(handle);
        }
        drop(ready_tx);
        let mut backends = vec![Backend::Epoll; count];
        for _ in 0..count {
            match ready_rx.recv() {
                Ok((i, Ok(b))) => backends[i] = b,
                Ok((_, Err(e))) => return Err(e),
                Err(_) => return Err(io::Error::other("a shard thread died during start-up")),
            }
        }
        Ok(ShardSet { handles, backends })
    }

    /// The backend each shard runs, by shard index.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// Waits for every shard thread to finish. Returns how many panicked.
    pub fn join(self) -> usize {
        self.handles.into_iter().map(|h| h.join()).filter(|r| r.is_err()).count()
    }
}
