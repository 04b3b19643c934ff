//! Per-core state for ephpm: one shard thread per core, each running its own
//! monoio runtime, plus the SPSC mesh that carries messages between cores.
//!
//! Nothing in this crate is shared between cores behind a lock: a shard owns
//! its data and talks to the others only through [`mesh`] rings.

pub mod calendar;
pub mod db;
pub mod executor;
pub mod kv;
pub mod latency;
pub mod liveness;
pub mod mesh;
pub mod runtime;
pub mod shutdown;
pub mod signal;

pub use executor::{ShardContext, ShardSet};
pub use runtime::{Backend, IoMode};
pub use shutdown::Shutdown;
pub use signal::LocalSignal;
