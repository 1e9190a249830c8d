//! The whisper worker's batch: the generic runner plus the whisper protocol's messages.

use std::ops::ControlFlow;
use std::path::Path;

use nightshift_worker_protocol::{
    ItemMetrics, LocalSegment, Request, Response, TranscribeItem, WhisperLoad,
};

use crate::SupervisorError;
use crate::batch::{Answer, BatchOptions, run_batch};
use crate::exit::WorkerExit;

/// Binary name of the whisper worker.
pub const WHISPER_WORKER: &str = "nightshift-whisper-worker";

/// What the Foreman hears while a batch runs; each item's event is its checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    Ready {
        model: String,
        load_s: f64,
        device: String,
    },
    ItemDone {
        job_id: i64,
        language: Option<String>,
        segments: Vec<LocalSegment>,
        metrics: ItemMetrics,
    },
    ItemFailed {
        job_id: i64,
        message: String,
    },
}

/// How a whisper batch went.
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// Items that got no answer: retry or fail them with [`BatchReport::failure_message`].
    pub unanswered: Vec<i64>,
    pub exit: WorkerExit,
    pub peak_rss_bytes: u64,
    /// Model load time reported by the worker (`None` if it never got that far).
    pub load_s: Option<f64>,
    pub device: Option<String>,
    /// The worker's own last word when it gave up (e.g. the model file is missing).
    pub fatal: Option<String>,
    pub timed_out: bool,
    pub stopped: bool,
    pub stderr_tail: Vec<String>,
    pub wall_s: f64,
}

impl BatchReport {
    /// The protocol-independent outcome plus what the worker said: `(load_s, device)` from its
    /// ready message and its fatal message, if any.
    pub(crate) fn new(
        outcome: crate::batch::BatchOutcome,
        load_info: Option<(f64, String)>,
        fatal: Option<String>,
    ) -> BatchReport {
        let (load_s, device) = match load_info {
            Some((l, d)) => (Some(l), Some(d)),
            None => (None, None),
        };
        BatchReport {
            unanswered: outcome.unanswered,
            exit: outcome.exit,
            peak_rss_bytes: outcome.peak_rss_bytes,
            load_s,
            device,
            fatal,
            timed_out: outcome.timed_out,
            stopped: outcome.stopped,
            stderr_tail: outcome.stderr_tail,
            wall_s: outcome.wall.as_secs_f64(),
        }
    }

    /// Why the unanswered items failed, in one paragraph to store on each of them; `None`
    /// when the batch ended normally.
    pub fn failure_message(&self) -> Option<String> {
        if self.unanswered.is_empty() && self.exit.success() && self.fatal.is_none() {
            return None;
        }
        if self.stopped && !self.timed_out && self.fatal.is_none() && self.exit.success() {
            return None; // stopped on request: the unanswered items were simply not started
        }
        let mut msg = if let Some(f) = &self.fatal {
            f.clone()
        } else if self.timed_out {
            format!(
                "batch timed out after {:.0} s; the worker was killed (SIGKILL)",
                self.wall_s
            )
        } else {
            self.exit.to_string()
        };
        if self.fatal.is_none() && !self.stderr_tail.is_empty() {
            let last: Vec<&str> = self
                .stderr_tail
                .iter()
                .rev()
                .take(5)
                .rev()
                .map(String::as_str)
                .collect();
            msg.push_str("; worker log ends: ");
            msg.push_str(&last.join(" | "));
        }
        Some(msg)
    }
}

impl Answer for Response {
    fn settles(&self) -> Option<i64> {
        match self {
            Response::Result { job_id, .. } | Response::JobError { job_id, .. } => Some(*job_id),
            Response::Ready { .. } | Response::Fatal { .. } => None,
        }
    }
}

/// Transcribe `items` with one whisper worker process. `on_event` runs for each answer as it
/// arrives; return `Break` to stop after the item in flight. `opts.threads`, when not 0,
/// overrides `load.threads`.
///
/// Call from a thread that outlives the worker (see [`crate::spawn`] on `PR_SET_PDEATHSIG`).
pub fn run_whisper_batch(
    bin: &Path,
    load: &WhisperLoad,
    items: &[TranscribeItem],
    opts: &BatchOptions,
    on_event: &mut dyn FnMut(WorkerEvent) -> ControlFlow<()>,
) -> Result<BatchReport, SupervisorError> {
    let mut load = load.clone();
    if opts.threads > 0 {
        load.threads = opts.threads;
    }
    let reqs: Vec<(i64, Request)> = items
        .iter()
        .map(|i| (i.job_id, Request::Transcribe(i.clone())))
        .collect();
    let mut load_info: Option<(f64, String)> = None;
    let mut fatal: Option<String> = None;
    let mut handle = |resp: Response| -> ControlFlow<()> {
        let event = match resp {
            Response::Ready {
                model,
                load_s,
                device,
            } => {
                load_info = Some((load_s, device.clone()));
                WorkerEvent::Ready {
                    model,
                    load_s,
                    device,
                }
            }
            Response::Result {
                job_id,
                language,
                segments,
                metrics,
            } => WorkerEvent::ItemDone {
                job_id,
                language,
                segments,
                metrics,
            },
            Response::JobError { job_id, message } => WorkerEvent::ItemFailed { job_id, message },
            Response::Fatal { message } => {
                tracing::error!("whisper worker: {message}");
                fatal = Some(message);
                return ControlFlow::Continue(());
            }
        };
        on_event(event)
    };
    let outcome = run_batch(bin, &[Request::Load(load)], &reqs, opts, &mut handle)?;
    Ok(BatchReport::new(outcome, load_info, fatal))
}
