#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nightshift_events::Yamnet;

/// `../shared` beside the repo; a test that needs it fails (never skips) when it is missing.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("NIGHTSHIFT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("models").is_dir() && dir.join("corpus").is_dir(),
        "{}: shared test assets (models/, corpus/) not found; they must sit beside the repo",
        dir.display()
    );
    dir
}

pub fn corpus(rel: &str) -> PathBuf {
    let p = shared().join("corpus").join(rel);
    assert!(p.exists(), "{}: corpus file missing", p.display());
    p
}

/// Where `scripts/fetch-events-models.sh` puts its files.
pub fn fetched(rel: &str) -> PathBuf {
    let dir = std::env::var_os("NIGHTSHIFT_EVENTS_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").expect("HOME")).join(".cache/nightshift-models")
        });
    let p = dir.join(rel);
    assert!(
        p.is_file(),
        "{}: missing; run scripts/fetch-events-models.sh",
        p.display()
    );
    p
}

pub fn yamnet() -> &'static Yamnet {
    static M: OnceLock<Yamnet> = OnceLock::new();
    M.get_or_init(|| {
        Yamnet::load(
            &fetched("yamnet/model.onnx"),
            &fetched("yamnet/yamnet_class_map.csv"),
        )
        .unwrap()
    })
}

/// 16 kHz mono f32 samples of any file ffmpeg reads.
pub fn decode_16k(path: &Path) -> Vec<f32> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-ac", "1", "-ar", "16000", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg failed on {}", path.display());
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A small deterministic noise source in [-1, 1).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}
