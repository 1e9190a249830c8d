//! Base data beyond speech, in process on the CPU (`nightshift-events`, tract: pure Rust, no
//! worker, no GPU lease):
//! - `events` (AUDIO, stage 0): the input decoded again (ffmpeg, 16 kHz mono) and streamed
//!   through YAMNet; the spans are the result. Pauses are part of it on purpose: the chunks
//!   leave long non-speech stretches out, which is where music and applause are.
//! - `objects` (VISUAL, stage 1, queued by `scenes`): the detector on every keyframe, spread
//!   over the run's threads.
//!
//! Both are cached by the input's content hash (and the model file's) under `<home>/cache`,
//! like the scenes: re-adding the same recording or retrying a job never runs a model twice.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use nightshift_core::{AudioEvent, ObjectBox};
use nightshift_events::detect::{scene_objects, summary_text};
use nightshift_events::{Detector, DetectorOptions, Tagger, Yamnet};
use nightshift_queue::{ClaimedJob, MeetingRow, Queue};
use serde_json::json;

use crate::config::{EventsConfig, ObjectsConfig};
use crate::home::Home;
use crate::job::{EventsResult, ObjectsResult, SceneObjects};

const YAMNET_FILES: [&str; 3] = ["model.onnx", "model.data", "yamnet_class_map.csv"];

/// Directories searched for the YAMNet files, in order.
pub fn yamnet_dirs(home: &Home, cfg: &EventsConfig) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = &cfg.models_dir {
        dirs.push(d.clone());
    }
    if let Some(d) = std::env::var_os("NIGHTSHIFT_EVENTS_MODELS").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(d).join("yamnet"));
    }
    dirs.push(home.root.join("models").join("yamnet"));
    if let Some(h) = std::env::var_os("HOME") {
        dirs.push(Path::new(&h).join(".cache/nightshift-models/yamnet"));
    }
    dirs
}

/// The first directory that holds every YAMNet file.
pub fn yamnet_dir(home: &Home, cfg: &EventsConfig) -> Result<PathBuf> {
    let dirs = yamnet_dirs(home, cfg);
    dirs.iter()
        .find(|d| YAMNET_FILES.iter().all(|f| d.join(f).is_file()))
        .cloned()
        .ok_or_else(|| {
            let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            anyhow!(
                "YAMNet model not found (searched {}); run scripts/fetch-events-models.sh",
                searched.join(", ")
            )
        })
}

/// The first 12 hex digits of a file's sha256: a cache key part that changes with the model.
fn file_tag(path: &Path) -> Result<String> {
    let digest = nightshift_media::sha256_file(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(digest.chars().take(12).collect())
}

fn read_cache<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

fn write_cache<T: serde::Serialize>(path: &Path, value: &T) {
    if let Ok(bytes) = serde_json::to_vec(value)
        && let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = crate::fsutil::write_atomic(path, &bytes);
    }
}

/// Run one events job: tag the whole input, or take the cached result.
pub fn run_events(
    home: &Home,
    queue: &mut Queue,
    owner: &str,
    job: &ClaimedJob,
    cfg: &EventsConfig,
    threads: usize,
) -> Result<()> {
    let Some(meeting) = queue.meeting(&job.meeting_id)? else {
        return Ok(()); // removed meanwhile
    };
    let dir = match yamnet_dir(home, cfg) {
        Ok(d) => d,
        Err(e) => {
            // Not worth retrying until the model is fetched; `retry` queues it again.
            queue.fail(job.job_id, owner, &format!("{e:#}"), false)?;
            return Ok(());
        }
    };
    let started = Instant::now();
    let cache = home.root.join("cache").join("events").join(format!(
        "{}-{}.json",
        meeting.source_sha256,
        file_tag(&dir.join("model.onnx"))?
    ));
    if let Some(result) = read_cache::<EventsResult>(&cache) {
        let metrics = json!({"cached": true, "wall_s": started.elapsed().as_secs_f64()});
        queue.complete(job.job_id, owner, &serde_json::to_value(&result)?, &metrics)?;
        return Ok(());
    }
    // The source, fetched from the media store when another host added the meeting.
    let input = crate::media_store::readable(home, queue, &meeting.source_path);
    match tag_input(&meeting, &input, &dir, threads) {
        Ok(result) => {
            write_cache(&cache, &result);
            let wall_s = started.elapsed().as_secs_f64();
            tracing::info!(
                meeting = %meeting.meeting_id,
                events = result.events.len(),
                "audio events: {:.0} s of audio in {wall_s:.1} s",
                result.audio_s
            );
            let metrics = json!({
                "cached": false,
                "wall_s": wall_s,
                "audio_s": result.audio_s,
                "events": result.events.len(),
                "peak_rss_bytes": nightshift_supervisor::memory::peak_rss(std::process::id()).unwrap_or(0),
            });
            queue.complete(job.job_id, owner, &serde_json::to_value(&result)?, &metrics)?;
        }
        Err(e) => {
            tracing::warn!(meeting = %meeting.meeting_id, "audio events failed: {e:#}");
            queue.fail(
                job.job_id,
                owner,
                &format!("{}: {e:#}", meeting.source_path),
                true,
            )?;
        }
    }
    Ok(())
}

