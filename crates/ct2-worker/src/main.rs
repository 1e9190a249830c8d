//! `nightshift-ct2-worker`: the only process that links CTranslate2 (and oneDNN).
//!
//! Speaks the whisper worker's protocol (`nightshift-worker-protocol`: one `load` naming a
//! converted model folder, then `transcribe` items, answered one by one on stdout; exits at
//! stdin EOF) so the Foreman runs either engine the same way (`asr.engine` in the profile).
//! Exit status and failure injection (`NIGHTSHIFT_WORKER_FAIL`) as for the whisper worker.
//!
//! Logging: `NIGHTSHIFT_WORKER_LOG` (an `EnvFilter`, default `info`).

mod engine;
mod mel;
mod pool;
mod vocab;

fn main() {
    nightshift_worker_runtime::worker_main(
        "nightshift-ct2-worker",
        "info",
        nightshift_asr::serve::<engine::Engine>,
        nightshift_asr::send_fatal,
    )
}
