//! One batch runner for every worker protocol: a [`Protocol`] names a worker's messages (its
//! load request, its requests and responses, how its ready and fatal answers look), and
//! [`run_worker_batch`] drives any of them. Responses are passed through to the caller as the
//! protocol's own type; only a fatal answer is kept back, in the [`BatchReport`].

use std::ops::ControlFlow;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::SupervisorError;
use crate::batch::{Answer, BatchOptions, run_batch};
use crate::exit::WorkerExit;

/// What a response says, protocol-independent.
#[derive(Debug, Clone, PartialEq)]
pub enum Said {
    /// The model is loaded.
    Ready { load_s: f64, device: String },
    /// The worker gives up (the rest of the batch gets no answer).
    Fatal(String),
    /// An item's answer (settled per [`Answer::settles`]) or anything else.
    Other,
}

/// A worker's line-JSON protocol.
pub trait Protocol {
    /// The model load the batch starts with.
    type Load: Clone;
    type Request: Serialize;
    type Response: DeserializeOwned + Answer + Send + 'static;
    /// The worker binary's name.
    const WORKER: &'static str;
    /// The load request, with `threads` in place of the load's own when it is not 0.
    fn load_request(load: &Self::Load, threads: u32) -> Self::Request;
    fn said(response: &Self::Response) -> Said;
}

/// Run `items` (keyed by item id) in one worker process of protocol `P`: one model load for
/// the whole batch. `on_answer` sees the ready answer and every item's answer as it arrives;
/// return `Break` to stop after the item in flight.
///
/// Call from a thread that outlives the worker (see [`crate::spawn`] on `PR_SET_PDEATHSIG`).
pub fn run_worker_batch<P: Protocol>(
    bin: &Path,
    load: &P::Load,
    items: &[(i64, P::Request)],
    opts: &BatchOptions,
    on_answer: &mut dyn FnMut(P::Response) -> ControlFlow<()>,
) -> Result<BatchReport, SupervisorError> {
    let mut load_info: Option<(f64, String)> = None;
    let mut fatal: Option<String> = None;
    let mut handle = |resp: P::Response| -> ControlFlow<()> {
        match P::said(&resp) {
            Said::Fatal(message) => {
                tracing::error!("{}: {message}", P::WORKER);
                fatal = Some(message);
                ControlFlow::Continue(())
            }
            Said::Ready { load_s, device } => {
                load_info = Some((load_s, device));
                on_answer(resp)
            }
            Said::Other => on_answer(resp),
        }
    };
    let preamble = [P::load_request(load, opts.threads)];
    let outcome = run_batch(bin, &preamble, items, opts, &mut handle)?;
    Ok(BatchReport::new(outcome, load_info, fatal))
}

/// How a worker batch went.
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
