//! Building the `show` document of a meeting from its stored job results.

use std::collections::BTreeMap;

use anyhow::Result;
use nightshift_core::{JobStatus, TaskType};
use nightshift_export::{AssembleOptions, ChunkTranscript, MeetingDoc};
use nightshift_queue::{JobRow, MeetingRow, Queue};
use nightshift_worker_protocol::LocalSegment;
use serde_json::{Value, json};

/// What an AUDIO job stores as its result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AudioResult {
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub segments: Vec<LocalSegment>,
    /// Set when the pre-filter skipped the chunk (no model ran).
    #[serde(default)]
    pub skipped: Option<String>,
}

pub fn spans_from(v: &Value) -> Vec<(f64, f64)> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// `speakers` decides how enrolled voices name the meeting's speakers.
pub fn build_doc(
    queue: &Queue,
    meeting: &MeetingRow,
    speakers: &crate::config::SpeakersConfig,
) -> Result<MeetingDoc> {
    let jobs = queue.jobs_of(&meeting.meeting_id)?;
    let mut chunks = Vec::new();
    let mut languages: BTreeMap<String, usize> = BTreeMap::new();
    for job in jobs
        .iter()
        .filter(|j| crate::speakers::is_chunk_job(j) && j.status == JobStatus::Completed)
    {
        let Some(result) = job.result.clone() else {
            continue;
        };
        let result: AudioResult = serde_json::from_value(result).unwrap_or(AudioResult {
            language: None,
            segments: Vec::new(),
            skipped: Some("unreadable result".into()),
        });
        if let Some(lang) = &result.language {
            *languages.entry(lang.clone()).or_default() += 1;
        }
        chunks.push(ChunkTranscript {
            offset_s: job.payload["offset_s"].as_f64().unwrap_or(0.0),
            duration_s: job.payload["duration_s"].as_f64().unwrap_or(0.0),
            speech_spans: spans_from(&job.payload["speech_spans"]),
            segments: result.segments,
        });
    }
    chunks.sort_by(|a, b| a.offset_s.total_cmp(&b.offset_s));
    let mut segments = nightshift_export::assemble(&chunks, &AssembleOptions::default());
    if let Some(d) = crate::speakers::diarization(&jobs) {
        let names = crate::speakers::names_for(queue, &meeting.meeting_id, &d, speakers)?;
        segments = crate::speakers::label_segments(segments, &d.turns, &names);
    }
    let language = languages
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(l, _)| l);
    Ok(MeetingDoc {
        meeting_id: meeting.meeting_id.clone(),
        title: meeting.title.clone(),
        source: meeting.source_path.clone(),
        duration_s: meeting.duration_s,
        language,
        scenes: scenes(&jobs, &segments),
        segments,
        summary: crate::foreman::summary::final_summary(&jobs).map(|(s, _)| s.into_summary()),
        jobs: jobs_summary(&jobs),
    })
}

/// The video's scenes fused with what was said during each: `{start, end, keyframes,
/// transcript, ocr_text, description}`.
pub fn scenes(
    jobs: &[JobRow],
    segments: &[nightshift_core::Segment],
) -> Vec<nightshift_core::Scene> {
    let Some(notes) = visual_notes(jobs) else {
        return Vec::new();
    };
    let descriptions: Vec<String> = jobs
        .iter()
        .filter(|j| j.task_type == TaskType::Visual && j.status == JobStatus::Completed)
        .filter_map(|j| j.result.as_ref())
        .find(|r| r["step"] == "describe")
        .and_then(|r| serde_json::from_value(r["descriptions"].clone()).ok())
        .unwrap_or_default();
    notes
        .scenes
        .iter()
        .enumerate()
        .map(|(i, s)| nightshift_core::Scene {
            start: s.start_s,
            end: s.end_s,
            keyframes: s
                .keyframes
                .iter()
                .map(|k| k.display().to_string())
                .collect(),
            transcript: segments
                .iter()
                .filter(|g| {
                    let mid = (g.start + g.end) / 2.0;
                    s.start_s <= mid && mid < s.end_s
                })
                .map(|g| g.text.trim())
                .collect::<Vec<_>>()
                .join(" "),
            ocr_text: s.ocr_text.join("\n"),
            description: descriptions.get(i).cloned().filter(|d| !d.is_empty()),
        })
        .collect()
}

/// The stored result of a meeting's VISUAL job, if it finished.
pub fn visual_notes(jobs: &[JobRow]) -> Option<nightshift_video::VideoNotes> {
    jobs.iter()
        .filter(|j| j.task_type == TaskType::Visual && j.status == JobStatus::Completed)
        .filter(|j| j.payload["step"] != "describe")
        .find_map(|j| serde_json::from_value(j.result.clone()?).ok())
}

/// Counts per task type and status, plus the errors of failed jobs.
pub fn jobs_summary(jobs: &[JobRow]) -> Value {
    let mut counts: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for j in jobs {
        *counts
            .entry(j.task_type.to_string())
            .or_default()
            .entry(j.status.to_string())
            .or_default() += 1;
    }
    let failed: Vec<Value> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Failed)
        .map(|j| json!({"job_id": j.job_id, "task_type": j.task_type, "seq": j.seq, "error": j.last_error}))
        .collect();
    json!({ "total": jobs.len(), "counts": counts, "failed": failed })
}
