//! AUDIO chunk jobs: a batch through the whisper worker, one item per chunk.

use anyhow::Result;
use nightshift_queue::{ClaimedJob, Queue};
use nightshift_supervisor::Whisper;
use nightshift_worker_protocol::{Request, Response, TranscribeItem, WhisperLoad};
use serde_json::json;

use super::batch::{self, Adapter, Settle, WorkerBatch};
use super::progress::Progress;
use crate::job::{AudioResult, ChunkPayload, JobKind};

pub fn run_batch(
    ctx: &super::Ctx<'_>,
    queue: &mut Queue,
    jobs: Vec<ClaimedJob>,
    progress: &mut Progress,
) -> Result<()> {
    let owner = ctx.me.runner_id.as_str();
    let mut work = Vec::with_capacity(jobs.len());
    for j in jobs {
        let JobKind::Chunk(chunk) = JobKind::of_claimed(&j)? else {
            anyhow::bail!("job {} is not a chunk job", j.job_id);
        };
        match &chunk.skip_reason {
            // Chunks the pre-filter marked (too short, silent, no speech) complete without a
            // model.
            Some(reason) => {
                let result = AudioResult {
                    skipped: Some(reason.clone()),
                    ..AudioResult::default()
                };
                queue.complete(
                    j.job_id,
                    owner,
                    &serde_json::to_value(&result)?,
                    &json!({"wall_s": 0.0}),
                )?;
            }
            None => work.push((j, chunk)),
        }
    }
    if work.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = work.iter().map(|(j, _)| j.job_id).collect();
    let engine = ctx.profile.asr_engine;
    let (model, bin) = super::model_and_worker(ctx.home, queue, owner, &ids, ctx.asr_model, |m| {
        Ok(crate::config::AsrEngine::for_model(engine, m)?.worker())
    })?;
    let load = WhisperLoad {
        model_path: model.to_string_lossy().into_owned(),
        threads: super::worker_threads(ctx.opts),
        language: ctx.opts.language.clone(),
        // Unset: the worker picks the model's default (beam 5 if English-only, else greedy).
        beam_size: ctx.opts.beam_size.or(ctx.profile.asr_beam_size),
        // A worker built without a GPU feature ignores this and runs on the CPU.
        use_gpu: true,
        vad_model_path: ctx
            .home
            .find_model("silero-vad")
            .ok()
            .map(|p| p.to_string_lossy().into_owned()),
        parallel: ctx.profile.asr_parallel,
    };
    let items = work
        .iter()
        .map(|(j, chunk)| {
            // Fetched from the media store when another host added the meeting.
            let path = j
                .chunk_path
                .as_deref()
                .map(|p| crate::media_store::readable(ctx.home, queue, p))
                .unwrap_or_default();
            (j.job_id, Request::Transcribe(item(j, chunk, &path)))
        })
        .collect();
    let mut chunks = Chunks {
        total: ids.len(),
        done: 0,
        progress,
        in_flight: crate::config::AsrEngine::for_model(engine, &model)?.items_in_flight(),
    };
    batch::run(
        ctx.sink(queue),
        WorkerBatch::<Whisper> { bin, load, items },
        &mut chunks,
    )
}

fn item(j: &ClaimedJob, chunk: &ChunkPayload, path: &std::path::Path) -> TranscribeItem {
    TranscribeItem {
        fit_audio_ctx: false,
        job_id: j.job_id,
        audio_path: path.to_string_lossy().into_owned(),
        // No cross-chunk prompt: with one, tiny/base models stop emitting timestamp tokens
        // for the first window (one coarse segment), measured WER was no better (14.6 % vs
        // 14.2 % on meetings 01+02), and a resumed run would decode differently from an
        // uninterrupted one. Chunks are cut in pauses, so context across joins matters little.
        prompt: None,
        speech_spans: chunk.speech_spans.clone(),
    }
}

/// Chunk answers: the transcript as the job's result, progress on the TTY bar.
struct Chunks<'p> {
    total: usize,
    done: usize,
    progress: &'p mut Progress,
    in_flight: usize,
}

impl Adapter for Chunks<'_> {
    type P = Whisper;

    fn name(&self) -> &'static str {
        "whisper worker"
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn answer(&mut self, response: Response) -> Settle {
        match response {
            Response::Result {
                job_id,
                language,
                segments,
                metrics,
            } => {
                self.done += 1;
                self.progress.chunk_done(metrics.audio_s);
                let line = format!(
                    "chunk {}/{} transcribed: {:.1} s audio in {:.1} s",
                    self.done, self.total, metrics.audio_s, metrics.wall_s
                );
                if self.progress.is_plain() {
                    tracing::info!(job_id, "{line}");
                } else {
                    self.progress.log(|| tracing::debug!(job_id, "{line}"));
                }
                let result = AudioResult {
                    language,
                    segments,
                    skipped: None,
                };
                Settle::Complete {
                    job_id,
                    result: serde_json::to_value(&result).unwrap_or_default(),
                    metrics: serde_json::to_value(&metrics).unwrap_or_default(),
                }
            }
            Response::JobError { job_id, message } => {
                self.progress
                    .log(|| tracing::warn!(job_id, "chunk failed: {message}"));
                self.progress.chunk_done(0.0);
                Settle::Fail { job_id, message }
            }
            Response::Ready { .. } | Response::Fatal { .. } => Settle::Nothing,
        }
    }
}
