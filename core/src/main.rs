//! The `ephpm` binary.

#![warn(missing_docs)]

mod boot;
mod cli;
mod config;
mod db_front;
mod https;
mod logging;
mod node_api;
mod page_cache;
mod parent;
mod php_cli;
mod rlimit;
mod services;
mod watch;
mod wp;

use std::path::PathBuf;
use std::process::ExitCode;

use cli::{Cli, Command, ConfigSub};
use config::Config;

fn main() -> ExitCode {
    // `ephpm php ...` passes its arguments to the script untouched, so it is
    // dispatched before argh parses anything.
    let mut args = std::env::args_os();
    // Invoked through a link named `php`, ephpm is `ephpm php`.
    let invoked_as = args.next().map(std::path::PathBuf::from);
    if invoked_as.as_deref().and_then(|p| p.file_name()).is_some_and(|n| n == "php") {
        return php_cli::run(args.collect());
    }
    if args.next().is_some_and(|a| a == "php") {
        return php_cli::run(args.collect());
    }
    let cli: Cli = argh::from_env();
    match cli.command {
        Command::Serve(args) => match boot::serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ephpm: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Config(c) => match c.command {
            ConfigSub::Check(check) => {
                let path = config_path(check.config);
                match Config::load(path.as_deref(), std::env::vars()) {
                    Ok((cfg, source)) => {
                        println!("# effective configuration from {source} (secrets redacted)");
                        print!("{}", config::redacted_toml(&cfg));
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("ephpm: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
        },
        Command::Wp(w) => {
            let done = match w.command {
                cli::WpSub::Enable(e) => wp::enable_object_cache(&e.docroot, e.force),
                cli::WpSub::Disable(d) => wp::disable_object_cache(&d.docroot),
                cli::WpSub::EnablePageCache(e) => wp::enable_page_cache(&e.docroot),
                cli::WpSub::DisablePageCache(d) => wp::disable_page_cache(&d.docroot),
            };
            match done {
                Ok(msg) => {
                    println!("{msg}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ephpm: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        // Normally dispatched above; reached only through argh's own parsing.
        Command::Php(p) => php_cli::run(p.args.into_iter().map(Into::into).collect()),
        Command::Version(_) => {
            let uring = if ephpm_rt::runtime::uring_available() { "available" } else { "unavailable" };
            println!("ephpm {} (io_uring {uring}, epoll available)", env!("CARGO_PKG_VERSION"));
            match (ephpm_sapi::php_version(), ephpm_sapi::php_prefix()) {
                (Some(v), Some(prefix)) => println!("PHP {v} (ZTS, embed) from {prefix}"),
                _ => println!("PHP: not linked (run tools/build-php.sh, then rebuild)"),
            }
            ExitCode::SUCCESS
        }
    }
}

/// The config file to read: the flag, else `$EPHPM_CONFIG`, else
/// `./ephpm.toml` when it exists, else none (defaults).
pub(crate) fn config_path(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var_os("EPHPM_CONFIG").map(PathBuf::from)).or_else(|| {
        let local = PathBuf::from("ephpm.toml");
        local.is_file().then_some(local)
    })
}
