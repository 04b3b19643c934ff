//! wordpress: Debian's WordPress (the same files and the same freshly
//! installed content on both sides, pretty permalinks on both), its front
//! page and its sample post, on ephpm with the embedded database: without
//! caches, with ephpm's object cache, and with its page cache too; against
//! nginx + php-fpm (the same PHP build, OPcache on) + MariaDB, and that
//! stack with fastcgi_cache as WordPress's nginx guide sets it up. Each
//! stack is confined to the same CPUs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::http::{measure, Target};
use crate::peers::{self, Peer};
use crate::report::Report;
use crate::Args;

/// PHP threads per core in ephpm and (times cores) php-fpm workers.
const THREADS_PER_CORE: usize = 4;

/// Sequential page loads over which database queries per page are counted.
const QUERY_SAMPLE: u64 = 20;

/// The node API token of the ephpm under test.
const TOKEN: &str = "bench-token";

/// Runs the wordpress scenario.
pub fn run(args: &Args) -> Result<Report, String> {
    let bin = peers::ephpm::binary()?;
    let prefix = peers::php_fpm::php_prefix(&bin)?;
    // Debian's WordPress files.
    let files = super::tool_dir("EPHPM_WORDPRESS_DIR", "fetch-wordpress.sh")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (ours_root, theirs_root) = (copy(&files, dir.path(), "ephpm")?, copy(&files, dir.path(), "peer")?);

    let (db, api) = (peers::free_port()?, peers::free_port()?);
    let config = |page_cache: bool| {
        let cache = if page_cache { "[server.cache]\nenabled = true\n" } else { "" };
        format!(
            "{cache}[php]\nthreads_per_core = {THREADS_PER_CORE}\n[db]\nusers = [{{ name = \"wp\", password = \"wp-pass\" }}]\n\
             [db.sqlite]\nlisten = \"{db}\"\npath = \"{}\"\n[node_api]\nlisten = \"{api}\"\ntoken = \"{TOKEN}\"\n",
            dir.path().join("wordpress.sqlite").display()
        )
    };
    let start_ephpm = |addr: SocketAddr, page_cache: bool| {
        peers::ephpm::start_at(&bin, addr, &ours_root, args.cores, &args.io, "/index.php", &config(page_cache))
    };
    let ephpm = start_ephpm(peers::free_port()?, false)?;
    install(ephpm.addr, &db.to_string(), "wordpress")?;

    let maria = super::db::mariadb(args.cores, 1000)?;
    let fpm = peers::php_fpm::start(&prefix, args.cores * THREADS_PER_CORE, args.cores)?;
    let start_nginx = |addr: SocketAddr, cache: bool, tcp_nopush: bool| {
        let mut p = peers::nginx::start_wordpress(
            addr,
            &theirs_root,
            args.cores,
            args.connections,
            &fpm.socket,
            cache,
            tcp_nopush,
        )?;
        p.name = match (cache, tcp_nopush) {
            (false, _) => "nginx+php-fpm+mariadb",
            (true, true) => "nginx+fastcgi_cache (tcp_nopush on)",
            (true, false) => "nginx+fastcgi_cache (tcp_nopush off)",
        }
        .into();
        Ok::<Peer, String>(p)
    };
    let mut nginx = start_nginx(peers::free_port()?, false, true)?;
    install(nginx.addr, &maria.addr.to_string(), "sbtest")?;

    // The sample post where each site serves it: WordPress chose pretty
    // permalinks on both, having probed that the server rewrites them.
    let post = [canonical(ephpm.addr, "/?p=1")?, canonical(nginx.addr, "/?p=1")?];
    let pages = [(["/".to_string(), "/".to_string()], "front page"), (post.clone(), "single post")];
    let peer_cpu = |nginx: &Peer| vec![nginx.child.id(), fpm.pid(), maria.child.id()];
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    let mut peer_rates = Vec::new();
    for object_cache in [false, true] {
        let ours = if object_cache { "ephpm + object cache" } else { "ephpm" };
        if object_cache {
            enable_object_cache(&bin, &ours_root)?;
        }
        for (paths, page) in &pages {
            let targets = pair(&ephpm, &nginx, paths, (ours, page), peer_cpu(&nginx));
            let queries = queries_per_page(ephpm.addr, api, &paths[0])?;
            let mut measured = measure(&targets, args)?;
            measured[0].extra.push(("DB queries/page".into(), queries));
            ratios.push((format!("{ours} / peer without caches, {page} rps"), measured[0].rate / measured[1].rate));
            if object_cache {
                // The peer's row was measured in the first pass.
                measured.truncate(1);
            } else {
                peer_rates.push(measured[1].rate);
            }
            rows.extend(measured);
        }
    }

    // The page caches are configured at start: both sites restart on
    // their own addresses (WordPress redirects other hosts). nginx runs
    // with each tcp_nopush setting; ephpm is compared with the faster.
    let (ours_addr, theirs_addr) = (ephpm.addr, nginx.addr);
    drop(ephpm);
    let ephpm = start_ephpm(ours_addr, true)?;
    let ours = "ephpm + object cache + page cache";
    let mut against_best = [f64::INFINITY; 2];
    for tcp_nopush in [true, false] {
        drop(nginx);
        nginx = start_nginx(theirs_addr, true, tcp_nopush)?;
        for (i, (paths, page)) in pages.iter().enumerate() {
            let targets = pair(&ephpm, &nginx, paths, (ours, page), peer_cpu(&nginx));
            let measured = measure(&targets, args)?;
            against_best[i] = against_best[i].min(measured[0].rate / measured[1].rate);
            if tcp_nopush {
                ratios.push((format!("{ours} / peer without caches, {page} rps"), measured[0].rate / peer_rates[i]));
            }
            rows.extend(measured);
        }
    }
    for ((_, page), ratio) in pages.iter().zip(against_best) {
        ratios.push((format!("{ours} / nginx+fastcgi_cache at its faster tcp_nopush, {page} rps"), ratio));
    }
    Ok(Report {
        scenario: "wordpress".into(),
        setup: format!(
            "WordPress {} freshly installed on each side (pretty permalinks); GET / and the sample post ({} and {}), {} connections over {} load thread(s), {} core(s) per stack, \
             {} PHP threads/workers per core (OPcache on, no php.ini), {} s per server in {} alternating rounds, ephpm io={}; \
             CPU us/req: the stack's processes (ephpm; nginx, php-fpm and mariadbd) over the measured rounds; DB queries/page: over {QUERY_SAMPLE} sequential loads",
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

/// ephpm (as `ours`) and the peer (with the processes its requests cost),
/// each on its own path for `page`.
fn pair<'a>(
    ephpm: &'a Peer,
    peer: &'a Peer,
    paths: &'a [String; 2],
    (ours, page): (&str, &str),
    peer_cpu: Vec<u32>,
) -> [Target<'a>; 2] {
    [
        Target { peer: ephpm, path: &paths[0], label: format!("{ours}, {page}"), cpu: vec![ephpm.child.id()] },
        Target { peer, path: &paths[1], label: format!("{}, {page}", peer.name), cpu: peer_cpu },
    ]
}

/// Installs ephpm's object-cache drop-in into the site.
fn enable_object_cache(bin: &Path, root: &Path) -> Result<(), String> {
    let out = Command::new(bin).args(["wp", "enable-object-cache"]).arg(root).output();
    if out.map(|o| o.status.success()).unwrap_or(false) {
        Ok(())
    } else {
        Err("ephpm wp enable-object-cache failed".into())
    }
}

/// Database queries one load of `path` costs: the growth of the summed
/// statement digest counts (node API on `api`) over sequential loads.
fn queries_per_page(site: SocketAddr, api: SocketAddr, path: &str) -> Result<f64, String> {
    let before = executed_statements(api)?;
    for _ in 0..QUERY_SAMPLE {
        Command::new("curl")
            .args(["-s", "-m", "60", "-o", "/dev/null"])
            .arg(format!("http://{site}{path}"))
            .status()
            .map_err(|e| e.to_string())?;
    }
    Ok((executed_statements(api)? - before) as f64 / QUERY_SAMPLE as f64)
}

/// Statements run so far, by `/api/db/digests`.
fn executed_statements(api: SocketAddr) -> Result<u64, String> {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-H", &format!("Authorization: Bearer {TOKEN}")])
        .arg(format!("http://{api}/api/db/digests"))
        .output()
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("/api/db/digests: {e}"))?;
    let digests = v["digests"].as_array().ok_or("/api/db/digests: no digests")?;
    Ok(digests.iter().filter_map(|d| d["count"].as_u64()).sum())
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
