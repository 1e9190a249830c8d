//! YAMNet's front end, as the model was trained (the `features.py` of the TensorFlow model
//! garden): 16 kHz mono, 25 ms frames every 10 ms (no padding of the signal), a periodic Hann
//! window, a 512-point FFT, the magnitude spectrum, 64 triangular bands on the HTK mel scale
//! from 125 to 7500 Hz built the way `tf.signal.linear_to_mel_weight_matrix` builds them (the
//! triangles are linear in mel, the DC bin unused), `log(mel + 0.001)`; then 96-frame patches
//! (0.96 s) every 48 frames (0.48 s).

use std::sync::{Arc, OnceLock};

use realfft::{RealFftPlanner, RealToComplex};

pub const SAMPLE_RATE: u32 = 16_000;
pub const MEL_BANDS: usize = 64;
/// Frames per patch and between patch starts.
pub const PATCH_FRAMES: usize = 96;
pub const PATCH_HOP_FRAMES: usize = 48;
const FRAME: usize = 400;
pub const HOP: usize = 160;
const N_FFT: usize = 512;
const BINS: usize = N_FFT / 2 + 1;
const LOW_HZ: f64 = 125.0;
const HIGH_HZ: f64 = 7500.0;
const LOG_OFFSET: f32 = 0.001;

/// Seconds between patch starts, and a patch's length.
pub const PATCH_HOP_S: f64 = (PATCH_HOP_FRAMES * HOP) as f64 / SAMPLE_RATE as f64;
pub const PATCH_S: f64 = (PATCH_FRAMES * HOP) as f64 / SAMPLE_RATE as f64;

struct Tables {
    window: Vec<f32>,
    /// Per mel band: first FFT bin and its weights.
    bands: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn RealToComplex<f32>>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| Tables {
        // Periodic Hann (`tf.signal.hann_window(periodic=True)`): divides by N, not N - 1.
        window: (0..FRAME)
            .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / FRAME as f64).cos()) as f32)
            .collect(),
        bands: mel_bands(),
        fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
    })
}

fn hz_to_mel(hz: f64) -> f64 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

/// `tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 125, 7500)`, as sparse rows.
fn mel_bands() -> Vec<(usize, Vec<f32>)> {
    let nyquist = SAMPLE_RATE as f64 / 2.0;
    let (lo, hi) = (hz_to_mel(LOW_HZ), hz_to_mel(HIGH_HZ));
    let edge = |k: usize| lo + (hi - lo) * k as f64 / (MEL_BANDS + 1) as f64;
    (0..MEL_BANDS)
        .map(|b| {
            let (left, centre, right) = (edge(b), edge(b + 1), edge(b + 2));
            let weights: Vec<(usize, f32)> = (1..BINS) // bin 0 (DC) carries no weight
                .filter_map(|i| {
                    let m = hz_to_mel(nyquist * i as f64 / (BINS - 1) as f64);
                    let w = ((m - left) / (centre - left)).min((right - m) / (right - centre));
                    (w > 0.0).then_some((i, w as f32))
                })
                .collect();
            let first = weights.first().map_or(0, |w| w.0);
            (first, weights.into_iter().map(|w| w.1).collect())
        })
        .collect()
}

/// Log-mel frames of a stream, fed in pieces of any length: each frame is computed once its
/// 400 samples are there.
pub struct LogMel {
    pending: Vec<f32>,
    scratch_in: Vec<f32>,
    scratch_out: Vec<realfft::num_complex::Complex<f32>>,
}

impl Default for LogMel {
    fn default() -> Self {
        LogMel::new()
    }
}

impl LogMel {
    pub fn new() -> LogMel {
        let t = tables();
        LogMel {
            pending: Vec::new(),
            scratch_in: t.fft.make_input_vec(),
            scratch_out: t.fft.make_output_vec(),
        }
    }

    /// Append `samples` (16 kHz mono, ±1.0); every frame now complete goes to `out`.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<[f32; MEL_BANDS]>) {
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while start + FRAME <= self.pending.len() {
            out.push(self.frame(start));
            start += HOP;
        }
        self.pending.drain(..start);
    }

    fn frame(&mut self, start: usize) -> [f32; MEL_BANDS] {
        let t = tables();
        let x = &self.pending[start..start + FRAME];
        for (dst, (s, w)) in self.scratch_in.iter_mut().zip(x.iter().zip(&t.window)) {
            *dst = s * w;
        }
        self.scratch_in[FRAME..].fill(0.0);
        // The lengths are the planner's own, so this cannot fail.
        let _ = t.fft.process(&mut self.scratch_in, &mut self.scratch_out);
        let mut mel = [0f32; MEL_BANDS];
        for (m, (first, weights)) in mel.iter_mut().zip(&t.bands) {
            let acc: f32 = weights
                .iter()
                .zip(&self.scratch_out[*first..])
                .map(|(w, c)| w * c.norm())
                .sum();
            *m = (acc + LOG_OFFSET).ln();
        }
        mel
    }
}

/// Log-mel frames of a whole clip.
pub fn log_mel(samples: &[f32]) -> Vec<[f32; MEL_BANDS]> {
    let mut out = Vec::with_capacity(samples.len() / HOP + 1);
    LogMel::new().push(samples, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_every_10_ms_without_padding() {
        assert_eq!(log_mel(&[0.0; 399]).len(), 0);
        assert_eq!(log_mel(&[0.0; 400]).len(), 1);
        assert_eq!(log_mel(&[0.0; 16_000]).len(), 1 + (16_000 - 400) / 160);
        // Fed in odd pieces, the stream gives the same frames as the whole clip.
        let clip: Vec<f32> = (0..8000).map(|i| (i as f32 * 0.37).sin() * 0.3).collect();
        let mut lm = LogMel::new();
        let mut out = Vec::new();
        for piece in clip.chunks(123) {
            lm.push(piece, &mut out);
        }
        assert_eq!(out, log_mel(&clip));
    }

    #[test]
    fn silence_is_the_log_offset() {
        for band in log_mel(&[0.0; 800])[0] {
            assert!((band - LOG_OFFSET.ln()).abs() < 1e-6);
        }
    }

    #[test]
    fn a_tone_lights_the_band_that_holds_its_frequency() {
        // 1 kHz is mel 1000.0; band centres are (2773.4 - 185.2) / 65 = 39.8 mel apart from
        // 185.2 mel (125 Hz), so the peak is band (1000.0 - 185.2) / 39.8 - 1 ≈ 19.5.
        let tone: Vec<f32> = (0..4000)
            .map(|i| (std::f32::consts::TAU * 1000.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let frame = log_mel(&tone)[5];
        let peak = (0..MEL_BANDS)
            .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
            .unwrap();
        assert!((19..=20).contains(&peak), "peak band {peak}");
        // A full-scale 0.5 sine's magnitude at its bin is ~ 0.5 * sum(window) / 2 = 50.
        assert!(frame[peak] > 2.0 && frame[peak] < 5.0, "{}", frame[peak]);
    }

    #[test]
    fn the_bands_cover_125_to_7500_hz() {
        let bands = mel_bands();
        let hz = |bin: usize| bin as f64 * 8000.0 / 256.0;
        let (first, _) = &bands[0];
        let (last, w) = &bands[MEL_BANDS - 1];
        assert!(hz(*first) >= 125.0 && hz(*first) < 160.0, "{}", hz(*first));
        assert!(hz(last + w.len() - 1) <= 7500.0);
        assert!(bands.iter().all(|(_, w)| !w.is_empty()));
    }
}
