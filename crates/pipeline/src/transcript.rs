//! Building the `show` document of a meeting from its stored job results.

use std::collections::BTreeMap;

use anyhow::Result;
use nightshift_core::{JobStatus, Segment, TaskType};
use nightshift_export::{AssembleOptions, ChunkTranscript, MeetingDoc, SpeakerName};
use nightshift_queue::{JobRow, MeetingRow, Queue};
use nightshift_summarize::SummaryOut;
use nightshift_summarize::dates::{self, Date};
use nightshift_summarize::refine::{Context, Line, refine};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::job::{AudioResult, JobKind, SummaryStepResult, stored_result};

/// `speakers` decides how enrolled voices name the meeting's speakers.
pub fn build_doc(
    queue: &Queue,
    meeting: &MeetingRow,
    speakers: &crate::config::SpeakersConfig,
) -> Result<MeetingDoc> {
    let jobs = queue.jobs_of(&meeting.meeting_id)?;
    let mut chunks = Vec::new();
    let mut languages: BTreeMap<String, usize> = BTreeMap::new();
    for job in jobs.iter().filter(|j| j.status == JobStatus::Completed) {
        let JobKind::Chunk(chunk) = JobKind::of_row(job)? else {
            continue;
        };
        let Some(result) = stored_result::<AudioResult>(job)? else {
            continue;
        };
        if let Some(lang) = &result.language {
            *languages.entry(lang.clone()).or_default() += 1;
        }
        chunks.push(ChunkTranscript {
            offset_s: chunk.offset_s,
            duration_s: chunk.duration_s,
            speech_spans: chunk.speech_spans,
            segments: result.segments,
        });
    }
    chunks.sort_by(|a, b| a.offset_s.total_cmp(&b.offset_s));
    let mut segments = nightshift_export::assemble(&chunks, &AssembleOptions::default());
    let mut speaker_names = Vec::new();
    if let Some(d) = crate::speakers::diarization(&jobs)? {
        // Labelled once; names (proposed from the labelled lines) then replace the labels.
        segments = crate::speakers::label_segments(segments, &d.turns, &[]);
        speaker_names = crate::speakers::meeting_names(queue, meeting, &d, speakers, &segments)?;
        for seg in &mut segments {
            if let Some(label) = &seg.speaker
                && let Some(n) = speaker_names.iter().find(|n| &n.label == label)
            {
                seg.speaker = Some(n.name.clone());
            }
        }
    }
    let language = languages
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(l, _)| l);
    let date = meeting_date(meeting, &segments);
    let summary = final_summary(&jobs)?
        .map(|(out, _)| refined(out, &segments, &speaker_names, date.map(|(d, _)| d)));
    Ok(MeetingDoc {
        meeting_id: meeting.meeting_id.clone(),
        title: meeting.title.clone(),
        source: meeting.source_path.clone(),
        duration_s: meeting.duration_s,
        language,
        scenes: scenes(&jobs, &segments)?,
        segments,
        summary,
        jobs: jobs_summary(&jobs),
        speakers: speaker_names,
        meeting_date: date.map(|(d, _)| d.to_string()),
        meeting_date_source: date.map(|(_, s)| s.to_string()),
        events: audio_events(&jobs)?,
        gaps: chunk_gaps(&jobs)?,
    })
}

/// Chunks that failed for good: their stretch has no transcript, and the document says why
/// (the job's last error: a deleted or damaged chunk file, a worker that kept failing).
fn chunk_gaps(jobs: &[JobRow]) -> Result<Vec<nightshift_export::Gap>> {
    let mut gaps = Vec::new();
    for j in jobs.iter().filter(|j| j.status == JobStatus::Failed) {
        if let JobKind::Chunk(c) = JobKind::of_row(j)? {
            gaps.push(nightshift_export::Gap {
                start: c.offset_s,
                end: c.offset_s + c.duration_s,
                cause: j
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "failed without an error message".into()),
            });
        }
    }
    gaps.sort_by(|a, b| a.start.total_cmp(&b.start));
    Ok(gaps)
}

