//! `nightshift-diarize-worker`: speaker diarization in its own process, like every model.
//!
//! Reads line-delimited JSON on stdin (`nightshift_worker_protocol::diarize`): one `load`
//! (segmentation and embedder weights), then `diarize` items (a
//! meeting's chunks → turns and speakers) and `embed` items (a clip → its main speaker's voice);
//! each is answered on stdout as soon as it is done. Exits at stdin EOF, which frees the
//! models. Both models run in Rust on CPU threads.
//!
//! Exit status: 0 after a clean batch, 1 after a `fatal` answer, 2 if the protocol pipe cannot
//! be set up. Logging: `NIGHTSHIFT_WORKER_LOG` (default `info`).

use std::io::Write;
use std::time::Instant;

use nightshift_worker_protocol::{
    DiarizeRequest, DiarizeResponse, ProtocolError, read_message, write_message,
};

use nightshift_diarize_worker::Engine;

fn main() {
    nightshift_worker_runtime::worker_main(
        "nightshift-diarize-worker",
        "info",
        run,
        |out, message| {
            let _ = write_message(out, &DiarizeResponse::Fatal { message });
        },
    )
}

fn run(out: &mut impl Write) -> Result<(), String> {
    let fail = nightshift_worker_runtime::FailPlan::from_env()?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let load = match read_message::<_, DiarizeRequest>(&mut input).map_err(pipe_err)? {
        None => return Ok(()),
        Some(DiarizeRequest::Load(load)) => load,
        Some(_) => return Err("an item before load".into()),
    };
    let t0 = Instant::now();
    let mut engine = Engine::load(&load)?;
    let load_s = t0.elapsed().as_secs_f64();
    tracing::info!(load_s, "diarization models loaded");
    send(
        out,
        &DiarizeResponse::Ready {
            load_s,
            device: "cpu".into(),
        },
    )?;
    let mut answered = 0usize;
    while let Some(req) = read_message::<_, DiarizeRequest>(&mut input).map_err(pipe_err)? {
        fail.before_item(answered, out);
        let resp = match req {
            DiarizeRequest::Load(_) => return Err("a second load in one batch".into()),
            DiarizeRequest::Diarize(item) => match engine.diarize(&item) {
                Ok(r) => r,
                Err(message) => DiarizeResponse::JobError {
                    job_id: item.job_id,
                    message,
                },
            },
            DiarizeRequest::Embed(item) => match engine.embed(&item) {
                Ok(r) => r,
                Err(message) => DiarizeResponse::JobError {
                    job_id: item.job_id,
                    message,
                },
            },
        };
        send(out, &resp)?;
        answered += 1;
    }
    Ok(())
}

fn send(out: &mut impl Write, msg: &DiarizeResponse) -> Result<(), String> {
    write_message(out, msg).map_err(pipe_err)
}

fn pipe_err(e: ProtocolError) -> String {
    e.to_string()
}
