#!/usr/bin/env python3
"""numpy reference for the diarization models, and the golden files the Rust port is tested against.

    diarize_reference.py golden [--models DIR] [--out crates/diarize/tests/golden]
    diarize_reference.py segment WAV16K_F32LE           # print the frame-level argmax classes
    diarize_reference.py bench [--models DIR]           # time the numpy forward

Needs python3 + numpy (Debian python3-numpy). Models: scripts/fetch-diarization-models.sh
($NIGHTSHIFT_DIARIZATION_MODELS). The speaker embedder's reference is campplus_reference.py.

Segmentation: pyannote segmentation-3.0 (PyanNet), the forward of shared/docs/offline-models.md
Appendix B, fed the safetensors made by convert_segmentation.py. 10 s @ 16 kHz -> [589, 7] log-probs
over the powerset classes {}, {A}, {B}, {C}, {A,B}, {A,C}, {B,C}.

"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_segmentation import read_safetensors  # noqa: E402

SR = 16000
DEFAULT_MODELS = os.environ.get('NIGHTSHIFT_DIARIZATION_MODELS',
                                os.path.expanduser('~/.cache/nightshift-models/diarization'))

# ---- (a) PyanNet forward (Appendix B, unchanged) -------------------------------------------------


def inorm(x, w, b, eps=1e-5):
    m = x.mean(1, keepdims=True); v = x.var(1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w[:, None] + b[:, None]


def conv1d(x, w, b=None, stride=1):                        # x [C,T], w [O,C,K], no padding
    O, C, K = w.shape; T = (x.shape[1] - K) // stride + 1
    cols = x[:, np.arange(K)[None, :] + stride * np.arange(T)[:, None]]
    return np.einsum('ctk,ock->ot', cols, w) + (b[:, None] if b is not None else 0)


def pool3(x): return x[:, :x.shape[1] // 3 * 3].reshape(x.shape[0], -1, 3).max(2)
def lrelu(x): return np.where(x > 0, x, 0.01 * x)
def sig(z): return 1 / (1 + np.exp(-z))


def sinc_filters(W):                                        # asteroid ParamSincFB(80, 251)
    p = 'sincnet.conv1d.0.filterbank.'
    low = 50 + np.abs(W[p + 'low_hz_']); high = np.clip(low + 50 + np.abs(W[p + 'band_hz_']), 50, 8000)
    n, win, band = W[p + 'n_'], W[p + 'window_'], (high - low)[:, 0]
    fl, fh = low @ n, high @ n
    cl = (np.sin(fh) - np.sin(fl)) / (n / 2) * win
    sl = (np.cos(fl) - np.cos(fh)) / (n / 2) * win
    cos = np.concatenate([cl, 2 * band[:, None], cl[:, ::-1]], 1) / (2 * band[:, None])
    sin = np.concatenate([sl, 0 * band[:, None], -sl[:, ::-1]], 1) / (2 * band[:, None])
    return np.concatenate([cos, sin], 0)[:, None, :]         # [80,1,251]


def lstm_dir(x, wih, whh, bih, bhh, rev):                  # PyTorch gate order i,f,g,o
    h = np.zeros(whh.shape[1]); c = np.zeros_like(h); out = np.zeros((len(x), len(h)))
    pre = x @ wih.T + bih + bhh
    for t in (range(len(x) - 1, -1, -1) if rev else range(len(x))):
        i, f, g, o = np.split(pre[t] + whh @ h, 4)
        c = sig(f) * c + sig(i) * np.tanh(g); h = sig(o) * np.tanh(c); out[t] = h
    return out


def forward(W, wav):
    """wav: float [160000] (10 s @ 16 kHz) -> log-probs [589, 7]."""
    x = inorm(wav[None], W['sincnet.wav_norm1d.weight'], W['sincnet.wav_norm1d.bias'])
    x = np.abs(conv1d(x, sinc_filters(W), stride=10))
    x = lrelu(inorm(pool3(x), W['sincnet.norm1d.0.weight'], W['sincnet.norm1d.0.bias']))
    for i in (1, 2):
        x = conv1d(x, W[f'sincnet.conv1d.{i}.weight'], W[f'sincnet.conv1d.{i}.bias'])
        x = lrelu(inorm(pool3(x), W[f'sincnet.norm1d.{i}.weight'], W[f'sincnet.norm1d.{i}.bias']))
    x = x.T                                                 # [589, 60]
    for l in range(4):
        def g(s): return [W[f'lstm.{n}_l{l}{s}'] for n in ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh')]
        x = np.concatenate([lstm_dir(x, *g(''), False), lstm_dir(x, *g('_reverse'), True)], 1)
    for i in (0, 1): x = lrelu(x @ W[f'linear.{i}.weight'].T + W[f'linear.{i}.bias'])
    z = x @ W['classifier.weight'].T + W['classifier.bias']; z -= z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def load_segmentation(models):
    W = read_safetensors(os.path.join(models, 'segmentation-3.0.safetensors'))
    return {k: v.astype(np.float64) for k, v in W.items()}

def decode_cmd(path, offset_s, dur_s):
    return ['ffmpeg', '-nostdin', '-v', 'error', '-ss', f'{offset_s}', '-t', f'{dur_s}', '-i', path,
            '-ac', '1', '-ar', '16000', '-f', 'f32le', '-']


def decode(cmd):
    return np.frombuffer(subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout, dtype='<f4')


def r6(a):
    """Round to 6 significant digits; returns nested lists of floats."""
    a = np.asarray(a, dtype=np.float64)
    return [r6(x) for x in a] if a.ndim > 1 else [float(f'{v:.6g}') for v in a]


SHARED = os.environ.get('NIGHTSHIFT_SHARED', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
GOLDEN_INPUTS = [  # (name, path relative to $NIGHTSHIFT_SHARED, offset s)
    ('meeting_01_20s', 'corpus/meetings/meeting_01.wav', 20.0),
    ('ami_4spk_0s', 'corpus/real_speech/ami_meeting_excerpt_4spk.flac', 0.0),
]


def golden(models, out):
    W = load_segmentation(models)
    os.makedirs(out, exist_ok=True)
    for name, rel, off in GOLDEN_INPUTS:
        cmd = decode_cmd(os.path.join(SHARED, rel), off, 10)
        wav = decode(cmd)
        if len(wav) != 10 * SR:
            sys.exit(f'error: {rel}: decoded {len(wav)} samples, want {10 * SR}')
        seg = forward(W, wav.astype(np.float64))
        cmd[cmd.index(os.path.join(SHARED, rel))] = '$NIGHTSHIFT_SHARED/' + rel
        doc = {
            'source': rel, 'offset_s': off, 'samples': len(wav),
            'decode': ' '.join(cmd),
            'notes': 'segmentation_logprobs: [589][7] PyanNet log-softmax (numpy f64, f32 weights), '
                     'rounded to 6 significant digits',
            'segmentation_argmax': ''.join(str(c) for c in seg.argmax(1)),
            'segmentation_logprobs': r6(seg),
        }
        path = os.path.join(out, f'{name}.json')
        with open(path, 'w') as f:
            json.dump(doc, f, separators=(',', ':'))
            f.write('\n')
        print(f'{path}: {os.path.getsize(path)} bytes, classes {np.bincount(seg.argmax(1), minlength=7).tolist()}')


def bench(models):
    W = load_segmentation(models)
    rng = np.random.default_rng(0)
    wav = rng.standard_normal(10 * SR) * 0.1
    forward(W, wav)
    t = time.perf_counter(); forward(W, wav); print(f'numpy PyanNet forward, 10 s chunk: {time.perf_counter() - t:.3f} s')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('cmd', choices=['golden', 'segment', 'bench'])
    ap.add_argument('wav', nargs='?')
    ap.add_argument('--models', default=DEFAULT_MODELS)
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                                                  'crates', 'diarize', 'tests', 'golden'))
    a = ap.parse_args()
    if a.cmd == 'golden':
        golden(a.models, a.out)
    elif a.cmd == 'bench':
        bench(a.models)
    else:
        wav = np.fromfile(a.wav, dtype='<f4').astype(np.float64)[:10 * SR]
        wav = np.pad(wav, (0, 10 * SR - len(wav)))
        print(''.join(str(c) for c in forward(load_segmentation(a.models), wav).argmax(1)))


if __name__ == '__main__':
    main()
