//! The Foreman's one batch runner: every worker batch (whisper chunks, diarization, summary
//! steps, scene descriptions) goes through [`run`], which owns what they all share — the batch
//! options from the run's settings, the memory gauge, storing each answer as the job's
//! checkpoint the moment it arrives, stop handling, and settling the items the worker never
//! answered. A job kind supplies an [`Adapter`]: how one of its worker's answers becomes a
//! stored result or a failure.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use nightshift_core::JobStatus;
use nightshift_queue::Queue;
use nightshift_supervisor::{BatchOptions, BatchReport, MemoryGauge, Protocol, Said};
use serde_json::Value;

/// What storing one answer does to its job.
#[derive(Debug)]
pub enum Settle {
    /// Store `result` as the job's completion (its checkpoint) with the item's `metrics`, to
    /// which the runner adds the worker's memory.
    Complete {
        job_id: i64,
        result: Value,
        metrics: Value,
    },
    /// The item failed; it is retried with backoff until its attempts run out.
    Fail { job_id: i64, message: String },
    /// Nothing to store yet (a scene of a video whose other scenes are still coming).
    Nothing,
}

impl Settle {
    /// The job this answer settles, if any.
    pub fn job_id(&self) -> Option<i64> {
        match self {
            Settle::Complete { job_id, .. } | Settle::Fail { job_id, .. } => Some(*job_id),
            Settle::Nothing => None,
        }
    }
}

/// One job kind's part of a worker batch.
pub trait Adapter {
    type P: Protocol;
    /// What the logs call the batch's model ("whisper worker", "vision model").
    fn name(&self) -> &'static str {
        <Self::P as Protocol>::WORKER
    }

    /// Extra environment for the worker (e.g. how its OpenMP threads wait).
    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Items the worker is given before it answers the first (see `BatchOptions::in_flight`).
    fn in_flight(&self) -> usize {
        1
    }
    /// What an item's answer settles (called for every answer but the worker's ready one).
    fn answer(&mut self, response: <Self::P as Protocol>::Response) -> Settle;

    /// Settle what the worker left unanswered. By default item ids are job ids: given back
    /// after a requested stop, failed (retryable) with the worker's failure otherwise.
    fn unanswered(&mut self, queue: &mut Queue, owner: &str, report: &BatchReport) -> Result<()> {
        settle_unanswered(queue, owner, report)
    }
}

/// How the llama worker's OpenMP threads wait for each other: spin briefly, then sleep.
///
/// Measured with Qwen2.5-Coder 1.5B Q4_K_M on 2 idle cores (`examples/bench` of the llama worker
/// against llama-bench's tg128 of 14.65 t/s): passive waiting (the workers' default, which keeps
/// two engines sharing cores from starving each other) generates 10.1 t/s — every small op
/// wakes sleeping threads late; unbounded spinning 13.4 t/s; spinning 100,000 rounds before
/// sleeping 13.7 t/s (0.94×). The bound keeps a waiting thread from burning a core for long when
/// another engine (the daemon's warm whisper worker) shares the machine.
pub fn llama_spin_env() -> Vec<(String, String)> {
    vec![
        ("OMP_WAIT_POLICY".into(), "active".into()),
        ("GOMP_SPINCOUNT".into(), "100000".into()),
    ]
}

/// A batch ready to run: the worker binary, its model load, and the items keyed by id.
pub struct WorkerBatch<P: Protocol> {
    pub bin: PathBuf,
    pub load: P::Load,
    pub items: Vec<(i64, P::Request)>,
}

/// Where a batch's answers go and how it may run.
pub struct Sink<'a> {
    pub queue: &'a mut Queue,
    pub owner: &'a str,
    pub stop: &'a Arc<AtomicBool>,
    /// Engine threads for the worker.
    pub threads: u32,
    pub timeout: Duration,
    pub sched_idle: bool,
}

/// Run one worker batch, storing every answer as it arrives.
pub fn run<A: Adapter>(sink: Sink<'_>, batch: WorkerBatch<A::P>, adapter: &mut A) -> Result<()> {
    let Sink {
        queue,
        owner,
        stop,
        threads,
        timeout,
        sched_idle,
    } = sink;
    let gauge = Arc::new(MemoryGauge::new());
    let opts = BatchOptions {
        threads,
        timeout,
        sched_idle,
        stop_flag: Some(Arc::clone(stop)),
        memory: Some(Arc::clone(&gauge)),
        env: adapter.env(),
        in_flight: adapter.in_flight(),
        ..BatchOptions::default()
    };
    let worker = adapter.name();
    let mut store_error: Option<anyhow::Error> = None;
    let mut unstored: Vec<i64> = Vec::new();
    let mut on_answer = |response: <A::P as Protocol>::Response| -> ControlFlow<()> {
        if let Said::Ready { load_s, device } = <A::P as Protocol>::said(&response) {
            tracing::info!("{worker} ready on {device}, loaded in {load_s:.2} s");
            return ControlFlow::Continue(());
        }
        let stored = store(
            queue,
            owner,
            Some(&gauge),
            adapter.answer(response),
            &mut unstored,
        );
        after_store(stored, stop, &mut store_error)
    };
    let report = nightshift_supervisor::run_worker_batch::<A::P>(
        &batch.bin,
        &batch.load,
        &batch.items,
        &opts,
        &mut on_answer,
    )?;
    if let Some(e) = store_error {
        tracing::warn!("{worker} batch stopped early: {e:#}");
    }
    give_back(queue, owner, &unstored)?;
    adapter.unanswered(queue, owner, &report)
}

