//! The daemon's model thread: requests are answered one at a time, in arrival order, by a
//! whisper worker that stays loaded between them. The worker is started on the first request
//! (under a GPU lease in the queue database), stopped after `idle_timeout` without requests, and
//! stopped early — yielding its memory — when batch work is waiting for memory it holds.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nightshift_export::{AssembleOptions, ChunkTranscript};
use nightshift_media::IngestOptions;
use nightshift_queue::Queue;
use nightshift_supervisor::WarmWorker;
use nightshift_supervisor::spawn::SpawnOptions;
use nightshift_worker_protocol::{TranscribeItem, WhisperLoad};
use serde_json::{Value, json};

use crate::home::Home;

/// Lease holder name of the daemon's model in `gpu_leases`.
pub fn lease_holder() -> String {
    format!("daemon:{}", std::process::id())
}

/// A transcription request handed from the HTTP thread or the spool directory.
pub struct Job {
    pub reply: Reply,
    pub files: Vec<PathBuf>,
    /// The files are our copies of an upload (deleted after); spool files belong to the user.
    pub owned: bool,
    pub response_format: String,
    pub prompt: Option<String>,
    pub received: Instant,
}

/// A request's outcome: the transcript, or an HTTP-style status and message.
pub type Answered = Result<Transcript, (u16, String)>;

/// Where the answer goes.
pub enum Reply {
    /// A waiting caller (the daemon's HTTP handler), which renders the answer itself.
    Channel(tokio::sync::oneshot::Sender<Answered>),
    /// `responses/<id>.json`, written atomically.
    Spool { id: String, out: PathBuf },
}

/// What `/status` reports (shared with the HTTP thread).
#[derive(Debug, Clone, Default)]
pub struct State {
    pub model_loaded: bool,
    pub model: Option<String>,
    pub device: Option<String>,
    pub processing: bool,
    pub last_activity: f64,
    pub queued: usize,
}

pub struct ModelConfig {
    pub home: Home,
    pub asr_model: String,
    pub idle_timeout: Duration,
    pub threads: u32,
    pub cost_bytes: u64,
    pub budget_bytes: u64,
    /// Encode only what a short clip fills of whisper's 30 s window (2.2× faster warm requests
    /// with tiny.en; WER 11.0 % → 11.5 % on the English corpus clips).
    pub fit_audio_ctx: bool,
    /// What the Foreman's models cost (same table it schedules with).
    pub batch_costs: std::collections::HashMap<String, u64>,
}

