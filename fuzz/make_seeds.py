#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/seeds/<target>/ from ../shared (read-only):
headers of the corpus's WAV and MP4 files with their media payload shrunk to a few bytes, the
start of the real model headers, and small hand-made documents. Every seed is small (< 64 KiB)
so the fuzzers stay fast. Run from the repository root: python3 fuzz/make_seeds.py"""
import json, os, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared")
if not os.path.isdir(os.path.join(SHARED, "corpus")):
    sys.exit(f"error: {SHARED}/corpus missing: the seeds are made from the shared corpus")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def corpus_files(ext):
    for dirpath, _, files in os.walk(os.path.join(SHARED, "corpus")):
        for f in sorted(files):
            if f.endswith(ext):
                yield os.path.join(dirpath, f)


def shrink_wav(b, keep=64):
    """The chunk list with the data chunk cut to `keep` bytes (its size field to match)."""
    if len(b) < 12 or b[:4] != b"RIFF":
        return b[:512]
    out, pos = bytearray(b[:12]), 12
    while pos + 8 <= len(b):
        cid, size = b[pos:pos + 4], struct.unpack("<I", b[pos + 4:pos + 8])[0]
        if cid == b"data":
            n = min(size, keep, len(b) - pos - 8)
            out += cid + struct.pack("<I", n) + b[pos + 8:pos + 8 + n]
            return bytes(out)
        body = b[pos + 8:pos + 8 + size + (size & 1)]
        if size > 4096:  # absurd sizes: keep the lie, not the bytes
            out += b[pos:pos + 8] + body[:64]
            return bytes(out)
        out += b[pos:pos + 8] + body
        pos += 8 + size + (size & 1)
    return bytes(out)


def shrink_mp4(b, keep=16):
    """Top-level boxes with mdat cut to `keep` bytes; other boxes kept if small."""
    out, pos = bytearray(), 0
    while pos + 8 <= len(b):
        size, kind = struct.unpack(">I", b[pos:pos + 4])[0], b[pos + 4:pos + 8]
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", b[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = len(b) - pos
        if kind == b"mdat" or size > 48 * 1024:
            n = min(keep, max(0, len(b) - pos - hdr))
            out += struct.pack(">I", 8 + n) + kind + b[pos + hdr:pos + hdr + n]
        else:
            out += b[pos:pos + size]
        if size < hdr:
            break
        pos += size
    return bytes(out)


def main():
    for i, p in enumerate(corpus_files(".wav")):
        with open(p, "rb") as f:
            b = f.read()
        seed = shrink_wav(b)
        put("wav", f"corpus-{i:02}.wav", seed)
        put("media_header", f"corpus-{i:02}.wav", seed)
    for i, p in enumerate(corpus_files(".mp4")):
        with open(p, "rb") as f:
            b = f.read()
        seed = shrink_mp4(b)
        if len(seed) <= 64 * 1024:
            put("isobmff", f"corpus-{i:02}.mp4", seed)
            put("media_header", f"corpus-{i:02}.mp4", seed)
    with open(os.path.join(SHARED, "corpus", "bad_inputs", "not_audio_text.wav"), "rb") as f:
        put("media_header", "text.wav", f.read()[:1024])

    models = os.path.join(SHARED, "models")
    with open(os.path.join(models, "SmolLM2-135M-Instruct.Q4_1.gguf"), "rb") as f:
        put("gguf", "smollm2-head.gguf", f.read(16 * 1024))
    put("gguf", "tiny-llama.gguf", tiny_gguf())
    with open(os.path.join(models, "ggml-tiny.en.bin"), "rb") as f:
        head = f.read(4 + 11 * 4)
    # tiny.en's hparams, a 2 × 3 mel filter bank, a three-token vocabulary, a few weight bytes.
    mel = struct.pack("<ii", 2, 3) + bytes(24)
    vocab = struct.pack("<i", 3) + b"".join(struct.pack("<I", len(t)) + t for t in [b"a", b"the", b""])
    put("whisper_ggml", "tiny-en-shrunk.bin", head + mel + vocab + bytes(64))
    with open(os.path.join(models, "ggml-tiny.en.bin"), "rb") as f:
        put("whisper_ggml", "tiny-en-head.bin", f.read(8 * 1024))

    for name, doc in {
        "file.json": {"file": "/tmp/clip.wav"},
        "files.json": {"id": "req-1", "files": ["a.wav", "b.mp3"], "prompt": "Hello"},
        "nofile.json": {"id": "x"},
    }.items():
        put("spool_request", name, json.dumps(doc).encode())
    put("spool_request", "broken.json", b'{"file": ')

    put("config_toml", "profiles.toml", b"""default_profile = "mine"
