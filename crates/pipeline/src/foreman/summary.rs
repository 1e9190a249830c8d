//! The SUMMARY stage as jobs: a `plan` step (CPU) cuts the transcript into map windows and
//! queues one `map` job per window (stage 2) and a `reduce` job (stage 3); a reduce whose
//! inputs do not fit one prompt expands into `group` reduces and a further reduce, level by
//! level. Every step is its own job (checkpoint); map and reduce steps of every pending
//! meeting share the LLM, so they are batched before any model swap.

use anyhow::Result;
use nightshift_core::{JobStatus, TaskType};
use nightshift_queue::{ClaimedJob, JobRow, NewJob, Queue};
use nightshift_summarize::{MapWindow, SummaryOut, estimate_tokens, plan_map_windows, plan_reduce};
use serde_json::{Value, json};

use crate::config::SummaryConfig;

/// Model key of LLM steps.
pub const LLM_MODEL_KEY: &str = "llm";
/// Tokens the system prompt and framing take, beyond the transcript or notes.
pub const PROMPT_OVERHEAD: usize = 450;
/// Generation limits: the largest document the schema allows (`max_output_chars`: ~3.1k and
/// ~4.7k characters) at a pessimistic ~2.5 characters per token, plus indentation whitespace.
pub const MAP_MAX_TOKENS: u32 = 1536;
pub const REDUCE_MAX_TOKENS: u32 = 2048;

/// Input budget (estimated tokens) of one map or reduce prompt.
pub fn input_budget(cfg: &SummaryConfig, max_out: u32) -> usize {
    (cfg.n_ctx as usize)
        .saturating_sub(max_out as usize + PROMPT_OVERHEAD)
        .max(256)
}

