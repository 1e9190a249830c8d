//! `ingest`: validate, decode, VAD, cut and store chunks — in one streaming pass.
//!
//! Memory holds one chunk's 16 kHz samples plus the VAD's look-ahead (at most `max_chunk_s +
//! 10 s` of a run); everything before the planner's `keep_from` is dropped as decoding goes on.

use std::path::{Path, PathBuf};

use nightshift_core::MediaKind;

use crate::chunk_io::{self, CHUNK_EXT};
use crate::decode::{Decoder, RATE};
use crate::plan::{ChunkPlanner, PlanParams, Planned};
use crate::probe::{ProbeInfo, probe};
use crate::vad::{FRAME, FrameVad, Smoother, Span, VadParams, complement};
use crate::{MediaError, damage, hash, riff::human_duration};

/// How a file is cut.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub min_chunk_s: f64,
    pub max_chunk_s: f64,
    /// None: decided by the file (a real video stream makes it video).
    pub kind: Option<MediaKind>,
    pub vad: VadParams,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            min_chunk_s: 60.0,
            max_chunk_s: 120.0,
            kind: None,
            vad: VadParams::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct IngestOutput {
    pub kind: MediaKind,
    pub duration_s: f64,
    pub has_audio: bool,
    pub sample_rate_in: u32,
    pub channels_in: u32,
    pub container: String,
    pub chunks: Vec<Chunk>,
    /// Global seconds over the whole file (the VAD result).
    pub speech_spans: Vec<(f64, f64)>,
    pub no_speech_spans: Vec<(f64, f64)>,
    pub warnings: Vec<String>,
    pub probe: ProbeInfo,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// `<chunks_dir>/<sha256 of the 16-bit samples>.flac`
    pub path: PathBuf,
    pub offset_samples: u64,
    pub len_samples: u64,
    pub offset_s: f64,
    pub duration_s: f64,
    /// Chunk-local seconds.
    pub speech_spans: Vec<(f64, f64)>,
    pub speech_ratio: f64,
    /// Some(reason) when the chunk must not go to ASR.
    pub skip_reason: Option<String>,
    /// The cut at this chunk's end went inside speech (no pause in the allowed window).
    pub forced_cut: bool,
}

/// Pre-filter thresholds (issue 4).
const MIN_ASR_SAMPLES: u64 = RATE as u64 * 150 / 1000;
const MIN_RMS: f64 = 0.0005;
/// Fraction of samples at full scale above which we warn about clipping.
const CLIP_WARN_FRACTION: f64 = 0.01;

fn secs(samples: u64) -> f64 {
    samples as f64 / f64::from(RATE)
}

/// The pre-filter: why `samples` (16 kHz) with speech `spans` must not go to ASR, if so —
/// too short for whisper, digital silence, or nothing the VAD calls speech.
pub fn prefilter(samples: &[f32], spans: &[(f64, f64)]) -> Option<String> {
    let len = samples.len() as u64;
    let rms = if samples.is_empty() {
        0.0
    } else {
        (samples
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            / samples.len() as f64)
            .sqrt()
    };
    if len < MIN_ASR_SAMPLES {
        Some(format!("too short ({:.0} ms < 150 ms)", secs(len) * 1000.0))
    } else if rms < MIN_RMS {
        Some(format!("silent (RMS {rms:.6} < {MIN_RMS})"))
    } else if spans.is_empty() {
        Some("no speech found by the VAD".to_string())
    } else {
        None
    }
}

