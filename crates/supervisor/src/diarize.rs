//! The diarization worker's batch: the generic runner plus the diarize protocol's messages.

use nightshift_worker_protocol::{DiarizeLoad, DiarizeRequest, DiarizeResponse};

use crate::batch::Answer;
use crate::protocol::{Protocol, Said};

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

/// The diarization worker's protocol.
pub struct Diarize;

impl Protocol for Diarize {
    type Load = DiarizeLoad;
    type Request = DiarizeRequest;
    type Response = DiarizeResponse;
    const WORKER: &'static str = DIARIZE_WORKER;

    fn load_request(load: &DiarizeLoad, threads: u32) -> DiarizeRequest {
        let mut load = load.clone();
        if threads > 0 {
            load.threads = threads;
        }
        DiarizeRequest::Load(load)
    }

    fn said(response: &DiarizeResponse) -> Said {
        match response {
            DiarizeResponse::Ready { load_s, device } => Said::Ready {
                load_s: *load_s,
                device: device.clone(),
            },
            DiarizeResponse::Fatal { message } => Said::Fatal(message.clone()),
            _ => Said::Other,
        }
    }
}
