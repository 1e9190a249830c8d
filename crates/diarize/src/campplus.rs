//! The CAM++ speaker embedder (3D-Speaker `speech_campplus_sv_zh_en_16k-common_advanced`,
//! Apache-2.0) written out in Rust: Kaldi fbank (`fbank.rs`) → FCM head (a 2-D ResNet over
//! frequency × time) → TDNN (kernel 5, stride 2) → three densely connected TDNN blocks with
//! context-aware masking (12/24/16 layers, growth 32; each layer's output is gated by a
//! sigmoid of the clip's mean plus its 100-frame segment means) and transit layers → mean+std
//! pooling → dense layer → BatchNorm without affine: a 192-d embedding.
//!
//! Activations are channel-major (`C × T`, time contiguous), so a layer's dense concatenation
//! is appending rows, and a 1-D convolution is one GEMM per kernel tap over a strided view of
//! the zero-padded input. BatchNorms that follow a convolution are folded into it at load
//! time; those that precede one (pre-activation) stay as a per-channel affine.
//! `scripts/campplus_reference.py` is the numpy reference the golden test compares with.

use std::path::Path;

use crate::DiarizeError;
use crate::cluster::normalized;
use crate::fbank::{self, FBANK_BINS};
use crate::gemm::{View, gemm};
use crate::weights::Weights;

pub const EMBEDDING_DIM: usize = 192;
const BN_EPS: f32 = 1e-5;
const HEAD_CHANNELS: usize = 32;
/// Frequency rows after the head's three stride-2 steps (80 / 8).
const HEAD_ROWS: usize = FBANK_BINS / 8;
const INIT_CHANNELS: usize = 128;
const GROWTH: usize = 32;
const BOTTLENECK: usize = 128;
/// (layers, dilation) of the three dense blocks; kernel 3 throughout.
const BLOCKS: [(usize, usize); 3] = [(12, 1), (24, 2), (16, 2)];
/// The CAM layer's segment pooling length, in frames after the TDNN (50 per second).
const SEG_LEN: usize = 100;

/// A convolution as a row-major `out × (in · taps)` matrix (PyTorch's `[out][in][taps]`) plus
/// a bias (zero where the model has none; folded BatchNorm shifts land here).
struct Conv {
    w: Vec<f32>,
    bias: Vec<f32>,
    out: usize,
    inp: usize,
    taps: usize,
}

/// `y = x · scale + shift` per channel: a BatchNorm in eval mode.
struct Affine {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

struct ResBlock {
    conv1: Conv,
    conv2: Conv,
    shortcut: Option<Conv>,
    stride: usize,
}

struct DenseLayer {
    norm1: Affine,
    /// 1×1 bottleneck with the second BatchNorm folded in (ReLU follows).
    linear1: Conv,
    /// CAM: the local kernel-3 convolution and the two 1×1 layers of the gate.
    local: Conv,
    gate1: Conv,
    gate2: Conv,
    dilation: usize,
}

struct Transit {
    norm: Affine,
    linear: Conv,
}

pub struct CamPlus {
    head_conv1: Conv,
    head_blocks: Vec<ResBlock>,
    head_conv2: Conv,
    tdnn: Conv,
    blocks: Vec<(Vec<DenseLayer>, Transit)>,
    /// The last transit's convolution has the output BatchNorm folded in; ReLU follows.
    dense: Conv,
    threads: usize,
}

fn model_err(path: &str, why: String) -> DiarizeError {
    DiarizeError::Model {
        path: path.to_string(),
        why,
    }
}

struct Loader<'a> {
    w: &'a Weights,
}

