//! Objects on pictures with the real detector (`../shared/models/centernet-mobilenetv3-coco.onnx`):
//! a group photo (`scripts/fetch-events-models.sh`) has at least three people; the corpus's
//! slides video has none; per-scene summaries are the same run after run.

mod common;

use std::path::{Path, PathBuf};

use nightshift_events::detect::{scene_objects, summary_text};
use nightshift_events::image::load_rgb;
use nightshift_events::{Detection, Detector, DetectorOptions};

fn detector() -> Detector {
    let models = common::shared().join("models");
    Detector::load(
        &models.join("centernet-mobilenetv3-coco.onnx"),
        &models.join("coco80-labels.txt"),
        DetectorOptions::default(),
    )
    .unwrap()
}

fn detect(d: &Detector, picture: &Path) -> Vec<Detection> {
    let (w, h) = d.input_size();
    d.detect(&load_rgb(picture, w, h).unwrap()).unwrap()
}

/// One frame every `every_s` seconds of a video, as PNGs in `dir`.
fn frames(video: &Path, every_s: f64, dir: &Path) -> Vec<PathBuf> {
    let ok = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(video)
        .args(["-vf", &format!("fps=1/{every_s}")])
        .arg(dir.join("f%03d.png"))
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg frames of {}", video.display());
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

#[test]
fn a_group_photo_has_at_least_three_people() {
    let d = detector();
    let found = detect(&d, &common::fetched("test-images/people.jpg"));
    let people = found.iter().filter(|o| o.label == "person").count();
    eprintln!(
        "{}",
        summary_text(&scene_objects(std::slice::from_ref(&found)))
    );
    assert!(people >= 3, "{people} people: {found:?}");
    for o in &found {
        assert!(
            o.x1 <= o.x2 && o.y1 <= o.y2 && o.x2 <= 1.0 && o.y2 <= 1.0,
            "{o:?}"
        );
    }
}

#[test]
fn the_slides_video_shows_no_people_and_summaries_are_stable() {
    let d = detector();
    let tmp = tempfile::TempDir::new().unwrap();
    let keyframes = frames(
        &common::corpus("video/video_01_slides.mp4"),
        4.0,
        tmp.path(),
    );
    assert!(keyframes.len() >= 10, "{} frames", keyframes.len());
    let started = std::time::Instant::now();
    let first: Vec<Vec<Detection>> = keyframes.iter().map(|k| detect(&d, k)).collect();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} keyframes in {secs:.2} s: {:.1} keyframes/s (one thread, machine shared)",
        keyframes.len(),
        keyframes.len() as f64 / secs
    );
    let people: usize = first
        .iter()
        .flatten()
        .filter(|o| o.label == "person")
        .count();
    assert_eq!(people, 0, "slides with people: {first:?}");
    let again: Vec<Vec<Detection>> = keyframes.iter().map(|k| detect(&d, k)).collect();
    assert_eq!(
        summary_text(&scene_objects(&first)),
        summary_text(&scene_objects(&again))
    );
    assert_eq!(first, again);
}

#[test]
fn a_file_that_is_not_a_picture_is_one_clear_error() {
    let d = detector();
    let tmp = tempfile::TempDir::new().unwrap();
    let bogus = tmp.path().join("frame.png");
    std::fs::write(&bogus, b"not a png at all").unwrap();
    let (w, h) = d.input_size();
    let e = load_rgb(&bogus, w, h).unwrap_err().to_string();
    assert!(e.contains("frame.png") && !e.contains('\n'), "{e}");
    let e = d.detect(&[0u8; 12]).unwrap_err().to_string();
    assert!(e.contains("512×512"), "{e}");
}

#[test]
fn a_model_in_no_known_layout_is_refused_with_its_shapes() {
    // YAMNet is an ONNX model, but not a detector: its outputs say so.
    let e = match Detector::load(
        &common::fetched("yamnet/model.onnx"),
        &common::shared().join("models/coco80-labels.txt"),
        DetectorOptions::default(),
    ) {
        Ok(_) => panic!("YAMNet loaded as a detector"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("model.onnx"), "{e}");
}
