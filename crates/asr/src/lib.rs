//! What both ASR workers (whisper.cpp and CTranslate2) do the same way around their engine:
//! pack a chunk's speech into windows (`pack`), map what a window decoded back to chunk time
//! with per-word times (`remap`), and drop what whisper-family models hallucinate (`guards`).
//! The engine only has to turn a window's audio into [`RawSegment`]s; `serve` runs the
//! worker protocol's batch loop around it.

pub mod guards;
pub mod pack;
mod raw;
pub mod remap;
mod serve;

pub use raw::{RawSegment, RawToken};
pub use serve::{Engine, ItemOutput, send_fatal, serve};
