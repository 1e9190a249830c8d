//! Scene detection and OCR on the corpus videos, scored by the acceptance rule: a hard cut
//! matches a detection within ±2 frames; a gradual transition matches a detection anywhere in
//! its span ±2 frames; each detection matches at most one transition.

use nightshift_eval::{load_corpus, scene_f1};
use nightshift_video::{DetectParams, detect, frames};

#[test]
fn scene_cuts_score_at_least_0_9_f1_on_every_corpus_video() {
    // The in-process frames worker (built with the workspace) and the ffmpeg fallback.
    scene_f1_on_every_video("frames worker", |p, fps| {
        frames::signatures_by_worker(p, fps)
            .unwrap_or_else(|e| {
                panic!("{e} (build the workspace: cargo build --release --workspace)")
            })
            .frames
    });
    scene_f1_on_every_video("ffmpeg CLI", |p, fps| {
        frames::signatures_by_ffmpeg(p, fps).unwrap().frames
    });
}

/// Both decoders run under the supervisor; what they cannot decode is an error carrying the
/// decoder's own first line, never an empty list of frames.
#[test]
fn an_undecodable_file_is_an_error_with_the_decoders_reason() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/bad_inputs/not_audio_text.wav");
    assert!(path.is_file(), "corpus file missing: {}", path.display());
    let by_worker = frames::signatures_by_worker(&path, 25.0)
        .unwrap_err()
        .to_string();
    assert!(
        by_worker.contains(frames::FRAMES_WORKER) && by_worker.contains("cannot open the video"),
        "{by_worker}"
    );
    let by_ffmpeg = frames::signatures_by_ffmpeg(&path, 25.0)
        .unwrap_err()
        .to_string();
    assert!(by_ffmpeg.contains("Invalid data"), "{by_ffmpeg}");
    assert!(frames::decode_signatures(&path, 25.0).is_err());
}

fn scene_f1_on_every_video(
    decoder: &str,
    decode: impl Fn(&std::path::Path, f64) -> Vec<frames::Signature>,
) {
    let corpus = load_corpus().expect("corpus manifest");
    let mut total = (0, 0, 0);
    for case in corpus.of_kind("video") {
        let path = corpus.file(case);
        let fps = case.expected["fps"].as_f64().unwrap();
        let sigs = decode(&path, fps);
        let want = case.expected["frame_count"].as_u64().unwrap() as usize;
        assert_eq!(sigs.len(), want, "{decoder}: {}: frame count", case.id);
        let found: Vec<usize> = detect(&sigs, &DetectParams::default())
            .iter()
            .map(|b| b.frame)
            .collect();
        let transitions = case.expected["transitions"].as_array().unwrap();
        let (score, tp) = scene_f1(&found, transitions);
        println!(
            "{decoder}: {}: F1 {score:.3} ({tp} of {} transitions, {} detections) {found:?}",
            case.id,
            transitions.len(),
            found.len()
        );
        assert!(score >= 0.9, "{decoder}: {}: F1 {score:.3}", case.id);
        total = (
            total.0 + tp,
            total.1 + found.len(),
            total.2 + transitions.len(),
        );
    }
    let (p, r) = (
        total.0 as f64 / total.1 as f64,
        total.0 as f64 / total.2 as f64,
    );
    println!("{decoder}: overall F1 {:.3}", 2.0 * p * r / (p + r));
}

/// A variable-rate screen recording (static stretches dropped, as browsers and OBS record them):
/// frames are still placed at the base rate, so cuts keep their frame numbers and every scene
/// gets its keyframes.
#[test]
fn a_variable_rate_recording_keeps_its_scene_boundaries() {
    let corpus = load_corpus().expect("corpus manifest");
    let case = slide_video(&corpus);
    let dir = tempfile::tempdir().unwrap();
    let vfr = dir.path().join("vfr.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(corpus.file(case))
        .args([
            "-an",
            "-vf",
            "mpdecimate",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
        ])
        .args(["-preset", "veryfast"])
        .arg(&vfr)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "ffmpeg could not make the variable-rate copy"
    );
    let fps = case.expected["fps"].as_f64().unwrap();
    let transitions = case.expected["transitions"].as_array().unwrap();
    for (decoder, sigs) in [
        (
            "frames worker",
            frames::signatures_by_worker(&vfr, fps).unwrap().frames,
        ),
        (
            "ffmpeg CLI",
            frames::signatures_by_ffmpeg(&vfr, fps).unwrap().frames,
        ),
    ] {
        // Trailing static frames are gone from the copy; up to its last frame, k is k / fps.
        let last_cut = transitions
            .iter()
            .filter_map(|t| t["frame"].as_u64())
            .max()
            .unwrap();
        assert!(
            sigs.len() as u64 > last_cut,
            "{decoder}: {} frames",
            sigs.len()
        );
        let found: Vec<usize> = detect(&sigs, &DetectParams::default())
            .iter()
            .map(|b| b.frame)
            .collect();
        let (score, _) = scene_f1(&found, transitions);
        println!("{decoder}: variable-rate copy: F1 {score:.3} {found:?}");
        assert!(score >= 0.9, "{decoder}: F1 {score:.3}: {found:?}");
    }
    let notes = nightshift_video::analyze(&vfr, fps, &dir.path().join("k"), 2).unwrap();
    assert!(notes.scenes.len() >= 6, "{:?}", notes.scenes.len());
    assert!(notes.scenes.iter().all(|s| !s.keyframes.is_empty()));
}

fn slide_video(corpus: &nightshift_eval::Manifest) -> &nightshift_eval::Case {
    corpus
        .of_kind("video")
        .find(|c| c.id.contains("slides"))
        .expect("a slide video in the corpus")
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[test]
fn on_screen_text_is_read_from_the_slide_video() {
    let corpus = load_corpus().expect("corpus manifest");
    let case = slide_video(&corpus);
    let dir = tempfile::tempdir().unwrap();
    let fps = case.expected["fps"].as_f64().unwrap();
    let notes = nightshift_video::analyze(&corpus.file(case), fps, dir.path(), 2).unwrap();
    println!(
        "decode {:.2} s ({} MiB peak), detect {:.3} s, keyframes {:.2} s, OCR {:.2} s",
        notes.decode_s,
        notes.decode_peak_rss_bytes >> 20,
        notes.detect_s,
        notes.keyframes_s,
        notes.ocr_s
    );
    assert!(
        notes.decode_peak_rss_bytes > 1 << 20,
        "the decoder's memory is measured"
    );
    for scene in case.expected["scenes"].as_array().unwrap() {
        let (a, b) = (
            scene["clean_start_frame"].as_u64().unwrap() as usize,
            scene["clean_end_frame"].as_u64().unwrap() as usize,
        );
        let mid = (a + b) / 2;
        let found = notes
            .scenes
            .iter()
            .find(|s| s.start_frame <= mid && mid < s.end_frame)
            .unwrap();
        assert!(!found.keyframes.is_empty() && found.keyframes.len() <= 8);
        let seen: std::collections::HashSet<String> =
            found.ocr_text.iter().flat_map(|l| words(l)).collect();
        let want: Vec<String> = scene["on_screen_text"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| words(l.as_str().unwrap()))
            .collect();
        let hit = want.iter().filter(|w| seen.contains(*w)).count();
        let cover = hit as f64 / want.len().max(1) as f64;
        println!(
            "scene {}: {hit}/{} words ({:.0} %)",
            scene["index"],
            want.len(),
            cover * 100.0
        );
        assert!(
            cover >= 0.9,
            "scene {}: OCR read {:?}, wanted {want:?}",
            scene["index"],
            found.ocr_text
        );
    }
}