/// When the meeting took place, and how that is known: given with `add --date`, the
/// recording's `creation_time` tag, or said in the meeting ("Today is Thursday, April third").
pub fn meeting_date(meeting: &MeetingRow, segments: &[Segment]) -> Option<(Date, &'static str)> {
    let info = |k: &str| meeting.info[k].as_str().and_then(Date::parse_iso);
    if let Some(d) = info("meeting_date") {
        return Some((d, "given"));
    }
    let tagged = info("creation_time");
    // The first minutes are where a date gets said.
    let opening: String = segments
        .iter()
        .take_while(|s| s.start < 300.0)
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let added = Date::from_days((meeting.created_at / 86_400.0).floor() as i64);
    let spoken = dates::spoken_meeting_date(&opening, added.year, tagged.map(|t| t.year));
    match (tagged, spoken) {
        // A file's tag can be a copy's or an export's date; a date said in the meeting on a
        // different day wins.
        (Some(t), Some(s)) if s != t => Some((s, "spoken")),
        (Some(t), _) => Some((t, "metadata")),
        (None, Some(s)) => Some((s, "spoken")),
        (None, None) => None,
    }
}

/// The model's summary checked against the transcript: see `nightshift_summarize::refine`.
fn refined(
    out: SummaryOut,
    segments: &[Segment],
    speakers: &[SpeakerName],
    date: Option<Date>,
) -> nightshift_core::Summary {
    let lines: Vec<Line<'_>> = segments
        .iter()
        .map(|s| Line {
            start: s.start,
            end: s.end,
            speaker: s.speaker.as_deref(),
            text: &s.text,
        })
        .collect();
    let names: Vec<String> = speakers
        .iter()
        .filter(|s| s.source != "label")
        .map(|s| s.name.clone())
        .collect();
    let labels: Vec<(String, String)> = speakers
        .iter()
        .map(|s| (s.label.clone(), s.name.clone()))
        .collect();
    let ctx = Context {
        meeting_date: date,
        names: &names,
        labels: &labels,
    };
    let r = refine(out, &lines, &ctx);
    if !r.unsupported.is_empty() {
        tracing::debug!(
            "summary items without evidence in the transcript, left out: {:?}",
            r.unsupported
        );
    }
    r.summary
}

/// The video's scenes fused with what was said during each: `{start, end, keyframes,
/// transcript, ocr_text, description}`.
pub fn scenes(
    jobs: &[JobRow],
    segments: &[nightshift_core::Segment],
) -> Result<Vec<nightshift_core::Scene>> {
    let Some(notes) = visual_notes(jobs)? else {
        return Ok(Vec::new());
    };
    let events = audio_events(jobs)?;
    let mut objects: Vec<crate::job::SceneObjects> = Vec::new();
    for j in completed_of(jobs, |k| matches!(k, JobKind::Objects))? {
        if let Some(o) = stored_result::<crate::job::ObjectsResult>(j)? {
            objects = o.scenes;
        }
    }
    let mut descriptions: Vec<String> = Vec::new();
    for j in completed_of(jobs, |k| matches!(k, JobKind::Describe))? {
        if let Some(d) = stored_result::<crate::job::DescribeResult>(j)? {
            descriptions = d.descriptions;
        }
    }
    Ok(notes
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
            objects: objects
                .get(i)
                .map(|o| o.summary.clone())
                .unwrap_or_default(),
            keyframe_objects: objects
                .get(i)
                .map(|o| o.keyframes.clone())
                .unwrap_or_default(),
            events: events
                .iter()
                .filter(|e| e.start < s.end_s && s.start_s < e.end)
                .map(|e| nightshift_core::AudioEvent {
                    start: e.start.max(s.start_s),
                    end: e.end.min(s.end_s),
                    ..e.clone()
                })
                .collect(),
        })
        .collect())
}

/// The meeting's audio events, by start (empty until its events job has finished).
pub fn audio_events(jobs: &[JobRow]) -> Result<Vec<nightshift_core::AudioEvent>> {
    for j in completed_of(jobs, |k| matches!(k, JobKind::Events))? {
        if let Some(r) = stored_result::<crate::job::EventsResult>(j)? {
            return Ok(r.events);
        }
    }
    Ok(Vec::new())
}

