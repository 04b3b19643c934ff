//! Command-line interface (argh).

use std::path::PathBuf;

use argh::FromArgs;

/// ephpm: a thread-per-core PHP application server.
#[derive(FromArgs, Debug)]
pub struct Cli {
    #[argh(subcommand)]
    /// what to do
    pub command: Command,
}

/// Subcommands.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    /// Serve HTTP.
    Serve(Serve),
    /// Work with configuration files.
    Config(ConfigCmd),
    /// Print the version.
    Version(Version),
    /// Run a PHP script as php-cli would.
    Php(Php),
}

/// Run a PHP script as php-cli would: ephpm php [-d key=value]... script.php [args...]
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "php")]
pub struct Php {
    /// the script and its arguments
    #[argh(positional, greedy)]
    pub args: Vec<String>,
}

/// Serve the document root over HTTP.
#[derive(FromArgs, Debug, Default)]
#[argh(subcommand, name = "serve")]
pub struct Serve {
    /// config file (default: $EPHPM_CONFIG, else ./ephpm.toml if present)
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// document root (overrides server.document_root)
    #[argh(option)]
    pub root: Option<PathBuf>,
    /// listen address, e.g. 127.0.0.1:8080 (overrides server.listen)
    #[argh(option)]
    pub listen: Option<String>,
    /// shard threads: "auto" or a number (overrides server.cores)
    #[argh(option)]
    pub cores: Option<String>,
    /// io backend: auto, uring or epoll (overrides server.io)
    #[argh(option)]
    pub io: Option<String>,
}

/// Configuration commands.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "config")]
pub struct ConfigCmd {
    #[argh(subcommand)]
    /// which config command
    pub command: ConfigSub,
}

/// `config` subcommands.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum ConfigSub {
    /// Validate and print the effective config.
    Check(Check),
}

/// Validate a config and print the effective result (secrets redacted);
/// exits non-zero when it is invalid.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
pub struct Check {
    /// config file (default: $EPHPM_CONFIG, else ./ephpm.toml if present)
    #[argh(option)]
    pub config: Option<PathBuf>,
}

/// Print the version and the I/O backends this machine offers.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "version")]
pub struct Version {}
