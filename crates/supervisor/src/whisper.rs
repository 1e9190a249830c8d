//! The whisper worker's batch: the generic runner plus the whisper protocol's messages.

use std::ops::ControlFlow;
use std::path::Path;

use nightshift_worker_protocol::{Request, Response, TranscribeItem, WhisperLoad};

use crate::SupervisorError;
use crate::batch::{Answer, BatchOptions};
use crate::protocol::{BatchReport, Protocol, Said, run_worker_batch};

/// Binary name of the whisper worker.
pub const WHISPER_WORKER: &str = "nightshift-whisper-worker";

/// Binary name of the CTranslate2 ASR worker: the same protocol as the whisper worker, another
/// engine (`asr_engine = "ct2"`).
pub const CT2_WORKER: &str = "nightshift-ct2-worker";

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