/// Validate `input`, decode it and store its speech as chunks under `chunks_dir`.
pub fn ingest(
    input: &Path,
    chunks_dir: &Path,
    opts: &IngestOptions,
) -> Result<IngestOutput, MediaError> {
    if !(opts.max_chunk_s > 0.0 && opts.min_chunk_s >= 0.0 && opts.min_chunk_s <= opts.max_chunk_s)
    {
        return Err(MediaError::Options(format!(
            "chunk bounds {}–{} s are not a valid range",
            opts.min_chunk_s, opts.max_chunk_s
        )));
    }
    let info = probe(input)?;
    let kind = opts.kind.unwrap_or(info.kind);
    let mut out = IngestOutput {
        kind,
        duration_s: info.duration_s.unwrap_or(0.0),
        has_audio: info.audio.is_some(),
        sample_rate_in: info.audio.as_ref().map_or(0, |a| a.sample_rate),
        channels_in: info.audio.as_ref().map_or(0, |a| a.channels),
        container: info.container.clone(),
        chunks: Vec::new(),
        speech_spans: Vec::new(),
        no_speech_spans: Vec::new(),
        warnings: Vec::new(),
        probe: info.clone(),
    };
    let Some(audio) = &info.audio else {
        if info.video.is_some() {
            out.warnings
                .push("video has no audio stream: nothing to transcribe".into());
            return Ok(out);
        }
        return Err(MediaError::NoAudio);
    };
    std::fs::create_dir_all(chunks_dir)
        .map_err(|e| MediaError::io("creating chunk directory", e))?;
    let stream = decode_and_chunk(input, chunks_dir, audio.channels, opts)?;
    if stream.total == 0 {
        return Err(MediaError::Corrupt("no audio could be decoded".into()));
    }
    out.duration_s = secs(stream.total);
    out.speech_spans = stream
        .speech
        .iter()
        .map(|&(s, e)| (secs(s), secs(e)))
        .collect();
    out.no_speech_spans = complement(&stream.speech, stream.total)
        .into_iter()
        .map(|(s, e)| (secs(s), secs(e)))
        .collect();
    out.chunks = stream.chunks;
    out.warnings = warnings(input, &info, &stream.stats, out.duration_s)?;
    Ok(out)
}

#[derive(Debug, Default)]
struct Stats {
    clipped: u64,
    decode_errors: usize,
    forced_cuts: usize,
}

struct Streamed {
    total: u64,
    speech: Vec<Span>,
    chunks: Vec<Chunk>,
    stats: Stats,
}

fn decode_and_chunk(
    input: &Path,
    dir: &Path,
    channels: u32,
    opts: &IngestOptions,
) -> Result<Streamed, MediaError> {
    let mut dec = Decoder::spawn(input, channels)?;
    let mut vad = FrameVad::default();
    let mut smoother = Smoother::new(opts.vad);
    let mut planner =
        ChunkPlanner::new(PlanParams::from_seconds(opts.min_chunk_s, opts.max_chunk_s));
    // Samples and frame probabilities kept for open chunks; `base` is the sample index of buf[0].
    // Reserved up front at twice the look-ahead window (a chunk, a long silence still being
    // confirmed, VAD lag): with the half-buffer trimming rule below the buffer never outgrows
    // it, so peak memory is fixed by the options, not by the input or allocator history.
    let window = ((opts.max_chunk_s + 15.0) * f64::from(RATE)) as usize;
    let mut buf: Vec<f32> = Vec::with_capacity(2 * window);
    let mut probs: Vec<f32> = Vec::with_capacity(2 * window / FRAME);
    let mut base = 0u64;
    let mut block = Vec::new();
    let mut fresh = Vec::new();
    let mut s = Streamed {
        total: 0,
        speech: Vec::new(),
        chunks: Vec::new(),
        stats: Stats::default(),
    };
    loop {
        block.clear();
        let more = dec.read_block(&mut block)?;
        s.total += block.len() as u64;
        s.stats.clipped += block.iter().filter(|x| x.abs() >= 0.999).count() as u64;
        fresh.clear();
        vad.push(&block, &mut fresh);
        for &p in &fresh {
            smoother.push(p);
        }
        probs.extend_from_slice(&fresh);
        buf.extend_from_slice(&block);
        let planned = if more {
            for span in smoother.drain() {
                planner.push_span(span);
                s.speech.push(span);
            }
            let settled = smoother.settled();
            planner.advance(settled, &mut |lo, hi| quietest(&probs, base, lo, hi))
        } else {
            for span in smoother.finish(s.total) {
                planner.push_span(span);
                s.speech.push(span);
            }
            let mut fb = |lo, hi| quietest(&probs, base, lo, hi);
            let mut v = planner.advance(s.total, &mut fb);
            v.extend(planner.finish(s.total, &mut fb));
            v
        };
        for p in planned {
            let samples = &buf[(p.start - base) as usize..(p.end - base) as usize];
            s.chunks.push(store_chunk(dir, samples, p, &s.speech)?);
            s.stats.forced_cuts += usize::from(p.forced);
        }
        if !more {
            break;
        }
        // Drop what no chunk can need any more; only when it is at least half the buffer, so
        // the memmove is amortised.
        let keep = planner.keep_from(smoother.settled()).min(s.total);
        let dead = (keep.saturating_sub(base) / FRAME as u64 * FRAME as u64) as usize;
        if dead > 0 && dead >= buf.len() / 2 {
            buf.drain(..dead);
            probs.drain(..(dead / FRAME).min(probs.len()));
            base += dead as u64;
        }
    }
    s.stats.decode_errors = dec.finish()?.decode_errors;
    Ok(s)
}

