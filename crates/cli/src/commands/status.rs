//! `nightshift status [MEETING] [--json]`.

use std::process::ExitCode;

use anyhow::Result;
use nightshift_core::JobStatus;
use nightshift_queue::{JobRow, MeetingRow, Queue};
use serde_json::{Value, json};

use crate::args::StatusArgs;
use nightshift_pipeline::home::Home;
use nightshift_pipeline::job::JobKind;
use nightshift_pipeline::transcript::jobs_summary;

pub fn run(home: &Home, args: &StatusArgs) -> Result<ExitCode> {
    let queue = super::open_existing(home)?;
    let meetings = match &args.meeting {
        Some(m) => vec![queue.resolve_meeting(m)?],
        None => queue.meetings()?,
    };
    let mut entries = Vec::new();
    for m in &meetings {
        let jobs = queue.jobs_of(&m.meeting_id)?;
        entries.push(meeting_entry(m, &jobs)?);
    }
    let eta = eta_seconds(&queue, &meetings)?;
    if args.json {
        let out = json!({ "meetings": entries, "eta_s": eta });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&entries, eta);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn meeting_entry(m: &MeetingRow, jobs: &[JobRow]) -> Result<Value> {
    let state = nightshift_pipeline::transcript::meeting_state(m, jobs);
    let mut job_list: Vec<Value> = Vec::with_capacity(jobs.len());
    for j in jobs {
        let kind = JobKind::of_row(j)?;
        let chunk = kind.chunk();
        job_list.push(json!({
            "job_id": j.job_id, "task_type": j.task_type, "status": j.status, "seq": j.seq,
            "offset_s": chunk.map(|c| c.offset_s), "duration_s": chunk.map(|c| c.duration_s),
            "attempts": j.attempts, "max_attempts": j.max_attempts, "last_error": j.last_error,
            "skipped": chunk.and_then(|c| c.skip_reason.as_deref()),
            "step": kind.stored_step(), "model_key": j.model_key, "metrics": j.metrics,
            "chunk_path": j.chunk_path,
        }));
    }
    Ok(json!({
        "meeting_id": m.meeting_id,
        "title": m.title,
        "source": m.source_path,
        "kind": m.kind,
        "duration_s": m.duration_s,
        "chunks": m.info.get("chunks"),
        "speech_ratio": m.info.get("speech_ratio"),
        "warnings": m.info.get("warnings"),
        "state": state,
        "job_counts": jobs_summary(jobs),
        "jobs": job_list,
    }))
}

/// Remaining audio seconds × the real-time factor measured on completed chunks (None until a
/// chunk has been transcribed).
fn eta_seconds(queue: &Queue, meetings: &[MeetingRow]) -> Result<Option<f64>> {
    let (mut done_audio, mut done_wall, mut left_audio) = (0.0, 0.0, 0.0);
    for m in meetings {
        for j in queue.jobs_of(&m.meeting_id)? {
            let JobKind::Chunk(chunk) = JobKind::of_row(&j)? else {
                continue;
            };
            let dur = chunk.duration_s;
            match j.status {
                JobStatus::Completed => {
                    if let Some(w) = j.metrics.as_ref().and_then(|m| m["wall_s"].as_f64()) {
                        done_wall += w;
                        done_audio += dur;
                    }
                }
                JobStatus::Pending | JobStatus::Processing => left_audio += dur,
                _ => {}
            }
        }
    }
    Ok((done_audio > 0.0).then(|| left_audio * done_wall / done_audio))
}

fn print_table(entries: &[Value], eta: Option<f64>) {
    if entries.is_empty() {
        println!("no meetings");
        return;
    }
    println!(
        "{:<12}  {:<18}  {:>9}  {:>6}  {:>6}  {:<28}  title",
        "meeting", "state", "duration", "chunks", "speech", "jobs"
    );
    for e in entries {
        let counts = &e["job_counts"]["counts"];
        let mut parts = Vec::new();
        if let Some(obj) = counts.as_object() {
            for (task, statuses) in obj {
                if let Some(st) = statuses.as_object() {
                    let s: Vec<String> = st
                        .iter()
                        .map(|(k, v)| format!("{}={v}", k.to_lowercase()))
                        .collect();
                    parts.push(format!("{} {}", task.to_lowercase(), s.join(",")));
                }
            }
        }
        println!(
            "{:<12}  {:<18}  {:>8.1}s  {:>6}  {:>5.0}%  {:<28}  {}",
            e["meeting_id"].as_str().unwrap_or(""),
            e["state"].as_str().unwrap_or(""),
            e["duration_s"].as_f64().unwrap_or(0.0),
            e["chunks"].as_i64().unwrap_or(0),
            e["speech_ratio"].as_f64().unwrap_or(0.0) * 100.0,
            parts.join("; "),
            e["title"].as_str().unwrap_or(""),
        );
        if let Some(failed) = e["job_counts"]["failed"].as_array() {
            for f in failed {
                println!(
                    "    failed job {}: {}",
                    f["job_id"],
                    f["error"].as_str().unwrap_or("?")
                );
            }
        }
    }
    if let Some(eta) = eta {
        println!("eta: {eta:.0}s");
    }
}
