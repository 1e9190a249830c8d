//! The llama worker's batch: the generic runner plus the llama protocol's messages.

use std::ops::ControlFlow;
use std::path::Path;

use nightshift_worker_protocol::{
    CompleteItem, CompletionMetrics, FinishReason, LlamaLoad, LlamaRequest, LlamaResponse,
};

use crate::SupervisorError;
use crate::batch::{Answer, BatchOptions, run_batch};
use crate::whisper::BatchReport;

/// Binary name of the llama worker.
pub const LLAMA_WORKER: &str = "nightshift-llama-worker";

/// What the Foreman hears while a llama batch runs; each item's event is its checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum LlamaEvent {
    Ready {
        model: String,
        load_s: f64,
        device: String,
        /// Context size in effect, tokens.
        n_ctx: u32,
        n_ctx_train: u32,
    },
    ItemDone {
        job_id: i64,
        text: String,
        tokens_in: u32,
        tokens_out: u32,
        finish_reason: FinishReason,
        metrics: CompletionMetrics,
    },
    ItemFailed {
        job_id: i64,
        message: String,
    },
}

impl Answer for LlamaResponse {
    fn settles(&self) -> Option<i64> {
        match self {
            LlamaResponse::Completion { job_id, .. } | LlamaResponse::JobError { job_id, .. } => {
                Some(*job_id)
            }
            LlamaResponse::Ready { .. } | LlamaResponse::Fatal { .. } => None,
        }
    }
}

/// Complete `items` with one llama worker process (one model load for the whole batch).
/// `on_event` runs for each answer as it arrives; return `Break` to stop after the item in
/// flight. `opts.threads`, when not 0, overrides `load.threads`.
///
/// Call from a thread that outlives the worker (see [`crate::spawn`] on `PR_SET_PDEATHSIG`).
pub fn run_llama_batch(
    bin: &Path,
    load: &LlamaLoad,
    items: &[CompleteItem],
    opts: &BatchOptions,
    on_event: &mut dyn FnMut(LlamaEvent) -> ControlFlow<()>,
) -> Result<BatchReport, SupervisorError> {
    let mut load = load.clone();
    if opts.threads > 0 {
        load.threads = opts.threads;
    }
    let reqs: Vec<(i64, LlamaRequest)> = items
        .iter()
        .map(|i| (i.job_id, LlamaRequest::Complete(i.clone())))
        .collect();
    let mut load_info: Option<(f64, String)> = None;
    let mut fatal: Option<String> = None;
    let mut handle = |resp: LlamaResponse| -> ControlFlow<()> {
        let event = match resp {
            LlamaResponse::Ready {
                model,
                load_s,
                device,
                n_ctx,
                n_ctx_train,
            } => {
                load_info = Some((load_s, device.clone()));
                LlamaEvent::Ready {
                    model,
                    load_s,
                    device,
                    n_ctx,
                    n_ctx_train,
                }
            }
            LlamaResponse::Completion {
                job_id,
                text,
                tokens_in,
                tokens_out,
                finish_reason,
                metrics,
            } => LlamaEvent::ItemDone {
                job_id,
                text,
                tokens_in,
                tokens_out,
                finish_reason,
                metrics,
            },
            LlamaResponse::JobError { job_id, message } => {
                LlamaEvent::ItemFailed { job_id, message }
            }
            LlamaResponse::Fatal { message } => {
                tracing::error!("llama worker: {message}");
                fatal = Some(message);
                return ControlFlow::Continue(());
            }
        };
        on_event(event)
    };
    let outcome = run_batch(bin, &[LlamaRequest::Load(load)], &reqs, opts, &mut handle)?;
    Ok(BatchReport::new(outcome, load_info, fatal))
}
