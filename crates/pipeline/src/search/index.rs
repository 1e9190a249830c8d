//! What a stored result contributes to the search index, and storing it with the result.
//!
//! - a chunk: one passage per transcript segment, in meeting seconds (chunk offset + local time);
//! - the final summary: one passage per decision, action item (task, owner, due) and open
//!   question, at the time the model gave it (the item as the model wrote it: `show` refines
//!   items at read time, search finds what was stored);
//! - a video's scenes: one passage per scene with on-screen text.
//!
//! Speakers are not indexed: they are applied when a search reads its hits, from the stored
//! diarization and the names as they are then (renames and enrolled voices included).

use anyhow::Result;
use nightshift_core::JobStatus;
use nightshift_queue::{JobRow, NewJob, Passage, Queue};
use nightshift_summarize::SummaryOut;
use serde::Deserialize;
use serde_json::Value;

use super::Source;
use crate::job::{AudioResult, JobKind, SummaryStepResult};

/// The passages of one job's result; none for kinds that hold no searchable text.
pub fn passages_of(kind: &JobKind, result: &Value) -> Result<Vec<Passage>> {
    Ok(match kind {
        JobKind::Chunk(chunk) => {
            let r = AudioResult::deserialize(result)?;
            r.segments
                .iter()
                .filter(|s| !s.text.trim().is_empty())
                .map(|s| {
                    passage(
                        Source::Transcript,
                        chunk.offset_s + s.start,
                        chunk.offset_s + s.end,
                        s.text.trim(),
                    )
                })
                .collect()
        }
        JobKind::Scenes(_) => {
            let notes = nightshift_video::VideoNotes::deserialize(result)?;
            notes
                .scenes
                .iter()
                .filter(|s| s.ocr_text.iter().any(|l| !l.trim().is_empty()))
                .map(|s| passage(Source::Screen, s.start_s, s.end_s, &s.ocr_text.join("\n")))
                .collect()
        }
        JobKind::Plan
        | JobKind::Summarize { .. }
        | JobKind::Reduce { .. }
        | JobKind::Group { .. } => {
            let r = SummaryStepResult::deserialize(result)?;
            match (r.is_final, r.summary.or(r.output)) {
                (true, Some(out)) => summary_passages(&SummaryOut::deserialize(&out)?),
                _ => Vec::new(),
            }
        }
        // Diarization (speakers are applied at read time), descriptions, map notes and any
        // kind added later hold nothing searchable here.
        _ => Vec::new(),
    })
}

fn passage(source: Source, start_s: f64, end_s: f64, text: &str) -> Passage {
    Passage {
        source: source.as_str().to_string(),
        start_s,
        end_s: end_s.max(start_s),
        text: text.to_string(),
    }
}

fn summary_passages(s: &SummaryOut) -> Vec<Passage> {
    let at = |t: &str| parse_clock(t).unwrap_or(0.0);
    let mut out = Vec::new();
    for d in s.decisions.iter().filter(|d| !d.text.trim().is_empty()) {
        out.push(passage(
            Source::Decision,
            at(&d.time),
            at(&d.time),
            d.text.trim(),
        ));
    }
    for a in s.action_items.iter().filter(|a| !a.task.trim().is_empty()) {
        let mut text = a.task.trim().to_string();
        for (label, v) in [("owner", &a.owner), ("due", &a.due)] {
            if !v.trim().is_empty() {
                text.push_str(&format!(" ({label}: {})", v.trim()));
            }
        }
        out.push(passage(Source::Action, at(&a.time), at(&a.time), &text));
    }
    for q in s.open_questions.iter().filter(|q| !q.trim().is_empty()) {
        out.push(passage(Source::Question, 0.0, 0.0, q.trim()));
    }
    out
}

/// `mm:ss` or `h:mm:ss` → seconds.
fn parse_clock(t: &str) -> Option<f64> {
    let mut secs = 0.0;
    let parts: Vec<&str> = t.trim().split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    for p in parts {
        secs = secs * 60.0 + p.trim().parse::<f64>().ok().filter(|v| *v >= 0.0)?;
    }
    Some(secs)
}

