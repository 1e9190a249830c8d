//! VISUAL jobs of a video meeting.
//!
//! - `scenes` (stage 0, CPU, no model): scenes, keyframes and OCR (`nightshift-video`), stored
//!   whole; `show` fuses them with the transcript; the final reduce gets them as visual notes.
//! - `describe` (stage 1, queued by `scenes` when the profile configures a vision model): one
//!   request per scene to a vision-language model on a server (OpenAI-compatible image parts or
//!   Ollama `images`) with the scene's keyframes, its on-screen text and what was said during it
//!   — hence after the audio. Same stage as the summary's plan, which waits for it.

use std::time::Duration;

use anyhow::Result;
use nightshift_core::TaskType;
use nightshift_llm_http::{Api, ChatRequest, Client, Endpoint};
use nightshift_queue::{ClaimedJob, NewJob, Queue};
use nightshift_worker_protocol::{ChatMessage, Sampling};
use serde_json::json;

use crate::config::{VisionBackend, VisionConfig};
use crate::home::Home;

/// Model key of describe jobs (a server's model: no local memory cost).
pub const VLM_MODEL_KEY: &str = "vlm";

pub fn run_job(
    home: &Home,
    queue: &mut Queue,
    owner: &str,
    job: &ClaimedJob,
    threads: usize,
    vision: &VisionConfig,
    speakers: &crate::config::SpeakersConfig,
) -> Result<()> {
    if job.payload["step"] == "describe" {
        return describe(queue, owner, job, vision, speakers);
    }
    let Some(meeting) = queue.meeting(&job.meeting_id)? else {
        return Ok(());
    };
    let fps = job.payload["fps"].as_f64().unwrap_or(0.0);
    let started = std::time::Instant::now();
    let input = std::path::Path::new(&meeting.source_path);
    // Base data is keyed by the input's content hash: the same video (removed and added again,
    // or a job retried) is analysed once.
    let cache = home
        .root
        .join("cache")
        .join("visual")
        .join(format!("{}.json", meeting.source_sha256));
    let cached: Option<nightshift_video::VideoNotes> = std::fs::read(&cache)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|n: &nightshift_video::VideoNotes| {
            n.scenes
                .iter()
                .flat_map(|s| &s.keyframes)
                .all(|k| k.is_file())
        });
    let was_cached = cached.is_some();
    let outcome = match cached {
        Some(notes) => Ok(notes),
        None => nightshift_video::analyze(input, fps, &home.keyframes_dir(), threads),
    };
    match outcome {
        Ok(notes) => {
            if !was_cached
                && let Ok(bytes) = serde_json::to_vec(&notes)
                && let Some(dir) = cache.parent()
                && std::fs::create_dir_all(dir).is_ok()
            {
                let _ = crate::daemon::write_atomic(&cache, &bytes);
            }
            tracing::info!(
                meeting = %meeting.meeting_id,
                scenes = notes.scenes.len(),
                "visual notes: decode {:.2} s, detect {:.3} s, keyframes {:.2} s, OCR {:.2} s",
                notes.decode_s,
                notes.detect_s,
                notes.keyframes_s,
                notes.ocr_s
            );
            let metrics = if was_cached {
                json!({"cached": true, "wall_s": started.elapsed().as_secs_f64()})
            } else {
                json!({
                    "cached": false,
                    "wall_s": started.elapsed().as_secs_f64(),
                    "frames": notes.frames,
                    "frames_per_s": notes.frames as f64 / notes.decode_s.max(1e-9),
                    "decode_s": notes.decode_s, "detect_s": notes.detect_s,
                    "keyframes_s": notes.keyframes_s, "ocr_s": notes.ocr_s,
                    "peak_rss_bytes": peak_rss(),
                })
            };
            let follow: Vec<NewJob> = if vision.backend == VisionBackend::None {
                Vec::new()
            } else {
                vec![NewJob {
                    stage: 1,
                    model_key: Some(VLM_MODEL_KEY.into()),
                    payload: json!({"step": "describe"}),
                    ..NewJob::new(TaskType::Visual)
                }]
            };
            queue.complete_with_jobs(
                job.job_id,
                owner,
                &serde_json::to_value(&notes)?,
                &metrics,
                &follow,
            )?;
        }
        Err(e) => {
            tracing::warn!(meeting = %meeting.meeting_id, "visual notes failed: {e}");
            queue.fail(
                job.job_id,
                owner,
                &format!("{}: {e}", meeting.source_path),
                true,
            )?;
        }
    }
    Ok(())
}

