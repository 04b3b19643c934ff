//! ephpm's per-core runtime: one shard thread per core, each running its
//! own monoio runtime (io_uring, or epoll as the fallback), the SPSC mesh
//! that carries messages between cores, the listeners and the one accept
//! loop, shutdown and signals, and latency histograms.
//!
//! Owns no application state: the services (HTTP, KV, database, PHP) are
//! built on it in their own crates. Nothing here is shared between cores
//! behind a lock: a shard talks to the others only through [`mesh`] rings.

#![warn(missing_docs)]

pub mod accept;
pub mod calendar;
pub mod doorbell;
pub mod executor;
pub mod latency;
pub mod listener;
pub mod liveness;
pub mod mesh;
pub mod runtime;
pub mod shutdown;
pub mod signal;
pub mod spin;

pub use executor::{ShardContext, ShardSet};
pub use runtime::{Backend, IoMode};
pub use shutdown::Shutdown;
pub use signal::LocalSignal;
