//! The CAM++ embedder's front end: Kaldi filterbank features as 3D-Speaker computes them
//! (`torchaudio.compliance.kaldi.fbank` / kaldifeat defaults): 25 ms frames every 10 ms with
//! no padding of the signal (`snip_edges`), no dither, the frame's DC offset removed,
//! pre-emphasis 0.97, the Povey window, a 512-point FFT, power spectrum, 80 triangular bins on
//! Kaldi's mel scale from 20 Hz to 8 kHz (the Nyquist bin is not used), natural log floored at
//! f32 epsilon; then each bin's mean over the clip is removed.

use std::sync::{Arc, OnceLock};

use realfft::{RealFftPlanner, RealToComplex};

use crate::segmentation::SAMPLE_RATE;

pub const FBANK_BINS: usize = 80;
const FRAME: usize = 400;
const HOP: usize = 160;
const N_FFT: usize = 512;
const PREEMPH: f32 = 0.97;
const LOW_HZ: f64 = 20.0;

struct Tables {
    window: Vec<f32>,
    /// Per mel bin: first FFT bin and its weights.
    banks: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn RealToComplex<f32>>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| Tables {
        window: (0..FRAME)
            .map(|i| {
                let hann =
                    0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (FRAME - 1) as f64).cos();
                hann.powf(0.85) as f32
            })
            .collect(),
        banks: mel_banks(),
        fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
    })
}

fn mel(hz: f64) -> f64 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

/// Kaldi's triangular filters, weights over FFT bins `0 .. N_FFT / 2`.
fn mel_banks() -> Vec<(usize, Vec<f32>)> {
    let (lo, hi) = (mel(LOW_HZ), mel(SAMPLE_RATE as f64 / 2.0));
    let delta = (hi - lo) / (FBANK_BINS + 1) as f64;
    (0..FBANK_BINS)
        .map(|b| {
            let left = lo + b as f64 * delta;
            let centre = left + delta;
            let right = centre + delta;
            let weights: Vec<(usize, f32)> = (0..N_FFT / 2)
                .filter_map(|i| {
                    let m = mel(i as f64 * SAMPLE_RATE as f64 / N_FFT as f64);
                    if m <= left || m >= right {
                        return None;
                    }
                    let w = if m <= centre {
                        (m - left) / (centre - left)
                    } else {
                        (right - m) / (right - centre)
                    };
                    Some((i, w as f32))
                })
                .collect();
            let first = weights.first().map_or(0, |w| w.0);
            (first, weights.into_iter().map(|w| w.1).collect())
        })
        .collect()
}

/// Frames a clip of `len` samples gives.
pub fn frame_count(len: usize) -> usize {
    if len < FRAME {
        0
    } else {
        1 + (len - FRAME) / HOP
    }
}

/// Mean-normalised log filterbank features, `[frames × FBANK_BINS]` row-major.
pub fn fbank(samples: &[f32]) -> Vec<f32> {
    let (mut out, _) = log_mel(samples);
    let n = out.len() / FBANK_BINS;
    if n > 0 {
        for b in 0..FBANK_BINS {
            let mean = out.iter().skip(b).step_by(FBANK_BINS).sum::<f32>() / n as f32;
            out.iter_mut()
                .skip(b)
                .step_by(FBANK_BINS)
                .for_each(|v| *v -= mean);
        }
    }
    out
}

/// Log filterbank features as they are (no mean removed), `[frames × FBANK_BINS]`, and each
/// frame's log energy (of its DC-free samples, before pre-emphasis).
pub fn log_mel(samples: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let t = tables();
    let n = frame_count(samples.len());
    let mut out = vec![0.0f32; n * FBANK_BINS];
    let mut energy = vec![0.0f32; n];
    let mut buf = t.fft.make_input_vec();
    let mut spec = t.fft.make_output_vec();
    let mut scratch = t.fft.make_scratch_vec();
    let mut power = vec![0.0f32; N_FFT / 2];
    for (f, row) in out.chunks_exact_mut(FBANK_BINS).enumerate() {
        let frame = &samples[f * HOP..f * HOP + FRAME];
        let mean = frame.iter().map(|&x| x as f64).sum::<f64>() / FRAME as f64;
        energy[f] = (frame
            .iter()
            .map(|&x| (x as f64 - mean).powi(2))
            .sum::<f64>()
            .max(f32::EPSILON as f64))
        .ln() as f32;
        // Pre-emphasis on the DC-free frame (x[0] uses itself as its predecessor), then window.
        let mut prev = frame[0] - mean as f32;
        for (i, (&x, w)) in frame.iter().zip(&t.window).enumerate() {
            let x = x - mean as f32;
            let e = if i == 0 {
                x - PREEMPH * x
            } else {
                x - PREEMPH * prev
            };
            prev = x;
            buf[i] = e * w;
        }
        buf[FRAME..].iter_mut().for_each(|v| *v = 0.0);
        t.fft
            .process_with_scratch(&mut buf, &mut spec, &mut scratch)
            .expect("fft buffers have the planned sizes");
        for (p, c) in power.iter_mut().zip(&spec) {
            *p = c.re * c.re + c.im * c.im;
        }
        for (r, (first, w)) in row.iter_mut().zip(&t.banks) {
            let e: f32 = w.iter().zip(&power[*first..]).map(|(a, b)| a * b).sum();
            *r = e.max(f32::EPSILON).ln();
        }
    }
    (out, energy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_snip_edges() {
        assert_eq!(frame_count(399), 0);
        assert_eq!(frame_count(400), 1);
        assert_eq!(frame_count(16_000), 98);
        assert!(fbank(&[0.0; 100]).is_empty());
    }

    #[test]
    fn a_tone_lands_in_its_band_and_means_are_removed() {
        // Faint noise, then a 1 kHz tone: after mean removal the tone's bin stands out in the
        // second half (a tone that lasts the whole clip would be removed with the mean).
        let mut seed = 1u32;
        let x: Vec<f32> = (0..16_000)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (seed >> 8) as f32 / (1 << 24) as f32 - 0.5;
                let tone = (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin();
                1e-3 * noise + if i >= 8_000 { 0.3 * tone } else { 0.0 }
            })
            .collect();
        let f = fbank(&x);
        let row = &f[80 * FBANK_BINS..81 * FBANK_BINS];
        let peak = (0..FBANK_BINS)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap();
        // 1 kHz is mel 1000: bin (1000 − mel(20)) / ((mel(8000) − mel(20)) / 81) − 1 ≈ 27.
        assert!((26..=28).contains(&peak), "peak bin {peak}");
        let mean0: f32 = f.iter().step_by(FBANK_BINS).sum::<f32>() / 98.0;
        assert!(mean0.abs() < 1e-4);
    }
}
