//! Gives the `ephpm` binary an rpath to the PHP build that ephpm-sapi
//! linked (if any), so it runs without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_PHP_LIBDIR");
    if let Ok(libdir) = std::env::var("DEP_PHP_LIBDIR") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{libdir}");
    }
}
