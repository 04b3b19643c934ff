//! Finds a PHP build (ZTS with the embed SAPI) and compiles the C shim
//! against it. Where: `$PHP_CONFIG` (path to php-config), else the newest
//! build of `tools/build-php.sh` under `~/.cache/ephpm/`. Without one the
//! crate still compiles, without PHP (`ephpm_sapi::available()` is false).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PHP_CONFIG");
    println!("cargo:rerun-if-env-changed=EPHPM_CACHE");
    println!("cargo:rerun-if-changed=src/shim");
    println!("cargo:rustc-check-cfg=cfg(ephpm_php)");
    let Some(php_config) = find_php_config() else {
        println!("cargo:warning=no PHP build found (set PHP_CONFIG or run tools/build-php.sh): building without PHP");
        return;
    };
    println!("cargo:rerun-if-changed={}", php_config.display());
    let query = |arg: &str| -> String {
        let out = Command::new(&php_config).arg(arg).output().expect("run php-config");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let prefix = PathBuf::from(query("--prefix"));
    let includes = query("--includes");
    let config_h = prefix.join("include/php/main/php_config.h");
    let zts = std::fs::read_to_string(&config_h).is_ok_and(|s| s.contains("#define ZTS 1"));
    if !zts {
        panic!("{} is not a ZTS build of PHP; build one with tools/build-php.sh", php_config.display());
    }
    let libdir = prefix.join("lib");
    if !libdir.join("libphp.so").exists() {
        panic!("{} has no libphp.so (configure PHP with --enable-embed=shared)", libdir.display());
    }
    let mut build = cc::Build::new();
    build
        .files(["src/shim/engine.c", "src/shim/cli.c", "src/shim/kv.c", "src/shim/session.c", "src/shim/worker.c"])
        .flag("-Wno-unused-parameter")
        // A missing prototype once made C call a function pointer's own
        // address ($_SERVER in `ephpm php` crashed): make that an error.
        .flag("-Werror=implicit-function-declaration")
        .flag("-Werror=int-conversion")
        .warnings(false);
    for inc in includes.split_whitespace() {
        build.include(inc.trim_start_matches("-I"));
    }
    build.compile("ephpm_shim");
    generate_bindings();
    println!("cargo:rustc-link-search=native={}", libdir.display());
    println!("cargo:rustc-link-lib=dylib=php");
    // This package's own test binaries find libphp without LD_LIBRARY_PATH;
    // dependents read DEP_PHP_LIBDIR and set their own rpath.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", libdir.display());
    println!("cargo:libdir={}", libdir.display());
    println!("cargo:rustc-cfg=ephpm_php");
    println!("cargo:rustc-env=EPHPM_PHP_PREFIX={}", prefix.display());
}

fn find_php_config() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PHP_CONFIG") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    let cache = std::env::var_os("EPHPM_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/ephpm")))?;
    if cache.is_dir() {
        // A new build appearing in the cache re-runs this script.
        println!("cargo:rerun-if-changed={}", cache.display());
    }
    let mut builds: Vec<PathBuf> = std::fs::read_dir(&cache)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(".complete").exists() && p.join("bin/php-config").exists())
        .collect();
    builds.sort();
    builds.pop().map(|p| p.join("bin/php-config"))
}

/// Rust declarations of the shim's C API (`src/shim/ephpm_shim.h`). The
/// PHP internals stay on the C side; Rust sees only this small surface.
fn generate_bindings() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    bindgen::Builder::default()
        .header("src/shim/ephpm_shim.h")
        .allowlist_function("ephpm_.*")
        .allowlist_type("ephpm_.*")
        .allowlist_var("EPHPM_.*")
        .generate()
        .expect("bindgen: cannot generate bindings for src/shim/ephpm_shim.h (is libclang-dev installed?)")
        .write_to_file(out.join("shim_bindings.rs"))
        .expect("write shim bindings");
}
