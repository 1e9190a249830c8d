//! Nothing to call: this crate exists for its build script, which tells the crates that link
//! oneDNN (`links = "dnnl"`) where the prebuilt library and headers are.
#![no_std]
