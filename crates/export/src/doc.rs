//! The `show` document (DESIGN §2), its formats and parts, and the JSON writer.

use std::fmt;
use std::str::FromStr;

use nightshift_core::{AudioEvent, Scene, Segment, Summary};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything `show` can print about one meeting. Serialises to exactly the DESIGN §2 JSON:
/// `{meeting_id, title, source, duration_s, language, segments, scenes, summary, jobs}`, with
/// `summary: null` until there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingDoc {
    pub meeting_id: String,
    pub title: String,
    /// The input file as the user gave it.
    pub source: String,
    pub duration_s: f64,
    /// Detected or forced language (ISO 639-1); `None` before any ASR result.
    pub language: Option<String>,
    pub segments: Vec<Segment>,
    pub scenes: Vec<Scene>,
    pub summary: Option<Summary>,
    /// Job counts per task type and status; the CLI fills it from the queue.
    #[serde(default)]
    pub jobs: Value,
    /// Who spoke, by diarization label, and where each name comes from.
    #[serde(default)]
    pub speakers: Vec<SpeakerName>,
    /// Non-speech sounds heard (music, applause, …), by start: bracketed lines in md/txt,
    /// `events` in JSON with the transcript, cues in srt/vtt only when asked (`--events`).
    #[serde(default)]
    pub events: Vec<AudioEvent>,
    /// When the meeting took place (`YYYY-MM-DD`), and how that is known.
    #[serde(default)]
    pub meeting_date: Option<String>,
    #[serde(default)]
    pub meeting_date_source: Option<String>,
    /// Stretches with no transcript because their audio could not be transcribed (a chunk
    /// that failed for good: deleted, damaged), each with its cause.
    #[serde(default)]
    pub gaps: Vec<Gap>,
}

/// A stretch of the meeting (seconds) that has no transcript, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub start: f64,
    pub end: f64,
    pub cause: String,
}

/// A speaker of the meeting: its diarization label, the name shown, and where the name comes
/// from: `given` (renamed by hand or an enrolled voice), `speech` (proposed from how others
/// address them — `speakers rename` overrides it), or `label` (no name known).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerName {
    pub label: String,
    pub name: String,
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{format} output carries only transcripts; --part {part} needs md, txt or json")]
    TranscriptOnly { format: Format, part: Part },
    #[error("unknown format {0:?} (expected md, txt, srt, vtt or json)")]
    UnknownFormat(String),
    #[error("unknown part {0:?} (expected transcript, summary, scenes or all)")]
    UnknownPart(String),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Md,
    Txt,
    Srt,
    Vtt,
    Json,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Md,
        Format::Txt,
        Format::Srt,
        Format::Vtt,
        Format::Json,
    ];

    /// The name on the command line, also the usual file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Txt => "txt",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let name = match lower.as_str() {
            "markdown" => "md",
            "text" => "txt",
            "webvtt" => "vtt",
            other => other,
        };
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| ExportError::UnknownFormat(s.to_string()))
    }
}

/// Which part of the document to print; `All` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Part {
    Transcript,
    Summary,
    Scenes,
    #[default]
    All,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Transcript, Part::Summary, Part::Scenes, Part::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Part::Transcript => "transcript",
            Part::Summary => "summary",
            Part::Scenes => "scenes",
            Part::All => "all",
        }
    }

    pub(crate) fn has_transcript(self) -> bool {
        matches!(self, Part::Transcript | Part::All)
    }

    pub(crate) fn has_summary(self) -> bool {
        matches!(self, Part::Summary | Part::All)
    }

    pub(crate) fn has_scenes(self) -> bool {
        matches!(self, Part::Scenes | Part::All)
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Part {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Part::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ExportError::UnknownPart(s.to_string()))
    }
}

/// The document limited to one part: the identifying fields always, then only the part's keys
/// (`jobs` only with `all`). Borrowing keeps the field order of the full object.
#[derive(Serialize)]
struct JsonView<'a> {
    meeting_id: &'a str,
    title: &'a str,
    source: &'a str,
    duration_s: f64,
    language: &'a Option<String>,
    meeting_date: &'a Option<String>,
    meeting_date_source: &'a Option<String>,
    speakers: &'a [SpeakerName],
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<&'a [Segment]>,
    /// With the transcript, when any were heard.
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<&'a [AudioEvent]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scenes: Option<&'a [Scene]>,
    /// `Some(&None)` writes `"summary": null`: the key is there, the summary is not yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a Option<Summary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jobs: Option<&'a Value>,
    /// With the transcript: where it has holes, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    gaps: Option<&'a [Gap]>,
}

/// Pretty JSON with a final newline, the shape of DESIGN §2.
pub(crate) fn render_json(doc: &MeetingDoc, part: Part) -> Result<String, ExportError> {
    let view = JsonView {
        meeting_id: &doc.meeting_id,
        title: &doc.title,
        source: &doc.source,
        duration_s: doc.duration_s,
        language: &doc.language,
        meeting_date: &doc.meeting_date,
        meeting_date_source: &doc.meeting_date_source,
        speakers: &doc.speakers,
        segments: part.has_transcript().then_some(doc.segments.as_slice()),
        events: (part.has_transcript() && !doc.events.is_empty()).then_some(doc.events.as_slice()),
        scenes: part.has_scenes().then_some(doc.scenes.as_slice()),
        summary: part.has_summary().then_some(&doc.summary),
        jobs: (part == Part::All).then_some(&doc.jobs),
        gaps: part.has_transcript().then_some(doc.gaps.as_slice()),
    };
    let mut s = serde_json::to_string_pretty(&view)?;
    s.push('\n');
    Ok(s)
}
