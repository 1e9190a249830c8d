//! The batch loop every ASR worker runs around its engine: one `load`, then `transcribe`
//! items, each answered the moment it is done and in the order they came; stdin EOF ends the
//! batch (and frees the model). Requests are read on a thread of their own, so an item sent
//! while another is decoded is read (and its chunk too) at once and handed to
//! [`Engine::prepare`]: an engine that can start on it early does.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
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
/// How often an engine that has not finished the current item is asked again, while new
/// requests are read meanwhile.
const READY_POLL: std::time::Duration = std::time::Duration::from_millis(5);

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
    /// An item that will be transcribed after those before it, with its audio (never silent or
    /// too short): an engine may start on it now. Its result must be what `transcribe` alone
    /// would give. By default nothing happens until its turn.
    fn prepare(&mut self, _samples: &Arc<Vec<f32>>, _item: &TranscribeItem) {}
    /// Whether `transcribe` of `item` (prepared) would answer without waiting. Until it would,
    /// the loop goes on reading requests (and preparing them), so a replica that finished its
    /// part of this item finds the next one queued. By default always.
    fn ready(&mut self, _item: &TranscribeItem) -> bool {
        true
    }
    /// Transcribe one chunk's audio (16 kHz mono, never silent or shorter than
    /// [`MIN_SAMPLES`]): its language and segments. The error text names the file
    /// (`item.audio_path`) and the cause; it fails this item only, the batch goes on.
    fn transcribe(
        &mut self,
        samples: &[f32],
        item: &TranscribeItem,
    ) -> Result<(Option<String>, Vec<LocalSegment>), String>;
}

/// An item read from stdin, waiting for its turn: its chunk's audio (or why it cannot be read).
struct Pending {
    item: TranscribeItem,
    samples: Result<Arc<Vec<f32>>, String>,
    /// Whether the engine decodes it: the audio read, not too short, not digital silence.
    decodable: bool,
}

impl Pending {
    /// Read the item's chunk.
    fn read(item: TranscribeItem) -> Pending {
        let samples = nightshift_media::read_chunk(Path::new(&item.audio_path))
            .map(Arc::new)
            .map_err(|e| e.to_string());
        let decodable = samples.as_ref().is_ok_and(|s| {
            s.len() >= MIN_SAMPLES && s.iter().fold(0.0f32, |m, x| m.max(x.abs())) >= SILENCE_PEAK
        });
        Pending {
            item,
            samples,
            decodable,
        }
    }
}

/// Transcribe a read chunk, unless it is too short or digital silence. `t0`: when its turn
/// came (the wall time it reports is what the batch waited for it).
fn transcribe_item<E: Engine>(
    engine: &mut E,
    pending: &Pending,
    t0: Instant,
) -> Result<ItemOutput, String> {
    let samples = pending.samples.as_ref().map_err(Clone::clone)?;
    let audio_s = samples.len() as f64 / crate::pack::SAMPLE_RATE as f64;
    let (language, segments) = if pending.decodable {
        engine.transcribe(samples, &pending.item)?
    } else {
        (engine.language(), Vec::new())
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
    // Requests from here on are read by a thread of their own; a protocol error ends the batch
    // when its turn comes, after the items before it are answered.
    drop(input);
    let (tx, rx) = mpsc::channel::<Result<Request, String>>();
    std::thread::Builder::new()
        .name("requests".into())
        .spawn(move || {
            let mut input = std::io::stdin().lock();
            loop {
                let next = read_message::<_, Request>(&mut input).map_err(pipe_err);
                let last = !matches!(next, Ok(Some(_)));
                if let Some(msg) = next.transpose()
                    && tx.send(msg).is_err()
                {
                    return;
                }
                if last {
                    return;
                }
            }
        })
        .map_err(|e| format!("cannot start the request reader: {e}"))?;
    let accept = |engine: &mut E, msg: Result<Request, String>| -> Result<Pending, String> {
        let item = match msg? {
            Request::Transcribe(item) => item,
            Request::Load(_) => {
                return Err("a second load in one batch: one model per worker".into());
            }
        };
        let pending = Pending::read(item);
        if let (true, Ok(samples)) = (pending.decodable, &pending.samples) {
            engine.prepare(samples, &pending.item);
        }
        Ok(pending)
    };
    let mut queue: VecDeque<Result<Pending, String>> = VecDeque::new();
    let mut answered = 0usize;
    loop {
        if queue.is_empty() {
            match rx.recv() {
                Ok(msg) => {
                    let p = accept(&mut engine, msg);
                    queue.push_back(p);
                }
                Err(_) => break, // stdin closed: the batch is over
            }
        }
        while let Ok(msg) = rx.try_recv() {
            let p = accept(&mut engine, msg);
            queue.push_back(p);
        }
        let pending = queue.pop_front().expect("an item waits")?;
        let item = &pending.item;
        let turn = Instant::now();
        while !engine.ready(item) {
            match rx.recv_timeout(READY_POLL) {
                Ok(msg) => {
                    let p = accept(&mut engine, msg);
                    queue.push_back(p);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Nothing more to read: `transcribe` waits for the answer itself.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        fail.before_item(answered, out);
        let resp = match transcribe_item(&mut engine, &pending, turn) {
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
