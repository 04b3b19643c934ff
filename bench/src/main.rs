//! `cargo run -p bench --release -- <scenario>`: starts ephpm and its peer
//! on this machine, warms both up, measures them alternately in the same
//! run, and prints throughput, latency percentiles and the ratio.

#![warn(missing_docs)]

mod loadgen;
mod peers;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

use argh::FromArgs;

/// ephpm bench harness. Scenarios: static-small, static-large, hello-raw,
/// hello-php, json-php, worker-hello, laravel, laravel-soak, kv, kv-scaling, kv-tail, kv-snapshot, kv-php, db, db-proxy, wordpress, idle-conns, mesh, metrics-overhead,
/// https-static-small, h2-static-small, tls-handshakes, h2-php, https-static-large.
#[derive(FromArgs, Debug)]
struct Args {
    /// scenario to run
    #[argh(positional)]
    scenario: String,
    /// seconds of measurement per server (split over the rounds)
    #[argh(option, default = "10")]
    duration: u64,
    /// keep-alive connections of the load generator
    #[argh(option, default = "64")]
    connections: usize,
    /// load generator threads
    #[argh(option, default = "1")]
    threads: usize,
    /// cores given to each server (ephpm shards, nginx workers)
    #[argh(option, default = "1")]
    cores: usize,
    /// alternating rounds (ephpm, peer, ephpm, peer, ...)
    #[argh(option, default = "4")]
    rounds: u32,
    /// ephpm I/O backend: auto, uring or epoll
    #[argh(option, default = "String::from(\"auto\")")]
    io: String,
    /// idle connections for idle-conns
    #[argh(option, default = "10000")]
    idle: usize,
    /// also write the results as JSON to this file
    #[argh(option)]
    json: Option<PathBuf>,
    /// a php.ini setting (`key=value`) for every PHP server of the laravel
    /// scenarios, ephpm and php-fpm alike; repeatable
    #[argh(option)]
    php_ini: Vec<String>,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    peers::raise_fd_limit();
    let result = match args.scenario.as_str() {
        "static-small" | "static-large" | "hello-raw" => scenarios::http::run(&args),
        "hello-php" | "json-php" => scenarios::php::run(&args),
        "worker-hello" => scenarios::worker::run(&args),
        "laravel" => scenarios::laravel::run(&args),
        "laravel-soak" => scenarios::laravel::soak(&args),
        "idle-conns" => scenarios::idle::run(&args),
        "kv" => scenarios::kv::run(&args),
        "kv-scaling" => scenarios::kv_scaling::run(&args),
        "kv-tail" => scenarios::kv_tail::run(&args),
        "kv-snapshot" => scenarios::kv_snapshot::run(&args),
        "wordpress" => scenarios::wordpress::run(&args),
        "db" => scenarios::db::run(&args),
        "db-proxy" => scenarios::db_proxy::run(&args),
        "kv-php" => scenarios::kv_php::run(&args),
        "mesh" => scenarios::mesh::run(&args),
        "https-static-small" | "h2-static-small" | "tls-handshakes" | "h2-php" | "https-static-large" => {
            scenarios::tls::run(&args)
        }
        "metrics-overhead" => scenarios::metrics::run(&args),
        other => {
            Err(format!("unknown scenario `{other}`: try static-small, static-large, hello-raw, hello-php, json-php, worker-hello, laravel, laravel-soak, kv, kv-scaling, kv-tail, kv-snapshot, kv-php, db, db-proxy, wordpress, idle-conns, mesh or metrics-overhead"))
        }
    };
    match result {
        Ok(report) => {
            println!("{}", report.render());
            if let Some(path) = &args.json {
                if let Err(e) = std::fs::write(path, report.json()) {
                    eprintln!("bench: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
