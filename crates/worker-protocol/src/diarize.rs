//! Foreman ⇄ `nightshift-diarize-worker` messages: one `load`, then `diarize` (a meeting's
//! stored chunks → speaker turns) or `embed` (one clip → the voice of its main speaker, for
//! enrolling a voice profile) items, each answered as soon as it is done.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiarizeLoad {
    /// pyannote segmentation-3.0 weights (safetensors).
    pub segmentation_path: String,
    /// CAM++ speaker embedder weights (safetensors).
    pub embedder_path: String,
    pub threads: u32,
}

/// A stretch of 16 kHz mono audio stored as a FLAC chunk, placed at `offset_s` in the meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioSpan {
    pub path: String,
    pub offset_s: f64,
}

/// What the user told us about the number of speakers, and the clustering threshold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeakerHints {
    #[serde(default)]
    pub num_speakers: Option<usize>,
    #[serde(default)]
    pub min_speakers: Option<usize>,
    #[serde(default)]
    pub max_speakers: Option<usize>,
    #[serde(default)]
    pub threshold: Option<f32>,
    /// `Some(false)`: no timbre merge or split after the clustering (`[speakers] timbre`).
    /// Left out when unset, so stored payloads read and write as they did before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timbre: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiarizeItem {
    pub job_id: i64,
    pub spans: Vec<AudioSpan>,
    #[serde(default)]
    pub hints: SpeakerHints,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedItem {
    pub job_id: i64,
    /// A 16 kHz mono WAV or FLAC file.
    pub audio_path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DiarizeRequest {
    Load(DiarizeLoad),
    Diarize(DiarizeItem),
    Embed(EmbedItem),
}

/// A speaker turn in meeting seconds; `speaker` indexes the answer's `speakers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerTurn {
    pub start: f64,
    pub end: f64,
    pub speaker: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundSpeaker {
    /// L2-normalised mean embedding of the speaker's clean speech.
    pub embedding: Vec<f32>,
    pub speech_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiarizeMetrics {
    pub wall_s: f64,
    pub audio_s: f64,
    pub segmentation_s: f64,
    pub embedding_s: f64,
    pub clustering_s: f64,
    pub windows: usize,
    pub embeddings: usize,
    /// Chunks that could not be read (damaged or deleted after they were written) and were
    /// left out; their stretch of the meeting has no speakers.
    #[serde(default)]
    pub unreadable_chunks: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DiarizeResponse {
    Ready {
        load_s: f64,
        device: String,
    },
    Diarized {
        job_id: i64,
        turns: Vec<SpeakerTurn>,
        speakers: Vec<FoundSpeaker>,
        metrics: DiarizeMetrics,
    },
    /// The main speaker of a clip (the one with the most clean speech).
    Embedded {
        job_id: i64,
        embedding: Vec<f32>,
        speech_s: f64,
        speakers_found: usize,
    },
    JobError {
        job_id: i64,
        message: String,
    },
    Fatal {
        message: String,
    },
}
