//! pyannote segmentation-3.0 (PyanNet) forward pass: 10 s of 16 kHz audio → 589 frames of
//! log-probabilities over 7 powerset classes (no speaker, A, B, C, A+B, A+C, B+C).
//!
//! SincNet (80 parametric band-pass filters, k 251, stride 10 → |·| → max-pool 3 → instance norm
//! → leaky ReLU; two k-5 convolutions 80→60→60, each pooled, normalised, leaky) → 4-layer
//! bidirectional LSTM (hidden 128) → two Linear 128 + leaky ReLU → Linear 7 → log-softmax.
//! Activations are time-major (`[T][C]`), so each convolution is one strided GEMM.
//! `scripts/diarize_reference.py` is the numpy reference this is tested against.

use std::path::Path;

use crate::DiarizeError;
use crate::gemm::{View, gemm};
use crate::weights::Weights;

pub const SAMPLE_RATE: usize = 16_000;
/// Samples in one segmentation window (10 s).
pub const WINDOW_SAMPLES: usize = 160_000;
/// Output frames per window.
pub const FRAMES: usize = 589;
/// Powerset classes.
pub const CLASSES: usize = 7;
/// Local speakers per window.
pub const LOCAL_SPEAKERS: usize = 3;

const SINC_FILTERS: usize = 80;
const SINC_KERNEL: usize = 251;
const SINC_STRIDE: usize = 10;
const CONV_CHANNELS: usize = 60;
const CONV_KERNEL: usize = 5;
const HIDDEN: usize = 128;
const GATES: usize = 4 * HIDDEN;
const LSTM_LAYERS: usize = 4;
const EPS: f32 = 1e-5;

/// Which local speakers (bit 0 = A, 1 = B, 2 = C) each powerset class stands for.
pub const POWERSET: [u8; CLASSES] = [0b000, 0b001, 0b010, 0b100, 0b011, 0b101, 0b110];

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Conv {
    /// `[(k · in) × out]`, row `k * in + c` = weight[o][c][k].
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
}

struct Direction {
    /// PyTorch layout `[4H × in]` and `[4H × H]`, used transposed through strides.
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    /// `b_ih + b_hh`.
    bias: Vec<f32>,
    inputs: usize,
}

struct Linear {
    /// PyTorch layout `[out × in]`.
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

/// The loaded network. Immutable; one instance can serve several threads.
pub struct Segmenter {
    wav_norm: (f32, f32),
    /// `[80 × 251]` band-pass filters, computed once from the learned cut-off frequencies.
    sinc: Vec<f32>,
    norms: [Norm; 3],
    convs: [Conv; 2],
    lstm: Vec<[Direction; 2]>,
    linear: [Linear; 2],
    classifier: Linear,
}

impl Segmenter {
    pub fn open(path: &Path) -> Result<Self, DiarizeError> {
        Self::from_weights(&Weights::open(path)?)
    }

