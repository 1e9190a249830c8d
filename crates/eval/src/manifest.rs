//! The corpus manifest (`../shared/corpus/manifest.json`, documented in its README), so every
//! crate's tests iterate cases the same way.
//!
//! `expected` stays a `serde_json::Value`: its fields depend on the case kind and the holdout
//! corpus may add some. Typed accessors cover what tests need and look in the places the README
//! lists (a video keeps its speech under `expected.audio`, a silent video its geometry under
//! `expected.video`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// Environment variable that points at a corpus directory (one holding `manifest.json`).
pub const CORPUS_ENV: &str = "NIGHTSHIFT_CORPUS";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a corpus manifest: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// `dev` or `holdout`.
    pub corpus: String,
    pub schema_version: u32,
    pub cases: Vec<Case>,
    /// Directory the manifest was loaded from; case paths are relative to it.
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub id: String,
    /// `real_speech`, `tts`, `format`, `meeting`, `video`, `bad_input`, `edge_input`.
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub bytes: Option<u64>,
    pub sha256: String,
    /// What ffprobe reported; `null` for most bad inputs.
    #[serde(default)]
    pub media: Option<Value>,
    #[serde(default)]
    pub expected: Value,
}

/// A speaker turn: meetings and videos carry `text` and `sentences`, the AMI excerpt only
/// times.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Turn {
    pub speaker: String,
    pub start_s: f64,
    pub end_s: f64,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub sentences: Vec<Sentence>,
}

/// One sentence of a turn with its audible extent (chunk cuts must not fall inside one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Sentence {
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
}

/// What a meeting's summary should contain (`expected` of a `meeting` case).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MeetingTruth {
    /// ISO date the meeting is held on (relative deadlines are resolved against it).
    #[serde(default)]
    pub meeting_date: Option<String>,
    #[serde(default)]
    pub speakers: Vec<MeetingSpeaker>,
    #[serde(default)]
    pub decisions: Vec<TrueDecision>,
    #[serde(default)]
    pub action_items: Vec<TrueActionItem>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MeetingSpeaker {
    /// The name used in turns and the RTTM (`ANNA`).
    pub id: String,
    #[serde(default)]
    pub role: Option<String>,
}

/// A decision stated in the dialogue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TrueDecision {
    pub id: String,
    /// A paraphrase of the decision.
    pub decision: String,
    #[serde(default)]
    pub stated_by: Option<String>,
    /// Start of the sentence that states it.
    #[serde(default)]
    pub time_s: Option<f64>,
    /// A verbatim fragment of that sentence.
    #[serde(default)]
    pub evidence: Option<String>,
}

/// A task assigned in the dialogue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TrueActionItem {
    pub id: String,
    /// A speaker id (`CARLOS`).
    pub owner: String,
    pub task: String,
    /// ISO date.
    #[serde(default)]
    pub due: Option<String>,
    /// The deadline as said.
    #[serde(default)]
    pub due_spoken: Option<String>,
    #[serde(default)]
    pub assigned_by: Option<String>,
    #[serde(default)]
    pub time_s: Option<f64>,
    #[serde(default)]
    pub evidence: Option<String>,
}

impl Manifest {
    /// Load `<dir>/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        let mut m: Manifest =
            serde_json::from_str(&text).map_err(|source| ManifestError::Parse { path, source })?;
        m.dir = dir.to_path_buf();
        Ok(m)
    }

    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }

    /// Cases of one kind, in manifest order.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Case> + 'a {
        self.cases.iter().filter(move |c| c.kind == kind)
    }

    /// Absolute path of a case's input file.
    pub fn file(&self, case: &Case) -> PathBuf {
        self.dir.join(&case.path)
    }
}

impl Case {
    /// The first of `paths` (each a list of keys under `expected`) that exists.
    fn find(&self, paths: &[&[&str]]) -> Option<&Value> {
        paths.iter().find_map(|keys| {
            keys.iter()
                .try_fold(&self.expected, |v, k| v.get(k))
                .filter(|v| !v.is_null())
        })
    }

    /// File duration: `expected.duration_s`, a video's, else ffprobe's.
    pub fn duration_s(&self) -> Option<f64> {
        self.find(&[&["duration_s"], &["video", "duration_s"]])
            .and_then(Value::as_f64)
            .or_else(|| self.media.as_ref()?.get("duration_s")?.as_f64())
    }

    /// The exact reference text (a video's speech track included); `Some("")` means "no speech".
    pub fn reference_transcript(&self) -> Option<&str> {
        self.find(&[
            &["reference_transcript"],
            &["audio", "reference_transcript"],
        ])
        .and_then(Value::as_str)
    }

