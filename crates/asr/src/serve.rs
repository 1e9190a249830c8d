//! The batch loop every ASR worker runs around its engine: one `load`, then `transcribe`
//! items, each answered the moment it is done; stdin EOF ends the batch (and frees the model).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use nightshift_worker_protocol::{
    ItemMetrics, LocalSegment, ProtocolError, Request, Response, TranscribeItem, WhisperLoad,
    read_message, write_message,
};

/// Windows shorter than this are not decoded: whisper.cpp returns nothing (or fails) below
/// 100 ms of audio, and both engines skip the same.
pub const MIN_SAMPLES: usize = crate::pack::SAMPLE_RATE / 10;
/// A chunk whose loudest sample is below -80 dBFS is digital silence: whisper would only
/// hallucinate in it, so it is not decoded at all.
const SILENCE_PEAK: f32 = 1e-4;

/// What one transcribed chunk gives back.
struct ItemOutput {
    language: Option<String>,
    segments: Vec<LocalSegment>,
    metrics: ItemMetrics,
}

/// A loaded ASR model.
pub trait Engine: Sized {
    /// Load the model the request names. The error text is what the user sees.
    fn load(load: &WhisperLoad) -> Result<Self, String>;
    fn model_name(&self) -> &str;
    /// "cpu", or the GPU's name.
    fn device(&self) -> &str;
    /// The language the model is held to, if any (reported for a chunk with nothing to decode).
    fn language(&self) -> Option<String>;
    /// Transcribe one chunk's audio (16 kHz mono, never silent or shorter than
    /// [`MIN_SAMPLES`]): its language and segments. The error text names the file
    /// (`item.audio_path`) and the cause; it fails this item only, the batch goes on.
    fn transcribe(
        &mut self,
        samples: &[f32],
        item: &TranscribeItem,
    ) -> Result<(Option<String>, Vec<LocalSegment>), String>;
}

/// Read one chunk and transcribe it, unless it is too short or digital silence.
fn transcribe_item<E: Engine>(engine: &mut E, item: &TranscribeItem) -> Result<ItemOutput, String> {
    let t0 = Instant::now();
    let samples =
        nightshift_media::read_chunk(Path::new(&item.audio_path)).map_err(|e| e.to_string())?;
    let audio_s = samples.len() as f64 / crate::pack::SAMPLE_RATE as f64;
    let peak = samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let (language, segments) = if samples.len() < MIN_SAMPLES || peak < SILENCE_PEAK {
        (engine.language(), Vec::new())
    } else {
        engine.transcribe(&samples, item)?
    };
    Ok(ItemOutput {
        language,
        segments,
        metrics: ItemMetrics {
            wall_s: t0.elapsed().as_secs_f64(),
            audio_s,
        },
    })
}

/// The batch loop. `Err` is fatal: the worker sends it as `Response::Fatal` and exits 1.
pub fn serve<E: Engine>(out: &mut impl Write) -> Result<(), String> {
    let fail = nightshift_worker_runtime::FailPlan::from_env()?;
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let load = match read_message::<_, Request>(&mut input).map_err(pipe_err)? {
        None => return Ok(()), // closed before asking for anything
        Some(Request::Load(load)) => load,
        Some(Request::Transcribe(item)) => {
            return Err(format!("job {}: transcribe before load", item.job_id));
        }
    };
    let t0 = Instant::now();
    let mut engine = E::load(&load)?;
    let load_s = t0.elapsed().as_secs_f64();
    tracing::info!(
        model = engine.model_name(),
        device = engine.device(),
        load_s,
        "model loaded"
    );
    send(
        out,
        &Response::Ready {
            model: engine.model_name().to_owned(),
            load_s,
            device: engine.device().to_owned(),
        },
    )?;
    let mut answered = 0usize;
    while let Some(req) = read_message::<_, Request>(&mut input).map_err(pipe_err)? {
        let item = match req {
            Request::Transcribe(item) => item,
            Request::Load(_) => {
                return Err("a second load in one batch: one model per worker".into());
            }
        };
        fail.before_item(answered, out);
        let resp = match transcribe_item(&mut engine, &item) {
            Ok(o) => {
                tracing::info!(
                    job_id = item.job_id,
                    segments = o.segments.len(),
                    wall_s = o.metrics.wall_s,
                    audio_s = o.metrics.audio_s,
                    "item done"
                );
                Response::Result {
                    job_id: item.job_id,
                    language: o.language,
                    segments: o.segments,
                    metrics: o.metrics,
                }
            }
            Err(message) => {
                tracing::warn!(job_id = item.job_id, "{message}");
                Response::JobError {
                    job_id: item.job_id,
                    message,
                }
            }
        };
        send(out, &resp)?;
        answered += 1;
    }
    Ok(())
}

/// How a worker reports a fatal error (`worker_main`'s `fatal`).
pub fn send_fatal(out: &mut impl Write, message: String) {
    let _ = write_message(out, &Response::Fatal { message });
}

fn send(out: &mut impl Write, resp: &Response) -> Result<(), String> {
    write_message(out, resp).map_err(|e| format!("cannot answer the supervisor: {e}"))
}

fn pipe_err(e: ProtocolError) -> String {
    format!("reading requests: {e}")
}