/// Queue the plan step of every meeting whose AUDIO and VISUAL jobs are all finished and that
/// has no SUMMARY work yet. Returns how many were queued.
pub fn queue_ready(queue: &mut Queue) -> Result<usize> {
    let mut queued = 0;
    for m in queue.meetings()? {
        if crate::recording::is_recording(&m.info) {
            continue; // more chunks are coming
        }
        let jobs = queue.jobs_of(&m.meeting_id)?;
        let media_done = jobs
            .iter()
            .filter(|j| j.task_type != TaskType::Summary)
            .all(|j| j.status.is_terminal());
        let has_summary = jobs.iter().any(|j| j.task_type == TaskType::Summary);
        if media_done && !has_summary {
            let plan = NewJob {
                payload: json!({"step": "plan"}),
                ..NewJob::new(TaskType::Summary)
            };
            queue.add_jobs(&m.meeting_id, &[plan])?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// The plan step: transcript → map windows → map jobs + the first reduce, in one transaction
/// with the plan's completion.
pub fn run_plan(
    queue: &mut Queue,
    owner: &str,
    job: &ClaimedJob,
    cfg: &SummaryConfig,
    speakers: &crate::config::SpeakersConfig,
) -> Result<()> {
    let Some(meeting) = queue.meeting(&job.meeting_id)? else {
        return Ok(()); // removed meanwhile: its jobs went with it
    };
    let doc = crate::transcript::build_doc(queue, &meeting, speakers)?;
    let windows = plan_map_windows(&doc.segments, input_budget(cfg, MAP_MAX_TOKENS));
    let gaps = audio_gaps(&queue.jobs_of(&job.meeting_id)?);
    if windows.is_empty() {
        let summary = SummaryOut {
            overview: "No speech was transcribed.".into(),
            ..SummaryOut::default()
        };
        let result =
            json!({"step": "plan", "windows": 0, "final": true, "summary": summary, "gaps": gaps});
        queue.complete(job.job_id, owner, &result, &json!({"wall_s": 0.0}))?;
        return Ok(());
    }
    let split_segments = windows.iter().filter(|w| w.split_segment).count();
    let mut follow: Vec<NewJob> = windows
        .iter()
        .map(|w| NewJob {
            seq: w.index as i64,
            stage: 2,
            model_key: Some(LLM_MODEL_KEY.into()),
            payload: json!({"step": "map", "window": w}),
            ..NewJob::new(TaskType::Summary)
        })
        .collect();
    follow.push(reduce_job(3, 1));
    let result = json!({"step": "plan", "windows": windows.len(), "split_segments": split_segments, "gaps": gaps});
    queue.complete_with_jobs(job.job_id, owner, &result, &json!({"wall_s": 0.0}), &follow)?;
    Ok(())
}

fn reduce_job(stage: i64, level: i64) -> NewJob {
    NewJob {
        stage,
        model_key: Some(LLM_MODEL_KEY.into()),
        payload: json!({"step": "reduce", "level": level}),
        ..NewJob::new(TaskType::Summary)
    }
}

/// AUDIO chunks that failed: the summary notes them instead of pretending they were heard.
fn audio_gaps(jobs: &[JobRow]) -> Vec<Value> {
    jobs.iter()
        .filter(|j| crate::speakers::is_chunk_job(j) && j.status == JobStatus::Failed)
        .map(|j| json!({"start": j.payload["offset_s"], "duration_s": j.payload["duration_s"], "error": j.last_error}))
        .collect()
}

/// What an LLM step of the batch must do.
pub enum LlmStep {
    Map {
        window: MapWindow,
    },
    /// Reduce these inputs (JSON texts, in meeting order) into one `SummaryOut`.
    Reduce {
        inputs: Vec<String>,
        is_final: bool,
        gaps: Vec<Value>,
    },
}

/// The inputs a reduce job at `stage` consumes: the outputs of the stage right before it.
fn reduce_inputs(jobs: &[JobRow], stage: i64) -> (Vec<String>, Vec<Value>) {
    let mut prev: Vec<&JobRow> = jobs
        .iter()
        .filter(|j| j.task_type == TaskType::Summary && j.stage == stage - 1)
        .collect();
    prev.sort_by_key(|j| (j.seq, j.job_id));
    let mut inputs = Vec::new();
    let mut gaps = Vec::new();
    for j in prev {
        match (&j.status, j.result.as_ref().and_then(|r| r.get("output"))) {
            (JobStatus::Completed, Some(out)) => inputs.push(out.to_string()),
            _ => gaps.push(json!({"summary_step": j.job_id, "error": j.last_error})),
        }
    }
    (inputs, gaps)
}

/// Decide what a claimed SUMMARY job needs. A reduce whose inputs do not fit one prompt is
/// expanded here (group reduces + a next-level reduce, with its completion) and needs no LLM
/// call itself: `Ok(None)`.
pub fn prepare(
    queue: &mut Queue,
    owner: &str,
    job: &ClaimedJob,
    cfg: &SummaryConfig,
) -> Result<Option<LlmStep>> {
    let step = job.payload["step"].as_str().unwrap_or("");
    if step == "map" {
        let window: MapWindow = serde_json::from_value(job.payload["window"].clone())?;
        return Ok(Some(LlmStep::Map { window }));
    }
    let jobs = queue.jobs_of(&job.meeting_id)?;
    if step == "group" {
        // Inputs were fixed when the group was made: indices into the stage before it.
        let (all, gaps) = reduce_inputs(
            &jobs,
            job.payload["from_stage"].as_i64().unwrap_or(job.stage - 1) + 1,
        );
        let picked: Vec<String> = job.payload["indices"]
            .as_array()
            .map(|ix| {
                ix.iter()
                    .filter_map(|i| i.as_u64())
                    .filter_map(|i| all.get(i as usize).cloned())
                    .collect()
            })
            .unwrap_or_default();
        return Ok(Some(LlmStep::Reduce {
            inputs: picked,
            is_final: false,
            gaps,
        }));
    }
    // A level reduce.
    let (inputs, mut gaps) = reduce_inputs(&jobs, job.stage);
    if let Some(plan) = jobs.iter().find(|j| j.payload["step"] == "plan")
        && let Some(g) = plan.result.as_ref().and_then(|r| r["gaps"].as_array())
    {
        gaps.extend(g.iter().cloned());
    }
    let budget = input_budget(cfg, REDUCE_MAX_TOKENS);
    let sizes: Vec<usize> = inputs.iter().map(|t| estimate_tokens(t)).collect();
    let groups = plan_reduce(&sizes, budget);
    if groups.len() <= 1 {
        return Ok(Some(LlmStep::Reduce {
            inputs,
            is_final: true,
            gaps,
        }));
    }
    // Too much for one prompt: reduce in groups first, then reduce the groups' outputs.
    let level = job.payload["level"].as_i64().unwrap_or(1);
    let mut follow: Vec<NewJob> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| NewJob {
            seq: i as i64,
            stage: job.stage + 1,
            model_key: Some(LLM_MODEL_KEY.into()),
            payload: json!({"step": "group", "from_stage": job.stage - 1, "indices": g.inputs}),
            ..NewJob::new(TaskType::Summary)
        })
        .collect();
    follow.push(reduce_job(job.stage + 2, level + 1));
    let result = json!({"step": "reduce", "level": level, "expanded_into_groups": groups.len(), "inputs": inputs.len()});
    tracing::info!(meeting = %job.meeting_id, level, groups = groups.len(), "summary reduce split into groups");
    queue.complete_with_jobs(job.job_id, owner, &result, &json!({"wall_s": 0.0}), &follow)?;
    Ok(None)
}

/// The final summary of a meeting, if its last reduce (or an empty plan) has finished.
pub fn final_summary(jobs: &[JobRow]) -> Option<(SummaryOut, Value)> {
    jobs.iter()
        .filter(|j| j.task_type == TaskType::Summary && j.status == JobStatus::Completed)
        .filter_map(|j| j.result.as_ref())
        .filter(|r| r["final"] == true)
        .find_map(|r| {
            let out = r.get("summary").or_else(|| r.get("output"))?;
            let summary: SummaryOut = serde_json::from_value(out.clone()).ok()?;
            Some((summary, json!({"gaps": r["gaps"], "windows": r["windows"]})))
        })
}
