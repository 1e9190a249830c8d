//! `nightshift-whisper-worker`: the only process that links whisper.cpp.
//!
//! Reads line-delimited JSON requests on stdin (`nightshift-worker-protocol`): one `load`, then
//! `transcribe` items; answers each item on stdout the moment it is done; exits at stdin EOF,
//! which is what frees the model's memory. Everything else (whisper.cpp's own log included)
//! goes to stderr, which the supervisor forwards into its log.
//!
//! Exit status: 0 after a clean batch, 1 after a `fatal` answer (model missing or unloadable,
//! broken protocol), 2 if the protocol pipe itself cannot be set up.
//!
//! Failure injection for crash tests: `NIGHTSHIFT_WORKER_FAIL=abort_after:N` makes the process
//! call `std::process::abort()` (SIGABRT, like a segfault in C code) once N items have been
//! answered, before it starts item N+1; `hang_after:N` and `garbage_after:N` hang or write a
//! non-protocol line instead (`nightshift_worker_runtime::FailPlan`).
//!
//! `nightshift-whisper-worker quantize IN OUT TYPE` instead quantizes a model file with ggml's
//! own quantizer and exits (`quantize.rs`).
//!
//! Logging: `NIGHTSHIFT_WORKER_LOG` (an `EnvFilter`, default `info,whisper_rs=warn`).

mod decode;
mod engine;
mod pool;
mod quantize;

use crate::engine::Engine;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("quantize") {
        std::process::exit(quantize_main(&args[1..]));
    }
    // whisper.cpp logs every tensor at load at info level: its warnings and errors only, unless
    // asked (NIGHTSHIFT_WORKER_LOG=debug).
    nightshift_worker_runtime::worker_main(
        "nightshift-whisper-worker",
        "info,whisper_rs=warn",
        nightshift_asr::serve::<Engine>,
        nightshift_asr::send_fatal,
    )
}

/// `quantize IN OUT TYPE` (what `nightshift models quantize` runs): one line of JSON on
/// stdout when done, one error line on stderr and exit 1 when not.
fn quantize_main(args: &[String]) -> i32 {
    let names: Vec<&str> = quantize::TYPES.iter().map(|t| t.name).collect();
    let [input, output, to] = args else {
        eprintln!(
            "usage: nightshift-whisper-worker quantize IN OUT TYPE (TYPE: {})",
            names.join(", ")
        );
        return 2;
    };
    let Some(to) = quantize::quant_type(to) else {
        eprintln!("unknown quantization {to:?}: one of {}", names.join(", "));
        return 2;
    };
    match quantize::quantize(input.as_ref(), output.as_ref(), to) {
        Ok(r) => {
            println!(
                "{}",
                serde_json::json!({
                    "type": to.name,
                    "quantized": r.quantized,
                    "copied": r.copied,
                    "bytes_in": r.bytes_in,
                    "bytes_out": r.bytes_out,
                })
            );
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}
