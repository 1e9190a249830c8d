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
    let mut cmd = Command::new(worker);
    cmd.stderr(Stdio::inherit());
    let (responses, status, _) = run_command(cmd, load, items);
    (responses, status)
}

/// As [`run`], with the worker logging at debug level; its log comes back too.
pub fn run_logged(
    worker: &str,
    load: WhisperLoad,
    items: Vec<TranscribeItem>,
) -> (Vec<Response>, std::process::ExitStatus, String) {
    let mut cmd = Command::new(worker);
    cmd.env("NIGHTSHIFT_WORKER_LOG", "debug")
        .stderr(Stdio::piped());
    run_command(cmd, load, items)
}

fn run_command(
    mut cmd: Command,
    load: WhisperLoad,
    items: Vec<TranscribeItem>,
) -> (Vec<Response>, std::process::ExitStatus, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
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
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    (responses, out.status, log)
}

/// Digital silence (also when a bad VAD claims it is all speech) and a 0.1 s clip give no text,
/// or one word at most for the clip: the batch loop skips both before the engine sees them.
pub fn check_silence_and_a_tenth_of_a_second_give_no_text(worker: &str, load: WhisperLoad) {
    let dir = tempfile::tempdir().unwrap();
    let silence = chunk(
        dir.path(),
        "silence",
        &wav("bad_inputs/digital_silence_6s.wav"),
    );
    let tiny = chunk(dir.path(), "tiny", &wav("bad_inputs/tiny_0.1s.wav"));
    let (resp, status) = run(
        worker,
        load,
        vec![
            item(1, &silence, vec![]),
            // even when a (bad) VAD claims it is all speech
            item(2, &silence, vec![(0.0, 6.0)]),
            item(3, &tiny, vec![]),
        ],
    );
    assert!(status.success());
    assert!(matches!(resp[0], Response::Ready { .. }), "{resp:?}");
    assert_eq!(resp.len(), 4, "{resp:?}");
    assert_eq!(result_text(&resp[1]), "");
    assert_eq!(result_text(&resp[2]), "");
    let t = result_text(&resp[3]);
    assert!(t.split_whitespace().count() <= 1, "{t:?}");
}

/// A missing chunk and a corrupt one each fail alone, with a job error naming the file; the
/// batch goes on and transcribes the good chunk after them.
pub fn check_a_bad_chunk_fails_alone(worker: &str, load: WhisperLoad) {
    let dir = tempfile::tempdir().unwrap();
    let jfk = chunk(
        dir.path(),
        "jfk",
        &wav("real_speech/jfk_inaugural_1961.wav"),
    );
    let missing = dir.path().join("gone.flac");
    let garbage = dir.path().join("garbage.flac");
    std::fs::write(&garbage, b"not flac").unwrap();
    let (resp, status) = run(
        worker,
        load,
        vec![
            item(1, &missing, vec![]),
            item(2, &garbage, vec![]),
            item(3, &jfk, vec![]),
        ],
    );
    assert!(status.success());
    for (r, path) in resp[1..3].iter().zip([&missing, &garbage]) {
        match r {
            Response::JobError { message, .. } => {
                assert!(message.contains(&*path.to_string_lossy()), "{message}")
            }
            other => panic!("expected a job error, got {other:?}"),
        }
    }
    assert!(
        result_text(&resp[3])
            .to_lowercase()
            .contains("my fellow americans")
    );
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
