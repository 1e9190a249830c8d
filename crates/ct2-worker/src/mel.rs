//! whisper's log-mel features of one 30 s window, as openai/whisper and faster-whisper compute
//! them: centred STFT (reflect padding, periodic Hann window of 400, hop 160), power spectrum,
//! Slaney-scale mel filters with Slaney area normalisation (librosa's defaults), log10 clamped
//! to 1e-10 and to the window's maximum − 8, then (x + 4) / 4. Audio shorter than 30 s is
//! zero-padded first, like whisper's `pad_or_trim`.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

pub const SAMPLE_RATE: usize = 16_000;
const N_FFT: usize = 400;
const HOP: usize = 160;
/// Samples of one window (30 s) and its mel frames.
const WINDOW_SAMPLES: usize = 30 * SAMPLE_RATE;
pub const FRAMES: usize = WINDOW_SAMPLES / HOP;

pub struct MelExtractor {
    n_mels: usize,
    /// Each mel filter's nonzero weights over the power spectrum: its first bin and the
    /// weights from there (a filter spans a few bins, so a frame costs ~400 products instead of
    /// `n_mels × (N_FFT / 2 + 1)`; skipping zero terms leaves every sum unchanged).
    filters: Vec<(usize, Vec<f32>)>,
    hann: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl MelExtractor {
    pub fn new(n_mels: usize) -> MelExtractor {
        let hann = (0..N_FFT)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / N_FFT as f32).cos())
            .collect();
        MelExtractor {
            n_mels,
            filters: slaney_filters(n_mels, N_FFT, SAMPLE_RATE as f64)
                .into_iter()
                .map(|row| {
                    let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                    let last = row.iter().rposition(|&w| w != 0.0).map_or(first, |l| l + 1);
                    (first, row[first..last].to_vec())
                })
                .collect(),
            hann,
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// The first `frames` (at most [`FRAMES`]) feature frames of `samples` (at most 30 s)
    /// appended to `out`: `n_mels × frames`, row-major. The same values as the first `frames`
    /// columns of the whole 30 s window whenever the frames left out hold only the zero padding
    /// (their log-mel is the floor, under any maximum).
    pub fn extract_into(&self, samples: &[f32], frames: usize, out: &mut Vec<f32>) {
        let frames = frames.min(FRAMES);
        let n = samples.len().min(WINDOW_SAMPLES);
        let pad = N_FFT / 2;
        // Zero-padded to 30 s, then reflect-padded by half an FFT on each side; only as far as
        // the last frame asked for reads.
        let at = |i: usize| if i < n { samples[i] } else { 0.0 };
        let reach = frames.saturating_sub(1) * HOP + N_FFT;
        let padded: Vec<f32> = (1..=pad)
            .rev()
            .map(at)
            .chain((0..WINDOW_SAMPLES).map(at))
            .chain((0..pad).map(|i| at(WINDOW_SAMPLES - 2 - i)))
            .take(reach)
            .collect();

        let base = out.len();
        out.resize(base + self.n_mels * frames, 0.0);
        let mel = &mut out[base..];
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f32; N_FFT / 2 + 1];
        for f in 0..frames {
            let s = f * HOP;
            let input = &padded[s..s + N_FFT];
            if input.iter().all(|&v| v == 0.0) {
                // Silence (the padding): zero power in every band.
                for m in 0..self.n_mels {
                    mel[m * frames + f] = 1e-10f32.log10();
                }
                continue;
            }
            for ((v, x), w) in frame.iter_mut().zip(input).zip(&self.hann) {
                *v = x * w;
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("FFT buffers sized by the planner");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, (first, weights)) in self.filters.iter().enumerate() {
                let v: f32 = weights
                    .iter()
                    .zip(&power[*first..])
                    .map(|(w, p)| w * p)
                    .sum();
                mel[m * frames + f] = v.max(1e-10).log10();
            }
        }
        let max = mel.iter().copied().fold(f32::MIN, f32::max);
        for v in mel.iter_mut() {
            *v = (v.max(max - 8.0) + 4.0) / 4.0;
        }
    }
}