/// Complete a held job with its result, its follow-up jobs and its search passages in one
/// transaction. Every Foreman path that stores a result with searchable text goes through here.
pub fn complete(
    queue: &mut Queue,
    job_id: i64,
    owner: &str,
    result: &Value,
    metrics: &Value,
    follow_ups: &[NewJob],
) -> Result<()> {
    let passages = match queue.job(job_id)? {
        Some(row) => passages_of(&JobKind::of_row(&row)?, result).unwrap_or_else(|e| {
            // The result is stored all the same (it is what the worker said); the index
            // only misses it, and says so.
            tracing::warn!(job_id, "result not indexed for search: {e}");
            Vec::new()
        }),
        None => Vec::new(),
    };
    queue.complete_indexed(job_id, owner, result, metrics, follow_ups, &passages)?;
    Ok(())
}

/// Rebuild the passages of every meeting marked stale (a home from before the index, or marked
/// by hand), each from its completed jobs' stored results in one transaction. Returns how many
/// meetings were rebuilt.
pub fn rebuild_stale(queue: &mut Queue) -> Result<usize> {
    let stale = queue.search_stale_meetings()?;
    for meeting_id in &stale {
        let jobs = queue.jobs_of(meeting_id)?;
        let by_job = meeting_passages(&jobs)?;
        queue.reindex_meeting(meeting_id, &by_job)?;
    }
    Ok(stale.len())
}

fn meeting_passages(jobs: &[JobRow]) -> Result<Vec<(i64, Vec<Passage>)>> {
    let mut out = Vec::new();
    for j in jobs.iter().filter(|j| j.status == JobStatus::Completed) {
        let Some(result) = &j.result else { continue };
        let passages = passages_of(&JobKind::of_row(j)?, result)
            .map_err(|e| anyhow::anyhow!("meeting {}, job {}: {e}", j.meeting_id, j.job_id))?;
        if !passages.is_empty() {
            out.push((j.job_id, passages));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::ChunkPayload;
    use serde_json::json;

    #[test]
    fn chunk_segments_become_passages_in_meeting_time() {
        let kind = JobKind::Chunk(ChunkPayload {
            offset_s: 60.0,
            duration_s: 30.0,
            offset_samples: 0,
            len_samples: 0,
            speech_spans: vec![],
            speech_ratio: 1.0,
            skip_reason: None,
        });
        let result = json!({"segments": [
            {"start": 1.0, "end": 3.5, "text": " The migration is on Saturday."},
            {"start": 4.0, "end": 5.0, "text": "  "}]});
        let p = passages_of(&kind, &result).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].start_s, p[0].end_s), (61.0, 63.5));
        assert_eq!(p[0].text, "The migration is on Saturday.");
        assert_eq!(p[0].source, "transcript");
    }

    #[test]
    fn only_the_final_summary_is_indexed() {
        let summary = json!({"overview": "o",
            "decisions": [{"text": "Ship on Friday", "time": "01:05"}],
            "action_items": [{"task": "Write the notes", "owner": "Ana", "due": "", "time": "1:02:03"}],
            "open_questions": ["Who pays?"]});
        let fin = json!({"step": "reduce", "final": true, "output": summary});
        let p = passages_of(&JobKind::Reduce { level: 1 }, &fin).unwrap();
        let got: Vec<(&str, f64, &str)> = p
            .iter()
            .map(|p| (p.source.as_str(), p.start_s, p.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("decision", 65.0, "Ship on Friday"),
                ("action", 3723.0, "Write the notes (owner: Ana)"),
                ("question", 0.0, "Who pays?"),
            ]
        );
        let not_final = json!({"step": "reduce", "output": summary});
        assert!(
            passages_of(&JobKind::Reduce { level: 1 }, &not_final)
                .unwrap()
                .is_empty()
        );
    }
}
