//! Gives this crate's test binaries an rpath to the PHP build that
//! ephpm-sapi linked (if any), so they run without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_PHP_LIBDIR");
    if let Ok(libdir) = std::env::var("DEP_PHP_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
    }
}