/// The least speech-like frame in `[lo, hi]`, for a cut that cannot fall in a pause.
fn quietest(probs: &[f32], base: u64, lo: u64, hi: u64) -> u64 {
    let f = FRAME as u64;
    let first = (lo.saturating_sub(base)).div_ceil(f) as usize;
    let last = (hi.saturating_sub(base) / f) as usize;
    (first..last.min(probs.len()))
        .min_by(|&a, &b| probs[a].total_cmp(&probs[b]))
        .map_or(hi, |i| base + i as u64 * f)
}

fn store_chunk(
    dir: &Path,
    samples: &[f32],
    p: Planned,
    speech: &[Span],
) -> Result<Chunk, MediaError> {
    let len = p.end - p.start;
    let local: Vec<(f64, f64)> = speech
        .iter()
        .filter(|sp| sp.0 < p.end && sp.1 > p.start)
        .map(|sp| {
            (
                secs(sp.0.max(p.start) - p.start),
                secs(sp.1.min(p.end) - p.start),
            )
        })
        .collect();
    let speech_s: f64 = local.iter().map(|(a, b)| b - a).sum();
    let skip_reason = prefilter(samples, &local);
    let name = format!("{}.{CHUNK_EXT}", hash::sha256_samples(samples));
    let path = dir.join(name);
    // Content-addressed: an existing file with this name already holds these samples.
    if !path.exists() {
        chunk_io::write_chunk(&path, samples)?;
    }
    Ok(Chunk {
        path,
        offset_samples: p.start,
        len_samples: len,
        offset_s: secs(p.start),
        duration_s: secs(len),
        speech_ratio: if len == 0 { 0.0 } else { speech_s / secs(len) },
        speech_spans: local,
        skip_reason,
        forced_cut: p.forced,
    })
}

fn warnings(
    input: &Path,
    info: &ProbeInfo,
    st: &Stats,
    decoded_s: f64,
) -> Result<Vec<String>, MediaError> {
    let mut w = Vec::new();
    if st.decode_errors > 0 {
        let ranges = damage::damaged_ranges(input, decoded_s)?;
        if ranges.is_empty() {
            w.push(format!(
                "damaged data: the decoder reported {} errors (position unknown)",
                st.decode_errors
            ));
        }
        for (a, b) in ranges {
            w.push(format!(
                "damaged data at {a:.1}–{b:.1} s: not decodable, replaced by silence"
            ));
        }
    }
    if let Some(declared) = info.duration_s
        && (declared - decoded_s).abs() > 1.0_f64.max(0.02 * declared)
    {
        w.push(format!(
            "decoded {} of audio but the container declares {}",
            human_duration(decoded_s),
            human_duration(declared)
        ));
    }
    let total = (decoded_s * f64::from(RATE)).max(1.0);
    let frac = st.clipped as f64 / total;
    if frac >= CLIP_WARN_FRACTION {
        w.push(format!(
            "clipping: {:.0}% of samples at full scale",
            frac * 100.0
        ));
    }
    if st.forced_cuts > 0 {
        w.push(format!(
            "{} chunk cut(s) fell inside speech: no pause in the allowed window",
            st.forced_cuts
        ));
    }
    Ok(w)
}
