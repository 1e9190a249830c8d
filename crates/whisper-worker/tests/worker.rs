//! The worker binary over its real protocol, with the real tiny.en model and corpus audio from
//! `../shared`. Missing assets fail the tests; nothing is skipped.

#[path = "../../asr/tests/support/worker_harness.rs"]
mod harness;

use harness::{chunk, item, result_text, shared, wav};
use nightshift_worker_protocol::{Response, TranscribeItem, WhisperLoad};

const WORKER: &str = env!("CARGO_BIN_EXE_nightshift-whisper-worker");

fn run(load: WhisperLoad, items: Vec<TranscribeItem>) -> (Vec<Response>, std::process::ExitStatus) {
    harness::run(WORKER, load, items)
}

fn load() -> WhisperLoad {
    WhisperLoad {
        model_path: shared("models/ggml-tiny.en.bin")
            .to_string_lossy()
            .into_owned(),
        threads: 1, // tests run in parallel; one engine thread each
        language: None,
        beam_size: Some(1),
        use_gpu: false,
        vad_model_path: None,
        parallel: None,
    }
}

#[test]
fn digital_silence_and_a_tenth_of_a_second_give_no_text() {
    harness::check_silence_and_a_tenth_of_a_second_give_no_text(WORKER, load());
}

#[test]
fn noise_without_speech_gives_no_text_with_the_worker_vad() {
    // meeting_01's fan-noise stretch (213.9–229.9 s, -45 dBFS, no speech).
    let dir = tempfile::tempdir().unwrap();
    let m = wav("meetings/meeting_01.wav");
    let noise = chunk(dir.path(), "noise", &m[214 * 16_000..229 * 16_000]);
    let mut l = load();
    l.vad_model_path = Some(
        shared("models/ggml-silero-v6.2.3.bin")
            .to_string_lossy()
            .into_owned(),
    );
    let (resp, status) = run(l, vec![item(1, &noise, vec![])]);
    assert!(status.success());
    assert_eq!(result_text(&resp[1]), "");
}

#[test]
fn packed_speech_maps_back_to_chunk_time() {
    // 20 s of room tone, then JFK: the VAD span starts at 20.3 s; whisper sees only the
    // speech, and the segment times must land back after 20 s.
    let dir = tempfile::tempdir().unwrap();
    let jfk = wav("real_speech/jfk_inaugural_1961.wav");
    let mut samples = vec![0.0f32; 20 * 16_000];
    samples.extend_from_slice(&jfk);
    let c = chunk(dir.path(), "late", &samples);
    let (resp, status) = run(load(), vec![item(5, &c, vec![(20.3, 30.8)])]);
    assert!(status.success());
    let Response::Result {
        segments, metrics, ..
    } = &resp[1]
    else {
        panic!("{resp:?}")
    };
    assert!((metrics.audio_s - 31.0).abs() < 0.01);
    let text = result_text(&resp[1]).to_lowercase();
    assert!(
        text.contains("ask not what your country can do for you"),
        "{text}"
    );
    assert!(
        segments[0].start >= 20.0 && segments[0].start <= 21.0,
        "{segments:?}"
    );
    assert!(
        segments.iter().all(|s| s.end <= 31.0 && s.start <= s.end),
        "{segments:?}"
    );
}

#[test]
fn a_bad_chunk_fails_alone() {
    harness::check_a_bad_chunk_fails_alone(WORKER, load());
}

/// Windows decoded at once (several whisper states over one model) give exactly the transcript
/// one-at-a-time decoding gives: same segments, words, times and language, in the same order,
/// tails of windows whisper stopped early included. A resumed run, which may run with other
/// settings, must reproduce what an uninterrupted one stored.
#[test]
fn windows_decoded_at_once_give_the_same_transcript_as_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let m = wav("meetings/meeting_02.wav");
    // 100 s of a meeting: several packed windows.
    let end = m.len().min(100 * 16_000);
    let path = chunk(dir.path(), "m2", &m[..end]);
    let with = |parallel: u32| {
        let mut l = load();
        l.parallel = Some(parallel);
        l.vad_model_path = Some(
            shared("models/ggml-silero-v6.2.3.bin")
                .to_string_lossy()
                .into_owned(),
        );
        let mut first = item(1, &path, vec![]);
        first.prompt = Some("Welcome, everyone.".into());
        let (resp, status) = run(l, vec![first, item(2, &path, vec![])]);
        assert!(status.success(), "{resp:?}");
        assert_eq!(resp.len(), 3, "{resp:?}");
        resp.into_iter()
            .skip(1)
            .map(|r| match r {
                Response::Result {
                    language, segments, ..
                } => (language, segments),
                other => panic!("expected a result, got {other:?}"),
            })
            .collect::<Vec<_>>()
    };
    let one = with(1);
    assert!(
        one[1].1.len() >= 5,
        "expected a multi-window transcript: {:?}",
        one[1].1
    );
    assert_eq!(with(3), one);
}
