//! wordpress: Debian's WordPress (the same files and the same freshly
//! installed content on both sides), its front page and its sample post,
//! on ephpm with the embedded database, without and with ephpm's object
//! cache, against nginx + php-fpm (the same PHP build, OPcache on) +
//! MariaDB, each stack confined to the same CPUs.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::http::{measure, Target};
use crate::peers;
use crate::report::Report;
use crate::Args;

/// PHP threads per core in ephpm and (times cores) php-fpm workers.
const THREADS_PER_CORE: usize = 4;

/// Runs the wordpress scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let prefix = peers::php_fpm::php_prefix(&bin)?;
    let files = wordpress_files()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (ours_root, theirs_root) = (copy(&files, dir.path(), "ephpm")?, copy(&files, dir.path(), "peer")?);

    let db = peers::free_port()?;
    let extra = format!(
        "[php]\nthreads_per_core = {THREADS_PER_CORE}\n[db]\nusers = [{{ name = \"wp\", password = \"wp-pass\" }}]\n\
         [db.sqlite]\nlisten = \"{db}\"\npath = \"wordpress.sqlite\"\n"
    );
    let ephpm = peers::ephpm::start_with(&bin, &ours_root, args.cores, &args.io, &extra)?;
    install(ephpm.addr, &db.to_string(), "wordpress")?;

    let maria = super::db::mariadb(args.cores, 1000)?;
    let fpm = peers::php_fpm::start(&prefix, args.cores * THREADS_PER_CORE, args.cores)?;
    let mut nginx = peers::nginx::start(&theirs_root, args.cores, args.connections, Some(&fpm.socket))?;
    nginx.name = "nginx+php-fpm+mariadb".into();
    install(nginx.addr, &maria.addr.to_string(), "sbtest")?;

    // The sample post where each site serves it (its permalinks differ:
    // WordPress picks them by probing what the server rewrites).
    let post = [canonical(ephpm.addr, "/?p=1")?, canonical(nginx.addr, "/?p=1")?];
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for cache in [false, true] {
        if cache {
            let out = Command::new(&bin).args(["wp", "enable-object-cache"]).arg(&ours_root).output();
            if !out.map(|o| o.status.success()).unwrap_or(false) {
                return Err("ephpm wp enable-object-cache failed".into());
            }
        }
        let ours = if cache { "ephpm + object cache" } else { "ephpm" };
        for (paths, page) in [(["/", "/"], "front page"), ([post[0].as_str(), post[1].as_str()], "single post")] {
            let targets = [
                Target { peer: &ephpm, path: paths[0], label: format!("{ours}, {page}") },
                Target { peer: &nginx, path: paths[1], label: format!("{}, {page}", nginx.name) },
            ];
            let mut measured = measure(&targets, args)?;
            ratios.push((format!("{ours} / peer without caches, {page} rps"), measured[0].rate / measured[1].rate));
            if cache {
                // The peer's row was measured in the first pass too.
                measured.truncate(1);
            }
            rows.extend(measured);
        }
    }
    Ok(Report {
        scenario: "wordpress".into(),
        setup: format!(
            "WordPress {} freshly installed on each side; GET / and the sample post ({} and {}), {} connections over {} load thread(s), {} core(s) per stack, \
             {} PHP threads/workers per core (OPcache on, no php.ini), {} s per server in {} alternating rounds, ephpm io={}",
            files.display(),
            post[0],
            post[1],
            args.connections,
            args.threads,
            args.cores,
            THREADS_PER_CORE,
            args.duration,
            args.rounds.max(1),
            args.io
        ),
        rows,
        ratios,
    })
}

/// Debian's WordPress files: `EPHPM_WORDPRESS_DIR`, else what
/// tools/fetch-wordpress.sh fetches.
fn wordpress_files() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("EPHPM_WORDPRESS_DIR") {
        return Ok(d.into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/fetch-wordpress.sh");
    let out = Command::new("bash").arg(script).output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().last().map(PathBuf::from).filter(|p| p.is_dir()).ok_or("tools/fetch-wordpress.sh failed".into())
}

/// Where `path` on the site at `addr` ends up after WordPress's
/// redirects (a path, with its query).
fn canonical(addr: std::net::SocketAddr, path: &str) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-s", "-L", "-m", "60", "-o", "/dev/null", "-w", "%{url_effective}"])
        .arg(format!("http://{addr}{path}"))
        .output()
        .map_err(|e| e.to_string())?;
    let url = String::from_utf8_lossy(&out.stdout).to_string();
    let prefix = format!("http://{addr}");
    url.strip_prefix(&prefix).map(str::to_string).ok_or(format!("{path} on {addr} ended at {url:?}"))
}

/// A writable copy of the files without Debian's wp-config.php.
fn copy(files: &Path, into: &Path, name: &str) -> Result<PathBuf, String> {
    let dest = into.join(name);
    let ok = Command::new("cp").arg("-a").arg(files).arg(&dest).status().map_err(|e| e.to_string())?;
    if !ok.success() {
        return Err(format!("cannot copy {}", files.display()));
    }
    let _ = std::fs::remove_file(dest.join("wp-config.php"));
    Ok(dest)
}

/// Runs WordPress's setup and installer on the site at `addr` against the
/// database at `dbhost`.
fn install(addr: std::net::SocketAddr, dbhost: &str, dbname: &str) -> Result<(), String> {
    let base = format!("http://{addr}");
    let steps = [
        (
            format!("{base}/wp-admin/setup-config.php?step=2"),
            format!("dbname={dbname}&uname=wp&pwd=wp-pass&dbhost={dbhost}&prefix=wp_&language=&submit=Submit"),
            "WordPress can now communicate with your database",
        ),
        (
            format!("{base}/wp-admin/install.php?step=2"),
            "weblog_title=Bench&user_name=admin&admin_password=Secret-pass-123&admin_password2=Secret-pass-123\
             &pw_weak=1&admin_email=admin%40example.com&blog_public=0&Submit=Install+WordPress&language="
                .to_string(),
            "<h1>Success!</h1>",
        ),
    ];
    for (url, form, want) in steps {
        let out = Command::new("curl")
            .args(["-s", "-m", "120", "--data", &form, &url])
            .output()
            .map_err(|e| e.to_string())?;
        let page = String::from_utf8_lossy(&out.stdout);
        if !page.contains(want) {
            return Err(format!("installing WordPress at {base}: {url} did not answer {want:?}"));
        }
    }
    Ok(())
}
