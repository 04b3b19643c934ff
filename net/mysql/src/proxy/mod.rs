//! The database proxy: ephpm's MySQL front relaying to real MySQL or
//! MariaDB servers. Clients log in against `db.users` ([`super::front`]);
//! each statement borrows a connection from the core's pool for the
//! primary, or for a replica when read/write splitting sends it there, and
//! gives it back afterwards unless the session must keep it (transaction,
//! prepared statements, locks, state that cannot be replayed). Session
//! state that can be replayed (database, SET) is tracked per client and
//! applied to whichever connection serves it next.
//!
//! [`classify`] reads statements (over `lexer` and `set_statement`),
//! [`replicas`] keeps the replica rotation
//! and its health, [`session`] a client's state and what it pins, and
//! [`conn`] serves one client.

pub mod classify;
mod conn;
mod lexer;
pub mod replicas;
mod session;
mod set_statement;

use std::cell::Cell;
use std::net::TcpListener as StdListener;
use std::rc::Rc;
use std::time::Duration;

use ephpm_db::stats::SharedStats;
use ephpm_rt::LocalSignal;

use super::backend_pool::{BackendPool, PoolConfig};
use super::front::{ConnectionIds, User, TOO_MANY};
use ephpm_rt::accept::{self, ClientLimit};
use replicas::ReplicaSet;

/// `db.read_write_split`.
#[derive(Clone, Debug)]
pub struct SplitConfig {
    /// Whether plain reads go to replicas.
    pub enabled: bool,
    /// `lag-aware`: replicas further behind than `max_lag` leave the
    /// rotation (else `sticky-after-write`, which checks only health).
    pub lag_aware: bool,
    /// After a write, a client's reads stay on the primary this long.
    pub sticky: Duration,
    /// Most replication lag a replica may have under `lag-aware`.
    pub max_lag: Duration,
}

/// What every core's proxy is built from.
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// The primary's pool (its `max` already divided among the cores).
    pub primary: PoolConfig,
    /// One pool per replica.
    pub replicas: Vec<PoolConfig>,
    /// Read/write splitting.
    pub split: SplitConfig,
    /// `db.users`.
    pub users: Vec<User>,
    /// Most clients per core.
    pub max_clients: usize,
    /// Statements slower than this go to the slow-query log.
    pub slow_threshold: Duration,
    /// How often replicas' health and lag are checked.
    pub health_check_interval: Duration,
    /// EXPLAIN slow SELECTs (on a replica when one is in rotation) and
    /// keep the plan in the slow log.
    pub auto_explain: bool,
}

/// One core's proxy: its pools and clients.
pub struct ProxyContext {
    /// The primary's pool.
    pub primary: Rc<BackendPool>,
    /// The replicas.
    pub replicas: Rc<ReplicaSet>,
    /// Read/write splitting.
    pub split: SplitConfig,
    /// `db.users`.
    pub users: Vec<User>,
    /// Connected clients on this core and their limit.
    pub clients: Rc<ClientLimit>,
    /// Fired at shutdown.
    pub stop: LocalSignal,
    /// TLS offered to clients (`db.mysql.tls`).
    pub tls: Option<Rc<ephpm_tls::TlsAcceptor>>,
    /// This core's statement statistics (digests, slow log).
    pub stats: SharedStats,
    slow_threshold: Duration,
    /// EXPLAIN slow SELECTs.
    auto_explain: bool,
    /// An auto-EXPLAIN runs on this core now.
    explaining: Cell<bool>,
    /// The primary URL's database: a client that names none gets it.
    default_database: Option<String>,
    ids: ConnectionIds,
}

impl ProxyContext {
    /// Core `core`'s proxy: opens its pools (on the current runtime) and
    /// starts watching the replicas.
    pub fn new(settings: &ProxySettings, core: usize, stats: SharedStats, stop: LocalSignal) -> ProxyContext {
        let replicas = ReplicaSet::new(&settings.replicas, settings.split.clone(), settings.health_check_interval);
        ProxyContext {
            primary: BackendPool::new(settings.primary.clone()),
            replicas,
            split: settings.split.clone(),
            users: settings.users.clone(),
            clients: Rc::new(ClientLimit { count: Cell::new(0), max: settings.max_clients, refusal: TOO_MANY }),
            stop,
            tls: None,
            stats,
            slow_threshold: settings.slow_threshold,
            auto_explain: settings.auto_explain,
            explaining: Cell::new(false),
            default_database: settings.primary.backend.database.clone(),
            ids: ConnectionIds::new(core),
        }
    }

    /// Every pool of this core with its name (`primary`, `replica-N`).
    pub fn pools(&self) -> Vec<(String, Rc<BackendPool>)> {
        let mut all = vec![("primary".to_string(), Rc::clone(&self.primary))];
        all.extend(self.replicas.pools());
        all
    }
}

/// Accepts proxy clients until the core shuts down.
pub async fn accept_loop(listener: StdListener, ctx: Rc<ProxyContext>) -> std::io::Result<()> {
    let stop = ctx.stop.clone();
    let limit = Rc::clone(&ctx.clients);
    accept::accept_loop(listener, stop, limit, move |stream, _| conn::serve(stream, Rc::clone(&ctx))).await
}
