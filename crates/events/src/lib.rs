//! Base data beyond speech, in process on the CPU, both models run by tract (pure Rust, no
//! C++ runtime):
//! - audio events: YAMNet (521 AudioSet classes) on log-mel patches (`frontend`, `yamnet`),
//!   pooled into labelled spans (`spans`: music, applause, laughter, …);
//! - objects on keyframes: a COCO detector ONNX in the CenterNet or YOLOv8 layout, threshold +
//!   NMS, and a per-scene summary (`detect`).

pub mod detect;
pub mod frontend;
pub mod image;
pub mod spans;
pub mod yamnet;

pub use detect::{Detection, Detector, DetectorOptions, Layout};
pub use spans::{EventSpan, GROUPS, Group};
pub use yamnet::{PatchScores, Tagger, Yamnet};

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// A model or label file that cannot be used (missing, unreadable, unexpected shape).
    #[error("{path}: {why}")]
    Model { path: String, why: String },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("{0}")]
    Input(String),
}

/// The groups, each with its class indices in `model`'s class map.
pub fn resolve_groups(model: &Yamnet) -> Result<Vec<(Group, Vec<usize>)>, EventsError> {
    GROUPS
        .iter()
        .map(|g| {
            spans::group_indices(g, &model.class_names)
                .map(|idx| (*g, idx))
                .map_err(|why| EventsError::Model {
                    path: "yamnet_class_map.csv".into(),
                    why,
                })
        })
        .collect()
}
