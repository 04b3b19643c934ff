//! Gives the `ephpm` binary (and the integration tests that link the
//! library crates) an rpath to the PHP build that ephpm-sapi linked (if
//! any), so they run without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_PHP_LIBDIR");
    if let Ok(libdir) = std::env::var("DEP_PHP_LIBDIR") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{libdir}");
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{libdir}");
    }
}
