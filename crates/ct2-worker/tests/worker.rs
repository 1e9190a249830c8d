//! The CTranslate2 worker binary over its real protocol, with the real CTranslate2 tiny.en
//! (`scripts/fetch-ct2-model.sh`) and corpus audio from `../shared`. Missing assets fail the
//! tests; nothing is skipped.

#[path = "../../asr/tests/support/worker_harness.rs"]
mod harness;

use std::path::PathBuf;

use harness::{chunk, item, result_text as text, wav};
use nightshift_worker_protocol::{LocalSegment, Response, TranscribeItem, WhisperLoad};

const WORKER: &str = env!("CARGO_BIN_EXE_nightshift-ct2-worker");

fn run(load: WhisperLoad, items: Vec<TranscribeItem>) -> (Vec<Response>, std::process::ExitStatus) {
    harness::run(WORKER, load, items)
}

/// The converted model, where scripts/fetch-ct2-model.sh puts it.
fn model_dir() -> PathBuf {
    let base = std::env::var_os("NIGHTSHIFT_WHISPER_MODELS").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/nightshift-models"),
        PathBuf::from,
    );
    let dir = base.join("ct2-tiny.en");
    assert!(
        dir.join("model.bin").is_file(),
        "{} missing: run scripts/fetch-ct2-model.sh",
        dir.display()
    );
    dir
}

fn load() -> WhisperLoad {
    WhisperLoad {
        model_path: model_dir().to_string_lossy().into_owned(),
        threads: 1, // tests run in parallel; one engine thread each
        language: None,
        beam_size: None,
        use_gpu: false,
        vad_model_path: None,
        parallel: None,
    }
}

fn segments(r: &Response) -> &[LocalSegment] {
    match r {
        Response::Result { segments, .. } => segments,
        other => panic!("expected a result, got {other:?}"),
    }
}

#[test]
fn digital_silence_and_a_tenth_of_a_second_give_no_text() {
    harness::check_silence_and_a_tenth_of_a_second_give_no_text(WORKER, load());
}

/// 20 s of silence, then JFK: only the speech span is decoded, and segment and word times land
/// back after 20 s, words in order inside their segments.
#[test]
fn packed_speech_maps_back_to_chunk_time_with_word_times() {
    let dir = tempfile::tempdir().unwrap();
    let jfk = wav("real_speech/jfk_inaugural_1961.wav");
    let mut samples = vec![0.0f32; 20 * 16_000];
    samples.extend_from_slice(&jfk);
    let c = chunk(dir.path(), "late", &samples);
    let (resp, status) = run(load(), vec![item(5, &c, vec![(20.3, 30.8)])]);
    assert!(status.success());
    let t = text(&resp[1]).to_lowercase();
    assert!(
        t.contains("ask not what your country can do for you"),
        "{t}"
    );
    let segs = segments(&resp[1]);
    assert!(segs[0].start >= 20.0 && segs[0].start <= 21.0, "{segs:?}");
    for s in segs {
        assert!(s.start <= s.end && s.end <= 31.0, "{s:?}");
        assert!(!s.words.is_empty(), "no word times: {s:?}");
        let mut prev = s.start;
        for w in &s.words {
            assert!(
                w.start >= prev - 1e-6 && w.start <= w.end && w.end <= s.end + 1e-6,
                "{s:?}"
            );
            assert!((0.0..=1.0).contains(&w.p), "{w:?}");
            prev = w.start;
        }
    }
    // JFK's "fellow" is spoken at ~0.7–1.1 s into the clip (20.0 s into the chunk + the clip).
    let fellow = segs
        .iter()
        .flat_map(|s| &s.words)
        .find(|w| w.text.to_lowercase().starts_with("fellow"))
        .expect("the word 'fellow'");
    assert!((20.4..=21.6).contains(&fellow.start), "{fellow:?}");
}

/// A window whose text is far too short for its audio (here a 3.9 s sentence and 8 s of faint
/// room noise that the chunk's spans call speech) is decoded a second time with whisper's
/// timestamps, which end where the words end: the sentence is all there, at its own times,
/// and nothing is made up in the noise.
#[test]
fn a_window_with_too_few_words_is_decoded_again_with_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut samples = wav("real_speech/librispeech_3536-23268-0010.wav");
    let speech_s = samples.len() as f64 / 16_000.0;
    // Faint white noise (about -50 dBFS), the same every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    samples.extend((0..8 * 16_000).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.01
    }));
    let total_s = samples.len() as f64 / 16_000.0;
    let c = chunk(dir.path(), "thin", &samples);
    let (resp, status, log) =
        harness::run_logged(WORKER, load(), vec![item(3, &c, vec![(0.0, total_s)])]);
    assert!(status.success(), "{log}");
    assert!(
        log.contains("decoded again with timestamps"),
        "the window was not decoded again:\n{log}"
    );
    let t = text(&resp[1]).to_lowercase();
    assert!(t.contains("walked immediately out of the apartment"), "{t}");
    for w in segments(&resp[1]).iter().flat_map(|s| &s.words) {
        assert!(
            w.start <= speech_s + 0.5,
            "a word in the noise: {w:?} ({t})"
        );
    }
}

#[test]
fn a_bad_chunk_fails_alone() {
    harness::check_a_bad_chunk_fails_alone(WORKER, load());
}

#[test]
fn a_missing_model_is_one_fatal_line_naming_it() {
    let mut l = load();
    l.model_path = "/nonexistent/ct2-model".into();
    let (resp, status) = run(l, vec![]);
    assert_eq!(status.code(), Some(1));
    match &resp[..] {
        [Response::Fatal { message }] => {
            assert!(message.contains("/nonexistent/ct2-model"), "{message}")
        }
        other => panic!("expected one fatal answer, got {other:?}"),
    }
}

/// A chunk's transcript depends on its audio alone: the same chunk twice in one batch gives the
/// same segments, words and times (what a resumed run relies on), and so does decoding its
/// windows one at a time instead of as one batch (a window's batch-mates do not change its
/// text), or split between two model replicas. A 100 s piece of a meeting spans several windows.
#[test]
fn a_chunk_decodes_the_same_every_time_and_in_any_batch() {
    let dir = tempfile::tempdir().unwrap();
    let m = wav("meetings/meeting_02.wav");
    let end = m.len().min(100 * 16_000);
    let path = chunk(dir.path(), "m2", &m[..end]);
    let (resp, status) = run(load(), vec![item(1, &path, vec![]), item(2, &path, vec![])]);
    assert!(status.success(), "{resp:?}");
    assert_eq!(resp.len(), 3, "{resp:?}");
    assert!(segments(&resp[1]).len() >= 5, "{:?}", segments(&resp[1]));
    assert_eq!(segments(&resp[1]), segments(&resp[2]));

    let mut one_at_a_time = load();
    one_at_a_time.parallel = Some(1);
    let (alone, status) = run(one_at_a_time, vec![item(1, &path, vec![])]);
    assert!(status.success(), "{alone:?}");
    assert_eq!(segments(&alone[1]), segments(&resp[1]));

    // Two threads on a CPU: two model replicas, each decoding part of the windows.
    let mut replicas = load();
    replicas.threads = 2;
    let (split, status) = run(replicas, vec![item(1, &path, vec![])]);
    assert!(status.success(), "{split:?}");
    assert_eq!(segments(&split[1]), segments(&resp[1]));
}