/// Events for a prompt: "music 0–95 s, applause 301–306 s", or "(none)".
pub fn events_text(events: &[nightshift_core::AudioEvent]) -> String {
    if events.is_empty() {
        return "(none)".into();
    }
    events
        .iter()
        .map(|e| format!("{} {:.0}–{:.0} s", e.label, e.start, e.end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The completed jobs of the kinds `which` picks.
fn completed_of(jobs: &[JobRow], which: impl Fn(&JobKind) -> bool) -> Result<Vec<&JobRow>> {
    let mut out = Vec::new();
    for j in jobs.iter().filter(|j| j.status == JobStatus::Completed) {
        if which(&JobKind::of_row(j)?) {
            out.push(j);
        }
    }
    Ok(out)
}

/// The stored result of a meeting's VISUAL job, if it finished.
pub fn visual_notes(jobs: &[JobRow]) -> Result<Option<nightshift_video::VideoNotes>> {
    match completed_of(jobs, |k| matches!(k, JobKind::Scenes(_)))?.first() {
        Some(j) => Ok(stored_result(j)?),
        None => Ok(None),
    }
}

/// Where a meeting stands, from its jobs: `recording`, `processing`, `pending`,
/// `done_with_failures`, `cancelled` or `done` (what `status` and the web app show).
pub fn meeting_state(meeting: &MeetingRow, jobs: &[JobRow]) -> &'static str {
    let any = |s: JobStatus| jobs.iter().any(|j| j.status == s);
    if crate::recording::is_recording(&meeting.info) {
        "recording"
    } else if any(JobStatus::Processing) {
        "processing"
    } else if any(JobStatus::Pending) {
        "pending"
    } else if any(JobStatus::Failed) {
        "done_with_failures"
    } else if any(JobStatus::Cancelled) {
        "cancelled"
    } else {
        "done"
    }
}

/// Check a name given to a speaker by hand: 1–100 printable characters.
pub fn check_speaker_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().any(char::is_control) || name.chars().count() > 100 {
        anyhow::bail!("{name:?}: a speaker name must be 1–100 printable characters");
    }
    Ok(())
}

/// Name one of a meeting's speakers after the fact (`speakers rename`, the web app). `label`
/// is the label as shown (`SPEAKER_2`, any case) or the name it currently shows (given, or
/// proposed from speech). Returns the label that was renamed.
pub fn rename_speaker(
    queue: &mut Queue,
    meeting: &MeetingRow,
    speakers: &crate::config::SpeakersConfig,
    label: &str,
    name: &str,
) -> Result<String> {
    check_speaker_name(name)?;
    let jobs = queue.jobs_of(&meeting.meeting_id)?;
    if crate::speakers::diarization(&jobs)?.is_none() {
        anyhow::bail!(
            "meeting {}: no speakers yet (its diarization has not finished; see `nightshift status`)",
            meeting.meeting_id
        );
    }
    let doc = build_doc(queue, meeting, speakers)?;
    let Some(found) = doc
        .speakers
        .iter()
        .find(|s| s.label.eq_ignore_ascii_case(label) || s.name == label)
    else {
        let known: Vec<String> = doc
            .speakers
            .iter()
            .map(|s| {
                if s.label == s.name {
                    s.label.clone()
                } else {
                    format!("{} ({})", s.label, s.name)
                }
            })
            .collect();
        anyhow::bail!(
            "meeting {}: no speaker {label:?} (speakers: {})",
            meeting.meeting_id,
            known.join(", ")
        );
    };
    let found = found.label.clone();
    queue.set_speaker_name(&meeting.meeting_id, &found, name.trim())?;
    Ok(found)
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

/// The final summary of a meeting, if its last reduce (or an empty plan) has finished.
pub fn final_summary(jobs: &[JobRow]) -> Result<Option<(SummaryOut, Value)>> {
    for j in jobs
        .iter()
        .filter(|j| j.task_type == TaskType::Summary && j.status == JobStatus::Completed)
    {
        let Some(r) = stored_result::<SummaryStepResult>(j)? else {
            continue;
        };
        if !r.is_final {
            continue;
        }
        let Some(out) = r.summary.or(r.output) else {
            continue;
        };
        let summary = SummaryOut::deserialize(&out).map_err(|e| crate::job::CorruptJob {
            meeting_id: j.meeting_id.clone(),
            job_id: j.job_id,
            what: "summary",
            why: e.to_string(),
        })?;
        return Ok(Some((
            summary,
            json!({"gaps": r.gaps, "windows": r.windows}),
        )));
    }
    Ok(None)
}
