//! VISUAL jobs of a video meeting.
//!
//! - `scenes` (stage 0, CPU, no model): scenes, keyframes and OCR (`nightshift-video`), stored
//!   whole; `show` fuses them with the transcript; the final reduce gets them as visual notes.
//! - `describe` (stage 1, queued by `scenes` when the profile configures a vision model): each
//!   scene's keyframes, its on-screen text and what was said during it (hence after the audio)
//!   to a vision-language model — in the local llama worker (GGUF + `mmproj` projector; the
//!   describe jobs of several meetings run as one batch, one model load, under the GPU lease
//!   like any local model) or on a server (OpenAI-compatible image parts or Ollama `images`, one
//!   request per scene). The summary's plan is queued only when it has finished, so a VLM and
//!   the summary's LLM are never loaded together.

use std::time::Duration;

use anyhow::Result;
use nightshift_core::Scene;
use nightshift_llm_http::{Api, ChatRequest, Client, Endpoint};
use nightshift_queue::{ClaimedJob, NewJob, Queue};
use nightshift_supervisor::{BatchReport, LLAMA_WORKER, Llama};
use nightshift_worker_protocol::{
    ChatMessage, CompleteItem, LlamaLoad, LlamaRequest, LlamaResponse, Sampling,
};
use serde_json::json;

use super::batch::{self, Adapter, Settle, WorkerBatch};

use crate::config::{VisionBackend, VisionConfig};
use crate::home::Home;
use crate::job::{DescribeResult, JobKind};

/// The video's base data (scenes, keyframes, OCR), from the cache when an earlier analysis of
/// the same content is there with its keyframes, else analysed now and cached. Keyed by the
/// input's content hash: the same video (removed and added again, or a job retried) is
/// analysed once. Returns the outcome and whether it came from the cache.
fn analyze_cached(
    home: &Home,
    meeting: &nightshift_queue::MeetingRow,
    input: &std::path::Path,
    fps: f64,
    threads: usize,
) -> (
    Result<nightshift_video::VideoNotes, nightshift_video::VideoError>,
    bool,
) {
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
    if let Some(notes) = cached {
        return (Ok(notes), true);
    }
    let outcome = nightshift_video::analyze(input, fps, &home.keyframes_dir(), threads);
    if let Ok(notes) = &outcome
        && let Ok(bytes) = serde_json::to_vec(notes)
        && let Some(dir) = cache.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = crate::fsutil::write_atomic(&cache, &bytes);
    }
    (outcome, false)
}

pub fn run_job(
    home: &Home,
    queue: &mut Queue,
    owner: &str,
    job: &ClaimedJob,
    threads: usize,
    profile: &crate::config::Profile,
    speakers: &crate::config::SpeakersConfig,
) -> Result<()> {
    let (vision, objects) = (&profile.vision, &profile.objects);
    let fps = match JobKind::of_claimed(job)? {
        JobKind::Describe => return describe(queue, owner, job, vision, speakers),
        JobKind::Scenes(scenes) => scenes.fps.unwrap_or(0.0),
        other => anyhow::bail!(
            "job {} is a {} job, not a visual one",
            job.job_id,
            other.step()
        ),
    };
    let Some(meeting) = queue.meeting(&job.meeting_id)? else {
        return Ok(());
    };
    let started = std::time::Instant::now();
    // The source, fetched from the media store when another host added the meeting.
    let input = crate::media_store::readable(home, queue, &meeting.source_path);
    let (outcome, was_cached) = analyze_cached(home, &meeting, &input, fps, threads);
    match outcome {
        Ok(notes) => {
            // Keyframes are read later by other jobs and `show` anywhere: stored before the
            // result that names them.
            let keyframes = notes.scenes.iter().flat_map(|s| &s.keyframes);
            crate::media_store::publish(home, queue, keyframes.map(|k| k.as_path()))?;
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
                    // This process (keyframes, OCR pool) or the frames decoder, whichever held more.
                    "peak_rss_bytes": nightshift_supervisor::memory::peak_rss(std::process::id())
                        .unwrap_or(0)
                        .max(notes.decode_peak_rss_bytes),
                })
            };
            // Objects on the keyframes (stage 1), then descriptions (stage 2) that read them.
            let mut follow: Vec<NewJob> = Vec::new();
            if objects.enabled {
                follow.push(JobKind::Objects.new_job(1, 0));
            }
            if vision.backend != VisionBackend::None {
                follow.push(JobKind::Describe.new_job(2, 0));
            }
            // The scenes' on-screen text is indexed for search in the same transaction.
            crate::search::complete(
                queue,
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

/// Describe every scene with the vision model on a server, one request per scene.
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
        VisionBackend::None | VisionBackend::Local => {
            queue.fail(
                job.job_id,
                owner,
                "no vision server configured (profile vision.backend)",
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
    let mut descriptions = Vec::new();
    for (i, scene) in doc.scenes.iter().enumerate() {
        let images: Vec<Vec<u8>> = scene_images(scene, vision)
            .iter()
            .filter_map(|k| std::fs::read(k).ok())
            .collect();
        let messages = scene_messages(scene, i, doc.scenes.len());
        let reply = client.chat(&ChatRequest {
            messages: &messages,
            json_schema: None,
            max_tokens: vision.max_tokens,
            sampling: &scene_sampling(),
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
        &DescribeResult::new(descriptions).to_value(),
        &metrics,
    )?;
    Ok(())
}

/// The prompt for one scene: what is on its keyframes, read with its on-screen text and what
/// was said during it.
fn scene_messages(scene: &Scene, i: usize, n: usize) -> [ChatMessage; 2] {
    [
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
                "Scene {} of {} ({:.0}–{:.0} s).\nOn-screen text (OCR):\n{}\nObjects detected on its frames: {}\nSounds heard (other than speech): {}\nSpoken during this scene:\n{}",
                i + 1,
                n,
                scene.start,
                scene.end,
                if scene.ocr_text.is_empty() {
                    "(none)"
                } else {
                    &scene.ocr_text
                },
                if scene.objects.is_empty() {
                    "(none)"
                } else {
                    &scene.objects
                },
                crate::transcript::events_text(&scene.events),
                if scene.transcript.is_empty() {
                    "(nothing)"
                } else {
                    &scene.transcript
                },
            ),
        ),
    ]
}

/// The keyframes a scene's description sees (at most `max_images`, spread over the scene).
fn scene_images<'a>(scene: &'a Scene, vision: &VisionConfig) -> Vec<&'a str> {
    let keys: Vec<&str> = scene
        .keyframes
        .iter()
        .map(String::as_str)
        .filter(|k| std::path::Path::new(k).is_file())
        .collect();
    let want = vision.max_images.max(1);
    if keys.len() <= want {
        return keys;
    }
    // Evenly spread: first, …, last.
    (0..want)
        .map(|i| keys[i * (keys.len() - 1) / (want - 1).max(1)])
        .collect()
}

