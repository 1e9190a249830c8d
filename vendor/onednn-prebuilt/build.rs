//! Point dependents at the prebuilt oneDNN: `$NIGHTSHIFT_ONEDNN`, else
//! `$HOME/.cache/nightshift-onednn`, as scripts/fetch-onednn.sh leaves it (lib/libdnnl.so.3,
//! include/dnnl.h). Dependents read `DEP_DNNL_INCLUDE_PATH` and `DEP_DNNL_LIBRARY_PATH`, as they
//! would from the crates.io build.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=NIGHTSHIFT_ONEDNN");
    let root = match std::env::var_os("NIGHTSHIFT_ONEDNN") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/nightshift-onednn")
        }
    };
    let lib = root.join("lib");
    let include = root.join("include");
    for needed in [lib.join("libdnnl.so.3"), include.join("dnnl.h")] {
        println!("cargo::rerun-if-changed={}", needed.display());
        if !needed.is_file() {
            println!(
                "cargo::error=oneDNN not found: {} is missing; run scripts/fetch-onednn.sh \
                 (or set NIGHTSHIFT_ONEDNN to where it unpacked oneDNN)",
                needed.display()
            );
            return;
        }
    }
    println!("cargo::rustc-link-search=native={}", lib.display());
    println!("cargo::rustc-link-lib=dylib=dnnl");
    println!("cargo::metadata=ROOT={}", root.display());
    println!("cargo::metadata=INCLUDE_PATH={}", include.display());
    println!("cargo::metadata=LIBRARY_PATH={}", lib.display());
}