/// Jobs answered but whose answer could not be stored (the database locked past its busy
/// timeout, the disk full): given back, so they run again. Left held, they would stay
/// PROCESSING under this runner's live lease, and the run would wait for them for ever.
pub fn give_back(queue: &mut Queue, owner: &str, job_ids: &[i64]) -> Result<()> {
    for &id in job_ids {
        match queue.release(id, owner) {
            // Cancelled or taken over meanwhile: not ours to give back.
            Ok(()) | Err(nightshift_queue::QueueError::LeaseLost { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Store what one answer settles; a job whose answer could not be stored goes into `unstored`,
/// to be given back (`give_back`) when the batch ends. `gauge`: the worker's memory, added to
/// the metrics (servers own theirs).
pub fn store(
    queue: &mut Queue,
    owner: &str,
    gauge: Option<&MemoryGauge>,
    settle: Settle,
    unstored: &mut Vec<i64>,
) -> Result<()> {
    let job_id = settle.job_id();
    let stored = store_settled(queue, owner, gauge, settle);
    if stored.is_err() {
        unstored.extend(job_id);
    }
    stored
}

/// The store itself: the job completed with its result and metrics, or failed.
fn store_settled(
    queue: &mut Queue,
    owner: &str,
    gauge: Option<&MemoryGauge>,
    settle: Settle,
) -> Result<()> {
    match settle {
        Settle::Complete {
            job_id,
            result,
            metrics,
        } => {
            let metrics = match gauge {
                Some(g) => with_memory(metrics, g),
                None => metrics,
            };
            // With its search passages, in the same transaction.
            crate::search::complete(queue, job_id, owner, &result, &metrics, &[])
        }
        Settle::Fail { job_id, message } => {
            queue.fail(job_id, owner, &message, true)?;
            Ok(())
        }
        Settle::Nothing => Ok(()),
    }
}

/// An item's metrics with the worker's memory when it answered (peak RSS so far, and the GPU
/// memory the driver reports for it, when there is a driver): what `bench stages` shows per
/// stage for choosing models.
pub fn with_memory(mut metrics: Value, gauge: &MemoryGauge) -> Value {
    if let (Some(m), Some(obj)) = (gauge.last(), metrics.as_object_mut()) {
        obj.insert("peak_rss_bytes".into(), m.peak_rss_bytes.into());
        if let Some(b) = m.vram_bytes {
            obj.insert("vram_bytes".into(), b.into());
        }
    }
    metrics
}

/// What a batch does after storing one answer: go on; stop after it when a stop was
/// requested; or, when storing failed (a lost lease after a cancel, a database problem), keep
/// the error and stop the batch.
pub fn after_store(
    stored: Result<()>,
    stop: &AtomicBool,
    store_error: &mut Option<anyhow::Error>,
) -> ControlFlow<()> {
    match stored {
        Ok(()) if stop.load(Ordering::SeqCst) => ControlFlow::Break(()),
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            *store_error = Some(e);
            ControlFlow::Break(())
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use nightshift_core::TaskType;
    use nightshift_queue::{ClaimFilter, NewJob, NewMeeting};

    /// Fault trial seed 18: an answer stored while another process held the database past the
    /// busy timeout left its job PROCESSING under the live runner's lease, and `run` waited for
    /// it for ever. Such jobs are given back.
    #[test]
    fn answers_that_could_not_be_stored_are_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = Queue::open(dir.path().join("q.db")).unwrap();
        let meeting = NewMeeting {
            meeting_id: "m".into(),
            title: "m".into(),
            source_path: "/in/m.wav".into(),
            source_sha256: "sha".into(),
            kind: "audio".into(),
            duration_s: 8.0,
            info: serde_json::json!({}),
        };
        let jobs: Vec<NewJob> = (0..2)
            .map(|i| NewJob {
                seq: i,
                ..NewJob::new(TaskType::Audio)
            })
            .collect();
        q.insert_meeting(&meeting, &jobs).unwrap();
        let any = ClaimFilter::default();
        let held = q.claim_batch("r1", &any, 2).unwrap();
        let ids: Vec<i64> = held.iter().map(|j| j.job_id).collect();
        // The second was cancelled meanwhile: not ours to give back, and no error.
        q.release(ids[1], "r1").unwrap();
        let taken = q.claim("r2", &any).unwrap().unwrap();
        assert_eq!(taken.job_id, ids[1]);
        give_back(&mut q, "r1", &ids).unwrap();
        let first = q.job(ids[0]).unwrap().unwrap();
        assert_eq!(first.status, JobStatus::Pending);
        assert_eq!(
            q.job(ids[1]).unwrap().unwrap().status,
            JobStatus::Processing
        );
        let settle = Settle::Fail {
            job_id: 7,
            message: String::new(),
        };
        assert_eq!((settle.job_id(), Settle::Nothing.job_id()), (Some(7), None));
    }
}
