//! The diarization worker's batch: the generic runner plus the diarize protocol's messages.

use std::ops::ControlFlow;
use std::path::Path;

use nightshift_worker_protocol::{DiarizeLoad, DiarizeRequest, DiarizeResponse};

use crate::SupervisorError;
use crate::batch::{Answer, BatchOptions, run_batch};
use crate::whisper::BatchReport;

/// Binary name of the diarization worker.
pub const DIARIZE_WORKER: &str = "nightshift-diarize-worker";

impl Answer for DiarizeResponse {
    fn settles(&self) -> Option<i64> {
        match self {
            DiarizeResponse::Diarized { job_id, .. }
            | DiarizeResponse::Embedded { job_id, .. }
            | DiarizeResponse::JobError { job_id, .. } => Some(*job_id),
            DiarizeResponse::Ready { .. } | DiarizeResponse::Fatal { .. } => None,
        }
    }
}

/// Run `items` (each `Diarize` or `Embed`, keyed by job id) in one diarization worker.
/// `on_answer` sees `Ready` and every item's answer as it arrives (a `Fatal` goes into the
/// report instead); return `Break` to stop after the item in flight.
pub fn run_diarize_batch(
    bin: &Path,
    load: &DiarizeLoad,
    items: &[(i64, DiarizeRequest)],
    opts: &BatchOptions,
    on_answer: &mut dyn FnMut(DiarizeResponse) -> ControlFlow<()>,
) -> Result<BatchReport, SupervisorError> {
    let mut load = load.clone();
    if opts.threads > 0 {
        load.threads = opts.threads;
    }
    let mut load_info: Option<(f64, String)> = None;
    let mut fatal: Option<String> = None;
    let mut handle = |resp: DiarizeResponse| -> ControlFlow<()> {
        match resp {
            DiarizeResponse::Fatal { message } => {
                tracing::error!("diarize worker: {message}");
                fatal = Some(message);
                ControlFlow::Continue(())
            }
            DiarizeResponse::Ready { load_s, ref device } => {
                load_info = Some((load_s, device.clone()));
                on_answer(resp)
            }
            other => on_answer(other),
        }
    };
    let outcome = run_batch(bin, &[DiarizeRequest::Load(load)], items, opts, &mut handle)?;
    Ok(BatchReport::new(outcome, load_info, fatal))
}