/// Describe every scene with the configured vision model.
fn describe(
    queue: &mut Queue,
    owner: &str,
    job: &ClaimedJob,
    vision: &VisionConfig,
    speakers: &crate::config::SpeakersConfig,
) -> Result<()> {
    let Some(meeting) = queue.meeting(&job.meeting_id)? else {
        return Ok(());
    };
    let api = match vision.backend {
        VisionBackend::Openai => Api::OpenAi,
        VisionBackend::Ollama => Api::Ollama,
        VisionBackend::None => {
            queue.fail(
                job.job_id,
                owner,
                "no vision model configured (profile vision.backend)",
                false,
            )?;
            return Ok(());
        }
    };
    let key = match &vision.api_key_env {
        Some(var) => std::env::var(var).ok().filter(|k| !k.is_empty()),
        None => None,
    };
    let client = Client::new(Endpoint {
        api_key: key,
        timeout: Duration::from_secs(vision.timeout_s.max(1)),
        retries: vision.retries,
        ..Endpoint::new(
            api,
            vision
                .url
                .clone()
                .unwrap_or_else(|| api.default_url().into()),
            vision.model.clone(),
        )
    });
    let doc = crate::transcript::build_doc(queue, &meeting, speakers)?;
    let started = std::time::Instant::now();
    let sampling = Sampling {
        temperature: 0.2,
        ..Sampling::default()
    };
    let mut descriptions = Vec::new();
    for (i, scene) in doc.scenes.iter().enumerate() {
        let images: Vec<Vec<u8>> = scene
            .keyframes
            .iter()
            .take(vision.max_images.max(1))
            .filter_map(|k| std::fs::read(k).ok())
            .collect();
        let messages = [
            ChatMessage::new(
                "system",
                "You write meeting notes. Describe what is shown on screen in this part of a \
                 recorded meeting in one to three factual sentences: the kind of content (slide, \
                 chart, code, document, demo) and its key points. Use the on-screen text and what \
                 was said to read it correctly; do not invent details.",
            ),
            ChatMessage::new(
                "user",
                format!(
                    "Scene {} of {} ({:.0}–{:.0} s).\nOn-screen text (OCR):\n{}\nSpoken during this scene:\n{}",
                    i + 1,
                    doc.scenes.len(),
                    scene.start,
                    scene.end,
                    if scene.ocr_text.is_empty() {
                        "(none)"
                    } else {
                        &scene.ocr_text
                    },
                    if scene.transcript.is_empty() {
                        "(nothing)"
                    } else {
                        &scene.transcript
                    },
                ),
            ),
        ];
        let reply = client.chat(&ChatRequest {
            messages: &messages,
            json_schema: None,
            max_tokens: vision.max_tokens,
            sampling: &sampling,
            images: &images,
        });
        match reply {
            Ok(r) => descriptions.push(r.text.trim().to_string()),
            Err(e) => {
                queue.fail(
                    job.job_id,
                    owner,
                    &format!("scene {}: {e}", i + 1),
                    e.is_transient(),
                )?;
                return Ok(());
            }
        }
    }
    let metrics = json!({"wall_s": started.elapsed().as_secs_f64(), "scenes": descriptions.len()});
    queue.complete(
        job.job_id,
        owner,
        &json!({"step": "describe", "descriptions": descriptions}),
        &metrics,
    )?;
    Ok(())
}

/// This process's peak resident memory (the video work runs in process).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
