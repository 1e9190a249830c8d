//! The recorder loop: blocks from the source → VAD → cutter; the open chunk is appended to its
//! part file and flushed every second; a closed chunk becomes a FLAC chunk (content hash name,
//! temp + rename) handed to `on_chunk`, and only then is its part file removed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use nightshift_media::vad::{FRAME, FrameVad, VadParams};
use nightshift_media::{sha256_samples, write_chunk};

use crate::cut::{CutParams, Cutter, speech_spans};
use crate::part::{PartWriter, part_path, read_part};
use crate::source::{Block, SourceHandle};
use crate::{CaptureError, RATE};

#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Close a chunk at the first pause after this many seconds.
    pub chunk_s: f64,
    /// Where the open chunk's part file lives (one directory per recording).
    pub parts_dir: PathBuf,
    /// Where closed chunks go (shared with ingest: content-addressed).
    pub chunks_dir: PathBuf,
    /// Durability interval of the open chunk.
    pub flush_every: Duration,
}

/// A chunk that was closed and stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedChunk {
    pub index: u64,
    pub path: PathBuf,
    pub offset_samples: u64,
    pub len_samples: u64,
    /// Chunk-local seconds.
    pub speech_spans: Vec<(f64, f64)>,
    pub speech_ratio: f64,
    /// Some(reason) when the chunk must not go to ASR (same pre-filter as ingest).
    pub skip_reason: Option<String>,
    /// When the cut was decided: the caller measures how fast the chunk got queued.
    pub cut_at: std::time::Instant,
}

impl ClosedChunk {
    pub fn offset_s(&self) -> f64 {
        self.offset_samples as f64 / f64::from(RATE)
    }
    pub fn duration_s(&self) -> f64 {
        self.len_samples as f64 / f64::from(RATE)
    }
}

/// What a TTY display shows, once per block.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub elapsed_s: f64,
    /// RMS of the last block, dBFS.
    pub level_db: f64,
    pub chunks: u64,
    pub overrun_samples: u64,
}

#[derive(Debug, Clone, Default)]
pub struct RecordStats {
    pub samples: u64,
    pub chunks: u64,
    pub overrun_samples: u64,
    /// Stopped by the caller's flag rather than the source ending.
    pub stopped: bool,
}

