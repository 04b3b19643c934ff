//! The replicas of one core: their pools, a round-robin pick among those
//! in rotation, and a watch task that checks each one's replication every
//! health-check interval. A replica leaves the rotation while its pool is
//! failing fast (it is down), while its replication is not running, or,
//! under `lag-aware`, while it is further behind than `max_replica_lag`;
//! it comes back as soon as a check finds it well.

use std::cell::Cell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::super::backend::{Backend, BackendError};
use super::super::backend_pool::{BackendPool, PoolConfig};
use super::SplitConfig;

/// One replica.
pub struct Replica {
    /// Its pool.
    pub pool: Rc<BackendPool>,
    /// Seconds behind the primary at the last check; `None` when its
    /// replication was not running, the check failed, or none ran yet.
    lag: Cell<Option<u64>>,
}

/// A core's replicas.
pub struct ReplicaSet {
    replicas: Vec<Replica>,
    next: Cell<usize>,
    split: SplitConfig,
}

impl ReplicaSet {
    /// Pools for `configs`, watched every `interval`.
    pub fn new(configs: &[PoolConfig], split: SplitConfig, interval: Duration) -> Rc<ReplicaSet> {
        let set = Rc::new(ReplicaSet {
            replicas: configs
                .iter()
                .map(|c| Replica { pool: BackendPool::new(c.clone()), lag: Cell::new(None) })
                .collect(),
            next: Cell::new(0),
            split,
        });
        if !set.replicas.is_empty() {
            monoio::spawn(watch(Rc::downgrade(&set), interval));
        }
        set
    }

    /// Whether there are no replicas.
    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// The next replica in rotation, if any is.
    pub fn pick(&self) -> Option<&Replica> {
        let n = self.replicas.len();
        for _ in 0..n {
            let i = self.next.get() % n;
            self.next.set(i + 1);
            let r = &self.replicas[i];
            if self.in_rotation(r) {
                return Some(r);
            }
        }
        None
    }

    fn in_rotation(&self, r: &Replica) -> bool {
        if r.pool.is_down() {
            return false;
        }
        match r.lag.get() {
            None => false,
            Some(lag) => !self.split.lag_aware || Duration::from_secs(lag) <= self.split.max_lag,
        }
    }

    /// Each replica's pool, named `replica-N`.
    pub fn pools(&self) -> Vec<(String, Rc<BackendPool>)> {
        self.replicas.iter().enumerate().map(|(i, r)| (format!("replica-{}", i + 1), Rc::clone(&r.pool))).collect()
    }
}

/// Checks every replica at once and then each `interval` while the set
/// lives.
async fn watch(set: Weak<ReplicaSet>, interval: Duration) {
    loop {
        let Some(set) = set.upgrade() else { return };
        for r in &set.replicas {
            let lag = match r.pool.acquire_now().await {
                Ok(mut lease) => {
                    let limit = interval.max(Duration::from_secs(1));
                    match monoio::time::timeout(limit, replication_lag(lease.conn())).await {
                        Ok(Ok(lag)) => lag,
                        Ok(Err(e)) => {
                            tracing::debug!("db proxy: replica check: {e}");
                            None
                        }
                        Err(_) => {
                            lease.discard();
                            None
                        }
                    }
                }
                // Every connection busy serving reads: it is alive.
                Err(BackendError::Server { code: 1040, .. }) => r.lag.get(),
                Err(_) => None,
            };
            if lag.is_none() != r.lag.get().is_none() {
                match lag {
                    Some(_) => tracing::info!("db proxy: replica back in rotation"),
                    None => tracing::warn!("db proxy: replica out of rotation (down or not replicating)"),
                }
            }
            r.lag.set(lag);
        }
        drop(set);
        monoio::time::sleep(interval).await;
    }
}

/// `Seconds_Behind_Master` (or `_Source`) from SHOW REPLICA STATUS (SHOW
/// SLAVE STATUS on older servers). A server that is no replica at all
/// counts as current; a stopped replication as `None`.
async fn replication_lag(conn: &mut Backend) -> Result<Option<u64>, BackendError> {
    let r = match conn.query("SHOW REPLICA STATUS").await {
        Err(BackendError::Server { code: 1064, .. }) => conn.query("SHOW SLAVE STATUS").await?,
        r => r?,
    };
    let Some(row) = r.rows.first() else { return Ok(Some(0)) };
    let col = |names: &[&str]| r.columns.iter().position(|c| names.contains(&c.as_str()));
    let running = |names: &[&str]| col(names).and_then(|i| row[i].as_deref()) == Some(b"Yes".as_slice());
    if !running(&["Slave_IO_Running", "Replica_IO_Running"]) || !running(&["Slave_SQL_Running", "Replica_SQL_Running"])
    {
        return Ok(None);
    }
    let lag = col(&["Seconds_Behind_Master", "Seconds_Behind_Source"])
        .and_then(|i| row[i].as_deref())
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
    Ok(lag)
}
