//! Shared by the diarization tests and examples: the fetched models and ffmpeg decoding.
// Each test binary and example uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use nightshift_diarize::Diarization;
use nightshift_diarize_worker::Engine;
use nightshift_eval::SpeakerTurn;
use nightshift_worker_protocol::DiarizeLoad;

/// The directory `scripts/fetch-diarization-models.sh` fills. Fails (never skips) when the
/// models are missing.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("NIGHTSHIFT_DIARIZATION_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/nightshift-models/diarization")
        });
    for f in ["segmentation-3.0.safetensors", "campplus.safetensors"] {
        assert!(
            dir.join(f).is_file(),
            "{}: missing {f}; run scripts/fetch-diarization-models.sh (scripts/test.sh does)",
            dir.display()
        );
    }
    dir
}

pub fn engine(threads: u32) -> Engine {
    let d = models_dir();
    let p = |f: &str| d.join(f).to_string_lossy().into_owned();
    Engine::load(&DiarizeLoad {
        segmentation_path: p("segmentation-3.0.safetensors"),
        embedder_path: p("campplus.safetensors"),
        threads,
    })
    .expect("diarization models load")
}

/// `../shared` beside the repository (or `NIGHTSHIFT_SHARED`); fails when missing.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("NIGHTSHIFT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("corpus").is_dir(),
        "{}: shared corpus not found",
        dir.display()
    );
    dir
}

/// `path` decoded to 16 kHz mono f32 by ffmpeg.
pub fn decode(path: &Path) -> Vec<f32> {
    run_ffmpeg(
        Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path),
        path,
    )
}

/// `len_s` seconds of `path` from `from_s`, decoded to 16 kHz mono f32.
pub fn decode_range(path: &Path, from_s: f64, len_s: f64) -> Vec<f32> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-ss"])
        .arg(from_s.to_string())
        .arg("-t")
        .arg(len_s.to_string())
        .arg("-i")
        .arg(path);
    run_ffmpeg(&mut cmd, path)
}

fn run_ffmpeg(cmd: &mut Command, path: &Path) -> Vec<f32> {
    let out = cmd
        .args(["-ac", "1", "-ar", "16000", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg failed on {}", path.display());
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A diarization's turns as DER hypothesis turns.
pub fn hypothesis(d: &Diarization) -> Vec<SpeakerTurn> {
    d.turns
        .iter()
        .map(|t| SpeakerTurn {
            speaker: t.speaker.to_string(),
            start: t.start,
            end: t.end,
        })
        .collect()
}
