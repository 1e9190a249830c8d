//! Short interactive clips (the session daemon, dictation): decode, VAD and pre-filter with as
//! little fixed cost as possible. A PCM WAV is read and resampled in process (no ffmpeg start,
//! ~75 ms each here); anything else is decoded by one ffmpeg call without a separate probe.
//! Batch inputs go through [`crate::ingest`], which validates far more.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::chunk_io::{self, CHUNK_EXT};
use crate::decode::RATE;
use crate::vad::{FrameVad, Smoother, VadParams};
use crate::{MediaError, hash};

/// A clip ready for ASR (or answered by the pre-filter).
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// The 16 kHz FLAC chunk (content-addressed) under the given directory.
    pub path: PathBuf,
    pub duration_s: f64,
    /// Speech spans, seconds.
    pub speech_spans: Vec<(f64, f64)>,
    /// Some(reason) when the model must not be asked.
    pub skip_reason: Option<String>,
}

/// Decode `input` to 16 kHz mono, find speech, store it as a chunk in `dir`.
pub fn prepare_clip(input: &Path, dir: &Path) -> Result<Clip, MediaError> {
    let samples = match read_pcm_wav(input) {
        Some(s) => s,
        None => decode_with_ffmpeg(input)?,
    };
    let mut vad = FrameVad::default();
    let mut probs = Vec::new();
    vad.push(&samples, &mut probs);
    let mut smoother = Smoother::new(VadParams::default());
    for p in probs {
        smoother.push(p);
    }
    let secs = |n: u64| n as f64 / f64::from(RATE);
    let spans: Vec<(f64, f64)> = smoother
        .finish(samples.len() as u64)
        .into_iter()
        .map(|(a, b)| (secs(a), secs(b)))
        .collect();
    let skip_reason = crate::ingest::prefilter(&samples, &spans);
    std::fs::create_dir_all(dir).map_err(|e| MediaError::io("creating chunk directory", e))?;
    let path = dir.join(format!("{}.{CHUNK_EXT}", hash::sha256_samples(&samples)));
    if skip_reason.is_none() && !path.exists() {
        chunk_io::write_chunk(&path, &samples)?;
    }
    Ok(Clip {
        path,
        duration_s: secs(samples.len() as u64),
        speech_spans: spans,
        skip_reason,
    })
}

/// An uncompressed PCM / float WAV read in process; `None` for anything else.
fn read_pcm_wav(input: &Path) -> Option<Vec<f32>> {
    let reader = hound::WavReader::open(input).ok()?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .ok()?,
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .ok()?
        }
        _ => return None,
    };
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|f| f.iter().sum::<f32>() / f.len() as f32)
        .collect();
    Some(resample(&mono, spec.sample_rate, RATE))
}

fn decode_with_ffmpeg(input: &Path) -> Result<Vec<f32>, MediaError> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(input)
        .args([
            "-vn",
            "-ac",
            "1",
            "-ar",
            &RATE.to_string(),
            "-f",
            "f32le",
            "pipe:1",
        ])
        .output()
        .map_err(|e| MediaError::io("starting ffmpeg", e))?;
    if !out.status.success() || out.stdout.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("no audio could be decoded");
        return Err(MediaError::Corrupt(first.to_string()));
    }
    Ok(out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Windowed-sinc resampling (Hann window, 32 taps, cut-off below the lower Nyquist): plenty
/// for speech recognition, no dependency.
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || x.is_empty() || from == 0 {
        return x.to_vec();
    }
    const HALF: i64 = 16;
    let ratio = f64::from(from) / f64::from(to);
    let cutoff = (f64::from(to) / f64::from(from)).min(1.0) * 0.95;
    let n_out = ((x.len() as f64) / ratio).round() as usize;
    let mut out = Vec::with_capacity(n_out);
    let width = HALF as f64 / cutoff;
    for n in 0..n_out {
        let t = n as f64 * ratio;
        let center = t.floor() as i64;
        let lo = center - width.ceil() as i64;
        let hi = center + width.ceil() as i64;
        let (mut acc, mut norm) = (0.0f64, 0.0f64);
        for k in lo..=hi {
            let d = t - k as f64;
            if d.abs() > width {
                continue;
            }
            let arg = d * cutoff;
            let sinc = if arg.abs() < 1e-9 {
                1.0
            } else {
                (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
            };
            let w = 0.5 + 0.5 * (std::f64::consts::PI * d / width).cos();
            let coef = sinc * w;
            norm += coef;
            if k >= 0 && (k as usize) < x.len() {
                acc += coef * f64::from(x[k as usize]);
            }
        }
        out.push(if norm > 0.0 { (acc / norm) as f32 } else { 0.0 });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_survives_resampling_with_its_frequency_and_length() {
        let from = 44_100;
        let tone: Vec<f32> = (0..from)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / from as f32).sin() * 0.5)
            .collect();
        let y = resample(&tone, from, 16_000);
        assert_eq!(y.len(), 16_000);
        // Compare with the ideal 16 kHz tone away from the edges.
        let err: f32 = (100..15_900)
            .map(|i| {
                let ideal = (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin() * 0.5;
                (y[i] - ideal).abs()
            })
            .fold(0.0, f32::max);
        assert!(err < 0.01, "max error {err}");
    }
}