pub fn run(cfg: ModelConfig, jobs: Receiver<Job>, state: Arc<Mutex<State>>) {
    let mut worker: Option<WarmWorker> = None;
    let mut last_activity = Instant::now();
    let mut last_beat = Instant::now();
    let mut queue = cfg.home.db_url().ok().and_then(|db| Queue::open(db).ok());
    loop {
        match jobs.recv_timeout(Duration::from_millis(500)) {
            Ok(job) => {
                set(&state, |s| {
                    s.processing = true;
                    s.queued = s.queued.saturating_sub(1);
                });
                answer(&cfg, &mut worker, queue.as_mut(), job, &state);
                last_activity = Instant::now();
                set(&state, |s| {
                    s.processing = false;
                    s.last_activity = unix_now();
                });
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if worker.is_some() {
            let idle = last_activity.elapsed() >= cfg.idle_timeout;
            let wanted = queue.as_mut().is_some_and(|q| batch_needs_memory(q, &cfg));
            if idle || wanted {
                tracing::info!(
                    "unloading the model ({})",
                    if idle {
                        "idle timeout"
                    } else {
                        "batch work needs the memory"
                    }
                );
                unload(&mut worker, queue.as_mut(), &state);
            } else if last_beat.elapsed() >= Duration::from_secs(20) {
                last_beat = Instant::now();
                if let Some(q) = queue.as_mut() {
                    let _ = q.heartbeat_gpu(&lease_holder());
                }
            }
        }
    }
    unload(&mut worker, queue.as_mut(), &state);
}

fn set(state: &Mutex<State>, f: impl FnOnce(&mut State)) {
    if let Ok(mut s) = state.lock() {
        f(&mut s);
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn unload(worker: &mut Option<WarmWorker>, queue: Option<&mut Queue>, state: &Mutex<State>) {
    if let Some(w) = worker.take() {
        w.stop();
    }
    if let Some(q) = queue {
        let _ = q.release_gpu(&lease_holder());
    }
    set(state, |s| {
        s.model_loaded = false;
        s.device = None;
    });
}

/// Batch work is ready and its model would not fit beside our model and what others hold:
/// the Foreman is (or would be) waiting for us. Requests in flight are never interrupted —
/// this runs only between them.
fn batch_needs_memory(queue: &mut Queue, cfg: &ModelConfig) -> bool {
    let Ok(groups) = queue.ready_groups(None) else {
        return false;
    };
    let others: u64 = queue
        .gpu_leases_of_others(&lease_holder())
        .map(|ls| ls.iter().map(|l| l.bytes).sum())
        .unwrap_or(0);
    groups
        .iter()
        .filter(|g| g.ready_jobs > 0)
        .filter_map(|g| g.model_key.as_ref().and_then(|k| cfg.batch_costs.get(k)))
        .any(|&need| others + cfg.cost_bytes + need > cfg.budget_bytes)
}

fn answer(
    cfg: &ModelConfig,
    worker: &mut Option<WarmWorker>,
    mut queue: Option<&mut Queue>,
    job: Job,
    state: &Mutex<State>,
) {
    let queue_s = job.received.elapsed().as_secs_f64();
    let mut outcomes = Vec::new();
    for file in &job.files {
        let mut outcome = transcribe(cfg, worker, queue.as_deref_mut(), file, &job, state);
        if let Ok(r) = &mut outcome {
            r.timings.queue_s = queue_s;
            r.timings.total_s = job.received.elapsed().as_secs_f64();
        }
        if job.owned {
            let _ = std::fs::remove_file(file);
        }
        outcomes.push((file, outcome));
    }
    match job.reply {
        Reply::Channel(reply) => {
            let answered = match outcomes.pop() {
                Some((_, outcome)) => outcome,
                None => Err((400, "no file".to_string())),
            };
            // A client that hung up no longer waits for it.
            let _ = reply.send(answered);
        }
        Reply::Spool { id, out } => {
            let results: Vec<Value> = outcomes
                .iter()
                .map(|(file, o)| match o {
                    Ok(r) => {
                        let text = plain_text(r);
                        let mut v = verbose(r, &text);
                        v["file"] = json!(file.display().to_string());
                        v
                    }
                    Err((_, message)) => {
                        json!({"file": file.display().to_string(), "error": message})
                    }
                })
                .collect();
            let device = worker.as_ref().map(|w| w.ready.device.clone());
            let doc = json!({
                "id": id,
                "results": results,
                "timestamp": unix_now(),
                "device": device,
                "session_active": worker.is_some(),
            });
            if let Err(e) = crate::fsutil::write_atomic(&out, doc.to_string().as_bytes()) {
                tracing::warn!("spool response {id}: {e:#}");
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Timings {
    pub queue_s: f64,
    /// Decoding, VAD and pre-filter of the upload.
    pub prepare_s: f64,
    pub load_s: f64,
    pub inference_s: f64,
    pub total_s: f64,
}

pub struct Transcript {
    pub language: Option<String>,
    pub duration_s: f64,
    pub segments: Vec<nightshift_core::Segment>,
    pub timings: Timings,
    pub device: String,
    /// Why the model was not asked (the pre-filter), if it was not.
    pub skipped: Option<String>,
}

/// Decode + pre-filter the upload; only speech reaches the model.
fn transcribe(
    cfg: &ModelConfig,
    worker: &mut Option<WarmWorker>,
    queue: Option<&mut Queue>,
    file: &std::path::Path,
    job: &Job,
    state: &Mutex<State>,
) -> Result<Transcript, (u16, String)> {
    let chunks_dir = cfg.home.root.join("run").join("chunks");
    let t_prepare = Instant::now();
    let pieces =
        prepare(file, &chunks_dir).map_err(|e| (400, format!("{}: {e}", file.display())))?;
    let prepare_s = t_prepare.elapsed().as_secs_f64();
    let duration_s = pieces
        .iter()
        .map(|c| c.offset_s + c.duration_s)
        .fold(0.0, f64::max);
    let mut out = Transcript {
        language: None,
        duration_s,
        segments: Vec::new(),
        timings: Timings {
            prepare_s,
            ..Timings::default()
        },
        device: "none".into(),
        skipped: None,
    };
    let work: Vec<_> = pieces.iter().filter(|c| c.skip_reason.is_none()).collect();
    if work.is_empty() {
        // Too short, silent or no speech: answered without touching the model.
        out.skipped = Some(
            pieces
                .first()
                .and_then(|c| c.skip_reason.clone())
                .unwrap_or_else(|| "no speech".into()),
        );
        cleanup(&pieces);
        return Ok(out);
    }
    let w = match worker {
        Some(w) => w,
        None => {
            let t0 = Instant::now();
            let w = worker.insert(load(cfg, queue).map_err(|e| (503, e))?);
            out.timings.load_s = t0.elapsed().as_secs_f64();
            set(state, |s| {
                s.model_loaded = true;
                s.model = Some(w.ready.model.clone());
                s.device = Some(w.ready.device.clone());
            });
            w
        }
    };
    out.device = w.ready.device.clone();
    let decoded = decode_pieces(cfg, w, &work, job.prompt.as_deref(), &mut out);
    cleanup(&pieces);
    let chunks = match decoded {
        Ok(chunks) => chunks,
        Err(Died(e)) => {
            // The worker died: the next request starts a fresh one.
            *worker = None;
            return Err((500, format!("the model worker stopped: {e}")));
        }
        Err(Refused(message)) => return Err((500, message)),
    };
    out.segments = nightshift_export::assemble(&chunks, &AssembleOptions::default());
    Ok(out)
}

/// Why decoding a request's pieces stopped.
enum DecodeError {
    /// The worker refused one piece (it is still usable).
    Refused(String),
    /// The worker is gone.
    Died(String),
}
use DecodeError::{Died, Refused};

/// Decode every speech piece of a request with the warm worker, in order; the inference time
/// and language go into `out`.
fn decode_pieces(
    cfg: &ModelConfig,
    w: &mut WarmWorker,
    work: &[&Piece],
    prompt: Option<&str>,
    out: &mut Transcript,
) -> Result<Vec<ChunkTranscript>, DecodeError> {
    let mut chunks = Vec::new();
    for (i, c) in work.iter().enumerate() {
        let item = TranscribeItem {
            fit_audio_ctx: cfg.fit_audio_ctx,
            job_id: i as i64,
            audio_path: c.path.to_string_lossy().into_owned(),
            prompt: prompt.map(str::to_string),
            speech_spans: c.speech_spans.clone(),
        };
        let t0 = Instant::now();
        match w.transcribe(&item) {
            Ok(Ok(a)) => {
                out.timings.inference_s += t0.elapsed().as_secs_f64();
                out.language = out.language.take().or(a.language);
                chunks.push(ChunkTranscript {
                    offset_s: c.offset_s,
                    duration_s: c.duration_s,
                    speech_spans: c.speech_spans.clone(),
                    segments: a.segments,
                });
            }
            Ok(Err(message)) => return Err(Refused(message)),
            Err(e) => return Err(Died(e.to_string())),
        }
    }
    Ok(chunks)
}

/// A piece of the upload ready for the model.
struct Piece {
    path: PathBuf,
    offset_s: f64,
    duration_s: f64,
    speech_spans: Vec<(f64, f64)>,
    skip_reason: Option<String>,
}

/// Uploads up to this size are prepared in memory in one piece (the fast path: ~10 min of
/// 48 kHz stereo WAV); larger ones are cut into chunks by ingest, like a batch input.
const ONE_PIECE_MAX_BYTES: u64 = 128 << 20;

fn prepare(upload: &std::path::Path, dir: &std::path::Path) -> Result<Vec<Piece>, String> {
    let size = std::fs::metadata(upload).map_or(0, |m| m.len());
    if size <= ONE_PIECE_MAX_BYTES {
        let c = nightshift_media::prepare_clip(upload, dir).map_err(|e| e.to_string())?;
        return Ok(vec![Piece {
            path: c.path,
            offset_s: 0.0,
            duration_s: c.duration_s,
            speech_spans: c.speech_spans,
            skip_reason: c.skip_reason,
        }]);
    }
    let opts = IngestOptions {
        min_chunk_s: 60.0,
        max_chunk_s: 600.0,
        ..IngestOptions::default()
    };
    let ing = nightshift_media::ingest(upload, dir, &opts).map_err(|e| e.to_string())?;
    Ok(ing
        .chunks
        .into_iter()
        .map(|c| Piece {
            path: c.path,
            offset_s: c.offset_s,
            duration_s: c.duration_s,
            speech_spans: c.speech_spans,
            skip_reason: c.skip_reason,
        })
        .collect())
}

fn cleanup(chunks: &[Piece]) {
    for c in chunks {
        let _ = std::fs::remove_file(&c.path);
    }
}

/// Start the worker under a GPU lease; waits (bounded) while batch work holds the memory.
fn load(cfg: &ModelConfig, queue: Option<&mut Queue>) -> Result<WarmWorker, String> {
    let model = cfg
        .home
        .find_model(&cfg.asr_model)
        .map_err(|e| e.to_string())?;
    // The worker the model is for: a CTranslate2 folder runs on the ct2 worker (same protocol;
    // it decodes the whole window whatever `fit_audio_ctx` says).
    let engine = crate::config::AsrEngine::for_model(None, &model).map_err(|e| e.to_string())?;
    let bin =
        nightshift_supervisor::find_worker_binary(engine.worker()).map_err(|e| e.to_string())?;
    if let Some(q) = queue {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match q.acquire_gpu(&lease_holder(), "whisper", cfg.cost_bytes, cfg.budget_bytes) {
                Ok(Ok(())) => break,
                Ok(Err(denied)) if Instant::now() < deadline => {
                    tracing::debug!("waiting for memory held by {:?}", denied.holders);
                    std::thread::sleep(Duration::from_millis(200));
                }
                Ok(Err(_)) => return Err("the GPU is busy with batch work; try again".into()),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    let load = WhisperLoad {
        model_path: model.to_string_lossy().into_owned(),
        threads: cfg.threads,
        language: None,
        // Greedy: the interactive path answers a few seconds of speech at a time, for latency.
        beam_size: Some(1),
        use_gpu: true,
        vad_model_path: None,
        parallel: None,
    };
    WarmWorker::start(
        &bin,
        &load,
        &SpawnOptions::default(),
        Duration::from_secs(120),
    )
    .map_err(|e| e.to_string())
}

pub fn plain_text(t: &Transcript) -> String {
    t.segments
        .iter()
        .map(|s| s.text.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn verbose(t: &Transcript, text: &str) -> Value {
    json!({
        "task": "transcribe",
        "language": t.language,
        "duration": t.duration_s,
        "text": text,
        "segments": t.segments.iter().enumerate().map(|(i, s)| json!({
            "id": i, "start": s.start, "end": s.end, "text": s.text,
        })).collect::<Vec<_>>(),
        "skipped": t.skipped,
        "device": t.device,
        "timings": {
            "queue_s": t.timings.queue_s,
            "prepare_s": t.timings.prepare_s,
            "load_s": t.timings.load_s,
            "inference_s": t.timings.inference_s,
            "total_s": t.timings.total_s,
        },
    })
}
