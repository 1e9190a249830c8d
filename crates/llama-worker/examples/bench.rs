//! Prompt-processing and generation speed of the llama worker, comparable with llama.cpp's
//! `llama-bench -p 512 -n 128` (DESIGN.md §6: the build must not lose AVX2/FMA).
//!
//!     cargo run --release -p nightshift-llama-worker --example bench -- [MODEL] [THREADS] [REPS]
//!
//! `BENCH_WORKER=/path/to/nightshift-llama-worker` benchmarks another build of the worker.
//!
//! Runs the real worker binary through the supervisor, one batch: a warm-up item, then per
//! repetition a ~512-token raw prompt with one output token (pp) and a short prompt with 128
//! greedy tokens and end-of-generation ignored (tg), plus 128 tokens with the default sampling
//! chain for reference. Prints the mean of the repetitions.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nightshift_supervisor::{BatchOptions, find_worker_binary, run_llama_batch};
use nightshift_worker_protocol::{
    CompleteItem, CompletionMetrics, LlamaLoad, LlamaResponse, Sampling,
};

const WORDS: &[&str] = &[
    "the", "meeting", "will", "start", "at", "noon", "and", "we", "talk", "about", "data", "plans",
    "for", "next", "week", "with", "team", "on", "call", "new", "index", "demo",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf")
            .to_string_lossy()
            .into_owned()
    });
    let threads: u32 = args.next().and_then(|t| t.parse().ok()).unwrap_or(2);
    let reps: i64 = args.next().and_then(|t| t.parse().ok()).unwrap_or(3);
    let bin = worker();

    // 511 words of one token each (leading space) + BOS ≈ 512 prompt tokens.
    let pp_prompt: String = (0..511)
        .map(|i| format!(" {}", WORDS[i % WORDS.len()]))
        .collect();
    let raw = |job_id, prompt: &str, max_tokens, sampling: Sampling| CompleteItem {
        prompt: Some(prompt.to_owned()),
        max_tokens,
        sampling,
        ignore_eos: true,
        ..CompleteItem::chat(job_id, Vec::new())
    };
    let greedy = Sampling {
        temperature: 0.0,
        repeat_penalty: 1.0,
        ..Sampling::default()
    };
    let mut items = vec![raw(0, &pp_prompt, 16, greedy.clone())];
    for r in 0..reps {
        items.push(raw(100 + r, &pp_prompt, 1, greedy.clone()));
        items.push(raw(200 + r, " Once upon a time", 128, greedy.clone()));
        items.push(raw(300 + r, " Once upon a time", 128, Sampling::default()));
    }
    let load = LlamaLoad {
        n_ctx: 1024,
        ..LlamaLoad::new(&model, threads)
    };
    let opts = BatchOptions {
        timeout: Duration::from_secs(900),
        ..BatchOptions::default()
    };
    let mut pp = Vec::new();
    let mut tg = Vec::new();
    let mut tg_sampled = Vec::new();
    let report = run_llama_batch(&bin, &load, &items, &opts, &mut |ev| {
        match ev {
            LlamaResponse::Ready { load_s, device, .. } => {
                eprintln!("model loaded in {load_s:.3} s on {device}")
            }
            LlamaResponse::Completion {
                job_id,
                tokens_in,
                tokens_out,
                metrics,
                ..
            } => match job_id / 100 {
                1 => pp.push((tokens_in, metrics)),
                2 => tg.push((tokens_out, metrics)),
                3 => tg_sampled.push((tokens_out, metrics)),
                _ => {}
            },
            LlamaResponse::JobError { job_id, message } => eprintln!("item {job_id}: {message}"),
            // Kept in the report.
            LlamaResponse::Fatal { .. } => {}
        }
        ControlFlow::Continue(())
    })
    .expect("run the worker");
    if let Some(msg) = report.failure_message() {
        eprintln!("batch failed: {msg}");
        std::process::exit(1);
    }
    let mean = |v: &[(u32, CompletionMetrics)], f: fn(&CompletionMetrics) -> f64| {
        v.iter().map(|(_, m)| f(m)).sum::<f64>() / v.len().max(1) as f64
    };
    let pp_tokens = pp.first().map_or(0, |p| p.0);
    let tg_tokens = tg.first().map_or(0, |p| p.0);
    println!("model: {model}");
    println!("threads: {threads}, repetitions: {reps}");
    println!(
        "pp{pp_tokens}: {:.1} t/s",
        mean(&pp, |m| m.prompt_tokens_per_s)
    );
    println!(
        "tg{tg_tokens} (greedy): {:.1} t/s",
        mean(&tg, |m| m.gen_tokens_per_s)
    );
    println!(
        "tg{tg_tokens} (default sampling: top-k 40, top-p 0.9, temp 0.3, repeat 1.1): {:.1} t/s",
        mean(&tg_sampled, |m| m.gen_tokens_per_s)
    );
}

/// `$BENCH_WORKER` (to compare builds), else `target/release/nightshift-llama-worker`, beside
/// `target/release/examples/`.
fn worker() -> PathBuf {
    if let Some(p) = std::env::var_os("BENCH_WORKER") {
        return PathBuf::from(p);
    }
    find_worker_binary("nightshift-llama-worker")
        .expect("build the worker first: cargo build --release -p nightshift-llama-worker")
}
