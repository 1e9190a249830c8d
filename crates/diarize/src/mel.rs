//! The speaker embedder's front end, exactly as its training code computes it
//! (`librosa.feature.melspectrogram(n_fft=512, win_length=400, hop_length=160,
//! window="hamming", center=False, power=2)` then `log10(S + 1e-10)`): 40 mel bands on the
//! Slaney scale with area normalisation (librosa's defaults), frames of 512 samples every 160
//! whose 400-sample periodic Hamming window sits in the middle (librosa pads the window to
//! n_fft, centred), no padding of the signal.

use std::sync::{Arc, OnceLock};

use realfft::{RealFftPlanner, RealToComplex};

use crate::segmentation::SAMPLE_RATE;

pub const MEL_BINS: usize = 40;
pub const N_FFT: usize = 512;
pub const WIN_LENGTH: usize = 400;
pub const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;
/// Floor added before the logarithm.
const LOG_FLOOR: f32 = 1e-10;
/// Where the window starts inside each 512-sample frame.
const WIN_OFFSET: usize = (N_FFT - WIN_LENGTH) / 2;

struct Tables {
    window: Vec<f32>,
    /// `[MEL_BINS × BINS]`
    filters: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| Tables {
        // scipy's periodic ("fftbins") Hamming window, as librosa uses.
        window: (0..WIN_LENGTH)
            .map(|n| {
                (0.54 - 0.46 * (2.0 * std::f64::consts::PI * n as f64 / WIN_LENGTH as f64).cos())
                    as f32
            })
            .collect(),
        filters: slaney_filters(
            SAMPLE_RATE as f64,
            N_FFT,
            MEL_BINS,
            0.0,
            SAMPLE_RATE as f64 / 2.0,
        ),
        fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
    })
}

/// Samples that `frames` mel frames read.
pub const fn samples_for(frames: usize) -> usize {
    N_FFT + (frames - 1) * HOP
}

/// Frames `[n × MEL_BINS]` of log10 mel power for `samples` (n = 1 + (len − 512) / 160).
pub fn log_mel(samples: &[f32]) -> Vec<f32> {
    let t = tables();
    if samples.len() < N_FFT {
        return Vec::new();
    }
    let frames = 1 + (samples.len() - N_FFT) / HOP;
    let mut out = Vec::with_capacity(frames * MEL_BINS);
    let mut input = t.fft.make_input_vec();
    let mut spectrum = t.fft.make_output_vec();
    let mut scratch = t.fft.make_scratch_vec();
    let mut power = vec![0.0f32; BINS];
    for f in 0..frames {
        let frame = &samples[f * HOP + WIN_OFFSET..f * HOP + WIN_OFFSET + WIN_LENGTH];
        input.iter_mut().for_each(|v| *v = 0.0);
        for ((dst, s), w) in input[WIN_OFFSET..].iter_mut().zip(frame).zip(&t.window) {
            *dst = s * w;
        }
        t.fft
            .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
            .expect("buffers sized by the planner");
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.norm_sqr();
        }
        for m in 0..MEL_BINS {
            let row = &t.filters[m * BINS..(m + 1) * BINS];
            let e: f32 = row.iter().zip(&power).map(|(a, b)| a * b).sum();
            out.push((e + LOG_FLOOR).log10());
        }
    }
    out
}

fn hz_to_mel(hz: f64) -> f64 {
    // Slaney: linear below 1 kHz, logarithmic above.
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney').
fn slaney_filters(sr: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Vec<f32> {
    let bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..bins).map(|i| i as f64 * sr / n_fft as f64).collect();
    let (lo, hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![0.0f32; n_mels * bins];
    for m in 0..n_mels {
        let (f0, f1, f2) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (f2 - f0);
        for (b, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - f0) / (f1 - f0);
            let upper = (f2 - f) / (f2 - f1);
            out[m * bins + b] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_count_and_tone_band() {
        // A 1 kHz tone puts its energy in the band around 1 kHz.
        let s: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
            .collect();
        let m = log_mel(&s);
        assert_eq!(m.len(), (1 + (16_000 - 512) / 160) * MEL_BINS);
        let first = &m[..MEL_BINS];
        let peak = (0..MEL_BINS)
            .max_by(|a, b| first[*a].total_cmp(&first[*b]))
            .unwrap();
        let centre = mel_to_hz(hz_to_mel(8000.0) * (peak + 1) as f64 / (MEL_BINS + 1) as f64);
        assert!((centre - 1000.0).abs() < 150.0, "peak band centre {centre}");
    }

    #[test]
    fn mel_scale_round_trips() {
        for hz in [0.0, 500.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
    }
}
