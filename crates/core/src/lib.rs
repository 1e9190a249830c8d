//! Types shared by every nightshift crate. No I/O lives here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The stage a job belongs to. A meeting's SUMMARY runs only after all its AUDIO and VISUAL
/// jobs have finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskType {
    Audio,
    Visual,
    Summary,
}

impl TaskType {
    pub const ALL: [TaskType; 3] = [TaskType::Audio, TaskType::Visual, TaskType::Summary];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Audio => "AUDIO",
            TaskType::Visual => "VISUAL",
            TaskType::Summary => "SUMMARY",
        }
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "AUDIO" => Ok(TaskType::Audio),
            "VISUAL" => Ok(TaskType::Visual),
            "SUMMARY" => Ok(TaskType::Summary),
            _ => Err(UnknownName(format!("unknown task type {s:?}"))),
        }
    }
}

/// Lifecycle of a job. PROCESSING always carries a lease; a lease that expires sends the job
/// back to PENDING (or to FAILED once its attempts are used up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Processing => "PROCESSING",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
        }
    }

    /// Finished for good: nothing will run it again unless a user retries it.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName(format!("unknown job status {s:?}")))
    }
}

/// A name that does not map to any known variant (for example a DB written by a newer binary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName(pub String);

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnknownName {}

/// One transcript segment in meeting time (seconds from the start of the input).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    #[serde(default)]
    pub speaker: Option<String>,
    pub text: String,
    /// The segment's words with their own times (empty when the engine gave none): one per
    /// whitespace-separated word of `text`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Word>,
}

/// One recognised word: its times (chunk seconds in a worker's answer, meeting seconds in a
/// transcript), its text as written in the segment (punctuation attached), and the engine's
/// probability for it (mean over its tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub p: f32,
}

/// The kind of input a meeting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Audio,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

impl FromStr for MediaKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "audio" => Ok(MediaKind::Audio),
            "video" => Ok(MediaKind::Video),
            _ => Err(UnknownName(format!("unknown media kind {s:?}"))),
        }
    }
}

/// Visual notes for one scene of a video meeting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub start: f64,
    pub end: f64,
    pub keyframes: Vec<String>,
    pub transcript: String,
    pub ocr_text: String,
    pub description: Option<String>,
    /// What the keyframes show, e.g. "3 people, a laptop" (empty: nothing, or not detected).
    #[serde(default)]
    pub objects: String,
    /// Per keyframe (in `keyframes` order) the labelled boxes found on it.
    #[serde(default)]
    pub keyframe_objects: Vec<Vec<ObjectBox>>,
    /// The audio events heard during the scene (clipped to it).
    #[serde(default)]
    pub events: Vec<AudioEvent>,
}

/// A stretch of a meeting where a kind of non-speech sound was heard (music, applause, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioEvent {
    pub label: String,
    pub start: f64,
    pub end: f64,
    pub score: f32,
}

/// An object found on a picture, its box corners as fractions of the picture's size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectBox {
    pub label: String,
    pub score: f32,
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

/// An action item taken from a meeting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    pub task: String,
    pub owner: Option<String>,
    /// ISO date (`YYYY-MM-DD`) when the deadline could be resolved.
    pub due: Option<String>,
    /// The deadline as said, when it could not be resolved to a date.
    #[serde(default)]
    pub due_spoken: Option<String>,
    /// Meeting seconds of the line that assigns it (its evidence in the transcript).
    #[serde(default)]
    pub time: Option<f64>,
}

/// A decision taken in a meeting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub text: String,
    /// Meeting seconds of the line that states it (its evidence in the transcript).
    #[serde(default)]
    pub time: Option<f64>,
    /// Who stated it.
    #[serde(default)]
    pub speaker: Option<String>,
}

/// The structured summary of a meeting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub overview: String,
    pub decisions: Vec<Decision>,
    pub action_items: Vec<ActionItem>,
    pub open_questions: Vec<String>,
}

/// The rate video frame k is placed at (k / fps), as ffmpeg's `av_guess_frame_rate` picks it:
/// the stream's base rate — a variable-rate screen recording keeps its full time resolution —
/// unless that is a time-base artefact (> 210 with an average under 70), then the average.
pub fn guess_frame_rate(base: Option<f64>, average: Option<f64>) -> Option<f64> {
    match (base, average) {
        (Some(b), Some(a)) if b > 210.0 && a < 70.0 => Some(a),
        (Some(b), _) => Some(b),
        (None, a) => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in TaskType::ALL {
            assert_eq!(t.as_str().parse::<TaskType>().unwrap(), t);
        }
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
        }
        assert!("BOGUS".parse::<JobStatus>().is_err());
    }
}
