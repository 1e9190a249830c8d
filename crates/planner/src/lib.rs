//! VRAM planning for nightshift (DESIGN.md §1 Planner, §2 `plan`).
//!
//! Reads model headers — GGUF metadata and tensor infos, whisper.cpp's ggml hparams — never
//! the weights, and predicts what a worker process will hold: weights + KV cache + compute
//! buffer + per-process overhead. Then says whether a set of models fits a budget together,
//! which must run alone, and the largest context that fits.
//!
//! Pure apart from [`open`], which reads a file's header: every length read from a file is
//! checked against the file's size before anything is allocated from it, so a truncated or
//! garbage file is an error, never a panic or a huge allocation.

mod error;
pub mod estimate;
pub mod ggml_type;
pub mod gguf;
mod model;
mod reader;
pub mod shape;
mod verdict;
pub mod whisper;

pub use error::{PlanError, Result};
pub use estimate::{
    CUDA_OVERHEAD_BYTES, Device, Estimate, FlashAttn, KvType, LlmWeights, Options,
    ProjectorEstimate,
};
pub use model::{Llm, Model, Projector, open, pair_projectors, read};
pub use verdict::{Verdict, max_ctx, verdict};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