impl Loader<'_> {
    fn conv(&self, name: &str, shape: &[usize]) -> Result<Conv, DiarizeError> {
        let t = self.w.get(&format!("{name}.weight"), shape)?;
        let bias = match self.w.get_flat(&format!("{name}.bias"), shape[0]) {
            Ok(b) => b.to_vec(),
            Err(_) => vec![0.0; shape[0]],
        };
        Ok(Conv {
            w: t.data.clone(),
            bias,
            out: shape[0],
            inp: shape[1],
            taps: shape[2..].iter().product(),
        })
    }

    fn affine(&self, name: &str, n: usize, has_affine: bool) -> Result<Affine, DiarizeError> {
        let mean = self.w.get_flat(&format!("{name}.running_mean"), n)?;
        let var = self.w.get_flat(&format!("{name}.running_var"), n)?;
        let (gamma, beta) = if has_affine {
            (
                self.w.get_flat(&format!("{name}.weight"), n)?.to_vec(),
                self.w.get_flat(&format!("{name}.bias"), n)?.to_vec(),
            )
        } else {
            (vec![1.0; n], vec![0.0; n])
        };
        let scale: Vec<f32> = (0..n)
            .map(|i| gamma[i] / (var[i] + BN_EPS).sqrt())
            .collect();
        let shift = (0..n).map(|i| beta[i] - mean[i] * scale[i]).collect();
        Ok(Affine { scale, shift })
    }

    /// A convolution followed by a BatchNorm, folded into one.
    fn conv_bn(&self, conv: &str, shape: &[usize], bn: &str) -> Result<Conv, DiarizeError> {
        let c = self.conv(conv, shape)?;
        let a = self.affine(bn, shape[0], true)?;
        Ok(fold(c, &a))
    }

    /// Residual block `p` of the FCM head; a strided block has a 1×1 shortcut convolution.
    fn res_block(&self, p: &str, stride: usize) -> Result<ResBlock, DiarizeError> {
        let hc = HEAD_CHANNELS;
        let shortcut = if stride != 1 {
            Some(self.conv_bn(
                &format!("{p}.shortcut.0"),
                &[hc, hc, 1, 1],
                &format!("{p}.shortcut.1"),
            )?)
        } else {
            None
        };
        Ok(ResBlock {
            conv1: self.conv_bn(&format!("{p}.conv1"), &[hc, hc, 3, 3], &format!("{p}.bn1"))?,
            conv2: self.conv_bn(&format!("{p}.conv2"), &[hc, hc, 3, 3], &format!("{p}.bn2"))?,
            shortcut,
            stride,
        })
    }

    /// Layer `p` of a dense TDNN block, over `inp` input channels.
    fn dense_layer(
        &self,
        p: &str,
        inp: usize,
        dilation: usize,
    ) -> Result<DenseLayer, DiarizeError> {
        Ok(DenseLayer {
            norm1: self.affine(&format!("{p}.nonlinear1.batchnorm"), inp, true)?,
            linear1: self.conv_bn(
                &format!("{p}.linear1"),
                &[BOTTLENECK, inp, 1],
                &format!("{p}.nonlinear2.batchnorm"),
            )?,
            local: self.conv(
                &format!("{p}.cam_layer.linear_local"),
                &[GROWTH, BOTTLENECK, 3],
            )?,
            gate1: self.conv(
                &format!("{p}.cam_layer.linear1"),
                &[BOTTLENECK / 2, BOTTLENECK, 1],
            )?,
            gate2: self.conv(
                &format!("{p}.cam_layer.linear2"),
                &[GROWTH, BOTTLENECK / 2, 1],
            )?,
            dilation,
        })
    }

    /// The transit layer after dense block `b` (0-based), halving its `channels`. The last
    /// one gets the output BatchNorm folded into its convolution.
    fn transit(&self, b: usize, channels: usize) -> Result<Transit, DiarizeError> {
        let p = format!("xvector.transit{}", b + 1);
        let mut linear = self.conv(&format!("{p}.linear"), &[channels / 2, channels, 1])?;
        if b + 1 == BLOCKS.len() {
            linear = fold(
                linear,
                &self.affine("xvector.out_nonlinear.batchnorm", channels / 2, true)?,
            );
        }
        Ok(Transit {
            norm: self.affine(&format!("{p}.nonlinear.batchnorm"), channels, true)?,
            linear,
        })
    }
}

fn fold(mut c: Conv, a: &Affine) -> Conv {
    let row = c.inp * c.taps;
    for o in 0..c.out {
        c.w[o * row..(o + 1) * row]
            .iter_mut()
            .for_each(|v| *v *= a.scale[o]);
        c.bias[o] = c.bias[o] * a.scale[o] + a.shift[o];
    }
    c
}

impl CamPlus {
    pub fn open(path: &Path, threads: usize) -> Result<Self, DiarizeError> {
        let w = Weights::open(path)?;
        Self::from_weights(&w, threads)
            .map_err(|e| model_err(&path.display().to_string(), e.to_string()))
    }