    pub fn reference_transcript_normalized(&self) -> Option<&str> {
        self.find(&[
            &["reference_transcript_normalized"],
            &["audio", "reference_transcript_normalized"],
        ])
        .and_then(Value::as_str)
    }

    /// Per-speaker reference texts of a real multi-speaker excerpt (score with cpWER):
    /// `(speaker, text, normalized text)`.
    pub fn reference_per_speaker(&self) -> Vec<(String, String, Option<String>)> {
        let Some(Value::Object(texts)) = self.find(&[&["reference_transcript_per_speaker"]]) else {
            return Vec::new();
        };
        let normalized = self.find(&[&["reference_transcript_per_speaker_normalized"]]);
        texts
            .iter()
            .filter_map(|(spk, text)| {
                let norm = normalized
                    .and_then(|n| n.get(spk))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Some((spk.clone(), text.as_str()?.to_string(), norm))
            })
            .collect()
    }

    /// Where someone is speaking (VAD truth), `[start, end]` pairs in seconds.
    pub fn speech_regions(&self) -> Option<Vec<(f64, f64)>> {
        let v = self.find(&[&["speech_regions"], &["audio", "speech_regions"]])?;
        serde_json::from_value(v.clone()).ok()
    }

    /// Speaker turns (meetings, videos' speech tracks, the AMI excerpt); empty when none.
    pub fn turns(&self) -> Vec<Turn> {
        self.find(&[&["turns"], &["audio", "turns"]])
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// The decisions, action items and speakers of a meeting case; `None` for other kinds or
    /// when `expected` does not read as a meeting.
    pub fn meeting_truth(&self) -> Option<MeetingTruth> {
        if self.kind != "meeting" {
            return None;
        }
        serde_json::from_value(self.expected.clone()).ok()
    }

    /// `error`, `error_or_warning` or `ok` for bad and edge inputs.
    pub fn outcome(&self) -> Option<&str> {
        self.find(&[&["outcome"]]).and_then(Value::as_str)
    }
}

/// The corpus directory: `$NIGHTSHIFT_CORPUS`, else `<repo>/../shared/corpus`, else
/// `<repo>/shared/corpus` (a checkout with `shared/` inside it). The error says where it looked.
pub fn corpus_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(CORPUS_ENV) {
        let dir = PathBuf::from(dir);
        return if dir.join("manifest.json").is_file() {
            Ok(dir)
        } else {
            Err(format!(
                "{CORPUS_ENV}={}: no manifest.json there",
                dir.display()
            ))
        };
    }
    // This crate lives at <repo>/crates/eval.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [repo.join("../shared/corpus"), repo.join("shared/corpus")];
    candidates
        .iter()
        .find(|d| d.join("manifest.json").is_file())
        .map(|d| d.canonicalize().unwrap_or_else(|_| d.clone()))
        .ok_or_else(|| {
            format!(
                "test corpus not found: no manifest.json in {} or {} (set {CORPUS_ENV})",
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

/// [`corpus_dir`] + [`Manifest::load`], with the failure as one line for tests to panic with.
pub fn load_corpus() -> Result<Manifest, String> {
    let dir = corpus_dir()?;
    Manifest::load(&dir).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(expected: Value) -> Case {
        serde_json::from_value(serde_json::json!({
            "id": "x", "kind": "video", "path": "v.mp4", "sha256": "00",
            "media": {"duration_s": 9.5}, "expected": expected
        }))
        .unwrap()
    }

    #[test]
    fn accessors_look_where_the_readme_says() {
        let v = case(serde_json::json!({
            "audio": {"reference_transcript": "Hi.", "reference_transcript_normalized": "hi",
                      "speech_regions": [[0.5, 1.0]],
                      "turns": [{"index": 0, "speaker": "N", "start_s": 0.5, "end_s": 1.0,
                                 "text": "Hi."}]}
        }));
        assert_eq!(v.reference_transcript(), Some("Hi."));
        assert_eq!(v.reference_transcript_normalized(), Some("hi"));
        assert_eq!(v.speech_regions(), Some(vec![(0.5, 1.0)]));
        assert_eq!(v.turns()[0].text.as_deref(), Some("Hi."));
        assert_eq!(
            v.duration_s(),
            Some(9.5),
            "falls back to ffprobe's duration"
        );

        let silent = case(serde_json::json!({"outcome": "ok", "video": {"duration_s": 7.0}}));
        assert_eq!(silent.duration_s(), Some(7.0));
        assert_eq!(silent.outcome(), Some("ok"));
        assert_eq!(silent.reference_transcript(), None);
        assert!(silent.turns().is_empty());
    }
}
