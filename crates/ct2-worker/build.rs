//! The worker loads oneDNN (`libdnnl.so.3`) at run time from where scripts/fetch-onednn.sh
//! unpacked it, or from the worker's own folder in an installed copy: both go in its RPATH.

fn main() {
    if let Ok(lib) = std::env::var("DEP_DNNL_LIBRARY_PATH") {
        println!("cargo::rustc-link-arg-bins=-Wl,-rpath,{lib}");
    }
    println!("cargo::rustc-link-arg-bins=-Wl,-rpath,$ORIGIN");
}