    pub fn from_weights(w: &Weights, threads: usize) -> Result<Self, DiarizeError> {
        let l = Loader { w };
        let hc = HEAD_CHANNELS;
        let head_conv1 = l.conv_bn("head.conv1", &[hc, 1, 3, 3], "head.bn1")?;
        let mut head_blocks = Vec::new();
        for layer in ["layer1", "layer2"] {
            for (i, stride) in [(0, 2), (1, 1)] {
                head_blocks.push(l.res_block(&format!("head.{layer}.{i}"), stride)?);
            }
        }
        let head_conv2 = l.conv_bn("head.conv2", &[hc, hc, 3, 3], "head.bn2")?;
        let tdnn = l.conv_bn(
            "xvector.tdnn.linear",
            &[INIT_CHANNELS, hc * HEAD_ROWS, 5],
            "xvector.tdnn.nonlinear.batchnorm",
        )?;
        let mut channels = INIT_CHANNELS;
        let mut blocks = Vec::new();
        for (b, &(layers, dilation)) in BLOCKS.iter().enumerate() {
            let dense = (0..layers)
                .map(|i| {
                    let p = format!("xvector.block{}.tdnnd{}", b + 1, i + 1);
                    l.dense_layer(&p, channels + i * GROWTH, dilation)
                })
                .collect::<Result<Vec<_>, _>>()?;
            channels += layers * GROWTH;
            blocks.push((dense, l.transit(b, channels)?));
            channels /= 2;
        }
        let dense = fold(
            l.conv("xvector.dense.linear", &[EMBEDDING_DIM, channels * 2, 1])?,
            &l.affine("xvector.dense.nonlinear.batchnorm", EMBEDDING_DIM, false)?,
        );
        Ok(CamPlus {
            head_conv1,
            head_blocks,
            head_conv2,
            tdnn,
            blocks,
            dense,
            threads: threads.max(1),
        })
    }

    /// Embeddings of `clips` (16 kHz mono), L2-normalised, `clips.len() × EMBEDDING_DIM`,
    /// the clips spread over the configured threads. A clip shorter than one fbank frame
    /// (25 ms) gets a zero vector.
    pub fn embed_clips(&self, clips: &[&[f32]]) -> Vec<f32> {
        let one = |clip: &[f32]| -> Vec<f32> {
            let feats = fbank::fbank(clip);
            let frames = feats.len() / FBANK_BINS;
            if frames == 0 {
                return vec![0.0; EMBEDDING_DIM];
            }
            normalized(self.forward(&feats, frames))
        };
        let threads = self.threads.min(clips.len()).max(1);
        if threads == 1 {
            return clips.iter().flat_map(|c| one(c)).collect();
        }
        // Interleaved so long and short clips spread evenly.
        let mut rows: Vec<Vec<f32>> = vec![Vec::new(); clips.len()];
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|k| {
                    let one = &one;
                    scope.spawn(move || {
                        (k..clips.len())
                            .step_by(threads)
                            .map(|i| (i, one(clips[i])))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                for (i, v) in h.join().expect("embedding thread panicked") {
                    rows[i] = v;
                }
            }
        });
        rows.concat()
    }

    /// The raw (unnormalised) embedding of `frames × FBANK_BINS` features.
    pub fn forward(&self, feats: &[f32], frames: usize) -> Vec<f32> {
        let t = frames;
        // (1, F, T): transpose the time-major features.
        let mut x = vec![0.0f32; FBANK_BINS * t];
        for (f, row) in feats.chunks_exact(FBANK_BINS).enumerate() {
            for (b, &v) in row.iter().enumerate() {
                x[b * t + f] = v;
            }
        }
        let (mut x, mut rows) = conv2d(&self.head_conv1, &x, FBANK_BINS, t, 1);
        relu(&mut x);
        for block in &self.head_blocks {
            let (mut h, out_rows) = conv2d(&block.conv1, &x, rows, t, block.stride);
            relu(&mut h);
            let (mut h, _) = conv2d(&block.conv2, &h, out_rows, t, 1);
            match &block.shortcut {
                Some(sc) => {
                    let (s, _) = conv2d(sc, &x, rows, t, block.stride);
                    h.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
                }
                None => h.iter_mut().zip(&x).for_each(|(a, b)| *a += b),
            }
            relu(&mut h);
            x = h;
            rows = out_rows;
        }
        let (mut x, rows) = conv2d(&self.head_conv2, &x, rows, t, 2);
        relu(&mut x);
        debug_assert_eq!(rows, HEAD_ROWS);
        // (C·F, T) is the same memory: the TDNN sees 320 channels.
        let (mut x, t) = conv1d(&self.tdnn, &x, t, 2, 2, 1);
        relu(&mut x);
        for (layers, transit) in &self.blocks {
            let start = x.len() / t;
            let total = start + layers.len() * GROWTH;
            x.resize(total * t, 0.0);
            let mut channels = start;
            for layer in layers {
                let (done, rest) = x.split_at_mut(channels * t);
                layer.forward(done, &mut rest[..GROWTH * t], channels, t);
                channels += GROWTH;
            }
            let mut h = x;
            transit.norm.apply_relu(&mut h, t);
            let (y, _) = conv1d(&transit.linear, &h, t, 1, 0, 1);
            x = y;
        }
        relu(&mut x);
        let channels = x.len() / t;
        let mut stats = vec![0.0f32; channels * 2];
        for c in 0..channels {
            let row = &x[c * t..(c + 1) * t];
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / t as f64;
            let std = if t > 1 {
                let var =
                    row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (t - 1) as f64;
                var.sqrt()
            } else {
                1e-2
            };
            stats[c] = mean as f32;
            stats[channels + c] = std as f32;
        }
        let (e, _) = conv1d(&self.dense, &stats, 1, 1, 0, 1);
        e
    }
}

