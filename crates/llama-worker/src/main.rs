//! `nightshift-llama-worker`: the only process that links llama.cpp.
//!
//! Reads line-delimited JSON requests on stdin (`nightshift_worker_protocol::llama`): one
//! `llama_load`, then `complete` items; answers each item on stdout the moment it is done;
//! exits at stdin EOF, which is what frees the model's memory. Everything else (llama.cpp's
//! own log included) goes to stderr, which the supervisor forwards into its log.
//!
//! Exit status: 0 after a clean batch, 1 after a `fatal` answer (model missing or unloadable,
//! broken protocol), 2 if the protocol pipe itself cannot be set up.
//!
//! Failure injection for crash tests: `NIGHTSHIFT_WORKER_FAIL=abort_after:N` makes the process
//! call `std::process::abort()` (SIGABRT, like a segfault in C code) once N items have been
//! answered, before it starts item N+1.
//!
//! Logging: `NIGHTSHIFT_WORKER_LOG` (an `EnvFilter`, default `info,llama-cpp-2=warn`).

mod engine;
mod generate;
mod prompt;
mod sampler;
mod stdio;

use std::io::{BufWriter, Write};
use std::time::Instant;

use nightshift_worker_protocol::{
    LlamaRequest, LlamaResponse, ProtocolError, read_message, write_message,
};

use crate::engine::Engine;

fn main() {
    passive_openmp();
    // Take the protocol channel before anything (llama.cpp included) can print on fd 1.
    let proto = match stdio::take_protocol_stdout() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("nightshift-llama-worker: cannot set up the protocol pipe: {e}");
            std::process::exit(2);
        }
    };
    init_logging();
    let mut out = BufWriter::new(proto);
    let code = match run(&mut out) {
        Ok(()) => 0,
        Err(message) => {
            tracing::error!("{message}");
            // The supervisor may already be gone; nothing more to do if this write fails.
            let _ = write_message(&mut out, &LlamaResponse::Fatal { message });
            1
        }
    };
    let _ = out.flush();
    std::process::exit(code);
}

/// The batch loop. `Err` is fatal: it is sent as `Response::Fatal` and the process exits 1.
fn run(out: &mut impl Write) -> Result<(), String> {
    let fail = FailPlan::from_env()?;
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
        fail.before_item(answered);
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

/// `NIGHTSHIFT_WORKER_FAIL`: deliberate crashes for the supervisor's tests.
struct FailPlan {
    abort_after: Option<usize>,
}

impl FailPlan {
    fn from_env() -> Result<FailPlan, String> {
        let Ok(spec) = std::env::var("NIGHTSHIFT_WORKER_FAIL") else {
            return Ok(FailPlan { abort_after: None });
        };
        let n = spec
            .strip_prefix("abort_after:")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| {
                format!("NIGHTSHIFT_WORKER_FAIL={spec:?}: expected abort_after:N (N items)")
            })?;
        Ok(FailPlan {
            abort_after: Some(n),
        })
    }

    fn before_item(&self, answered: usize) {
        if self.abort_after == Some(answered) {
            tracing::warn!("NIGHTSHIFT_WORKER_FAIL: aborting after {answered} items");
            std::process::abort();
        }
    }
}

/// Make libgomp sleep, not spin, while its threads wait for each other (DESIGN.md §6: OpenMP
/// threads spin and starve whatever shares the cores). libgomp reads `OMP_WAIT_POLICY` once,
/// when it is loaded — before `main` — so when the variable is unset the worker re-executes
/// itself with it set. `exec` keeps the pid, process group, priority, affinity and
/// parent-death signal the supervisor set up.
fn passive_openmp() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("OMP_WAIT_POLICY").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OMP_WAIT_POLICY", "passive")
        .exec();
    // Still here: exec failed. Run on with spinning barriers rather than not at all.
    eprintln!("nightshift-llama-worker: cannot re-exec with OMP_WAIT_POLICY=passive: {err}");
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    // llama.cpp logs every tensor and buffer at load at info level; keep its warnings and
    // errors only unless asked (NIGHTSHIFT_WORKER_LOG=debug).
    let filter = EnvFilter::try_from_env("NIGHTSHIFT_WORKER_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,llama-cpp-2=warn,llama_cpp_2=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
}
