//! The whisper worker's batch: the generic runner plus the whisper protocol's messages.

use std::ops::ControlFlow;
use std::path::Path;

use nightshift_worker_protocol::{Request, Response, TranscribeItem, WhisperLoad};

use crate::SupervisorError;
use crate::batch::{Answer, BatchOptions};
use crate::exit::WorkerExit;
use crate::protocol::{Protocol, Said, run_worker_batch};

/// Binary name of the whisper worker.
pub const WHISPER_WORKER: &str = "nightshift-whisper-worker";

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

/// The whisper worker's protocol.
pub struct Whisper;

impl Protocol for Whisper {
    type Load = WhisperLoad;
    type Request = Request;
    type Response = Response;
    const WORKER: &'static str = WHISPER_WORKER;

    fn load_request(load: &WhisperLoad, threads: u32) -> Request {
        let mut load = load.clone();
        if threads > 0 {
            load.threads = threads;
        }
        Request::Load(load)
    }

    fn said(response: &Response) -> Said {
        match response {
            Response::Ready { load_s, device, .. } => Said::Ready {
                load_s: *load_s,
                device: device.clone(),
            },
            Response::Fatal { message } => Said::Fatal(message.clone()),
            _ => Said::Other,
        }
    }
}

/// Transcribe `items` with one whisper worker process ([`run_worker_batch`] with the items as
/// transcribe requests).
pub fn run_whisper_batch(
    bin: &Path,
    load: &WhisperLoad,
    items: &[TranscribeItem],
    opts: &BatchOptions,
    on_answer: &mut dyn FnMut(Response) -> ControlFlow<()>,
) -> Result<BatchReport, SupervisorError> {
    let reqs: Vec<(i64, Request)> = items
        .iter()
        .map(|i| (i.job_id, Request::Transcribe(i.clone())))
        .collect();
    run_worker_batch::<Whisper>(bin, load, &reqs, opts, on_answer)
}
