//! Structured logging to stdout through a background writer thread, so a
//! core's loop never blocks on the terminal or a pipe.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogConfig;

/// Installs the global subscriber. Keep the guard alive until exit: it
/// flushes buffered lines when dropped.
pub fn init(cfg: &LogConfig) -> WorkerGuard {
    // Lossy: when the writer falls behind by its whole queue, lines are
    // dropped rather than stalling a core's event loop.
    let (writer, guard) =
        tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(true).finish(std::io::stdout());
    // Request lines do not pass through here: the access log
    // (ephpm_http::access_log) has a writer of its own.
    let filter = EnvFilter::new(&cfg.level);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = fmt().with_env_filter(filter).with_writer(writer).with_target(false).with_ansi(ansi);
    if cfg.format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
    guard
}