[storage]
chunk_retention_days = 7
[summary]
max_tokens = 512
[profiles.mine]
asr_model = "ggml-base.bin"
gpu_budget = "4GiB"
[profiles.mine.summary]
n_ctx = 2048
""")
    put("config_toml", "empty.toml", b"")
    put("config_toml", "unknown.toml", b"[nonsense]\nx = 1\n")

    put("diarize_safetensors", "two.safetensors", safetensors({
        "conv.weight": [4, 1, 3], "conv.bias": [4]}))
    put("diarize_safetensors", "meta.safetensors", safetensors({"w": [2, 2]}, meta=True))

    # A one-layer BERT of width 4 over a six-token WordPiece vocabulary (as embed's unit test).
    config = json.dumps({"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
                         "intermediate_size": 8, "max_position_embeddings": 8, "vocab_size": 6}).encode()
    tokenizer = json.dumps({"model": {"type": "WordPiece", "vocab": {
        "[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "the": 3, "cat": 4, "##s": 5}},
        "normalizer": {"type": "BertNormalizer"}, "pre_tokenizer": {"type": "BertPreTokenizer"}}).encode()
    h, ff, shapes = 4, 8, {"embeddings.word_embeddings.weight": [6, 4],
                           "embeddings.position_embeddings.weight": [8, 4],
                           "embeddings.token_type_embeddings.weight": [2, 4],
                           "embeddings.LayerNorm.weight": [4], "embeddings.LayerNorm.bias": [4]}
    for name, n_in, n_out in [("attention.self.query", h, h), ("attention.self.key", h, h),
                              ("attention.self.value", h, h), ("attention.output.dense", h, h),
                              ("intermediate.dense", h, ff), ("output.dense", ff, h)]:
        shapes[f"encoder.layer.0.{name}.weight"] = [n_out, n_in]
        shapes[f"encoder.layer.0.{name}.bias"] = [n_out]
    for norm in ["attention.output.LayerNorm", "output.LayerNorm"]:
        shapes[f"encoder.layer.0.{norm}.weight"] = [h]
        shapes[f"encoder.layer.0.{norm}.bias"] = [h]
    model = safetensors(shapes)
    put("embed_model", "tiny.bin", struct.pack("<HH", len(config), len(tokenizer)) + config + tokenizer + model)
    put("embed_model", "tiny-minilm-sizes.bin", struct.pack("<HH", 0, len(tokenizer)) + tokenizer + model)

    for name, lines in {
        "whisper.jsonl": ['{"type":"ready","model":"tiny"}',
                          '{"type":"result","id":"j1","segments":[{"start":0.0,"end":1.5,"text":" hi"}]}',
                          '{"type":"job_error","id":"j2","error":"bad"}', '{"type":"fatal","error":"x"}'],
        "garbage.jsonl": ["not json", "", '{"type":"result"'],
    }.items():
        put("worker_protocol", name, ("\n".join(lines) + "\n").encode())

    wav = shrink_wav(open(os.path.join(SHARED, "corpus", "bad_inputs", "tiny_0.1s.wav"), "rb").read(), 32)
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.wav\"\r\n"
            b"Content-Type: audio/wav\r\n\r\n" + wav + b"\r\n--XyZ--\r\n")
    post = (b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
            b"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)
    put("daemon_http", "post.http", post)
    put("daemon_http", "health-twice.http",
        b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\nGET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
    chunked = (b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: localhost\r\n"
               b"Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
               + hex(len(body))[2:].encode() + b"\r\n" + body + b"\r\n0\r\n\r\n")
    put("daemon_http", "chunked.http", chunked)
    put("daemon_http", "lying-length.http", post.replace(b"Content-Length: ", b"Content-Length: 9999")[:-40])
    put("daemon_http", "foreign-host.http", post.replace(b"127.0.0.1:8080", b"evil.example"))


def gguf_str(s):
    s = s.encode()
    return struct.pack("<Q", len(s)) + s


def tiny_gguf():
    kv = [("general.architecture", 8, gguf_str("llama")),
          ("llama.block_count", 4, struct.pack("<I", 2)),
          ("llama.context_length", 4, struct.pack("<I", 2048)),
          ("llama.embedding_length", 4, struct.pack("<I", 64)),
          ("llama.feed_forward_length", 4, struct.pack("<I", 128)),
          ("llama.attention.head_count", 4, struct.pack("<I", 4)),
          ("llama.attention.head_count_kv", 4, struct.pack("<I", 2)),
          ("llama.vocab_size", 4, struct.pack("<I", 32))]
    tensors = [("token_embd.weight", [64, 32]), ("blk.0.attn_q.weight", [64, 64]),
               ("blk.1.attn_q.weight", [64, 64]), ("output.weight", [64, 32])]
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        out += gguf_str(k) + struct.pack("<I", t) + v
    offset, infos = 0, b""
    for name, dims in tensors:
        infos += gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", 0, offset)  # f32
        n = 4
        for d in dims:
            n *= d
        offset += (n + 31) // 32 * 32
    out += infos
    out += bytes((-len(out)) % 32)
    return out + bytes(offset)


def safetensors(shapes, meta=False):
    head, offset = {}, 0
    for name, shape in shapes.items():
        n = 4
        for d in shape:
            n *= d
        head[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    if meta:
        head["__metadata__"] = {"format": "pt"}
    h = json.dumps(head).encode()
    return struct.pack("<Q", len(h)) + h + bytes(offset)


main()