/// Decode the meeting's input and stream it through YAMNet.
fn tag_input(
    meeting: &MeetingRow,
    input: &Path,
    dir: &Path,
    threads: usize,
) -> Result<EventsResult> {
    let model = Yamnet::load(&dir.join("model.onnx"), &dir.join("yamnet_class_map.csv"))?;
    let groups = nightshift_events::resolve_groups(&model)?;
    let channels = meeting.info["channels_in"].as_u64().unwrap_or(1).max(1) as u32;
    let mut decoder = nightshift_media::decode::Decoder::spawn(input, channels)?;
    let mut tagger = Tagger::new(&model, threads);
    let mut block = Vec::new();
    let mut samples = 0u64;
    while decoder.read_block(&mut block)? {
        samples += block.len() as u64;
        tagger.push(&block)?;
        block.clear();
    }
    decoder.finish()?;
    let patches = tagger.finish()?;
    let events = nightshift_events::spans::spans(&patches, &groups)
        .into_iter()
        .map(|s| AudioEvent {
            label: s.label,
            start: s.start,
            end: s.end,
            score: s.score,
        })
        .collect();
    Ok(EventsResult {
        events,
        audio_s: samples as f64 / 16_000.0,
    })
}

/// The detector's model and labels as the profile names them.
fn detector_files(home: &Home, cfg: &ObjectsConfig) -> Result<(PathBuf, PathBuf)> {
    let model = home
        .find_model(&cfg.model)
        .map_err(|e| e.context("objects.model"))?;
    let labels = match &cfg.labels {
        Some(l) => home
            .find_model(l)
            .map_err(|e| e.context("objects.labels"))?,
        None => model.with_file_name("coco80-labels.txt"),
    };
    if !labels.is_file() {
        anyhow::bail!(
            "{}: labels not found (set objects.labels to the model's class names, one per line)",
            labels.display()
        );
    }
    Ok((model, labels))
}