    pub fn from_weights(w: &Weights) -> Result<Self, DiarizeError> {
        let vec = |name: &str, n: usize| w.get_flat(name, n).map(|d| d.to_vec());
        let norm = |i: usize, n: usize| -> Result<Norm, DiarizeError> {
            Ok(Norm {
                weight: vec(&format!("sincnet.norm1d.{i}.weight"), n)?,
                bias: vec(&format!("sincnet.norm1d.{i}.bias"), n)?,
            })
        };
        let conv = |i: usize, inputs: usize| -> Result<Conv, DiarizeError> {
            let raw = w.get(
                &format!("sincnet.conv1d.{i}.weight"),
                &[CONV_CHANNELS, inputs, CONV_KERNEL],
            )?;
            let mut weight = vec![0.0; CONV_KERNEL * inputs * CONV_CHANNELS];
            for o in 0..CONV_CHANNELS {
                for c in 0..inputs {
                    for k in 0..CONV_KERNEL {
                        weight[(k * inputs + c) * CONV_CHANNELS + o] =
                            raw.data[(o * inputs + c) * CONV_KERNEL + k];
                    }
                }
            }
            Ok(Conv {
                weight,
                bias: vec(&format!("sincnet.conv1d.{i}.bias"), CONV_CHANNELS)?,
                inputs,
            })
        };
        let mut lstm = Vec::with_capacity(LSTM_LAYERS);
        for layer in 0..LSTM_LAYERS {
            let inputs = if layer == 0 {
                CONV_CHANNELS
            } else {
                2 * HIDDEN
            };
            let dir = |suffix: &str| -> Result<Direction, DiarizeError> {
                let b_ih = w.get_flat(&format!("lstm.bias_ih_l{layer}{suffix}"), GATES)?;
                let b_hh = w.get_flat(&format!("lstm.bias_hh_l{layer}{suffix}"), GATES)?;
                Ok(Direction {
                    w_ih: vec(&format!("lstm.weight_ih_l{layer}{suffix}"), GATES * inputs)?,
                    w_hh: vec(&format!("lstm.weight_hh_l{layer}{suffix}"), GATES * HIDDEN)?,
                    bias: b_ih.iter().zip(b_hh).map(|(a, b)| a + b).collect(),
                    inputs,
                })
            };
            lstm.push([dir("")?, dir("_reverse")?]);
        }
        let linear = |name: &str, inputs: usize, outputs: usize| -> Result<Linear, DiarizeError> {
            Ok(Linear {
                weight: vec(&format!("{name}.weight"), outputs * inputs)?,
                bias: vec(&format!("{name}.bias"), outputs)?,
                inputs,
                outputs,
            })
        };
        let wav_w = w.get_flat("sincnet.wav_norm1d.weight", 1)?[0];
        let wav_b = w.get_flat("sincnet.wav_norm1d.bias", 1)?[0];
        Ok(Segmenter {
            wav_norm: (wav_w, wav_b),
            sinc: sinc_filters(w)?,
            norms: [
                norm(0, SINC_FILTERS)?,
                norm(1, CONV_CHANNELS)?,
                norm(2, CONV_CHANNELS)?,
            ],
            convs: [conv(1, SINC_FILTERS)?, conv(2, CONV_CHANNELS)?],
            lstm,
            linear: [
                linear("linear.0", 2 * HIDDEN, HIDDEN)?,
                linear("linear.1", HIDDEN, HIDDEN)?,
            ],
            classifier: linear("classifier", HIDDEN, CLASSES)?,
        })
    }

    /// Log-probabilities `[FRAMES × CLASSES]` for each window of exactly `WINDOW_SAMPLES`.
    /// Windows are run through the recurrent layers together, which turns the per-step
    /// matrix-vector products into small matrix products.
    pub fn forward(&self, windows: &[&[f32]]) -> Vec<Vec<f32>> {
        let mut xs: Vec<Vec<f32>> = windows.iter().map(|w| self.sincnet(w)).collect();
        for layer in &self.lstm {
            xs = bilstm(layer, &xs);
        }
        xs.iter().map(|x| self.head(x)).collect()
    }

    /// SincNet for one window → `[FRAMES × 60]`.
    fn sincnet(&self, wav: &[f32]) -> Vec<f32> {
        assert_eq!(wav.len(), WINDOW_SAMPLES, "segmentation window length");
        let mut x = wav.to_vec();
        instance_norm(&mut x, 1, &[self.wav_norm.0], &[self.wav_norm.1]);
        let t = (WINDOW_SAMPLES - SINC_KERNEL) / SINC_STRIDE + 1;
        let mut y = vec![0.0; t * SINC_FILTERS];
        let input = View {
            data: &x,
            rows: t,
            cols: SINC_KERNEL,
            rs: SINC_STRIDE,
            cs: 1,
        };
        gemm(
            input,
            View::transposed(&self.sinc, SINC_FILTERS, SINC_KERNEL),
            &mut y,
            0.0,
        );
        y.iter_mut().for_each(|v| *v = v.abs());
        let mut x = pool3(&y, SINC_FILTERS);
        instance_norm(
            &mut x,
            SINC_FILTERS,
            &self.norms[0].weight,
            &self.norms[0].bias,
        );
        leaky(&mut x);
        for (conv, norm) in self.convs.iter().zip(&self.norms[1..]) {
            let t = x.len() / conv.inputs - CONV_KERNEL + 1;
            let mut y: Vec<f32> = (0..t).flat_map(|_| conv.bias.iter().copied()).collect();
            let input = View {
                data: &x,
                rows: t,
                cols: CONV_KERNEL * conv.inputs,
                rs: conv.inputs,
                cs: 1,
            };
            gemm(
                input,
                View::rows(&conv.weight, CONV_KERNEL * conv.inputs, CONV_CHANNELS),
                &mut y,
                1.0,
            );
            x = pool3(&y, CONV_CHANNELS);
            instance_norm(&mut x, CONV_CHANNELS, &norm.weight, &norm.bias);
            leaky(&mut x);
        }
        debug_assert_eq!(x.len(), FRAMES * CONV_CHANNELS);
        x
    }

