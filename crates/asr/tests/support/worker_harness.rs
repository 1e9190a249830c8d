//! What the ASR workers' integration tests share (included with `#[path]` by
//! `crates/whisper-worker/tests/worker.rs` and `crates/ct2-worker/tests/worker.rs`): corpus
//! assets from `../shared` (a missing one fails the test, nothing is skipped), chunk files, and
//! one batch run over the real worker protocol.

// Each test file uses what it needs of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nightshift_worker_protocol::{Request, Response, TranscribeItem, WhisperLoad};

pub fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    assert!(
        p.exists(),
        "test asset missing: {} (see DESIGN.md §5)",
        p.display()
    );
    p
}

pub fn item(job_id: i64, path: &Path, spans: Vec<(f64, f64)>) -> TranscribeItem {
    TranscribeItem {
        fit_audio_ctx: false,
        job_id,
        audio_path: path.to_string_lossy().into_owned(),
        prompt: None,
        speech_spans: spans,
    }
}

/// 16 kHz mono 16-bit corpus WAV → samples.
pub fn wav(rel: &str) -> Vec<f32> {
    let p = shared(&format!("corpus/{rel}"));
    let mut r = hound::WavReader::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(r.spec().sample_rate, 16_000, "{rel}");
    assert_eq!(r.spec().channels, 1, "{rel}");
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

pub fn chunk(dir: &Path, name: &str, samples: &[f32]) -> PathBuf {
    let p = dir.join(format!("{name}.flac"));
    nightshift_media::write_chunk(&p, samples).unwrap();
    p
}

/// Run one batch on the worker binary `worker`; every stdout line must be a protocol message.
pub fn run(
    worker: &str,
    load: WhisperLoad,
    items: Vec<TranscribeItem>,
) -> (Vec<Response>, std::process::ExitStatus) {
    let mut child = Command::new(worker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn worker");
    let mut stdin = child.stdin.take().unwrap();
    let mut input = Vec::new();
    nightshift_worker_protocol::write_message(&mut input, &Request::Load(load)).unwrap();
    for i in items {
        nightshift_worker_protocol::write_message(&mut input, &Request::Transcribe(i)).unwrap();
    }
    stdin.write_all(&input).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let responses = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not protocol: {l:?}: {e}")))
        .collect();
    (responses, out.status)
}

/// The text of a result: its segments' texts joined by spaces.
pub fn result_text(r: &Response) -> String {
    match r {
        Response::Result { segments, .. } => segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        other => panic!("expected a result, got {other:?}"),
    }
}
