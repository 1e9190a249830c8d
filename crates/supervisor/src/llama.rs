//! The llama worker's batch: the generic runner plus the llama protocol's messages.

use std::ops::ControlFlow;
use std::path::Path;

use nightshift_worker_protocol::{CompleteItem, LlamaLoad, LlamaRequest, LlamaResponse};

use crate::SupervisorError;
use crate::batch::{Answer, BatchOptions};
use crate::protocol::BatchReport;
use crate::protocol::{Protocol, Said, run_worker_batch};

/// Binary name of the llama worker.
pub const LLAMA_WORKER: &str = "nightshift-llama-worker";

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

/// The llama worker's protocol.
pub struct Llama;

impl Protocol for Llama {
    type Load = LlamaLoad;
    type Request = LlamaRequest;
    type Response = LlamaResponse;
    const WORKER: &'static str = LLAMA_WORKER;

    fn load_request(load: &LlamaLoad, threads: u32) -> LlamaRequest {
        let mut load = load.clone();
        if threads > 0 {
            load.threads = threads;
        }
        LlamaRequest::Load(load)
    }

    fn said(response: &LlamaResponse) -> Said {
        match response {
            LlamaResponse::Ready { load_s, device, .. } => Said::Ready {
                load_s: *load_s,
                device: device.clone(),
            },
            LlamaResponse::Fatal { message } => Said::Fatal(message.clone()),
            _ => Said::Other,
        }
    }
}

/// Complete `items` with one llama worker process ([`run_worker_batch`] with the items as
/// completion requests).
pub fn run_llama_batch(
    bin: &Path,
    load: &LlamaLoad,
    items: &[CompleteItem],
    opts: &BatchOptions,
    on_answer: &mut dyn FnMut(LlamaResponse) -> ControlFlow<()>,
) -> Result<BatchReport, SupervisorError> {
    let reqs: Vec<(i64, LlamaRequest)> = items
        .iter()
        .map(|i| (i.job_id, LlamaRequest::Complete(i.clone())))
        .collect();
    run_worker_batch::<Llama>(bin, load, &reqs, opts, on_answer)
}
