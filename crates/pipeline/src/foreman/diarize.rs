//! Running diarization jobs in the diarization worker: one item per meeting, built from the
//! meeting's stored chunks; the answer (turns, speakers with their voice embeddings) is the
//! job's result. Runs on the CPU, so it takes no GPU lease.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use nightshift_queue::{ClaimedJob, Queue};
use nightshift_supervisor::{BatchOptions, DIARIZE_WORKER};
use nightshift_worker_protocol::{AudioSpan, DiarizeItem, DiarizeRequest, DiarizeResponse};

use crate::speakers::{
    DiarizeResult, StoredSpeaker, StoredTurn, is_chunk_job, label, load_message,
};

pub fn run_batch(ctx: &super::Ctx<'_>, queue: &mut Queue, jobs: Vec<ClaimedJob>) -> Result<()> {
    let (home, opts, stop) = (ctx.home, ctx.opts, ctx.stop);
    let owner = ctx.me.runner_id.as_str();
    let ids: Vec<i64> = jobs.iter().map(|j| j.job_id).collect();
    let setup = load_message(home, ctx.speakers, super::worker_threads(opts)).and_then(|l| {
        Ok((
            l,
            nightshift_supervisor::find_worker_binary(DIARIZE_WORKER)?,
        ))
    });
    let (load, bin) = match setup {
        Ok(s) => s,
        Err(e) => {
            // Missing models are not worth retrying and must not stop the transcripts: the
            // job fails for good with the reason, the rest of the meeting goes on.
            let msg = format!("{e:#}");
            tracing::error!("{msg}");
            for id in ids {
                queue.fail(id, owner, &msg, false)?;
            }
            return Ok(());
        }
    };
    let mut items = Vec::with_capacity(jobs.len());
    for j in &jobs {
        let spans: Vec<AudioSpan> = queue
            .jobs_of(&j.meeting_id)?
            .iter()
            .filter(|c| is_chunk_job(c) && c.payload["skip_reason"].is_null())
            .filter_map(|c| {
                Some(AudioSpan {
                    path: c.chunk_path.clone()?,
                    offset_s: c.payload["offset_s"].as_f64()?,
                })
            })
            .filter(|s| Path::new(&s.path).is_file())
            .collect();
        let mut hints: nightshift_worker_protocol::SpeakerHints =
            serde_json::from_value(j.payload["hints"].clone()).unwrap_or_default();
        if hints.threshold.is_none() {
            hints.threshold = ctx.speakers.cluster_threshold;
        }
        items.push((
            j.job_id,
            DiarizeRequest::Diarize(DiarizeItem {
                job_id: j.job_id,
                spans,
                hints,
            }),
        ));
    }
    let gauge = Arc::new(nightshift_supervisor::MemoryGauge::new());
    let opts = BatchOptions {
        threads: super::worker_threads(opts),
        timeout: Duration::from_secs(opts.batch_timeout),
        sched_idle: opts.sched_idle,
        stop_flag: Some(Arc::clone(stop)),
        memory: Some(Arc::clone(&gauge)),
        ..BatchOptions::default()
    };
    let mut store_error: Option<anyhow::Error> = None;
    let mut on_answer = |resp: DiarizeResponse| -> ControlFlow<()> {
        let stored: Result<()> = match resp {
            DiarizeResponse::Ready { load_s, device } => {
                tracing::info!("diarize worker ready on {device}, loaded in {load_s:.2} s");
                Ok(())
            }
            DiarizeResponse::Diarized {
                job_id,
                turns,
                speakers,
                metrics,
            } => {
                tracing::info!(
                    job_id,
                    "diarized {:.1} s of audio in {:.1} s: {} speakers, {} turns",
                    metrics.audio_s,
                    metrics.wall_s,
                    speakers.len(),
                    turns.len()
                );
                let result = DiarizeResult {
                    turns: turns
                        .iter()
                        .map(|t| StoredTurn {
                            start: t.start,
                            end: t.end,
                            speaker: label(t.speaker),
                        })
                        .collect(),
                    speakers: speakers
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| StoredSpeaker {
                            label: label(i),
                            embedding: s.embedding,
                            speech_s: s.speech_s,
                        })
                        .collect(),
                };
                super::with_memory(&metrics, &gauge).and_then(|metrics| {
                    super::complete_json(queue, job_id, owner, &result, &metrics)
                })
            }
            DiarizeResponse::JobError { job_id, message } => {
                tracing::warn!(job_id, "diarization failed: {message}");
                queue
                    .fail(job_id, owner, &message, true)
                    .map(|_| ())
                    .map_err(Into::into)
            }
            DiarizeResponse::Embedded { job_id, .. } => {
                tracing::warn!(job_id, "unexpected embed answer");
                Ok(())
            }
            DiarizeResponse::Fatal { .. } => Ok(()),
        };
        super::after_store(stored, stop, &mut store_error)
    };
    let report =
        nightshift_supervisor::run_diarize_batch(&bin, &load, &items, &opts, &mut on_answer)?;
    if let Some(e) = store_error {
        tracing::warn!("batch stopped early: {e:#}");
    }
    super::audio::settle_unanswered(queue, owner, &report)
}