impl DenseLayer {
    /// Reads the `channels × t` activations so far, writes this layer's `GROWTH × t` rows.
    fn forward(&self, x: &[f32], out: &mut [f32], channels: usize, t: usize) {
        let mut h = x.to_vec();
        self.norm1.apply_relu(&mut h, t);
        debug_assert_eq!(channels, self.linear1.inp);
        let (mut h, _) = conv1d(&self.linear1, &h, t, 1, 0, 1);
        relu(&mut h);
        let d = self.dilation;
        let (y, _) = conv1d(&self.local, &h, t, 1, d, d);
        // Context: the clip's mean plus the mean of the 100-frame segment, per channel; the
        // gate is constant inside a segment, so it is computed once per segment.
        let segments = t.div_ceil(SEG_LEN);
        let mut ctx = vec![0.0f32; BOTTLENECK * segments];
        for c in 0..BOTTLENECK {
            let row = &h[c * t..(c + 1) * t];
            let mean = row.iter().sum::<f32>() / t as f32;
            for s in 0..segments {
                let seg = &row[s * SEG_LEN..((s + 1) * SEG_LEN).min(t)];
                ctx[c * segments + s] = mean + seg.iter().sum::<f32>() / seg.len() as f32;
            }
        }
        let (mut g, _) = conv1d(&self.gate1, &ctx, segments, 1, 0, 1);
        relu(&mut g);
        let (g, _) = conv1d(&self.gate2, &g, segments, 1, 0, 1);
        for c in 0..GROWTH {
            for i in 0..t {
                let z = g[c * segments + i / SEG_LEN];
                out[c * t + i] = y[c * t + i] / (1.0 + (-z).exp());
            }
        }
    }
}

impl Affine {
    fn apply_relu(&self, x: &mut [f32], t: usize) {
        for (c, row) in x.chunks_exact_mut(t).enumerate() {
            let (s, b) = (self.scale[c], self.shift[c]);
            row.iter_mut().for_each(|v| *v = (*v * s + b).max(0.0));
        }
    }
}