    /// Linear layers and the classifier for one window → log-probabilities.
    fn head(&self, x: &[f32]) -> Vec<f32> {
        let mut x = x.to_vec();
        for lin in &self.linear {
            x = linear(lin, &x);
            leaky(&mut x);
        }
        let mut z = linear(&self.classifier, &x);
        for row in z.chunks_exact_mut(CLASSES) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
            let log_sum = sum.ln() + max;
            row.iter_mut().for_each(|v| *v -= log_sum);
        }
        z
    }
}

/// One bidirectional LSTM layer over a batch of sequences of equal length.
fn bilstm(layer: &[Direction; 2], xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let batch = xs.len();
    let mut out: Vec<Vec<f32>> = vec![vec![0.0; FRAMES * 2 * HIDDEN]; batch];
    for (d, dir) in layer.iter().enumerate() {
        // Input projections for every step at once: [T × 4H] per sequence.
        let pre: Vec<Vec<f32>> = xs
            .iter()
            .map(|x| {
                let steps = x.len() / dir.inputs;
                let mut p: Vec<f32> = (0..steps).flat_map(|_| dir.bias.iter().copied()).collect();
                gemm(
                    View::rows(x, steps, dir.inputs),
                    View::transposed(&dir.w_ih, GATES, dir.inputs),
                    &mut p,
                    1.0,
                );
                p
            })
            .collect();
        let mut h = vec![0.0f32; batch * HIDDEN];
        let mut c = vec![0.0f32; batch * HIDDEN];
        let mut gates = vec![0.0f32; batch * GATES];
        for step in 0..FRAMES {
            let t = if d == 0 { step } else { FRAMES - 1 - step };
            for b in 0..batch {
                gates[b * GATES..(b + 1) * GATES]
                    .copy_from_slice(&pre[b][t * GATES..(t + 1) * GATES]);
            }
            gemm(
                View::rows(&h, batch, HIDDEN),
                View::transposed(&dir.w_hh, GATES, HIDDEN),
                &mut gates,
                1.0,
            );
            for b in 0..batch {
                let g = &gates[b * GATES..(b + 1) * GATES];
                let (hb, cb) = (&mut h[b * HIDDEN..], &mut c[b * HIDDEN..]);
                let o_row = &mut out[b][t * 2 * HIDDEN + d * HIDDEN..][..HIDDEN];
                // PyTorch gate order: input, forget, cell, output.
                for j in 0..HIDDEN {
                    let i = sigmoid(g[j]);
                    let f = sigmoid(g[HIDDEN + j]);
                    let gg = g[2 * HIDDEN + j].tanh();
                    let o = sigmoid(g[3 * HIDDEN + j]);
                    cb[j] = f * cb[j] + i * gg;
                    hb[j] = o * cb[j].tanh();
                    o_row[j] = hb[j];
                }
            }
        }
    }
    out
}

fn linear(lin: &Linear, x: &[f32]) -> Vec<f32> {
    let rows = x.len() / lin.inputs;
    let mut y: Vec<f32> = (0..rows).flat_map(|_| lin.bias.iter().copied()).collect();
    gemm(
        View::rows(x, rows, lin.inputs),
        View::transposed(&lin.weight, lin.outputs, lin.inputs),
        &mut y,
        1.0,
    );
    y
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn leaky(x: &mut [f32]) {
    x.iter_mut().for_each(|v| {
        if *v < 0.0 {
            *v *= 0.01
        }
    });
}

/// Max-pool with kernel and stride 3 over time, per channel; a trailing partial window is
/// dropped (PyTorch's floor mode).
fn pool3(x: &[f32], channels: usize) -> Vec<f32> {
    let t = x.len() / channels / 3;
    let mut out = vec![0.0; t * channels];
    for i in 0..t {
        let rows = &x[3 * i * channels..(3 * i + 3) * channels];
        let dst = &mut out[i * channels..(i + 1) * channels];
        for ch in 0..channels {
            dst[ch] = rows[ch]
                .max(rows[channels + ch])
                .max(rows[2 * channels + ch]);
        }
    }
    out
}

/// Per-channel normalisation over time (biased variance), then the affine transform.
fn instance_norm(x: &mut [f32], channels: usize, weight: &[f32], bias: &[f32]) {
    let t = x.len() / channels;
    let mut mean = vec![0.0f64; channels];
    let mut var = vec![0.0f64; channels];
    for row in x.chunks_exact(channels) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= t as f64);
    for row in x.chunks_exact(channels) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            let d = *v as f64 - m;
            *s += d * d;
        }
    }
    let scale: Vec<f32> = var
        .iter()
        .zip(weight)
        .map(|(s, w)| (*w as f64 / (s / t as f64 + EPS as f64).sqrt()) as f32)
        .collect();
    for row in x.chunks_exact_mut(channels) {
        for ch in 0..channels {
            row[ch] = (row[ch] - mean[ch] as f32) * scale[ch] + bias[ch];
        }
    }
}