fn scene_sampling() -> Sampling {
    Sampling {
        temperature: 0.2,
        ..Sampling::default()
    }
}

/// Describe the scenes of every claimed meeting with the local vision model: one llama
/// worker for the whole batch (the model and projector are loaded once), one item per scene.
/// A meeting's job completes as soon as its last scene is described.
pub fn describe_local(
    ctx: &super::Ctx<'_>,
    queue: &mut Queue,
    jobs: Vec<ClaimedJob>,
) -> Result<()> {
    let vision = &ctx.profile.vision;
    let owner = ctx.me.runner_id.as_str();
    let (mut meetings, items, item_of) = scene_items(ctx, queue, &jobs)?;
    // A video without scenes has nothing to describe.
    for m in meetings.iter_mut().filter(|m| m.descriptions.is_empty()) {
        m.settled = true;
        queue.complete(
            m.job_id,
            owner,
            &DescribeResult::new(Vec::new()).to_value(),
            &json!({"wall_s": 0.0, "scenes": 0}),
        )?;
    }
    if items.is_empty() {
        return Ok(());
    }
    let job_ids: Vec<i64> = meetings
        .iter()
        .filter(|m| !m.settled)
        .map(|m| m.job_id)
        .collect();
    let (model, bin) =
        super::model_and_worker(ctx.home, queue, owner, &job_ids, &vision.model, |_| {
            Ok(LLAMA_WORKER)
        })?;
    let mmproj = match projector(ctx.home, vision) {
        Ok(p) => p,
        Err(e) => {
            for &id in &job_ids {
                queue.release(id, owner)?;
            }
            return Err(e);
        }
    };
    let load = LlamaLoad {
        n_ctx: vision.n_ctx,
        gpu_layers: vision.gpu_layers,
        mmproj_path: Some(mmproj.to_string_lossy().into_owned()),
        ..LlamaLoad::new(model.to_string_lossy(), super::worker_threads(ctx.opts))
    };
    let items = items
        .into_iter()
        .map(|i| (i.job_id, LlamaRequest::Complete(i)))
        .collect();
    let mut scenes = Scenes { meetings, item_of };
    batch::run(
        ctx.sink(queue),
        WorkerBatch::<Llama> { bin, load, items },
        &mut scenes,
    )
}

/// One item per scene of every claimed meeting (item ids 1, 2, …; `item_of[id - 1]` is its
/// (meeting, scene)), and each meeting's descriptions to fill.
#[allow(clippy::type_complexity)]
fn scene_items(
    ctx: &super::Ctx<'_>,
    queue: &Queue,
    jobs: &[ClaimedJob],
) -> Result<(Vec<Described>, Vec<CompleteItem>, Vec<(usize, usize)>)> {
    let vision = &ctx.profile.vision;
    let mut meetings: Vec<Described> = Vec::new();
    let mut items: Vec<CompleteItem> = Vec::new();
    let mut item_of: Vec<(usize, usize)> = Vec::new();
    for job in jobs {
        let Some(meeting) = queue.meeting(&job.meeting_id)? else {
            continue;
        };
        let doc = crate::transcript::build_doc(queue, &meeting, ctx.speakers)?;
        let m = meetings.len();
        for (i, scene) in doc.scenes.iter().enumerate() {
            let id = items.len() as i64 + 1;
            item_of.push((m, i));
            items.push(CompleteItem {
                images: scene_images(scene, vision)
                    .into_iter()
                    .map(String::from)
                    .collect(),
                max_tokens: vision.max_tokens,
                sampling: scene_sampling(),
                ..CompleteItem::chat(id, scene_messages(scene, i, doc.scenes.len()).to_vec())
            });
        }
        meetings.push(Described::new(job.job_id, doc.scenes.len()));
    }
    Ok((meetings, items, item_of))
}

