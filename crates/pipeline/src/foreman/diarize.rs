//! Diarization jobs: a batch through the diarization worker, one item per meeting, built from
//! the meeting's stored chunks; the answer (turns, speakers with their voice embeddings) is the
//! job's result. Runs on the CPU, so it takes no GPU lease.

use anyhow::Result;
use nightshift_queue::{ClaimedJob, Queue};
use nightshift_supervisor::{DIARIZE_WORKER, Diarize};
use nightshift_worker_protocol::{AudioSpan, DiarizeItem, DiarizeRequest, DiarizeResponse};

use super::batch::{self, Adapter, Settle, WorkerBatch};
use crate::job::JobKind;
use crate::speakers::{DiarizeResult, StoredSpeaker, StoredTurn, label, load_message};

pub fn run_batch(ctx: &super::Ctx<'_>, queue: &mut Queue, jobs: Vec<ClaimedJob>) -> Result<()> {
    let owner = ctx.me.runner_id.as_str();
    let setup =
        load_message(ctx.home, ctx.speakers, super::worker_threads(ctx.opts)).and_then(|l| {
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
            for j in &jobs {
                queue.fail(j.job_id, owner, &msg, false)?;
            }
            return Ok(());
        }
    };
    let mut items = Vec::with_capacity(jobs.len());
    for j in &jobs {
        let JobKind::Diarize { mut hints } = JobKind::of_claimed(j)? else {
            anyhow::bail!("job {} is not a diarization job", j.job_id);
        };
        if hints.threshold.is_none() {
            hints.threshold = ctx.speakers.cluster_threshold;
        }
        if hints.timbre.is_none() && !ctx.speakers.timbre {
            hints.timbre = Some(false);
        }
        let item = DiarizeItem {
            job_id: j.job_id,
            spans: chunk_spans(ctx.home, queue, &j.meeting_id)?,
            hints,
        };
        items.push((j.job_id, DiarizeRequest::Diarize(item)));
    }
    batch::run(
        ctx.sink(queue),
        WorkerBatch::<Diarize> { bin, load, items },
        &mut Diarized,
    )
}

/// The meeting's transcribable chunks still on disk (here, or fetched from the media store), in
/// meeting time.
fn chunk_spans(home: &crate::Home, queue: &Queue, meeting_id: &str) -> Result<Vec<AudioSpan>> {
    let mut spans = Vec::new();
    for c in queue.jobs_of(meeting_id)? {
        let JobKind::Chunk(chunk) = JobKind::of_row(&c)? else {
            continue;
        };
        if let (None, Some(name)) = (&chunk.skip_reason, c.chunk_path) {
            let path = crate::media_store::readable(home, queue, &name);
            if path.is_file() {
                spans.push(AudioSpan {
                    path: path.to_string_lossy().into_owned(),
                    offset_s: chunk.offset_s,
                });
            }
        }
    }
    Ok(spans)
}

/// Diarization answers: turns and speakers, labelled `SPEAKER_n`.
struct Diarized;

impl Adapter for Diarized {
    type P = Diarize;

    fn name(&self) -> &'static str {
        "diarize worker"
    }

    fn answer(&mut self, response: DiarizeResponse) -> Settle {
        match response {
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
                Settle::Complete {
                    job_id,
                    result: serde_json::to_value(&result).unwrap_or_default(),
                    metrics: serde_json::to_value(&metrics).unwrap_or_default(),
                }
            }
            DiarizeResponse::JobError { job_id, message } => {
                tracing::warn!(job_id, "diarization failed: {message}");
                Settle::Fail { job_id, message }
            }
            DiarizeResponse::Embedded { job_id, .. } => {
                tracing::warn!(job_id, "unexpected embed answer");
                Settle::Nothing
            }
            DiarizeResponse::Ready { .. } | DiarizeResponse::Fatal { .. } => Settle::Nothing,
        }
    }
}
