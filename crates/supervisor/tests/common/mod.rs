//! Shared test setup: the real worker binary, the real tiny.en model and corpus audio from
//! `../shared` (beside the repository). Missing assets fail the test; nothing is skipped.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use nightshift_supervisor::{WHISPER_WORKER, find_worker_binary};
use nightshift_worker_protocol::{TranscribeItem, WhisperLoad};

/// `../shared` next to the repository root.
pub fn shared() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    assert!(
        dir.join("models").is_dir(),
        "test assets missing: {} should hold models/ and corpus/ (see DESIGN.md §5)",
        dir.display()
    );
    dir
}

pub fn tiny_en() -> String {
    let p = shared().join("models/ggml-tiny.en.bin");
    assert!(p.is_file(), "model missing: {}", p.display());
    p.to_string_lossy().into_owned()
}

pub fn load(model_path: &str) -> WhisperLoad {
    WhisperLoad {
        model_path: model_path.to_owned(),
        threads: 2,
        language: None,
        beam_size: Some(1),
        use_gpu: false,
        vad_model_path: None,
        parallel: None,
    }
}

/// The worker binary, built (release, same target dir) if `cargo test` did not build it.
pub fn worker() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Build every time the test process starts: a no-op when fresh, and it never leaves a
        // stale worker from an older checkout in use.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", WHISPER_WORKER])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("warning: `cargo build --release -p {WHISPER_WORKER}` failed; looking for an existing binary");
        }
        if let Ok(p) = find_worker_binary(WHISPER_WORKER) {
            return p;
        }
        // A dev-profile test binary: the release worker sits in ../../release.
        let exe = std::env::current_exe().expect("current_exe");
        let release = exe.ancestors().nth(3).map(|t| t.join("release").join(WHISPER_WORKER));
        match release {
            Some(p) if p.is_file() => p,
            _ => panic!(
                "{WHISPER_WORKER} not found and could not be built: run `cargo build --release -p {WHISPER_WORKER}`"
            ),
        }
    })
    .clone()
}

/// A corpus WAV (16 kHz mono 16-bit) stored as a chunk file the way ingest stores chunks.
pub fn chunk_from_wav(rel: &str, dir: &Path) -> PathBuf {
    let src = shared().join("corpus").join(rel);
    let mut r = hound::WavReader::open(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16),
        "{rel}"
    );
    let samples: Vec<f32> = r
        .samples::<i16>()
        .map(|s| s.expect("wav sample") as f32 / 32768.0)
        .collect();
    let name = Path::new(rel)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let out = dir.join(format!("{name}.flac"));
    nightshift_media::write_chunk(&out, &samples).expect("write chunk");
    out
}

pub fn item(job_id: i64, path: &Path) -> TranscribeItem {
    TranscribeItem {
        fit_audio_ctx: false,
        job_id,
        audio_path: path.to_string_lossy().into_owned(),
        prompt: None,
        speech_spans: Vec::new(),
    }
}

/// Lower-case words, punctuation removed (DESIGN.md §4 normalisation, minus numbers).
pub fn normalise(text: &str) -> String {
    text.to_lowercase()
        .replace('-', " ")
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || *c == '\'')
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
