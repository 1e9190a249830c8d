//! The diarization worker's engine, as a library so tests and benchmarks can drive it without
//! the process around it. The models themselves (segmentation, CAM++ embedder) are in
//! `nightshift-diarize`.

pub mod engine;

pub use engine::Engine;
