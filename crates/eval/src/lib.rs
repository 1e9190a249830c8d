//! Scoring for tests and `bench` (never on the product path): the WER normalisation of
//! DESIGN §4, word error counts pooled over a set, frame-level F1 for speech spans,
//! diarization error rate, typed access to the corpus manifest, a sentence embedder and the
//! summary scorer built on it (decisions and action items matched by meaning), word start times
//! and word speakers against the reference turns (`words`), and a tiny
//! synthetic vision projector for the local VLM tests.

pub mod der;
pub mod frames;
pub mod manifest;
pub mod normalize;
mod numbers;
pub mod scenes;
pub mod summary_score;
pub mod tiny_vlm;
pub mod wer;
pub mod words;

pub use der::{Der, SpeakerTurn, der, label_people, parse_rttm};
pub use frames::{DEFAULT_FRAME_S, frame_f1};
pub use manifest::{
    Case, Manifest, ManifestError, MeetingSpeaker, MeetingTruth, Sentence, TrueActionItem,
    TrueDecision, Turn, corpus_dir, load_corpus,
};
/// The sentence embedder lives in `nightshift-embed` (the product's search uses it too).
pub use nightshift_embed as embed;
pub use nightshift_embed::{EmbedError, Embedder, cosine, embedding_model_dir};
pub use normalize::normalize;
pub use scenes::scene_f1;
pub use summary_score::{
    MATCH_THRESHOLD, Matching, ProducedAction, ProducedDecision, ProducedSummary, Score,
    ScoreOptions, match_items, score_summary, score_table,
};
pub use wer::{WerCounts, pooled_wer, wer_counts};
pub use words::{HypWord, WordScore, score_words};
