//! What can go wrong reading a model header. Display is the cause only; the caller names the file.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PlanError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a GGUF or whisper ggml model (starts with \"{}\")", .0.escape_ascii())]
    UnknownFormat([u8; 4]),
    #[error("truncated: {what} at byte {offset} needs {needed} bytes but the file ends at {len}")]
    Truncated {
        what: &'static str,
        offset: u64,
        needed: u64,
        len: u64,
    },
    #[error("invalid header: {0}")]
    Invalid(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("metadata key {0} missing")]
    MissingKey(String),
}

pub type Result<T, E = PlanError> = std::result::Result<T, E>;
