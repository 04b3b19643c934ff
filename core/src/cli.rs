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
    /// WordPress helpers.
    Wp(WpCmd),
}

/// WordPress helpers.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "wp")]
pub struct WpCmd {
    #[argh(subcommand)]
    /// which WordPress command
    pub command: WpSub,
}

/// `wp` subcommands.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum WpSub {
    /// Install the object-cache drop-in.
    Enable(WpEnable),
    /// Remove the object-cache drop-in.
    Disable(WpDisable),
    /// Install the page-cache purge plugin.
    EnablePageCache(WpEnablePageCache),
    /// Remove the page-cache purge plugin.
    DisablePageCache(WpDisablePageCache),
}

/// Copy ephpm's page-cache purge plugin into DOCROOT/wp-content/mu-plugins/,
/// so that changed posts, comments and themes purge the page cache.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "enable-page-cache")]
pub struct WpEnablePageCache {
    /// the WordPress root (where wp-content/ is)
    #[argh(positional)]
    pub docroot: PathBuf,
}

/// Remove ephpm's page-cache purge plugin from DOCROOT/wp-content/mu-plugins/.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "disable-page-cache")]
pub struct WpDisablePageCache {
    /// the WordPress root (where wp-content/ is)
    #[argh(positional)]
    pub docroot: PathBuf,
}

/// Copy ephpm's object-cache drop-in into DOCROOT/wp-content/, so that
/// WordPress keeps its object cache in ephpm's KV store.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "enable-object-cache")]
pub struct WpEnable {
    /// the WordPress root (where wp-content/ is)
    #[argh(positional)]
    pub docroot: PathBuf,
    /// replace an object-cache.php that is not ephpm's
    #[argh(switch)]
    pub force: bool,
}

/// Remove ephpm's object-cache drop-in from DOCROOT/wp-content/ (another
/// plugin's drop-in is left alone).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "disable-object-cache")]
pub struct WpDisable {
    /// the WordPress root (where wp-content/ is)
    #[argh(positional)]
    pub docroot: PathBuf,
}

/// Run PHP as php-cli would: ephpm php [-d k=v]... script.php [args...] | -r code | -l file | -v | -m | -i
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
