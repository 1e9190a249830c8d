//! `nightshift-llama-worker`: the only process that links llama.cpp.
//!
//! Reads line-delimited JSON requests on stdin (`nightshift_worker_protocol::llama`): one
//! `llama_load` (optionally with a vision projector, `mmproj_path`), then `complete` items
//! (which may carry images when a projector is loaded); answers each item on stdout the
//! moment it is done; exits at stdin EOF, which is what frees the model's memory. Everything else (llama.cpp's
//! own log included) goes to stderr, which the supervisor forwards into its log.
//!
//! Exit status: 0 after a clean batch, 1 after a `fatal` answer (model missing or unloadable,
//! broken protocol), 2 if the protocol pipe itself cannot be set up.
//!
//! Failure injection for crash tests: `NIGHTSHIFT_WORKER_FAIL=abort_after:N` makes the process
//! call `std::process::abort()` (SIGABRT, like a segfault in C code) once N items have been
//! answered, before it starts item N+1; `hang_after:N` and `garbage_after:N` hang or write a
//! non-protocol line instead (`nightshift_worker_runtime::FailPlan`).
//!
//! Logging: `NIGHTSHIFT_WORKER_LOG` (an `EnvFilter`, default `info,llama-cpp-2=warn`).

mod engine;
mod generate;
mod prompt;
mod sampler;
mod vision;

use std::io::Write;
use std::time::Instant;

use nightshift_worker_protocol::{
    LlamaRequest, LlamaResponse, ProtocolError, read_message, write_message,
};

use crate::engine::Engine;

fn main() {
    // llama.cpp logs every tensor at load at info level: its warnings and errors only, unless
    // asked (NIGHTSHIFT_WORKER_LOG=debug).
    nightshift_worker_runtime::worker_main(
        "nightshift-llama-worker",
        "info,llama-cpp-2=warn,llama_cpp_2=warn",
        run,
        |out, message| {
            let _ = write_message(out, &LlamaResponse::Fatal { message });
        },
    )
}

/// The batch loop. `Err` is fatal: it is sent as `Response::Fatal` and the process exits 1.
fn run(out: &mut impl Write) -> Result<(), String> {
    let fail = nightshift_worker_runtime::FailPlan::from_env()?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let load = match read_message::<_, LlamaRequest>(&mut input).map_err(pipe_err)? {
        None => return Ok(()), // closed before asking for anything
        Some(LlamaRequest::Load(load)) => load,
        Some(LlamaRequest::Complete(item)) => {
            return Err(format!("job {}: complete before llama_load", item.job_id));
        }
    };
    let t0 = Instant::now();
    let engine = Engine::load(&load)?;
    let mut session = engine.session(&load)?;
    let load_s = t0.elapsed().as_secs_f64();
    tracing::info!(
        model = %engine.model_name,
        device = %engine.device,
        n_ctx = session.n_ctx(),
        vision = session.has_vision(),
        load_s,
        "model loaded"
    );
    send(
        out,
        &LlamaResponse::Ready {
            model: engine.model_name.clone(),
            load_s,
            device: engine.device.clone(),
            n_ctx: session.n_ctx(),
            n_ctx_train: engine.n_ctx_train(),
        },
    )?;
    let mut answered = 0usize;
    while let Some(req) = read_message::<_, LlamaRequest>(&mut input).map_err(pipe_err)? {
        let item = match req {
            LlamaRequest::Complete(item) => item,
            LlamaRequest::Load(_) => {
                return Err("a second llama_load in one batch: one model per worker".into());
            }
        };
        fail.before_item(answered, out);
        let resp = match session.complete(&item) {
            Ok(c) => {
                // Counts and speeds only: prompts and completions never go into logs.
                tracing::info!(
                    job_id = item.job_id,
                    tokens_in = c.tokens_in,
                    tokens_out = c.tokens_out,
                    finish = ?c.finish_reason,
                    prompt_tps = format_args!("{:.1}", c.metrics.prompt_tokens_per_s),
                    gen_tps = format_args!("{:.1}", c.metrics.gen_tokens_per_s),
                    wall_s = format_args!("{:.2}", c.metrics.wall_s),
                    "item done"
                );
                LlamaResponse::Completion {
                    job_id: item.job_id,
                    text: c.text,
                    tokens_in: c.tokens_in,
                    tokens_out: c.tokens_out,
                    finish_reason: c.finish_reason,
                    metrics: c.metrics,
                }
            }
            Err(message) => {
                tracing::warn!(job_id = item.job_id, "{message}");
                LlamaResponse::JobError {
                    job_id: item.job_id,
                    message,
                }
            }
        };
        send(out, &resp)?;
        answered += 1;
    }
    Ok(())
}

fn send(out: &mut impl Write, resp: &LlamaResponse) -> Result<(), String> {
    write_message(out, resp).map_err(|e| format!("cannot answer the supervisor: {e}"))
}

fn pipe_err(e: ProtocolError) -> String {
    format!("reading requests: {e}")
}