/// The local vision model's projector (`vision.mmproj`), which it cannot run without.
fn projector(home: &Home, vision: &VisionConfig) -> Result<std::path::PathBuf> {
    match vision.mmproj.as_deref() {
        Some(p) => home.find_model(p).map_err(|e| e.context("vision.mmproj")),
        None => anyhow::bail!(
            "vision.backend = \"local\" needs vision.mmproj: the model's vision projector (mmproj GGUF)"
        ),
    }
}

/// Scene answers: item ids are scenes, settled per meeting — a meeting's job completes when
/// its last scene is described, or fails at its first scene that fails.
struct Scenes {
    meetings: Vec<Described>,
    /// Item id - 1 → (meeting, scene).
    item_of: Vec<(usize, usize)>,
}

impl Adapter for Scenes {
    type P = Llama;

    fn name(&self) -> &'static str {
        "vision model"
    }

    fn env(&self) -> Vec<(String, String)> {
        batch::llama_spin_env()
    }

    fn answer(&mut self, response: LlamaResponse) -> Settle {
        let (id, answer) = match response {
            LlamaResponse::Completion {
                job_id,
                text,
                tokens_in,
                tokens_out,
                metrics,
                ..
            } => (job_id, Ok((text, tokens_in, tokens_out, metrics))),
            LlamaResponse::JobError { job_id, message } => (job_id, Err(message)),
            LlamaResponse::Ready { .. } | LlamaResponse::Fatal { .. } => return Settle::Nothing,
        };
        let Some(&(m, scene)) = usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.item_of.get(i))
        else {
            return Settle::Nothing;
        };
        let d = &mut self.meetings[m];
        if d.settled {
            return Settle::Nothing; // an earlier scene failed the job
        }
        match answer {
            Err(message) => {
                d.settled = true;
                Settle::Fail {
                    job_id: d.job_id,
                    message: format!("scene {}: {message}", scene + 1),
                }
            }
            Ok((text, tokens_in, tokens_out, metrics)) => {
                d.descriptions[scene] = Some(text.trim().to_string());
                d.wall_s += metrics.wall_s;
                d.tokens_in += u64::from(tokens_in);
                d.tokens_out += u64::from(tokens_out);
                d.gen_s += metrics.gen_s;
                if !d.descriptions.iter().all(Option::is_some) {
                    return Settle::Nothing;
                }
                d.settled = true;
                let descriptions: Vec<String> = d.descriptions.iter().flatten().cloned().collect();
                Settle::Complete {
                    job_id: d.job_id,
                    metrics: json!({
                        "wall_s": d.wall_s, "scenes": descriptions.len(),
                        "tokens_in": d.tokens_in, "tokens_out": d.tokens_out,
                        "gen_tokens_per_s": if d.gen_s > 0.0 { d.tokens_out as f64 / d.gen_s } else { 0.0 },
                    }),
                    result: DescribeResult::new(descriptions).to_value(),
                }
            }
        }
    }

    /// Meetings with scenes left undescribed: retried later (a crash, a timeout) or given back
    /// untouched (a stop). A job this runner no longer holds (cancelled, or taken over) is
    /// left as it is.
    fn unanswered(&mut self, queue: &mut Queue, owner: &str, report: &BatchReport) -> Result<()> {
        let failure = report.failure_message();
        for m in self.meetings.iter().filter(|m| !m.settled) {
            let settled = match &failure {
                Some(msg) => queue.fail(m.job_id, owner, msg, true).map(|_| ()),
                None => queue.release(m.job_id, owner),
            };
            if let Err(e) = settled {
                tracing::debug!(job_id = m.job_id, "describe job not settled here: {e}");
            }
        }
        Ok(())
    }
}

/// One meeting's descriptions as they arrive.
struct Described {
    job_id: i64,
    descriptions: Vec<Option<String>>,
    settled: bool,
    wall_s: f64,
    tokens_in: u64,
    tokens_out: u64,
    gen_s: f64,
}

impl Described {
    fn new(job_id: i64, scenes: usize) -> Described {
        Described {
            job_id,
            descriptions: vec![None; scenes],
            settled: false,
            wall_s: 0.0,
            tokens_in: 0,
            tokens_out: 0,
            gen_s: 0.0,
        }
    }
}