/// Slaney mel scale (librosa `htk=False`): linear below 1 kHz, logarithmic above.
fn hz_to_mel(hz: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let logstep = 6.4f64.ln() / 27.0;
    if hz < min_log_hz {
        hz / f_sp
    } else {
        min_log_hz / f_sp + (hz / min_log_hz).ln() / logstep
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if mel < min_log_mel {
        mel * f_sp
    } else {
        min_log_hz * ((mel - min_log_mel) * logstep).exp()
    }
}

/// librosa.filters.mel(sr, n_fft, n_mels) with its defaults (fmin 0, fmax sr/2, Slaney
/// normalisation): triangles between consecutive mel points, scaled to equal area.
fn slaney_filters(n_mels: usize, n_fft: usize, sr: f64) -> Vec<Vec<f32>> {
    let bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..bins).map(|k| k as f64 * sr / n_fft as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|m| {
            let (left, centre, right) = (points[m], points[m + 1], points[m + 2]);
            let norm = 2.0 / (right - left);
            fft_freqs
                .iter()
                .map(|&f| {
                    let rising = (f - left) / (centre - left);
                    let falling = (right - f) / (right - centre);
                    (rising.min(falling).max(0.0) * norm) as f32
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_scale_is_linear_below_1khz_and_round_trips() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-9);
        assert!((hz_to_mel(500.0) - 7.5).abs() < 1e-9);
        for hz in [0.0, 300.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
    }

    #[test]
    fn filters_match_librosa_on_known_values() {
        // librosa.filters.mel(sr=16000, n_fft=400, n_mels=80): row 0 peaks at bin 1 with
        // 0.02486259, row 79 ends at the Nyquist bin with 0.
        let f = slaney_filters(80, 400, 16000.0);
        assert_eq!(f.len(), 80);
        assert_eq!(f[0].len(), 201);
        assert!((f[0][1] - 0.024_862_59).abs() < 1e-6, "{}", f[0][1]);
        assert_eq!(f[79][200], 0.0);
    }

    #[test]
    fn a_tone_lights_the_band_it_is_in_and_silence_is_flat() {
        let x = MelExtractor::new(80);
        let tone: Vec<f32> = (0..SAMPLE_RATE)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / SAMPLE_RATE as f32).sin())
            .collect();
        let mut out = Vec::new();
        x.extract_into(&tone, FRAMES, &mut out);
        assert_eq!(out.len(), 80 * FRAMES);
        // Frame 50 (0.5 s): the loudest band is the one around 440 Hz (FFT bin 11, mel row 11).
        let col: Vec<f32> = (0..80).map(|m| out[m * FRAMES + 50]).collect();
        let best = (0..80).max_by(|&a, &b| col[a].total_cmp(&col[b])).unwrap();
        assert!((10..=12).contains(&best), "band {best}");
        let mut silent = Vec::new();
        x.extract_into(&[0.0; 1600], FRAMES, &mut silent);
        assert!(silent.iter().all(|&v| v == silent[0]));
    }

    #[test]
    fn fewer_frames_are_the_first_columns_of_the_whole_window() {
        let x = MelExtractor::new(80);
        // 3 s of a chirp: every frame past ~3 s is padding.
        let chirp: Vec<f32> = (0..3 * SAMPLE_RATE)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                (2.0 * std::f32::consts::PI * (200.0 + 300.0 * t) * t).sin() * 0.3
            })
            .collect();
        let mut whole = Vec::new();
        x.extract_into(&chirp, FRAMES, &mut whole);
        let mut short = Vec::new();
        x.extract_into(&chirp, 500, &mut short);
        assert_eq!(short.len(), 80 * 500);
        for m in 0..80 {
            assert_eq!(
                short[m * 500..(m + 1) * 500],
                whole[m * FRAMES..m * FRAMES + 500]
            );
        }
    }
}