/// Run one objects job: the detector on every keyframe of the meeting's scenes.
pub fn run_objects(
    home: &Home,
    queue: &mut Queue,
    owner: &str,
    job: &ClaimedJob,
    cfg: &ObjectsConfig,
    threads: usize,
) -> Result<()> {
    let Some(meeting) = queue.meeting(&job.meeting_id)? else {
        return Ok(());
    };
    let jobs = queue.jobs_of(&job.meeting_id)?;
    let Some(notes) = crate::transcript::visual_notes(&jobs)? else {
        queue.fail(
            job.job_id,
            owner,
            "the meeting's scenes have not finished",
            false,
        )?;
        return Ok(());
    };
    let (model, labels) = match detector_files(home, cfg) {
        Ok(f) => f,
        Err(e) => {
            queue.fail(job.job_id, owner, &format!("{e:#}"), false)?;
            return Ok(());
        }
    };
    let started = Instant::now();
    let cache = home.root.join("cache").join("objects").join(format!(
        "{}-{}.json",
        meeting.source_sha256,
        file_tag(&model)?
    ));
    if let Some(result) = read_cache::<ObjectsResult>(&cache)
        && result.scenes.len() == notes.scenes.len()
    {
        let metrics = json!({"cached": true, "wall_s": started.elapsed().as_secs_f64()});
        queue.complete(job.job_id, owner, &serde_json::to_value(&result)?, &metrics)?;
        return Ok(());
    }
    let opts = DetectorOptions {
        threshold: cfg.threshold,
        iou: cfg.iou,
        pixel_range: cfg.pixel_range,
        ..DetectorOptions::default()
    };
    // Keyframes another host made are fetched from the media store.
    let local: Vec<Vec<PathBuf>> = notes
        .scenes
        .iter()
        .map(|s| {
            s.keyframes
                .iter()
                .map(|k| crate::media_store::readable(home, queue, &k.to_string_lossy()))
                .collect()
        })
        .collect();
    let outcome = Detector::load(&model, &labels, opts)
        .map_err(anyhow::Error::from)
        .and_then(|d| {
            let t = Instant::now();
            let scenes: Vec<&[PathBuf]> = local.iter().map(Vec::as_slice).collect();
            detect_scenes(&d, &scenes, threads).map(|r| (r, t.elapsed().as_secs_f64()))
        });
    match outcome {
        Ok((result, detect_s)) => {
            write_cache(&cache, &result);
            let frames: usize = result.scenes.iter().map(|s| s.keyframes.len()).sum();
            let metrics = json!({
                "cached": false,
                "wall_s": started.elapsed().as_secs_f64(),
                "frames": frames,
                "frames_s": detect_s,
                "frames_per_s": frames as f64 / detect_s.max(1e-9),
                "peak_rss_bytes": nightshift_supervisor::memory::peak_rss(std::process::id()).unwrap_or(0),
            });
            queue.complete(job.job_id, owner, &serde_json::to_value(&result)?, &metrics)?;
        }
        Err(e) => {
            tracing::warn!(meeting = %meeting.meeting_id, "objects failed: {e:#}");
            queue.fail(job.job_id, owner, &format!("{e:#}"), true)?;
        }
    }
    Ok(())
}

/// Every keyframe of every scene through the detector, the keyframes spread over `threads`.
fn detect_scenes(d: &Detector, scenes: &[&[PathBuf]], threads: usize) -> Result<ObjectsResult> {
    let all: Vec<&PathBuf> = scenes.iter().flat_map(|s| s.iter()).collect();
    let per = all.len().div_ceil(threads.max(1)).max(1);
    let (w, h) = d.input_size();
    let found: Vec<Result<Vec<Vec<ObjectBox>>>> = std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(per)
            .map(|mine| {
                s.spawn(move || {
                    mine.iter()
                        .map(|k| {
                            let rgb = nightshift_events::image::load_rgb(k, w, h)?;
                            Ok(d.detect(&rgb)?.into_iter().map(to_box).collect())
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a detector thread panicked")))
            })
            .collect()
    });
    let mut boxes = Vec::with_capacity(all.len());
    for part in found {
        boxes.extend(part?);
    }
    let mut boxes = boxes.into_iter();
    let scenes = scenes
        .iter()
        .map(|s| {
            let keyframes: Vec<Vec<ObjectBox>> = boxes.by_ref().take(s.len()).collect();
            let seen: Vec<Vec<nightshift_events::Detection>> = keyframes
                .iter()
                .map(|k| k.iter().map(from_box).collect())
                .collect();
            SceneObjects {
                summary: summary_text(&scene_objects(&seen)),
                keyframes,
            }
        })
        .collect();
    Ok(ObjectsResult { scenes })
}

fn to_box(d: nightshift_events::Detection) -> ObjectBox {
    ObjectBox {
        label: d.label,
        score: d.score,
        x1: d.x1,
        y1: d.y1,
        x2: d.x2,
        y2: d.y2,
    }
}

fn from_box(b: &ObjectBox) -> nightshift_events::Detection {
    nightshift_events::Detection {
        label: b.label.clone(),
        score: b.score,
        x1: b.x1,
        y1: b.y1,
        x2: b.x2,
        y2: b.y2,
    }
}