/// Record from `source` until it ends, fails, or `stop` is set. Every closed chunk goes to
/// `on_chunk` as it closes; the open one is closed at the end. On an error (disk full, device
/// gone) the chunks closed so far have been handed over and the open chunk's part file holds
/// its audio up to the last flush, for [`recover_part`].
pub fn record(
    source: &mut SourceHandle,
    opts: &RecordOptions,
    stop: &AtomicBool,
    on_chunk: &mut dyn FnMut(&ClosedChunk) -> Result<(), String>,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<RecordStats, CaptureError> {
    create_dir(&opts.parts_dir)?;
    create_dir(&opts.chunks_dir)?;
    let params = CutParams::from_seconds(opts.chunk_s);
    let mut cutter = Cutter::new(params);
    let mut vad = FrameVad::default();
    let mut probs = Vec::new();
    let mut open = OpenChunk {
        index: 0,
        offset: 0,
        samples: Vec::new(),
        part: PartWriter::create(&part_path(&opts.parts_dir, 0))?,
    };
    let mut stats = RecordStats::default();
    let mut last_flush = Instant::now();
    let flush_samples = (opts.flush_every.as_secs_f64() * f64::from(crate::RATE)) as u64;
    let mut progress = Progress::default();
    let failure = loop {
        let samples = match next_block(source, stop, &mut stats) {
            Next::Samples(s) => s,
            Next::End(failure) => break failure,
        };
        stats.samples += samples.len() as u64;
        open.part.append(&samples)?;
        open.samples.extend_from_slice(&samples);
        probs.clear();
        vad.push(&samples, &mut probs);
        for &p in &probs {
            if let Some(cut) = cutter.push(p) {
                let end = cut.end * FRAME as u64;
                open = close(open, end, &cut.flags, &params.vad, opts, on_chunk)?;
                stats.chunks += 1;
            }
        }
        // Every `flush_every` of wall time, and of audio: a source faster than real time (a
        // file at --speed 4) must not hold more than that much audio unflushed either.
        if last_flush.elapsed() >= opts.flush_every || open.part.unflushed() >= flush_samples {
            open.part.flush()?;
            last_flush = Instant::now();
        }
        stats.overrun_samples = source.overruns.load(Ordering::Relaxed);
        progress.update(&stats, &samples);
        on_progress(&progress);
    };
    // Close what remains (also after a source failure: everything heard is kept).
    close_last(open, &mut cutter, &params.vad, opts, on_chunk, &mut stats)?;
    stats.overrun_samples = source.overruns.load(Ordering::Relaxed);
    match failure {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// Create `dir` and its parents; the error names it.
fn create_dir(dir: &Path) -> Result<(), CaptureError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CaptureError::io(format!("{}: cannot create", dir.display()), e))
}

/// What the source gave next.
enum Next {
    Samples(Vec<f32>),
    /// The recording is over; `Some` when the source failed (not after a stop).
    End(Option<CaptureError>),
}

/// Wait for the next block of samples. A set `stop` is passed on to the source once (marked
/// in `stats`); the source then drains what it still has, and the recording ends at its end or
/// after a quiet 200 ms.
fn next_block(source: &mut SourceHandle, stop: &AtomicBool, stats: &mut RecordStats) -> Next {
    loop {
        if stop.load(Ordering::SeqCst) && !stats.stopped {
            stats.stopped = true;
            source.stop();
        }
        let block = match source.rx.recv_timeout(Duration::from_millis(200)) {
            Ok(b) => b,
            Err(RecvTimeoutError::Timeout) if stats.stopped => return Next::End(None),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Next::End(None),
        };
        return match block {
            Block::Samples(s) => Next::Samples(s),
            Block::End => Next::End(None),
            // A failure while stopping is the source going away as asked.
            Block::Failed(msg) => Next::End((!stats.stopped).then_some(CaptureError::Source(msg))),
        };
    }
}

/// At the end of the recording: flush the open chunk, close it as the last chunk when it holds
/// any audio, and remove the (then empty) part file that follows it.
fn close_last(
    mut open: OpenChunk,
    cutter: &mut Cutter,
    vad: &VadParams,
    opts: &RecordOptions,
    on_chunk: &mut dyn FnMut(&ClosedChunk) -> Result<(), String>,
    stats: &mut RecordStats,
) -> Result<(), CaptureError> {
    open.part.flush()?;
    if !open.samples.is_empty() {
        let end = open.offset + open.samples.len() as u64;
        let flags = cutter.take_rest();
        open = close(open, end, &flags, vad, opts, on_chunk)?;
        stats.chunks += 1;
    }
    let empty_part = open.part.path().to_path_buf();
    drop(open);
    let _ = std::fs::remove_file(empty_part);
    Ok(())
}

impl Progress {
    /// After `block`: the time recorded, its level, and the counters so far.
    fn update(&mut self, stats: &RecordStats, block: &[f32]) {
        self.elapsed_s = stats.samples as f64 / f64::from(RATE);
        self.level_db = level_db(block);
        self.chunks = stats.chunks;
        self.overrun_samples = stats.overrun_samples;
    }
}

struct OpenChunk {
    index: u64,
    /// First sample of this chunk on the recording's timeline.
    offset: u64,
    samples: Vec<f32>,
    part: PartWriter,
}

/// Close `open` at global sample `end`: store it, start the next part with the rest, hand the
/// chunk over, then delete its part (in that order: a crash never loses audio).
fn close(
    mut open: OpenChunk,
    end: u64,
    flags: &[bool],
    vad: &VadParams,
    opts: &RecordOptions,
    on_chunk: &mut dyn FnMut(&ClosedChunk) -> Result<(), String>,
) -> Result<OpenChunk, CaptureError> {
    let cut_at = Instant::now();
    let len = (end.saturating_sub(open.offset) as usize).min(open.samples.len());
    let rest = open.samples.split_off(len);
    let mut chunk = store(
        &open.samples,
        open.index,
        open.offset,
        flags,
        vad,
        &opts.chunks_dir,
    )?;
    chunk.cut_at = cut_at;
    let mut next = OpenChunk {
        index: open.index + 1,
        offset: open.offset + len as u64,
        part: PartWriter::create(&part_path(&opts.parts_dir, open.index + 1))?,
        samples: rest,
    };
    next.part.append(&next.samples)?;
    next.part.flush()?;
    on_chunk(&chunk).map_err(CaptureError::Sink)?;
    let old = open.part.path().to_path_buf();
    drop(open);
    let _ = std::fs::remove_file(old);
    Ok(next)
}

fn store(
    samples: &[f32],
    index: u64,
    offset: u64,
    flags: &[bool],
    vad: &VadParams,
    chunks_dir: &Path,
) -> Result<ClosedChunk, CaptureError> {
    let len = samples.len() as u64;
    let spans = speech_spans(flags, vad, len);
    let speech: f64 = spans.iter().map(|(s, e)| e - s).sum();
    let duration = len as f64 / f64::from(RATE);
    // The same pre-filter as ingest: too short, digital silence, or no speech.
    let skip_reason = nightshift_media::prefilter(samples, &spans);
    let path = chunks_dir.join(format!("{}.flac", sha256_samples(samples)));
    if !path.exists() {
        write_chunk(&path, samples)?;
    }
    Ok(ClosedChunk {
        index,
        path,
        offset_samples: offset,
        len_samples: len,
        speech_ratio: if duration > 0.0 {
            speech / duration
        } else {
            0.0
        },
        speech_spans: spans,
        skip_reason,
        cut_at: Instant::now(),
    })
}

/// A part file left by a recorder that died: its audio up to the last flush as a stored chunk
/// (`None` when it holds no audio). `offset_samples` is where it starts on the recording's
/// timeline (the end of the chunks closed before it).
pub fn recover_part(
    part: &Path,
    index: u64,
    offset_samples: u64,
    chunks_dir: &Path,
) -> Result<Option<ClosedChunk>, CaptureError> {
    let samples = read_part(part)?;
    if samples.is_empty() {
        return Ok(None);
    }
    // One chunk, whatever its length: only the speech flags are wanted.
    let params = CutParams {
        target: u64::MAX / 4,
        max: u64::MAX / 2,
        ..CutParams::from_seconds(1.0)
    };
    let mut cutter = Cutter::new(params);
    let mut vad = FrameVad::default();
    let mut probs = Vec::new();
    vad.push(&samples, &mut probs);
    for p in probs {
        let _ = cutter.push(p);
    }
    create_dir(chunks_dir)?;
    let flags = cutter.take_rest();
    store(
        &samples,
        index,
        offset_samples,
        &flags,
        &params.vad,
        chunks_dir,
    )
    .map(Some)
}

fn level_db(samples: &[f32]) -> f64 {
    let rms = (samples
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        / samples.len().max(1) as f64)
        .sqrt();
    20.0 * rms.max(1e-10).log10()
}
