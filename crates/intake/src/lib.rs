//! What `nightshift serve` takes in from the network before any model sees it, kept apart from
//! the daemon so the fuzzer (`fuzz/fuzz_targets/http_upload.rs`) drives the same code:
//! - [`guard`]: who may talk to the API (loopback `Host`, no browser `Origin`, bearer token);
//! - [`form`]: a multipart upload streamed to disk, its limits enforced before and while
//!   reading, with nothing left behind when it fails.

pub mod form;
pub mod guard;

pub use form::{Form, Limits, drain, read_form};
pub use guard::{Guard, is_loopback_host};