/// asteroid's `ParamSincFB`: 40 cosine and 40 sine band-pass filters from the learned low
/// cut-offs and bandwidths, windowed, normalised by their bandwidth. Computed in f64: the
/// phase reaches hundreds of radians.
fn sinc_filters(w: &Weights) -> Result<Vec<f32>, DiarizeError> {
    let p = "sincnet.conv1d.0.filterbank.";
    let half = SINC_KERNEL / 2;
    let bands = SINC_FILTERS / 2;
    let low_hz = w.get_flat(&format!("{p}low_hz_"), bands)?;
    let band_hz = w.get_flat(&format!("{p}band_hz_"), bands)?;
    let n = w.get_flat(&format!("{p}n_"), half)?;
    let window = w.get_flat(&format!("{p}window_"), half)?;
    let mut out = vec![0.0f32; SINC_FILTERS * SINC_KERNEL];
    for f in 0..bands {
        let low = 50.0 + (low_hz[f] as f64).abs();
        let high = (low + 50.0 + (band_hz[f] as f64).abs()).clamp(50.0, 8000.0);
        let band = high - low;
        let (cos_row, sin_row) = out.split_at_mut(bands * SINC_KERNEL);
        let cos_row = &mut cos_row[f * SINC_KERNEL..(f + 1) * SINC_KERNEL];
        let sin_row = &mut sin_row[f * SINC_KERNEL..(f + 1) * SINC_KERNEL];
        for k in 0..half {
            let nk = n[k] as f64;
            let (fl, fh) = (low * nk, high * nk);
            let cl = (fh.sin() - fl.sin()) / (nk / 2.0) * window[k] as f64;
            let sl = (fl.cos() - fh.cos()) / (nk / 2.0) * window[k] as f64;
            cos_row[k] = (cl / (2.0 * band)) as f32;
            cos_row[SINC_KERNEL - 1 - k] = (cl / (2.0 * band)) as f32;
            sin_row[k] = (sl / (2.0 * band)) as f32;
            sin_row[SINC_KERNEL - 1 - k] = (-sl / (2.0 * band)) as f32;
        }
        cos_row[half] = 1.0;
        sin_row[half] = 0.0;
    }
    Ok(out)
}

/// Hard per-frame activity of the 3 local speakers from log-probabilities: the most likely
/// powerset class, as bits (A = 1, B = 2, C = 4).
pub fn activity(logprobs: &[f32]) -> Vec<u8> {
    logprobs
        .chunks_exact(CLASSES)
        .map(|row| {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |acc, (i, &v)| {
                        if v > acc.1 { (i, v) } else { acc }
                    },
                )
                .0;
            POWERSET[best]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_and_norm() {
        let x = [1.0, -1.0, 5.0, 0.0, 2.0, 9.0, 7.0, 7.0];
        assert_eq!(pool3(&x, 2), vec![5.0, 9.0]);
        let mut y = vec![1.0, 3.0];
        instance_norm(&mut y, 1, &[2.0], &[0.5]);
        assert!((y[0] + 1.5).abs() < 1e-3 && (y[1] - 2.5).abs() < 1e-3);
    }

    #[test]
    fn powerset_decoding() {
        let mut lp = vec![-9.0; 2 * CLASSES];
        lp[4] = -0.1; // frame 0: {A, B}
        lp[CLASSES] = -0.1; // frame 1: nobody
        assert_eq!(activity(&lp), vec![0b011, 0]);
    }
}
