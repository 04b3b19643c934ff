//! The scenarios the harness runs.

pub mod db;
pub mod db_proxy;
pub mod http;
pub mod idle;
pub mod kv;
pub mod kv_php;
pub mod kv_scaling;
pub mod kv_snapshot;
pub mod kv_tail;
pub mod laravel;
pub mod mesh;
pub mod metrics;
pub mod php;
pub mod tls;
pub mod wordpress;
pub mod worker;

/// `cpus` as taskset's list (`0` when empty).
pub fn cpu_list(cpus: &[usize]) -> String {
    if cpus.is_empty() {
        return "0".into();
    }
    cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",")
}

/// CPUs left for the load generator once servers take the first `cores`.
pub fn loadgen_cpus(cores: usize) -> Vec<usize> {
    let total = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores..total).collect()
}
