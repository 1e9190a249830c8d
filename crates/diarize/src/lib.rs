//! Speaker diarization without an inference engine: the pyannote segmentation-3.0 network
//! and the CAM++ speaker embedder (with its Kaldi fbank front end) written out in Rust,
//! agglomerative clustering and the reconstruction of speaker turns. The pipeline takes any
//! [`Embedder`]; CAM++ is the one the worker uses.

pub mod campplus;
pub mod cluster;
pub mod fbank;
mod gemm;
pub mod pipeline;
pub mod segmentation;
pub mod timbre;
pub mod weights;

use std::path::Path;

pub use cluster::CountHints;
pub use pipeline::{
    CountMethod, Diarization, Diarizer, Embedder, Options, PieceItem, SpanAnalysis, Speaker, Turn,
};
pub use segmentation::Segmenter;

#[derive(Debug, thiserror::Error)]
pub enum DiarizeError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a usable model: {why}")]
    Model { path: String, why: String },
    #[error("speaker embedder: {0}")]
    Embedder(String),
}

impl DiarizeError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DiarizeError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
