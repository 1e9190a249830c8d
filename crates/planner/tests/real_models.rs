//! The planner against real files from `../shared`, and against llama.cpp's own report:
//! `llama-server` (prebuilt, CPU) is started on SmolLM2 at several contexts and KV types, its
//! memory log lines are parsed, and the prediction must be within 10 %.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nightshift_planner::{Estimate, FlashAttn, KvType, Model, Options, open};

const MIB: f64 = 1048576.0;

/// `../shared` beside the repo; the tests fail (never skip) when it is missing.
fn shared() -> PathBuf {
    let dir = std::env::var_os("NIGHTSHIFT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("models").is_dir(),
        "{}: shared test assets (models/) not found; they must sit beside the repo",
        dir.display()
    );
    dir
}

fn smollm2() -> PathBuf {
    shared().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn cpu(ctx: u64, kv: KvType, fa: FlashAttn, n_outputs: Option<u64>) -> Options {
    Options {
        n_ctx: Some(ctx),
        kv_type: kv,
        flash_attn: fa,
        n_gpu_layers: Some(0),
        n_outputs,
        ..Options::default()
    }
}

fn within(what: &str, predicted: u64, measured_mib: f64, tolerance: f64) {
    let p = predicted as f64 / MIB;
    let err = (p - measured_mib).abs() / measured_mib;
    assert!(
        err <= tolerance,
        "{what}: predicted {p:.2} MiB, llama.cpp {measured_mib:.2} MiB ({:.1} % off)",
        err * 100.0
    );
}

#[test]
fn smollm2_header_parses() {
    let Model::Llm(m) = open(&smollm2()).unwrap() else {
        panic!("SmolLM2 is an LLM")
    };
    let s = &m.shape;
    assert_eq!(
        (
            s.arch.as_str(),
            s.n_layer,
            s.n_embd,
            s.n_head,
            s.n_ff,
            s.n_vocab
        ),
        ("llama", 30, 576, 9, 1536, 49152)
    );
    assert_eq!(s.n_head_kv, vec![3; 30]);
    assert_eq!((s.head_dim_k, s.head_dim_v, s.n_ctx_train), (64, 64, 8192));
    assert!(
        !m.weights.has_output,
        "SmolLM2 ties its output head to token_embd"
    );
}

/// The figures in `../shared/models/README.md` (llama-cpp-2 0.1.160, which reserves logits for
/// all n_ubatch rows — what the llama worker runs).
#[test]
fn smollm2_matches_the_readme_figures() {
    let m = open(&smollm2()).unwrap();
    let est = |ctx, kv, fa| m.estimate(&cpu(ctx, kv, fa, None));
    let on = FlashAttn::On;
    within(
        "model buffer",
        est(2048, KvType::F16, on).weights_bytes,
        92.10,
        0.01,
    );
    for (ctx, kv, mib) in [
        (2048, KvType::F16, 45.00),
        (8192, KvType::F16, 180.00),
        (2048, KvType::Q8_0, 23.91),
        (8192, KvType::Q8_0, 95.62),
    ] {
        within("KV cache", est(ctx, kv, on).kv_cache_bytes, mib, 0.001);
    }
    within(
        "compute, FA on",
        est(2048, KvType::F16, on).compute_bytes,
        107.5,
        0.05,
    );
    let off = FlashAttn::Off;
    within(
        "compute, FA off 2048",
        est(2048, KvType::F16, off).compute_bytes,
        107.5,
        0.05,
    );
    within(
        "compute, FA off 8192",
        est(8192, KvType::F16, off).compute_bytes,
        167.5,
        0.05,
    );
}

/// What llama.cpp printed about its memory.
#[derive(Debug, Default)]
struct Report {
    model_mib: f64,
    kv_mib: Option<f64>,
    compute_mib: Option<f64>,
    n_outputs_max: Option<u64>,
}

fn number_after(line: &str, marker: &str) -> Option<f64> {
    let rest = &line[line.find(marker)? + marker.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Stops (and reaps) the server it started, whatever happens in the test.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn llama_server_report(model: &Path, ctx: u64, kv: &str, fa: &str) -> Report {
    let bin = shared().join("tools/bin/llama-server");
    assert!(bin.is_file(), "{}: llama-server missing", bin.display());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&bin)
        .args(["-m", model.to_str().unwrap(), "-c", &ctx.to_string()])
        .args(["-ctk", kv, "-ctv", kv, "-fa", fa, "-np", "1", "-t", "1"])
        .args(["--no-warmup", "-lv", "4", "--host", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start llama-server");
    let (tx, rx) = mpsc::channel::<String>();
    for pipe in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let _server = Server(child);
    let mut report = Report::default();
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // The compute buffer is reserved last: once it is printed, everything needed is in.
    while report.compute_mib.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => panic!(
                "llama-server -c {ctx} -ctk {kv} -fa {fa}: no compute buffer line ({e:?}); log tail:\n{}",
                log[log.len().saturating_sub(20)..].join("\n")
            ),
        };
        if let Some(v) = number_after(&line, "model buffer size =") {
            report.model_mib += v;
        }
        if line.contains("llama_kv_cache: size =") {
            report.kv_mib = number_after(&line, "size =");
        }
        if let Some(v) = number_after(&line, "compute buffer size =") {
            report.compute_mib = Some(v);
        }
        if line.contains("n_outputs_max ") {
            report.n_outputs_max = number_after(&line, "=").map(|v| v as u64);
        }
        log.push(line);
    }
    report
}

#[test]
fn smollm2_within_10_percent_of_llama_server() {
    let model = smollm2();
    let planned = open(&model).unwrap();
    let mut rows = Vec::new();
    for (ctx, kv, ktype, fa, fa_opt) in [
        (2048, "f16", KvType::F16, "on", FlashAttn::On),
        (8192, "f16", KvType::F16, "on", FlashAttn::On),
        (2048, "q8_0", KvType::Q8_0, "on", FlashAttn::On),
        (8192, "q8_0", KvType::Q8_0, "on", FlashAttn::On),
        (2048, "f16", KvType::F16, "off", FlashAttn::Off),
        (8192, "f16", KvType::F16, "off", FlashAttn::Off),
    ] {
        let r = llama_server_report(&model, ctx, kv, fa);
        // llama-server reserves logits for n_outputs_max rows; plan the same.
        let e: Estimate = planned.estimate(&cpu(ctx, ktype, fa_opt, r.n_outputs_max));
        let what = format!("ctx {ctx} kv {kv} fa {fa}");
        rows.push(format!(
            "{what}: model {:.2}/{:.2} kv {:.2}/{:.2} compute {:.2}/{:.2} MiB (planned/llama.cpp)",
            e.weights_bytes as f64 / MIB,
            r.model_mib,
            e.kv_cache_bytes as f64 / MIB,
            r.kv_mib.unwrap_or(f64::NAN),
            e.compute_bytes as f64 / MIB,
            r.compute_mib.unwrap_or(f64::NAN),
        ));
        eprintln!("{}", rows.last().unwrap());
        within(&format!("{what} model"), e.weights_bytes, r.model_mib, 0.10);
        within(
            &format!("{what} KV"),
            e.kv_cache_bytes,
            r.kv_mib.expect("KV line"),
            0.10,
        );
        within(
            &format!("{what} compute"),
            e.compute_bytes,
            r.compute_mib.unwrap(),
            0.10,
        );
    }
}

#[test]
fn whisper_tiny_en_header() {
    let path = shared().join("models/ggml-tiny.en.bin");
    let Model::Whisper(w) = open(&path).unwrap() else {
        panic!("tiny.en is a whisper model")
    };
    let h = &w.hparams;
    assert_eq!(
        [
            h.n_vocab,
            h.n_audio_ctx,
            h.n_audio_state,
            h.n_audio_head,
            h.n_audio_layer,
            h.n_text_ctx,
            h.n_text_state,
            h.n_text_head,
            h.n_text_layer,
            h.n_mels,
            h.ftype
        ],
        [51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1]
    );
    // whisper.cpp 1.8.3 reports a 77.11 MB model (its MB = 10^6 bytes).
    let e = Model::Whisper(w).estimate(&Options::default());
    let mb = |b: u64| b as f64 / 1e6;
    assert!(
        (mb(e.weights_bytes) - 77.11).abs() / 77.11 < 0.01,
        "{}",
        mb(e.weights_bytes)
    );
    // kv self 3.15 + cross 9.44 + pad 2.36 MB; compute 13.21 + 64.81 + 3.89 + 95.91 MB.
    assert!((mb(e.kv_cache_bytes) - 14.95).abs() < 0.05);
    assert!((mb(e.compute_bytes) - 177.82).abs() / 177.82 < 0.02);
}

#[test]
fn garbage_and_truncated_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"this is not a model at all").unwrap();
    let err = open(&garbage).unwrap_err().to_string();
    assert!(err.starts_with("not a GGUF or whisper ggml model"), "{err}");
    // The real SmolLM2 header, cut off inside its vocabulary.
    let cut = dir.path().join("cut.gguf");
    let bytes = std::fs::read(smollm2()).unwrap();
    std::fs::write(&cut, &bytes[..200_000]).unwrap();
    let err = open(&cut).unwrap_err().to_string();
    assert!(err.starts_with("truncated: "), "{err}");
    // Header intact, weights cut off.
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = open(&cut).unwrap_err().to_string();
    assert!(err.starts_with("truncated: tensor data"), "{err}");
}
