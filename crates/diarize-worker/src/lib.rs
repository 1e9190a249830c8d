//! The diarization worker's engine, as a library so tests and benchmarks can drive it without
//! the process around it: ONNX Runtime (opened at run time) for the speaker embedder, and
//! `nightshift-diarize` for everything else.

pub mod embedder;
pub mod engine;

pub use engine::Engine;
