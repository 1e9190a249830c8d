//! `nightshift models quantize`: a smaller, faster copy of a whisper model. The quantizing is
//! done by the whisper worker (`nightshift-whisper-worker quantize`), the one binary that links
//! ggml, so the result is made by ggml's own quantizer; this side picks the names, checks the
//! result loads by its sha256 and size, and reports them.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::home::Home;

/// The quantizations offered (what the worker's quantizer writes).
pub const TYPES: [&str; 5] = ["q8_0", "q5_1", "q5_0", "q4_1", "q4_0"];

/// What `quantize` made.
#[derive(Debug)]
pub struct Quantized {
    pub path: PathBuf,
    /// The name `--model` and `asr_model` take for it (`tiny.en-q8_0`).
    pub name: String,
    pub sha256: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Quantize the whisper model `model` (a name or a file) to `to` into `<home>/models`, as
/// `ggml-<name>-<to>.bin`. An existing file of that name is replaced only once the new one is
/// complete.
pub fn quantize(home: &Home, model: &str, to: &str) -> Result<Quantized> {
    if !TYPES.contains(&to) {
        bail!("unknown quantization {to:?}: one of {}", TYPES.join(", "));
    }
    let src = home.find_model(model)?;
    let stem = nightshift_worker_protocol::whisper_model_name(&src);
    if TYPES.iter().any(|t| stem.ends_with(&format!("-{t}"))) {
        bail!(
            "{}: already quantized; quantize the f16 model instead",
            src.display()
        );
    }
    let name = format!("{stem}-{to}");
    let dir = home.root.join("models");
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let dest = dir.join(format!("ggml-{name}.bin"));
    let worker = nightshift_supervisor::find_worker_binary("nightshift-whisper-worker")?;
    let out = Command::new(&worker)
        .arg("quantize")
        .arg(&src)
        .arg(&dest)
        .arg(to)
        .output()
        .with_context(|| format!("cannot run {}", worker.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        bail!("{line}");
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{}: unreadable quantize report", worker.display()))?;
    let sha256 = nightshift_media::sha256_file(&dest)
        .with_context(|| format!("{}: cannot read back", dest.display()))?;
    Ok(Quantized {
        name,
        sha256,
        bytes_in: report["bytes_in"].as_u64().unwrap_or(0),
        bytes_out: report["bytes_out"].as_u64().unwrap_or(0),
        path: dest,
    })
}
