//! Starting the ephpm release binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{wait_ready, Peer};

/// Builds (if needed) and returns the release binary's path.
pub fn binary() -> Result<PathBuf, String> {
    // Another build to measure side by side (an older binary).
    if let Some(bin) = std::env::var_os("EPHPM_BENCH_BIN") {
        return Ok(bin.into());
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("no workspace")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench: building ephpm (release)...");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "ephpm", "--quiet"])
        .current_dir(workspace)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building ephpm failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    Ok(target.join("release/ephpm"))
}

/// Starts ephpm on `cores` cores serving `root`.
pub fn start(bin: &Path, root: &Path, cores: usize, io: &str) -> Result<Peer, String> {
    start_with(bin, root, cores, io, "")
}

/// As [`start`], with extra TOML sections appended to the config.
pub fn start_with(bin: &Path, root: &Path, cores: usize, io: &str, extra: &str) -> Result<Peer, String> {
    start_at(bin, super::free_port()?, root, cores, io, "", extra)
}

/// As [`start_with`], listening on `addr` (a site that knows its own
/// address, such as WordPress, survives a restart) and with `fallback` as
/// `server.fallback` (`"/index.php"` for pretty permalinks).
pub fn start_at(
    bin: &Path,
    addr: std::net::SocketAddr,
    root: &Path,
    cores: usize,
    io: &str,
    fallback: &str,
    extra: &str,
) -> Result<Peer, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = format!(
        "[server]\nlisten = \"{addr}\"\ndocument_root = \"{}\"\ncores = {cores}\nio = \"{io}\"\nhello_route = \"/hello\"\nfallback = \"{fallback}\"\n\n[log]\nlevel = \"warn\"\nrequests = false\n{extra}\n",
        root.display()
    );
    let cfg = dir.path().join("ephpm.toml");
    std::fs::write(&cfg, config).map_err(|e| e.to_string())?;
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(&cfg)
        // Relative paths (the embedded database's file) land in the temp dir.
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    wait_ready(addr, &mut child, "ephpm")?;
    Ok(Peer { name: "ephpm".into(), addr, child, _dir: dir })
}
