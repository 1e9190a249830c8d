//! Scoring for tests and `bench` (never on the product path): the WER normalisation of
//! DESIGN §4, word error counts pooled over a set, frame-level F1 for speech spans,
//! diarization error rate, typed access to the corpus manifest, and a tiny synthetic vision
//! projector for the local VLM tests.

pub mod der;
pub mod frames;
pub mod manifest;
pub mod normalize;
mod numbers;
pub mod scenes;
pub mod tiny_vlm;
pub mod wer;

pub use der::{Der, SpeakerTurn, der, parse_rttm};
pub use frames::{DEFAULT_FRAME_S, frame_f1};
pub use manifest::{Case, Manifest, ManifestError, Sentence, Turn, corpus_dir, load_corpus};
pub use normalize::normalize;
pub use scenes::scene_f1;
pub use wer::{WerCounts, pooled_wer, wer_counts};
