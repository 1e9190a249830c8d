//! The frames worker binary on real files from `../shared/corpus`: frame counts, the two-half
//! decode agreeing with the one-go decode, and one clear error line for what it cannot decode.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nightshift_worker_protocol::frames::{SIG_BYTES, SPLIT_ENV};

fn corpus(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel);
    assert!(p.is_file(), "corpus file missing: {}", p.display());
    p
}

fn run(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightshift-frames-worker"))
        .arg(file)
        .output()
        .expect("the worker runs")
}

#[test]
fn every_frame_of_each_corpus_video_becomes_one_signature() {
    for (file, frames) in [
        ("video/video_01_slides.mp4", 1605),
        ("video/video_02_patterns.mp4", 1170),
        ("video/video_03_screencast.webm", 1656),
        ("bad_inputs/video_without_audio.mp4", 0),
    ] {
        let out = run(&corpus(file));
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout.len() % SIG_BYTES, 0, "{file}");
        let n = out.stdout.len() / SIG_BYTES;
        if frames > 0 {
            assert_eq!(n, frames, "{file}");
        } else {
            assert!(n > 0, "{file}");
        }
    }
}

#[test]
fn the_two_halves_give_the_same_signatures_as_one_decode() {
    for file in [
        "video/video_01_slides.mp4",
        "video/video_03_screencast.webm",
    ] {
        let split = Command::new(env!("CARGO_BIN_EXE_nightshift-frames-worker"))
            .arg(corpus(file))
            .env(SPLIT_ENV, "require")
            .output()
            .unwrap();
        let one_go = Command::new(env!("CARGO_BIN_EXE_nightshift-frames-worker"))
            .arg(corpus(file))
            .env(SPLIT_ENV, "0")
            .output()
            .unwrap();
        assert!(
            split.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&split.stderr)
        );
        assert!(one_go.status.success(), "{file}");
        assert_eq!(split.stdout.len(), one_go.stdout.len(), "{file}");
        assert!(split.stdout == one_go.stdout, "{file}: signatures differ");
    }
}

#[test]
fn undecodable_files_get_one_error_line_naming_them() {
    for (file, cause) in [
        ("bad_inputs/not_audio_text.wav", "cannot open"),
        ("meetings/meeting_02.wav", "no video stream"),
    ] {
        let path = corpus(file);
        let out = run(&path);
        assert_eq!(out.status.code(), Some(1), "{file}");
        assert!(out.stdout.is_empty(), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        assert!(
            err.contains(&*path.to_string_lossy()) && err.contains(cause),
            "{file}: {err}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_nightshift-frames-worker"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "usage error");
}
