//! Running a batch of AUDIO jobs through the whisper worker.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use nightshift_core::JobStatus;
use nightshift_queue::{ClaimedJob, Queue};
use nightshift_supervisor::{BatchOptions, BatchReport, WHISPER_WORKER, WorkerEvent};
use nightshift_worker_protocol::{TranscribeItem, WhisperLoad};
use serde_json::json;

use crate::transcript::{AudioResult, spans_from};

pub fn run_batch(
    ctx: &super::Ctx<'_>,
    queue: &mut Queue,
    jobs: Vec<ClaimedJob>,
    progress: &mut super::progress::Progress,
) -> Result<()> {
    let (home, opts, model_name, stop) = (ctx.home, ctx.opts, ctx.asr_model, ctx.stop);
    let owner = ctx.me.runner_id.as_str();
    // Chunks the pre-filter marked (too short, silent, no speech) complete without a model.
    let (skipped, work): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .partition(|j| j.payload["skip_reason"].is_string());
    for j in skipped {
        let reason = j.payload["skip_reason"]
            .as_str()
            .unwrap_or("skipped")
            .to_string();
        let result = AudioResult {
            language: None,
            segments: Vec::new(),
            skipped: Some(reason),
        };
        queue.complete(
            j.job_id,
            owner,
            &serde_json::to_value(&result)?,
            &json!({"wall_s": 0.0}),
        )?;
    }
    if work.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = work.iter().map(|j| j.job_id).collect();
    let (model, bin) =
        super::model_and_worker(home, queue, owner, &ids, model_name, WHISPER_WORKER)?;
    let threads = super::worker_threads(opts);
    let load = WhisperLoad {
        model_path: model.to_string_lossy().into_owned(),
        threads,
        language: opts.language.clone(),
        beam_size: opts.beam_size,
        // A worker built without a GPU feature ignores this and runs on the CPU.
        use_gpu: true,
        vad_model_path: home
            .find_model("silero-vad")
            .ok()
            .map(|p| p.to_string_lossy().into_owned()),
    };
    let items: Vec<TranscribeItem> = work
        .iter()
        .map(|j| TranscribeItem {
            fit_audio_ctx: false,
            job_id: j.job_id,
            audio_path: j.chunk_path.clone().unwrap_or_default(),
            // No cross-chunk prompt: with one, tiny/base models stop emitting timestamp tokens
            // for the first window (one coarse segment), measured WER was no better (14.6 % vs
            // 14.2 % on meetings 01+02), and a resumed run would decode differently from an
            // uninterrupted one. Chunks are cut in pauses, so context across joins matters little.
            prompt: None,
            speech_spans: spans_from(&j.payload["speech_spans"]),
        })
        .collect();
    let total = items.len();
    let gauge = Arc::new(nightshift_supervisor::MemoryGauge::new());
    let opts = BatchOptions {
        threads,
        timeout: Duration::from_secs(opts.batch_timeout),
        sched_idle: opts.sched_idle,
        stop_flag: Some(Arc::clone(stop)),
        memory: Some(Arc::clone(&gauge)),
        ..BatchOptions::default()
    };
    let mut done = 0usize;
    let mut store_error: Option<anyhow::Error> = None;
    let mut on_event = |ev: WorkerEvent| -> ControlFlow<()> {
        let stored = match ev {
            WorkerEvent::Ready {
                model,
                load_s,
                device,
            } => {
                tracing::info!(
                    "whisper worker ready: {model} on {device}, loaded in {load_s:.2} s"
                );
                Ok(())
            }
            WorkerEvent::ItemDone {
                job_id,
                language,
                segments,
                metrics,
            } => {
                done += 1;
                progress.chunk_done(metrics.audio_s);
                progress.log(|| {
                    tracing::debug!(
                        job_id,
                        "chunk {done}/{total} transcribed: {:.1} s audio in {:.1} s",
                        metrics.audio_s,
                        metrics.wall_s
                    )
                });
                if progress.is_plain() {
                    tracing::info!(
                        job_id,
                        "chunk {done}/{total} transcribed: {:.1} s audio in {:.1} s",
                        metrics.audio_s,
                        metrics.wall_s
                    );
                }
                let result = AudioResult {
                    language,
                    segments,
                    skipped: None,
                };
                super::with_memory(&metrics, &gauge).and_then(|metrics| {
                    super::complete_json(queue, job_id, owner, &result, &metrics)
                })
            }
            WorkerEvent::ItemFailed { job_id, message } => {
                progress.log(|| tracing::warn!(job_id, "chunk failed: {message}"));
                progress.chunk_done(0.0);
                queue
                    .fail(job_id, owner, &message, true)
                    .map(|_| ())
                    .map_err(Into::into)
            }
        };
        super::after_store(stored, stop, &mut store_error)
    };
    let report =
        nightshift_supervisor::run_whisper_batch(&bin, &load, &items, &opts, &mut on_event)?;
    if let Some(e) = store_error {
        tracing::warn!("batch stopped early: {e:#}");
    }
    settle_unanswered(queue, owner, &report)
}

/// Items a worker never answered: given back untouched after a requested stop, otherwise
/// failed (retryable) with the worker's failure stored on each.
pub fn settle_unanswered(queue: &mut Queue, owner: &str, report: &BatchReport) -> Result<()> {
    match report.failure_message() {
        None => {
            for &id in &report.unanswered {
                queue.release(id, owner)?;
            }
        }
        Some(msg) => {
            tracing::error!("worker batch failed: {msg}");
            for &id in &report.unanswered {
                // Another runner may have taken it over meanwhile; that is fine.
                match queue.fail(id, owner, &msg, true) {
                    Ok(JobStatus::Failed) => {
                        tracing::error!(job_id = id, "job failed for good: {msg}")
                    }
                    Ok(_) | Err(nightshift_queue::QueueError::LeaseLost { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}
