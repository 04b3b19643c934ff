//! Building a per-core monoio runtime on io_uring or epoll.
//!
//! This is the narrow place where the I/O backend is chosen: everything above
//! it is written against monoio's driver-independent API, so a further backend
//! (Windows) only has to be added here.

use std::fmt;
use std::future::Future;
use std::io;
use std::str::FromStr;

/// Which I/O backend the operator asked for (`server.io`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IoMode {
    /// io_uring when it can be set up, else epoll.
    #[default]
    Auto,
    /// io_uring only; start-up fails when it is unavailable.
    Uring,
    /// epoll only.
    Epoll,
}

impl FromStr for IoMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(IoMode::Auto),
            "uring" | "io_uring" => Ok(IoMode::Uring),
            "epoll" => Ok(IoMode::Epoll),
            other => Err(format!("unknown io mode `{other}`: expected \"auto\", \"uring\" or \"epoll\"")),
        }
    }
}

impl fmt::Display for IoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoMode::Auto => "auto",
            IoMode::Uring => "uring",
            IoMode::Epoll => "epoll",
        })
    }
}

/// The backend a core actually runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Linux io_uring.
    Uring,
    /// epoll (monoio's legacy driver).
    Epoll,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Uring => "io_uring",
            Backend::Epoll => "epoll",
        })
    }
}

/// Submission queue depth for io_uring; enough for thousands of connections
/// per core since monoio resubmits when the ring is full.
const URING_ENTRIES: u32 = 1024;

/// Runs `make()`'s future to completion on a fresh runtime of the requested
/// mode on the current thread. `on_start` learns the backend before the
/// future starts. Fails only when `mode` is `Uring` and io_uring is missing,
/// or when even epoll cannot be set up.
pub fn run<F, Fut>(mode: IoMode, on_start: impl FnOnce(Backend), make: F) -> io::Result<Fut::Output>
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future,
{
    if mode != IoMode::Epoll {
        match uring_runtime() {
            Ok(mut rt) => {
                on_start(Backend::Uring);
                return Ok(rt.block_on(make(Backend::Uring)));
            }
            Err(e) if mode == IoMode::Uring => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("io_uring requested (server.io = \"uring\") but unavailable: {e}"),
                ));
            }
            Err(e) => {
                tracing::debug!(error = %e, "io_uring unavailable, falling back to epoll");
            }
        }
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build()?;
    on_start(Backend::Epoll);
    Ok(rt.block_on(make(Backend::Epoll)))
}

/// A ring whose completions wait until this core asks for them, tried with
/// the newest settings first: DEFER_TASKRUN (Linux 6.1), else COOP_TASKRUN
/// (5.19), else a plain ring.
///
/// By default the kernel interrupts the running core to post each
/// completion as it happens (an IPI when a peer on another CPU sent the
/// data); deferred, they are posted in a batch when the core next waits for
/// events, and the waiting core is woken only when there is one. Each core's
/// ring is entered by its own thread alone, as DEFER_TASKRUN's
/// SINGLE_ISSUER requires. Deferred completions are posted only when the
/// ring is entered with GETEVENTS, which monoio does whenever it runs out of
/// ready tasks; a task that kept itself ready without awaiting I/O would hold
/// them back (COOP_TASKRUN would not have this caveat). The one task that
/// yields in a loop, a core's KV inbox, stays awake 50 µs at most per
/// wake-up; the snapshot copy pauses on a timer instead.
/// Measured: redis-benchmark unpipelined against the RESP listener went from
/// 0.70-0.75x to 1.01-1.03x of redis-server (docs/benchmarks.md).
fn uring_runtime() -> io::Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>> {
    let mut deferred = io_uring::IoUring::builder();
    deferred.setup_single_issuer().setup_defer_taskrun();
    let mut cooperative = io_uring::IoUring::builder();
    cooperative.setup_coop_taskrun();
    let build = |urb: io_uring::Builder| {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .with_entries(URING_ENTRIES)
            .uring_builder(urb)
            .build()
    };
    build(deferred)
        .or_else(|e| {
            tracing::debug!(error = %e, "io_uring without DEFER_TASKRUN");
            build(cooperative)
        })
        .or_else(|e| {
            tracing::debug!(error = %e, "io_uring without COOP_TASKRUN");
            build(io_uring::IoUring::builder())
        })
}

/// Whether io_uring can be set up in this process (probes with a tiny ring).
pub fn uring_available() -> bool {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().with_entries(8).build().is_ok()
}
