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

/// A directory a tools/ script provides: `$var` when set, else the last
/// line `tools/<script>` prints (the scripts cache their work).
pub fn tool_dir(var: &str, script: &str) -> Result<std::path::PathBuf, String> {
    if let Some(d) = std::env::var_os(var) {
        return Ok(d.into());
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools").join(script);
    let out = std::process::Command::new("bash").arg(path).output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let dir = text.lines().last().map(std::path::PathBuf::from).filter(|p| p.is_dir());
    dir.ok_or(format!("tools/{script} failed"))
}
