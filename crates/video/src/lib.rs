//! The VISUAL side of a video meeting (DESIGN §1 "Video"): scenes, keyframes, on-screen text.
//!
//! [`analyze`] = [`frames::signatures`] (one decode to 32×18 thumbnails, in the frames worker) →
//! [`detect::detect`] (pure) → scenes → [`keyframes`] (one ffmpeg pass) → [`ocr`] (Tesseract).
//! Runs on the CPU; no model is loaded, so it needs no GPU lease.

pub mod detect;
pub mod frames;
pub mod keyframes;
pub mod ocr;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use detect::{Boundary, DetectParams, TransitionKind, detect};

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("cannot decode the video: {0}")]
    Decode(String),
    #[error("OCR: {0}")]
    Ocr(String),
}

/// One scene and what was seen in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneNotes {
    pub index: usize,
    pub start_frame: usize,
    pub end_frame: usize,
    pub start_s: f64,
    pub end_s: f64,
    /// How the scene began (`None` for the first).
    pub entered_by: Option<TransitionKind>,
    pub keyframes: Vec<PathBuf>,
    pub ocr_text: Vec<String>,
}

/// What [`analyze`] found, with what each step cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoNotes {
    pub fps: f64,
    pub frames: usize,
    pub scenes: Vec<SceneNotes>,
    pub decode_s: f64,
    pub detect_s: f64,
    pub keyframes_s: f64,
    pub ocr_s: f64,
    /// Peak resident memory of the process that decoded the signatures, bytes.
    #[serde(default)]
    pub decode_peak_rss_bytes: u64,
}

/// Scenes, keyframes (stored under `keyframe_dir`) and OCR of `input` at `fps`.
pub fn analyze(
    input: &Path,
    fps: f64,
    keyframe_dir: &Path,
    threads: usize,
) -> Result<VideoNotes, VideoError> {
    let fps = if fps > 0.0 { fps } else { 25.0 };
    let t0 = Instant::now();
    let decoded = frames::decode_signatures(input, fps)?;
    let sigs = decoded.frames;
    let decode_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let boundaries = detect(&sigs, &DetectParams::default());
    let detect_s = t1.elapsed().as_secs_f64();
    let mut starts: Vec<(usize, Option<TransitionKind>)> = vec![(0, None)];
    starts.extend(boundaries.iter().map(|b| (b.frame, Some(b.kind))));
    let mut scenes: Vec<SceneNotes> = Vec::new();
    for (i, &(start, kind)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(sigs.len(), |s| s.0);
        if end <= start {
            continue;
        }
        scenes.push(SceneNotes {
            index: scenes.len(),
            start_frame: start,
            end_frame: end,
            start_s: start as f64 / fps,
            end_s: end as f64 / fps,
            entered_by: kind,
            keyframes: Vec::new(),
            ocr_text: Vec::new(),
        });
    }
    let t2 = Instant::now();
    let picks: Vec<Vec<usize>> = scenes
        .iter()
        .map(|s| keyframes::pick(&sigs, s.start_frame, s.end_frame, fps))
        .collect();
    let all: Vec<usize> = picks.iter().flatten().copied().collect();
    let paths = keyframes::extract(input, &all, keyframe_dir, fps)?;
    let keyframes_s = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    let jobs: Vec<(PathBuf, bool)> = paths
        .iter()
        .zip(&all)
        .map(|(p, &f)| {
            let luma = detect::mean(&sigs[f]);
            (p.clone(), luma < 0.5)
        })
        .collect();
    let texts = ocr::ocr_all(&jobs, threads);
    let ocr_s = t3.elapsed().as_secs_f64();
    let mut k = 0;
    for (scene, pick) in scenes.iter_mut().zip(&picks) {
        let mut lines = Vec::new();
        for _ in pick {
            scene.keyframes.push(paths[k].clone());
            match &texts[k] {
                Ok(l) => lines.extend(l.iter().cloned()),
                Err(e) => tracing::warn!("{e}"),
            }
            k += 1;
        }
        scene.ocr_text = ocr::dedupe(lines);
    }
    Ok(VideoNotes {
        fps,
        frames: sigs.len(),
        scenes,
        decode_s,
        detect_s,
        keyframes_s,
        ocr_s,
        decode_peak_rss_bytes: decoded.peak_rss_bytes,
    })
}
