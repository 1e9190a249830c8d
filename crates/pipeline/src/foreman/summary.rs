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
use crate::job::{JobKind, SummaryStepResult, stored_result};
/// Below this many transcribed words a meeting gets no LLM summary: its overview is the
/// transcript itself (a 5-second clip says one or two sentences; a model could only restate
/// or invent).
pub const MIN_WORDS: usize = 25;
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
            queue.add_jobs(&m.meeting_id, &[JobKind::Plan.new_job(1, 0)])?;
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
    let gaps = audio_gaps(&queue.jobs_of(&job.meeting_id)?)?;
    let words: usize = doc
        .segments
        .iter()
        .map(|s| s.text.split_whitespace().count())
        .sum();
    if windows.is_empty() {
        let overview = "No speech was transcribed.".to_string();
        return final_without_model(queue, owner, job, overview, gaps);
    }
    if words < MIN_WORDS {
        // A few words hold no decisions to find: the transcript is its own summary.
        let text: Vec<&str> = doc.segments.iter().map(|s| s.text.trim()).collect();
        let overview = format!("Too short to summarise ({words} words): {}", text.join(" "));
        return final_without_model(queue, owner, job, overview, gaps);
    }
    let split_segments = windows.iter().filter(|w| w.split_segment).count();
    let one_prompt =
        windows.len() == 1 && windows[0].est_tokens <= input_budget(cfg, REDUCE_MAX_TOKENS);
    let follow: Vec<NewJob> = if one_prompt {
        // It all fits one prompt: the summary in one step.
        let window = windows[0].clone();
        vec![JobKind::Summarize { window }.new_job(2, 0)]
    } else {
        let mut follow: Vec<NewJob> = windows
            .iter()
            .map(|w| JobKind::Map { window: w.clone() }.new_job(2, w.index as i64))
            .collect();
        follow.push(JobKind::Reduce { level: 1 }.new_job(3, 0));
        follow
    };
    let result = SummaryStepResult {
        step: "plan".into(),
        windows: Some(windows.len()),
        split_segments: Some(split_segments),
        gaps,
        ..SummaryStepResult::default()
    };
    queue.complete_with_jobs(
        job.job_id,
        owner,
        &result.to_value(),
        &json!({"wall_s": 0.0}),
        &follow,
    )?;
    Ok(())
}

/// AUDIO chunks that failed: the summary notes them instead of pretending they were heard.
fn audio_gaps(jobs: &[JobRow]) -> Result<Vec<Value>> {
    let mut gaps = Vec::new();
    for j in jobs.iter().filter(|j| j.status == JobStatus::Failed) {
        if let JobKind::Chunk(c) = JobKind::of_row(j)? {
            gaps.push(
                json!({"start": c.offset_s, "duration_s": c.duration_s, "error": j.last_error}),
            );
        }
    }
    Ok(gaps)
}

/// Complete the plan step as the meeting's final summary, with no model: just `overview`.
fn final_without_model(
    queue: &mut Queue,
    owner: &str,
    job: &ClaimedJob,
    overview: String,
    gaps: Vec<Value>,
) -> Result<()> {
    let summary = SummaryOut {
        overview,
        ..SummaryOut::default()
    };
    let result = SummaryStepResult {
        step: "plan".into(),
        windows: Some(0),
        is_final: true,
        summary: Some(serde_json::to_value(summary)?),
        gaps,
        ..SummaryStepResult::default()
    };
    queue.complete(
        job.job_id,
        owner,
        &result.to_value(),
        &json!({"wall_s": 0.0}),
    )?;
    Ok(())
}

/// The gaps the plan step found (failed chunks): the summary says what it could not hear.
fn plan_gaps(jobs: &[JobRow]) -> Result<Vec<Value>> {
    let mut gaps = Vec::new();
    for plan in jobs.iter().filter(|j| j.task_type == TaskType::Summary) {
        if JobKind::of_row(plan)? == JobKind::Plan
            && let Some(r) = stored_result::<SummaryStepResult>(plan)?
        {
            gaps.extend(r.gaps);
        }
    }
    Ok(gaps)
}

/// What an LLM step of the batch must do.
pub enum LlmStep {
    Map {
        window: MapWindow,
    },
    /// The whole transcript in one window: the final summary in one step.
    Summarize {
        window: MapWindow,
        gaps: Vec<Value>,
    },
    /// Reduce these inputs (JSON texts, in meeting order) into one `SummaryOut`.
    Reduce {
        inputs: Vec<String>,
        is_final: bool,
        gaps: Vec<Value>,
    },
}

/// The inputs a reduce job at `stage` consumes: the outputs of the stage right before it.
fn reduce_inputs(jobs: &[JobRow], stage: i64) -> Result<(Vec<String>, Vec<Value>)> {
    let mut prev: Vec<&JobRow> = jobs
        .iter()
        .filter(|j| j.task_type == TaskType::Summary && j.stage == stage - 1)
        .collect();
    prev.sort_by_key(|j| (j.seq, j.job_id));
    let mut inputs = Vec::new();
    let mut gaps = Vec::new();
    for j in prev {
        let output = match j.status {
            JobStatus::Completed => stored_result::<SummaryStepResult>(j)?.and_then(|r| r.output),
            _ => None,
        };
        match output {
            Some(out) => inputs.push(out.to_string()),
            None => gaps.push(json!({"summary_step": j.job_id, "error": j.last_error})),
        }
    }
    Ok((inputs, gaps))
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
    let level = match JobKind::of_claimed(job)? {
        JobKind::Map { window } => return Ok(Some(LlmStep::Map { window })),
        JobKind::Summarize { window } => {
            let jobs = queue.jobs_of(&job.meeting_id)?;
            return Ok(Some(LlmStep::Summarize {
                window,
                gaps: plan_gaps(&jobs)?,
            }));
        }
        JobKind::Group {
            from_stage,
            indices,
        } => {
            // Inputs were fixed when the group was made: indices into the stage before it.
            let jobs = queue.jobs_of(&job.meeting_id)?;
            let (all, gaps) = reduce_inputs(&jobs, from_stage + 1)?;
            let picked: Vec<String> = indices
                .iter()
                .filter_map(|&i| all.get(i).cloned())
                .collect();
            return Ok(Some(LlmStep::Reduce {
                inputs: picked,
                is_final: false,
                gaps,
            }));
        }
        JobKind::Reduce { level } => level,
        other => anyhow::bail!(
            "job {} is a {} job, not an LLM step",
            job.job_id,
            other.step()
        ),
    };
    // A level reduce.
    let jobs = queue.jobs_of(&job.meeting_id)?;
    let (inputs, mut gaps) = reduce_inputs(&jobs, job.stage)?;
    gaps.extend(plan_gaps(&jobs)?);
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
    let mut follow: Vec<NewJob> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let group = JobKind::Group {
                from_stage: job.stage - 1,
                indices: g.inputs.clone(),
            };
            group.new_job(job.stage + 1, i as i64)
        })
        .collect();
    follow.push(JobKind::Reduce { level: level + 1 }.new_job(job.stage + 2, 0));
    let result = SummaryStepResult {
        step: "reduce".into(),
        level: Some(level),
        expanded_into_groups: Some(groups.len()),
        inputs: Some(inputs.len()),
        ..SummaryStepResult::default()
    }
    .to_value();
    tracing::info!(meeting = %job.meeting_id, level, groups = groups.len(), "summary reduce split into groups");
    queue.complete_with_jobs(job.job_id, owner, &result, &json!({"wall_s": 0.0}), &follow)?;
    Ok(None)
}