fn relu(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// 1-D convolution of `c.inp × t` (channel-major) with zero padding `pad` on both sides:
/// one GEMM per tap over a strided view of the padded input. Returns `c.out × t_out`, t_out.
fn conv1d(
    c: &Conv,
    x: &[f32],
    t: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> (Vec<f32>, usize) {
    let span = dilation * (c.taps - 1) + 1;
    let tp = t + 2 * pad;
    let t_out = (tp - span) / stride + 1;
    let padded;
    let xp: &[f32] = if pad == 0 {
        x
    } else {
        let mut p = vec![0.0f32; c.inp * tp];
        for (dst, src) in p.chunks_exact_mut(tp).zip(x.chunks_exact(t)) {
            dst[pad..pad + t].copy_from_slice(src);
        }
        padded = p;
        &padded
    };
    let mut out = vec![0.0f32; c.out * t_out];
    for (o, row) in out.chunks_exact_mut(t_out).enumerate() {
        row.iter_mut().for_each(|v| *v = c.bias[o]);
    }
    for k in 0..c.taps {
        let w = View {
            data: &c.w[k..],
            rows: c.out,
            cols: c.inp,
            rs: c.inp * c.taps,
            cs: c.taps,
        };
        let b = View {
            data: &xp[k * dilation..],
            rows: c.inp,
            cols: t_out,
            rs: tp,
            cs: stride,
        };
        gemm(w, b, &mut out, 1.0);
    }
    (out, t_out)
}

/// 3×3 (or 1×1) 2-D convolution over `c.inp × rows × t`, padding 1 for 3×3, stride `stride`
/// along frequency only; im2col then one GEMM. Returns `c.out × rows_out × t`, rows_out.
fn conv2d(c: &Conv, x: &[f32], rows: usize, t: usize, stride: usize) -> (Vec<f32>, usize) {
    let k = if c.taps == 9 { 3 } else { 1 };
    let pad = k / 2;
    let rows_out = (rows + 2 * pad - k) / stride + 1;
    let n = rows_out * t;
    let mut col = vec![0.0f32; c.inp * c.taps * n];
    for ch in 0..c.inp {
        let plane = &x[ch * rows * t..(ch + 1) * rows * t];
        for i in 0..k {
            for j in 0..k {
                let dst = &mut col[((ch * k + i) * k + j) * n..][..n];
                for f in 0..rows_out {
                    // Input row f·stride + i − pad, time shifted by j − pad.
                    let r = (f * stride + i) as isize - pad as isize;
                    if r < 0 || r >= rows as isize {
                        continue;
                    }
                    let src = &plane[r as usize * t..(r as usize + 1) * t];
                    let d = &mut dst[f * t..(f + 1) * t];
                    match j as isize - pad as isize {
                        0 => d.copy_from_slice(src),
                        -1 => d[1..].copy_from_slice(&src[..t - 1]),
                        _ => d[..t - 1].copy_from_slice(&src[1..]),
                    }
                }
            }
        }
    }
    let mut out = vec![0.0f32; c.out * n];
    for (o, row) in out.chunks_exact_mut(n).enumerate() {
        row.iter_mut().for_each(|v| *v = c.bias[o]);
    }
    gemm(
        View::rows(&c.w, c.out, c.inp * c.taps),
        View::rows(&col, c.inp * c.taps, n),
        &mut out,
        1.0,
    );
    (out, rows_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(out: usize, inp: usize, taps: usize, w: Vec<f32>) -> Conv {
        Conv {
            w,
            bias: vec![0.0; out],
            out,
            inp,
            taps,
        }
    }

    #[test]
    fn conv1d_pads_strides_and_dilates() {
        // kernel [1, 10, 100] over [1, 2, 3, 4], padding 2, dilation 2
        let c = conv(1, 1, 3, vec![1.0, 10.0, 100.0]);
        let (y, t) = conv1d(&c, &[1.0, 2.0, 3.0, 4.0], 4, 1, 2, 2);
        assert_eq!(t, 4);
        // y[i] = x[i-2] + 10 x[i] + 100 x[i+2]
        assert_eq!(y, vec![310.0, 420.0, 31.0, 42.0]);
        let (y, t) = conv1d(&c, &[1.0, 2.0, 3.0, 4.0, 5.0], 5, 2, 1, 1);
        // padded [0,1,2,3,4,5,0], windows at 0, 2, 4
        assert_eq!(t, 3);
        assert_eq!(y, vec![210.0, 432.0, 54.0]);
    }

    #[test]
    fn conv2d_matches_a_direct_sum() {
        // 1 in, 1 out channel, 3×3 kernel with distinct weights, 4 rows × 3 frames, stride 2.
        let w: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let x: Vec<f32> = (0..12).map(|v| (v * v % 7) as f32).collect();
        let c = conv(1, 1, 9, w.clone());
        let (y, rows) = conv2d(&c, &x, 4, 3, 2);
        assert_eq!(rows, 2);
        for f in 0..2 {
            for t in 0..3 {
                let mut s = 0.0;
                for i in 0..3 {
                    for j in 0..3 {
                        let (r, c) = ((f * 2 + i) as isize - 1, (t + j) as isize - 1);
                        if (0..4).contains(&r) && (0..3).contains(&c) {
                            s += w[i * 3 + j] * x[r as usize * 3 + c as usize];
                        }
                    }
                }
                assert_eq!(y[f * 3 + t], s, "at {f},{t}");
            }
        }
    }
}
